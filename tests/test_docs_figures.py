"""The figures of the README and the user guide against the results files that hold them.

``docs/_results.py`` writes one results file per example or benchmark (``docs/results/``);
pages mark each figure with its key. These tests fail when a page states a figure that its
results file does not hold (beyond the page's precision and the figure's tolerance), when a
page's conclusion (``check:``) contradicts the results, when a results file is older than the
code that made it, and when the pending-rerun list names a results file that is fresh. A
results file in ``docs/results/pending.json`` is reported as an expected failure with the
command that regenerates it.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_docs_results", ROOT / "docs" / "_results.py")
results_tool = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("_docs_results", results_tool)
_spec.loader.exec_module(results_tool)

RESULTS = results_tool.load_results()
PENDING = results_tool.load_pending()
PAGES = [str(p.relative_to(ROOT)) for p in results_tool.pages()]


def _pending_or_fail(problems, what):
    """Fail on problems of results that are not pending; xfail when all are pending."""
    blocking = [m for m, name in problems if name not in PENDING]
    if blocking:
        pytest.fail(f"{what}:\n" + "\n".join(blocking))
    if problems:
        commands = sorted({PENDING[name] for _, name in problems})
        pytest.xfail(f"{len(problems)} figure(s) wait for a rerun: " + "; ".join(commands))


# --------------------------------------------------------------------------- the pages

@pytest.mark.parametrize("page", PAGES)
def test_every_marked_figure_claim_and_run_line_agrees_with_its_results_file(page):
    problems = results_tool.page_problems(ROOT / page, RESULTS)
    _pending_or_fail([(message, name) for _, message, name in problems],
                     f"{page} disagrees with docs/results (fix the page, or rerun and "
                     "`python docs/_results.py sync`)")


@pytest.mark.parametrize("name", sorted(set(RESULTS) | set(PENDING)))
def test_every_results_file_is_as_new_as_the_code_that_makes_it(name):
    if name not in RESULTS:
        assert name in PENDING
        pytest.xfail(f"docs/results/{name}.json not written yet: {PENDING[name]}")
    record = RESULTS[name]
    for field in ("date", "commit", "wall_s", "load_mean"):
        assert field in record["run"], field
    for field in ("cpu", "cores"):
        assert field in record["machine"], field
    assert record["figures"] and record["code"], name
    changed = results_tool.stale_units(record)
    if name in PENDING and not changed:
        pytest.fail(f"docs/results/{name}.json is fresh: remove {name!r} from "
                    "docs/results/pending.json")
    if changed:
        listing = ", ".join(f"{rel} {unit}" for rel, unit in changed[:10])
        _pending_or_fail([(f"docs/results/{name}.json is older than its code ({listing}); "
                           f"rerun: {record['command']}", name)], "stale results")


UNMARKED = results_tool.load_unmarked()


@pytest.mark.parametrize("page", PAGES)
def test_no_page_states_a_figure_that_is_neither_marked_nor_listed_as_left_to_mark(page):
    from collections import Counter

    found = Counter(results_tool.unmarked_figures(ROOT / page))
    listed = Counter(UNMARKED.get(page, []))
    new, gone = found - listed, listed - found
    assert not new, (f"{page} states {sorted(new.elements())} without a results key: write them "
                     "from a results file and mark them (docs/_results.py)")
    assert not gone, (f"{page} no longer states {sorted(gone.elements())}: remove them from "
                      "docs/results/unmarked.json")
    if listed:
        pytest.xfail(f"{sum(listed.values())} figure(s) of {page} still wait for a results file "
                     "(docs/results/unmarked.json)")


def test_the_unmarked_figure_scan_finds_measured_figures_and_skips_code_and_markers(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("Fit in 2.61 s, 57 %, 0.9 GB and 4.9x faster; D² 0.336<!-- result: q.d2 -->; "
                    "version 0.4.0, `x = 0.5`, [link](a/1.5.md).\n\n```python\nlr = 1e-3 * 0.25\n```\n")
    assert results_tool.unmarked_figures(page) == ["2.61 s", "57 %", "0.9 GB", "4.9x"]



def test_a_generated_run_line_is_not_an_unmarked_figure(tmp_path):
    # sync writes the date, load and time of a run between its markers: the run line is checked
    # against its results file, so its numbers are not figures left to mark
    page = tmp_path / "p.md"
    page.write_text("Took 2.5 s (<!-- run: q -->run 2026-12-07 on commit abc1234 (2 cores, load "
                    "1.4), 79 s<!-- /run -->).\n")
    assert results_tool.unmarked_figures(page) == ["2.5 s"]

def test_the_pages_mark_their_figures():
    # the README's headline figures and the guides' tables are marked, not typed by hand
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- result: quickstart.icnet.d2 -->" in readme
    marked = sum(len(results_tool.FIGURE.findall((ROOT / p).read_text(encoding="utf-8")))
                 for p in PAGES)
    assert marked >= 60
    for name, command in PENDING.items():
        assert command.startswith("python "), (name, command)


# --------------------------------------------------------------------------- the mechanism

def test_a_figure_matches_at_the_precision_the_page_writes_or_within_its_tolerance():
    match = results_tool.figure_matches
    exact = {"abs": 0.0}
    assert match("0.336", 0.33649, exact) and not match("0.336", 0.3366, exact)
    assert match("2,066", 2065.6, exact) and match("3.9e-4", 3.93e-4, exact)
    assert not match("3.9e-4", 4.1e-4, exact)
    assert match("0.30", 0.318, {"abs": 0.02}) and not match("0.30", 0.33, {"abs": 0.02})
    assert match("200", 215.0, "timing") and not match("200", 407.0, "timing")
    assert results_tool.format_like(2065.6, "2,287") == "2,066"
    assert results_tool.format_like(0.32649, "0.289") == "0.326"


def test_claims_are_evaluated_over_stored_figures_and_nothing_else():
    results = {"a": {"figures": {"x": 0.3, "y": 0.5, "n": {"k": 1}}}}
    results["a"]["figures"] = {"x": 0.3, "y": 0.5, "n.k": 1}
    ev = results_tool.evaluate_claim
    assert ev("a.x < a.y and a.n.k == 1", results) is True
    assert ev("abs(a.x - a.y) > 0.1 and max(a.x, a.y) == a.y and 2 * a.x < 1", results) is True
    assert ev("a.x > a.y", results) is False
    for bad in ("__import__('os').system('true')", "a.x.__class__", "[c for c in a.x]",
                "'text' == a.x"):
        with pytest.raises((ValueError, KeyError)):
            ev(bad, results)
    with pytest.raises(KeyError, match="no figure 'z'"):
        ev("a.z > 0", results)


def test_a_code_hash_ignores_docstrings_and_comments_and_names_the_function_that_changed(
        tmp_path):
    source = tmp_path / "mod.py"
    source.write_text('"""Module."""\nA = 1\n\ndef f(x):\n    """Doc."""\n    return x + A\n\n'
                      "def g(x):\n    return 2 * x\n\nclass C:\n    k = 3\n\n"
                      "    def m(self):\n        return self.k\n")
    before = results_tool.unit_hashes(source)
    assert set(before) == {"<module>", "f", "g", "C.m"}
    source.write_text('"""Other."""\nA = 1  # a comment\n\ndef f(x):\n    """Changed doc."""\n'
                      "    return (x\n            + A)\n\ndef g(x):\n    return 3 * x\n\n"
                      "class C:\n    k = 3\n\n    def m(self):\n        return self.k\n")
    after = results_tool.unit_hashes(source)
    assert {u for u in before if before[u] != after[u]} == {"g"}
    source.write_text(source.read_text().replace("k = 3", "k = 4"))
    assert results_tool.unit_hashes(source)["<module>"] != after["<module>"]


def test_a_run_records_figures_machine_and_only_the_functions_that_ran(tmp_path):
    script = tmp_path / "tiny_example.py"
    script.write_text("import numpy as np\nfrom sk_icnet.metrics import pearson_r\n"
                      "y = np.arange(40.0).reshape(2, 1, 20) % 7\n"
                      "RESULTS = {'r': {'self': pearson_r(y, y)}, 'n': 2}\n"
                      "RESULTS_TOLERANCE = {'r.*': {'abs': 0.0}}\n")
    record = results_tool.run(script, name="tiny", out_dir=tmp_path)
    on_disk = json.loads((tmp_path / "tiny.json").read_text())
    assert on_disk["figures"] == {"r.self": pytest.approx(1.0), "n": 2} == record["figures"]
    assert on_disk["machine"]["cores"] >= 1 and on_disk["run"]["date"]
    assert "pearson_r" in on_disk["code"]["sk_icnet/metrics.py"]
    assert "d2_poisson_score" not in on_disk["code"]["sk_icnet/metrics.py"]  # never ran
    assert not results_tool.stale_units(on_disk)
    doctored = json.loads(json.dumps(on_disk))
    doctored["code"]["sk_icnet/metrics.py"]["pearson_r"] = "0" * 16
    assert results_tool.stale_units(doctored) == [("sk_icnet/metrics.py", "pearson_r")]
    # a rerun within tolerance passes, a figure beyond it is named
    moved = json.loads(json.dumps(on_disk))
    moved["figures"]["r.self"] = 0.9
    assert results_tool.compare_runs(on_disk, moved) == [("r.self", pytest.approx(1.0), 0.9,
                                                          {"abs": 0.0})]
    assert results_tool.compare_runs(on_disk, on_disk) == []


def test_sync_rewrites_marked_figures_at_the_page_precision(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("D² 0.289<!-- result: t.icnet.d2 --> and **0.30**<!-- result: t.strf.d2 -->, "
                    "2,287<!-- result: t.cf --> Hz\n")
    results = {"t": {"figures": {"icnet.d2": 0.32649, "strf.d2": 0.2934, "cf": 2065.7},
                     "tolerance": {"*": {"abs": 0.0}}}}
    assert results_tool.sync_page(page, results) == 3
    assert page.read_text() == ("D² 0.326<!-- result: t.icnet.d2 --> and **0.29**<!-- result: "
                                "t.strf.d2 -->, 2,066<!-- result: t.cf --> Hz\n")
    monkeypatch.setattr(results_tool, "ROOT", tmp_path)
    assert results_tool.page_problems(page, results) == []
    results["t"]["figures"]["cf"] = 2100.0
    (problem,) = results_tool.page_problems(page, results)
    assert "states 2,066 for t.cf" in problem[1]


def test_code_moved_unchanged_to_another_file_keeps_a_results_file_fresh(tmp_path, monkeypatch):
    package = tmp_path / "sk_icnet"
    package.mkdir()
    monkeypatch.setattr(results_tool, "ROOT", tmp_path)
    monkeypatch.setattr(results_tool, "PACKAGE", package)
    f_src, g_src = "def f(x):\n    return x + 1\n", "def g(x):\n    return 2 * x\n"
    (package / "a.py").write_text("import os\nA = 1\n" + f_src + g_src)
    record = {"code": {"sk_icnet/a.py": results_tool.unit_hashes(package / "a.py")}}
    # g moves to b.py unchanged, a.py's imports change: fresh
    (package / "a.py").write_text("import sys\nA = 1\n" + f_src)
    (package / "b.py").write_text(g_src)
    assert results_tool.stale_units(record) == []
    (package / "b.py").write_text(g_src.replace("2 * x", "3 * x"))  # then changed: stale
    assert results_tool.stale_units(record) == [("sk_icnet/a.py", "g")]
    (package / "b.py").write_text(g_src)
    (package / "a.py").unlink()  # the whole file moved
    (package / "c.py").write_text("B = 2\n" + f_src)
    assert results_tool.stale_units(record) == []
    (package / "c.py").write_text("B = 2\n" + f_src.replace("def f", "def f2"))  # renamed: stale
    assert set(results_tool.stale_units(record)) == {("sk_icnet/a.py", "f"),
                                                     ("sk_icnet/a.py", "<module>")}


def test_a_run_records_the_data_it_needs_and_a_rerun_skips_it_where_that_data_is_absent(tmp_path):
    data = tmp_path / "release"
    data.mkdir()
    script = tmp_path / "reads_data.py"
    script.write_text("import sys\nRESULTS_NEEDS = [sys.argv[1]]\nRESULTS = {'n': 3}\n")
    record = results_tool.run(script, [str(data)], name="reads_data", out_dir=tmp_path)
    assert record["needs"] == [str(data.resolve())]
    assert results_tool.absent_needs(record) == []
    data.rmdir()
    assert results_tool.absent_needs(record) == [str(data.resolve())]
    tiny = tmp_path / "tiny.py"
    tiny.write_text("RESULTS = {'n': 1}\n")
    assert results_tool.run(tiny, name="tiny", out_dir=tmp_path)["needs"] == []
