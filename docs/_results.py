"""Results files behind every figure the README and the user guide state.

A page never types a measured figure by hand: a command writes it to a results file, and the
page marks each figure with the key it comes from. The check (``tests/test_docs_figures.py``,
run by CI through the README's test command) then compares them.

Commands (from the repository root)::

    python docs/_results.py run examples/quickstart.py [ARGS...]   # run, write docs/results/quickstart.json
    python docs/_results.py run --name NAME SCRIPT [ARGS...]       # another results name
    python docs/_results.py status        # every results file: fresh, stale (which code changed) or missing
    python docs/_results.py check         # every page against the results files
    python docs/_results.py sync          # rewrite marked figures and run lines from the results files
    python docs/_results.py rerun --max-seconds 60   # rerun the fast ones, compare within tolerance
    python docs/_results.py unmarked      # rewrite docs/results/unmarked.json (figures without a key)

**Results file** ``docs/results/<name>.json`` (and ``<name>.txt``, what the script printed, which
a page can show with MyST's ``literalinclude``): the figures the script left in its module-level
``RESULTS`` dict (nested dicts of numbers, booleans and short strings), their run-to-run
tolerance (the script's ``RESULTS_TOLERANCE``, else :data:`DEFAULT_TOLERANCE`), the command,
the run (UTC date, commit, whether the tree had uncommitted changes, wall and CPU time, peak
RSS, the load average sampled during the run), the machine (CPU model, cores, torch threads,
versions) and the code that made it.

**Which code, and when a results file is stale.** While the script runs, a C profiler
(``cProfile``, on every thread the script starts) records each Python function that runs. The
results file keeps, per source file of ``sk_icnet`` that ran, a hash of each function and
method that ran, plus one of the file's module-level statements (constants, class
statements: the ``<module>`` unit), and a hash of the whole script. A hash is taken of the
normalised syntax tree with docstrings removed, so comments, docstrings, formatting and moved
code do not change it. A results file is *stale* when any of these hashes differs from the
current code's, or a unit is gone: a change to a function the script never ran (another
estimator, a reader it did not use) leaves it fresh, and so does moving a function unchanged to
another file (the same name and hash found elsewhere in the package). Import statements are not
hashed: what a name is bound to is hashed where it is defined. Work done in other processes
(``torchrun``, Dask workers, a test run) is not traced: such scripts list what they rely on in
``RESULTS_CODE``, glob patterns of whole files (``["sk_icnet/**/*.py", "tests/**/*.py"]``),
each hashed whole.

**Marking figures in a page.** Write the figure, then an HTML comment naming its key (the
results name, then the keys inside ``RESULTS``)::

    held-out D² 0.336<!-- result: quickstart.icnet.d2 --> against 0.448<!-- result: quickstart.truth.d2 -->

A marked figure must equal the stored value at the precision the page writes, or lie within
the figure's tolerance of it. A conclusion is a claim over stored figures, checked the same
way (comparisons, arithmetic, ``and``/``or``/``not``, ``abs``/``min``/``max``)::

    <!-- check: trials.icnet.d2 > trials.strf.d2 -->

The run line of a slow example is generated (``sync``) and checked::

    <!-- run: trials -->run 2026-12-07 on commit 1a2b3c4 (2 cores, load 3.1), 207 s<!-- /run -->

HTML comments are invisible on GitHub and in the Sphinx build (MyST passes them through as
raw HTML). **Tolerance.** A figure's tolerance is ``{"abs": a}`` or ``{"rel": r}``, or
``"timing"`` (seconds, memory: never compared between runs, only between the page and the
results file, within 10 %). The defaults and what they rest on are documented in
``docs/user_guide/development.md``; a script may tighten or widen them by pattern.

**Data a rerun cannot have.** A script that reads data which is not in the repository (a
dataset's download) lists the paths in ``RESULTS_NEEDS``; the results file keeps them, and
``rerun`` skips it, saying so, on a machine where one of them is absent (CI). Such a results
file is still checked against the pages and its code.

**Pending reruns** (``docs/results/pending.json``): results that the code has outrun and that
have not been rerun yet, with the command. The check reports them (as expected failures, with
the command) instead of failing; a name that is pending but fresh fails, so the list empties.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import datetime as _dt
import fnmatch
import hashlib
import json
import math
import operator
import os
import platform
import re
import resource
import runpy
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "docs" / "results"
PENDING = RESULTS_DIR / "pending.json"
PACKAGE = ROOT / "sk_icnet"
PAGES = ("README.md", "docs/*.md", "docs/user_guide/*.md")

#: run-to-run tolerance of a figure, by key pattern (first match wins); see development.md
DEFAULT_TOLERANCE = {
    "*_s": "timing", "*_gb": "timing", "*_mb": "timing", "*.time*": "timing",
    "*": {"abs": 0.01, "rel": 0.02},
}
#: how far a page's timing figure may be from the results file's
TIMING_PAGE_REL = 0.10


# --------------------------------------------------------------------------- code hashes

def _strip_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _canonical(node):
    """A Python-version-stable text of an AST node: no positions, no empty or None fields, no
    expression contexts (``type_params=[]`` of 3.12 and ``kind=None`` leave no trace)."""
    if isinstance(node, ast.AST):
        fields = []
        for name, value in ast.iter_fields(node):
            if value is None or value == [] or name in ("ctx", "type_comment"):
                continue
            fields.append(f"{name}={_canonical(value)}")
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(_canonical(v) for v in node) + "]"
    return repr(node)


def _hash(nodes):
    text = "\n".join(_canonical(n) for n in nodes)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_units(path):
    """The units of a source file: ``name`` (function), ``Class.name`` (method), ``Class.Inner``
    (a nested class, whole), and ``<module>`` (every other statement, class statements included
    without their methods), each a list of AST nodes."""
    tree = _strip_docstrings(ast.parse(Path(path).read_text(encoding="utf-8")))
    units, rest = {}, []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            units.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            shell = []
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    units.setdefault(f"{node.name}.{sub.name}", []).append(sub)
                else:
                    shell.append(sub)
            rest.append(ast.ClassDef(name=node.name, bases=node.bases, keywords=node.keywords,
                                     body=shell, decorator_list=node.decorator_list))
        elif not isinstance(node, (ast.Import, ast.ImportFrom)):  # what a name is bound to is
            rest.append(node)                                      # hashed where it is defined
    units["<module>"] = rest
    return units


def unit_hashes(path, names=None):
    """Hash of each unit of ``path`` (or of ``names``; a unit that is gone hashes to None)."""
    units = _file_units(path)
    names = units if names is None else names
    return {n: (_hash(units[n]) if n in units else None) for n in names}


def script_hash(path):
    return _hash([_strip_docstrings(ast.parse(Path(path).read_text(encoding="utf-8")))])


def _unit_of(code, units):
    """The unit a code object belongs to (``<module>`` for module and class bodies)."""
    if not code.co_flags & 0x1:  # not CO_OPTIMIZED: a module or class body
        return "<module>"
    head = code.co_qualname.split(".<locals>.")[0]
    parts = head.split(".")
    for candidate in (head, ".".join(parts[:2]), parts[0]):
        if candidate in units:
            return candidate
    return "<module>"  # a module-level comprehension or lambda


class _Tracer:
    """Records the code objects of every Python function that runs, on every thread: a C
    profiler (``cProfile`` without builtins or sub-call tables) per thread, which costs far less
    than a Python trace function (measured on a small ICNet fit, 2-core CPU: about 1.2 times
    the untraced time, against 1.5 for ``sys.settrace``)."""

    def __init__(self):
        self.profiles = []
        self._lock = threading.Lock()

    def _start(self, *_):
        profile = cProfile.Profile(builtins=False, subcalls=False)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()  # replaces this thread's bootstrap hook

    def __enter__(self):
        self._previous = threading.getprofile()
        threading.setprofile(self._start)  # threads the script starts
        self._start()
        return self

    def __exit__(self, *exc):
        self.profiles[0].disable()
        threading.setprofile(self._previous)

    @property
    def codes(self):
        with self._lock:
            profiles = list(self.profiles)
        return {entry.code for profile in profiles for entry in profile.getstats()
                if not isinstance(entry.code, str)}


def _code_record(codes, script, extra_files=()):
    """``{relative path: {unit: hash}}`` of the package code that ran, and the script."""
    ran = {}
    package = str(PACKAGE) + os.sep
    for code in codes:
        if code.co_filename.startswith(package):
            ran.setdefault(code.co_filename, set()).add(code)
    record = {}
    for filename, file_codes in sorted(ran.items()):
        units = _file_units(filename)
        names = sorted({_unit_of(c, units) for c in file_codes} | {"<module>"})
        record[str(Path(filename).relative_to(ROOT))] = {n: _hash(units[n]) for n in names}
    for pattern in extra_files:  # whole files, by glob: what ran in other processes
        matches = sorted(p for p in ROOT.glob(pattern) if p.is_file())
        if not matches:
            raise ValueError(f"RESULTS_CODE pattern {pattern!r} matches no file under {ROOT}.")
        for path in matches:
            record[_relative(path)] = {"<file>": script_hash(path)}
    record[_relative(script)] = {"<script>": script_hash(script)}
    return record


def _relative(path):
    """``path`` relative to the repository when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


_PACKAGE_UNITS = {}


def _package_units():
    """``{(unit, hash)}`` of every unit of the package now (where moved code can be found)."""
    key = tuple((str(p), p.stat().st_mtime_ns) for p in sorted(PACKAGE.rglob("*.py")))
    if key not in _PACKAGE_UNITS:
        _PACKAGE_UNITS.clear()
        _PACKAGE_UNITS[key] = {(u, h) for p, _ in key for u, h in unit_hashes(p).items()
                               if u != "<module>"}
    return _PACKAGE_UNITS[key]


def stale_units(results):
    """The units whose code changed since ``results`` was written: ``[(file, unit), ...]``.

    A function or method that is gone from its file but exists unchanged (same name within its
    file, same hash) in another file of the package was moved, not changed; so was the
    ``<module>`` unit of a file that is gone when all its other units were moved."""
    changed = []
    for rel, units in results["code"].items():
        path = ROOT / rel
        if list(units) in (["<script>"], ["<file>"]):
            if not path.is_file() or script_hash(path) != next(iter(units.values())):
                changed.append((rel, next(iter(units))))
            continue
        now = unit_hashes(path, list(units)) if path.is_file() else dict.fromkeys(units)
        moved = {u for u, h in units.items()
                 if u != "<module>" and now[u] is None and (u, h) in _package_units()}
        if not path.is_file() and moved == set(units) - {"<module>"}:
            moved.add("<module>")
        changed.extend((rel, u) for u, h in units.items() if now[u] != h and u not in moved)
    return changed


# --------------------------------------------------------------------------- running

def _flatten(figures, prefix=""):
    out = {}
    for key, value in figures.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][\w\-]*", key):
            raise ValueError(f"RESULTS keys must be identifiers; received {key!r} in {prefix!r}.")
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, (bool, int, float, str)) or value is None:
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[name] = value
        elif hasattr(value, "item"):  # a numpy scalar
            out[name] = value.item()
        else:
            raise TypeError(f"RESULTS[{name!r}] must be a number, a bool or a string; received "
                            f"{type(value).__name__}.")
    return out


def tolerance_of(key, tolerance):
    """The tolerance of figure ``key``: the script's first matching pattern, else the
    default's."""
    for patterns in (tolerance, DEFAULT_TOLERANCE):
        for pattern, tol in patterns.items():
            if fnmatch.fnmatchcase(key, pattern):
                return tol
    return DEFAULT_TOLERANCE["*"]


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(),
            "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version()}
    for module in ("torch", "numpy", "scipy", "sklearn", "skorch"):
        mod = sys.modules.get(module)
        if mod is not None:
            info[module] = getattr(mod, "__version__", "?")
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


class _LoadSampler(threading.Thread):
    """Samples the 1-minute load average every few seconds while the script runs."""

    def __init__(self, every_s=5.0):
        super().__init__(daemon=True)
        self.every_s, self.samples, self._stop_event = every_s, [], threading.Event()

    def run(self):
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop_event.wait(self.every_s):
                return

    def stop(self):
        self._stop_event.set()
        self.join()
        return self.samples


def run(script, args=(), name=None, out_dir=RESULTS_DIR):
    """Run ``script`` as ``__main__`` (with ``args``) and write ``out_dir/<name>.json``."""
    script = Path(script).resolve()
    name = name or script.stem
    here = str(Path(__file__).resolve().parent)
    saved_path = list(sys.path)
    sys.path[:] = [str(script.parent), str(ROOT)] + [p for p in sys.path
                                                     if p not in (here, str(ROOT), "")]
    import sk_icnet  # noqa: F401  (this checkout's package, not an installed one)

    if Path(sys.modules["sk_icnet"].__file__).resolve().parent != PACKAGE:
        raise RuntimeError(f"sk_icnet was imported from {sys.modules['sk_icnet'].__file__}, not "
                           f"from {PACKAGE}; run from the repository root.")
    commit, dirty = _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--", "sk_icnet",
                                                          _relative(script)))
    sampler = _LoadSampler()
    sampler.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    argv, stdout = sys.argv, sys.stdout
    sys.argv = [str(script), *args]
    sys.stdout = _Tee(stdout)
    try:
        with _Tracer() as tracer:
            namespace = runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
        raise RuntimeError(f"{script} exited before it defined RESULTS") from exc
    finally:
        printed = sys.stdout.getvalue()
        sys.argv, sys.stdout = argv, stdout
        sys.path[:] = saved_path
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    load = sampler.stop()
    if not isinstance(namespace.get("RESULTS"), dict) or not namespace["RESULTS"]:
        raise ValueError(f"{script} must leave its figures in a module-level dict RESULTS.")
    tolerance = dict(namespace.get("RESULTS_TOLERANCE", {}))
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 2**20
    rel_script = _relative(script)
    record = {
        "name": name,
        "command": " ".join(["python docs/_results.py run",
                             *([f"--name {name}"] if name != script.stem else []),
                             rel_script, *args]),
        "figures": _flatten(namespace["RESULTS"]),
        "tolerance": tolerance,
        "needs": [str(Path(p).resolve()) for p in namespace.get("RESULTS_NEEDS", ())],
        "run": {
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit[:12], "uncommitted_changes": dirty,
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_gb": round(rss, 2),
            "load_mean": round(sum(load) / len(load), 2) if load else None,
            "load_max": round(max(load), 2) if load else None,
        },
        "machine": _machine(),
        "code": _code_record(tracer.codes, script, namespace.get("RESULTS_CODE", ())),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.json"
    _write_atomic(target, json.dumps(record, indent=1) + "\n")
    _write_atomic(out_dir / f"{name}.txt", printed)  # what it printed, for literalinclude
    return record


def _write_atomic(target, text):
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


class _Tee:
    """A stdout that also keeps what was written (the script's printed output)."""

    def __init__(self, stream):
        self._stream, self._parts = stream, []

    def write(self, text):
        self._parts.append(text)
        return self._stream.write(text)

    def getvalue(self):
        return "".join(self._parts)

    def __getattr__(self, name):
        return getattr(self._stream, name)


# --------------------------------------------------------------------------- reading

def load_results(directory=RESULTS_DIR):
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        if path.name in (PENDING.name, UNMARKED.name):
            continue
        with open(path, encoding="utf-8") as fh:
            out[path.stem] = json.load(fh)
    return out


def load_pending():
    if not PENDING.is_file():
        return {}
    with open(PENDING, encoding="utf-8") as fh:
        return json.load(fh)


def pages():
    found = []
    for pattern in PAGES:
        found.extend(sorted(ROOT.glob(pattern)))
    return found


# --------------------------------------------------------------------------- page markup

NUMBER = r"[-−+]?\d[\d,]*(?:\.\d+)?(?:[eE][-−+]?\d+)?"
FIGURE = re.compile(rf"(?P<num>{NUMBER})(?P<bold>\**)<!--\s*result:\s*(?P<key>[\w.\-]+)\s*-->")
CLAIM = re.compile(r"<!--\s*check:\s*(?P<expr>.*?)\s*-->", re.S)
RUN_LINE = re.compile(r"<!--\s*run:\s*(?P<name>[\w\-]+)\s*-->(?P<text>.*?)<!--\s*/run\s*-->", re.S)
ANY_MARKER = re.compile(r"<!--\s*(result|check|run)\s*:")


def _parse_number(text):
    """The value and the resolution a page writes (``0.336`` -> 0.336, 0.001)."""
    clean = text.replace(",", "").replace("−", "-")
    value = float(clean)
    mantissa, _, exponent = clean.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    step = 10.0 ** (-decimals) * (10.0 ** int(exponent) if exponent else 1.0)
    return value, step


def format_like(value, text):
    """``value`` written as ``text`` writes its number (decimals, exponent, thousands)."""
    clean = text.replace(",", "").replace("−", "-")
    mantissa, _, exponent = clean.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    if exponent:
        return f"{value:.{decimals}e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    if isinstance(value, bool):
        value = int(value)
    out = f"{value:,.{decimals}f}" if "," in text else f"{value:.{decimals}f}"
    return out


def figure_matches(text, value, tol):
    """Does the page's ``text`` state ``value``: equal at the page's resolution, or within the
    figure's tolerance (timings: within 10 %)?"""
    if value is None or isinstance(value, str):
        return False
    page, step = _parse_number(text)
    if abs(page - value) <= step / 2 + 1e-12 * max(1.0, abs(value)):
        return True
    if tol == "timing":
        return abs(page - value) <= TIMING_PAGE_REL * abs(value)
    return abs(page - value) <= max(tol.get("abs", 0.0), tol.get("rel", 0.0) * abs(value))


def lookup(results, key):
    name, _, inner = key.partition(".")
    if name not in results:
        raise KeyError(f"no results file docs/results/{name}.json")
    section, _, field = inner.partition(".")
    if section in ("run", "machine") and field in results[name].get(section, {}):
        return results[name][section][field]  # the run's own record: run.wall_s, run.cpu_s, ...
    figures = results[name]["figures"]
    if inner not in figures:
        close = [k for k in figures if k.split(".")[-1] == inner.split(".")[-1]][:5]
        raise KeyError(f"docs/results/{name}.json has no figure {inner!r}"
                       f"{f' (similar: {close})' if close else ''}")
    return figures[inner]


_ALLOWED = (ast.Expression, ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not,
            ast.USub, ast.UAdd, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Constant,
            ast.Name, ast.Attribute, ast.Load, ast.Call, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
            ast.Eq, ast.NotEq, ast.List, ast.Tuple)
_FUNCTIONS = {"abs": abs, "min": min, "max": max}


def evaluate_claim(expr, results):
    """Evaluate a ``check:`` claim over stored figures; anything beyond comparisons,
    arithmetic, ``and``/``or``/``not`` and abs/min/max of figures is refused."""
    tree = ast.parse(expr, mode="eval")

    def dotted(node):
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return f"{dotted(node.value)}.{node.attr}"
        raise ValueError(f"not a figure name: {ast.dump(node)}")

    def ev(node):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"claims may not use {type(node).__name__}: {expr!r}")
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, bool)):
                raise ValueError(f"claims compare numbers; received {node.value!r}")
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            value = lookup(results, dotted(node))
            if value is None:
                raise ValueError(f"{dotted(node)} is not a number in its results file")
            return value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
                raise ValueError(f"claims may call only {sorted(_FUNCTIONS)}: {expr!r}")
            args = [ev(a) for a in node.args]
            if len(args) == 1 and isinstance(args[0], list):
                args = args[0]
            return _FUNCTIONS[node.func.id](*args)
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand)
            return {ast.Not: lambda v: not v, ast.USub: lambda v: -v,
                    ast.UAdd: lambda v: v}[type(node.op)](value)
        if isinstance(node, ast.BinOp):
            return {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                    ast.Div: operator.truediv}[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = ev(right_node)
                compare = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
                           ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}
                if not compare[type(op)](left, right):
                    return False
                left = right
            return True
        raise ValueError(f"unsupported claim: {expr!r}")  # pragma: no cover

    return ev(tree)


def run_line(record):
    """The generated run line of a results file (date, commit, machine, load, duration)."""
    run, machine = record["run"], record["machine"]
    commit = run["commit"][:7] + (" with uncommitted changes" if run["uncommitted_changes"] else "")
    load = f", load {run['load_mean']:.1f}" if run.get("load_mean") is not None else ""
    return (f"run {run['date'][:10]} on commit {commit} ({machine['cores']} cores{load}), "
            f"{run['wall_s']:.0f} s")


def _strip_code(text):
    """The text with fenced code blocks blanked (markers there are examples, not figures)."""
    return re.sub(r"^(```|~~~).*?^\1", lambda m: " " * len(m.group(0)), text, flags=re.S | re.M)


UNMARKED = RESULTS_DIR / "unmarked.json"
#: what reads as a measured figure in prose: a decimal number, a percentage, a duration in
#: seconds, minutes or hours, a size in GB/MB/GiB/MiB, a factor ("4.9x")
MEASURED = re.compile(
    r"(?<![\w.\-/#=@])(?:\d[\d,]*\.\d+(?![\d.])(?:\s?(?:x|×|%|s|GB|MB|GiB|MiB)\b)?"
    r"|\d[\d,]*(?:\s?%|\s?(?:s|GB|MB|GiB|MiB|minutes?|hours?)\b|x\b|×))")


def unmarked_figures(path):
    """The figures a page states without a results key (``MEASURED`` outside code, links and
    markers), in order: the work left to the pages listed in ``docs/results/unmarked.json``."""
    text = _strip_code(Path(path).read_text(encoding="utf-8"))
    text = FIGURE.sub(" ", text)  # marked figures
    text = re.sub(r"<!--\s*run\s*:.*?<!--\s*/run\s*-->", " ", text, flags=re.S)  # run lines
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)  # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"\{[a-z]+\}`[^`]*`", " ", text)  # roles
    text = re.sub(r"\b\d+\.\d+\.\d+\b", " ", text)  # versions
    return [m.group(0).strip() for m in MEASURED.finditer(text)]


def load_unmarked():
    if not UNMARKED.is_file():
        return {}
    with open(UNMARKED, encoding="utf-8") as fh:
        return json.load(fh)


def page_problems(path, results, pending=()):
    """``[(kind, message, results name)]`` for one page: each marked figure that its results file
    does not hold, each claim that fails, each run line that differs."""
    text = _strip_code(Path(path).read_text(encoding="utf-8"))
    rel = str(Path(path).relative_to(ROOT))
    problems = []

    def line_of(pos):
        return text.count("\n", 0, pos) + 1

    for m in re.finditer(r"^[ \t]*<!--\s*(?:result|check|run)\s*:", text, re.M):
        problems.append(("markup", f"{rel}:{line_of(m.start())}: a marker starts the line, so "
                         "Markdown reads the line as an HTML block and hides it: move it after "
                         "a word", ""))
    for m in FIGURE.finditer(text):
        key, name = m.group("key"), m.group("key").split(".")[0]
        try:
            value = lookup(results, key)
        except KeyError as exc:
            problems.append(("figure", f"{rel}:{line_of(m.start())}: {m.group('num')} marked "
                             f"{key}: {exc.args[0]}", name))
            continue
        tol = tolerance_of(key.partition(".")[2], results[name].get("tolerance", {}))
        if not figure_matches(m.group("num"), value, tol):
            problems.append(("figure", f"{rel}:{line_of(m.start())}: the page states "
                             f"{m.group('num')} for {key}, the results file holds {value!r} "
                             f"(tolerance {tol})", name))
    for m in CLAIM.finditer(text):
        expr = m.group("expr")
        names = {n.split(".")[0] for n in re.findall(r"[A-Za-z_][\w]*(?:\.[\w\-]+)+", expr)}
        try:
            ok = evaluate_claim(expr, results)
        except (KeyError, ValueError, TypeError, SyntaxError) as exc:
            problems.append(("claim", f"{rel}:{line_of(m.start())}: claim {expr!r} cannot be "
                             f"evaluated: {exc}", sorted(names)[0] if names else ""))
            continue
        if not ok:
            problems.append(("claim", f"{rel}:{line_of(m.start())}: the page concludes {expr!r}, "
                             "which the results files contradict", sorted(names)[0] if names else ""))
    for m in RUN_LINE.finditer(text):
        name = m.group("name")
        if name not in results:
            problems.append(("run", f"{rel}:{line_of(m.start())}: run line of {name}: no results "
                             f"file docs/results/{name}.json", name))
        elif m.group("text").strip() != run_line(results[name]):
            problems.append(("run", f"{rel}:{line_of(m.start())}: run line of {name} says "
                             f"{m.group('text').strip()!r}, the results file gives "
                             f"{run_line(results[name])!r}", name))
    return problems


def sync_page(path, results):
    """Rewrite the marked figures and run lines of ``path`` from the results files (claims are
    left to the author). Returns the number of changes."""
    text = Path(path).read_text(encoding="utf-8")
    changes = 0

    def figure(m):
        nonlocal changes
        try:
            value = lookup(results, m.group("key"))
        except KeyError:
            return m.group(0)
        if value is None or isinstance(value, str):
            return m.group(0)
        new = format_like(value, m.group("num"))
        if new != m.group("num").replace("−", "-"):
            changes += 1
            return f"{new}{m.group('bold')}{m.group(0)[len(m.group('num')) + len(m.group('bold')):]}"
        return m.group(0)

    def line(m):
        nonlocal changes
        if m.group("name") not in results:
            return m.group(0)
        new = run_line(results[m.group("name")])
        if m.group("text").strip() == new:
            return m.group(0)
        changes += 1
        return f"<!-- run: {m.group('name')} -->{new}<!-- /run -->"

    new_text = RUN_LINE.sub(line, FIGURE.sub(figure, text))
    if changes:
        Path(path).write_text(new_text, encoding="utf-8")
    return changes


# --------------------------------------------------------------------------- reruns

def compare_runs(old, new):
    """Figures of a rerun that moved beyond their tolerance: ``[(key, old, new, tol)]``."""
    moved = []
    for key, value in old["figures"].items():
        tol = tolerance_of(key, old.get("tolerance", {}))
        fresh = new["figures"].get(key)
        if tol == "timing":
            continue
        if isinstance(value, (bool, str)) or value is None or isinstance(fresh, (bool, str)) \
                or fresh is None:
            if value != fresh:
                moved.append((key, value, fresh, "exact"))
            continue
        limit = max(tol.get("abs", 0.0), tol.get("rel", 0.0) * abs(value))
        if abs(fresh - value) > limit:
            moved.append((key, value, fresh, tol))
    return moved


def absent_needs(record):
    """The data paths a results file's run read (``RESULTS_NEEDS``) that are not here."""
    return [p for p in record.get("needs", []) if not Path(p).exists()]


def _command_args(record):
    parts = record["command"].split()[3:]  # after "python docs/_results.py run"
    if parts[:1] == ["--name"]:
        parts = parts[2:]
    return parts[0], parts[1:]


def _main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run a script, write its results file")
    p_run.add_argument("--name")
    p_run.add_argument("script")
    p_run.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("status", help="fresh, stale or pending, per results file")
    sub.add_parser("check", help="every page against the results files")
    sub.add_parser("sync", help="rewrite marked figures and run lines from the results")
    sub.add_parser("unmarked", help="write docs/results/unmarked.json: each page's figures "
                                    "without a results key (the work left)")
    p_rerun = sub.add_parser("rerun", help="rerun fast results, compare within tolerance")
    p_rerun.add_argument("--max-seconds", type=float, default=60.0)
    opts = parser.parse_args(argv)
    if opts.command == "run":
        record = run(opts.script, opts.args, name=opts.name)
        print(f"\nwrote docs/results/{record['name']}.json: {len(record['figures'])} figures, "
              f"{sum(len(u) for u in record['code'].values())} code units, "
              f"{record['run']['wall_s']:.0f} s")
        return 0
    results, pending = load_results(), load_pending()
    if opts.command == "status":
        bad = 0
        for name, record in results.items():
            changed = stale_units(record)
            state = "stale" if changed else "fresh"
            bad += bool(changed) and name not in pending
            flag = " (pending rerun)" if name in pending else ""
            print(f"{name:<32}{state}{flag}  {run_line(record)}; rerun: {record['command']}")
            for rel, unit in changed[:8]:
                print(f"    changed: {rel} {unit}")
        for name in pending:
            if name not in results:
                print(f"{name:<28}missing (pending rerun): {pending[name]}")
        return 1 if bad else 0
    if opts.command == "check":
        problems = [p for page in pages() for p in page_problems(page, results)]
        for kind, message, name in problems:
            print(f"{kind}: {message}{'  [pending rerun]' if name in pending else ''}")
        return 1 if any(name not in pending for _, _, name in problems) else 0
    if opts.command == "sync":
        for page in pages():
            n = sync_page(page, results)
            if n:
                print(f"{page.relative_to(ROOT)}: {n} figure(s) or run line(s) updated")
        return 0
    if opts.command == "unmarked":
        listing = {}
        for page in pages():
            found = unmarked_figures(page)
            if found:
                listing[_relative(page)] = found
        _write_atomic(UNMARKED, json.dumps(listing, indent=1, ensure_ascii=False) + "\n")
        for page, found in listing.items():
            print(f"{page}: {len(found)} unmarked figure(s)")
        return 0
    if opts.command == "rerun":
        failed = 0
        for name, record in results.items():
            if record["run"]["wall_s"] > opts.max_seconds:
                continue
            absent = absent_needs(record)
            if absent:
                print(f"{name}: not rerun: it reads {absent[0]}, which is not on this machine")
                continue
            script, args = _command_args(record)
            with tempfile.TemporaryDirectory() as tmp:
                fresh = run(ROOT / script, args, name=name, out_dir=tmp)
            moved = compare_runs(record, fresh)
            for key, old, new, tol in moved:
                print(f"{name}.{key}: {old!r} -> {new!r}, beyond its tolerance {tol}")
            failed += bool(moved)
            print(f"{name}: rerun in {fresh['run']['wall_s']:.0f} s, "
                  f"{'moved' if moved else 'within tolerance'}")
        return 1 if failed else 0
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(_main())
