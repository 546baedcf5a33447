"""Every dotted name ``sk_icnet.x.y`` written in the README, the docs and the examples resolves
as written (0.4's docs wrote ``sk_icnet.compare.paired_statistics`` while ``sk_icnet.compare``
was a function, so the name raised AttributeError)."""

import importlib
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOTTED = re.compile(r"(?<![\w/.\-])sk_icnet(?:\.[A-Za-z_]\w*)+")
FROM_IMPORT = re.compile(r"from\s+(sk_icnet(?:\.\w+)*)\s+import\s+(\([^)]*\)|[^\n]+)")


def _documents():
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")),
             *sorted((ROOT / "docs").rglob("*.rst")), *sorted((ROOT / "examples").glob("*.py"))]
    return [p for p in found if "_build" not in p.parts and "auto_examples" not in p.parts]


def _names(text):
    """The dotted names of a text, and the ``module:name`` of each ``from sk_icnet... import``
    (which Python resolves from the module in ``sys.modules``, not by attribute)."""
    names = set(DOTTED.findall(text))
    for module, imported in FROM_IMPORT.findall(text):
        for item in re.sub(r"#[^\n]*", "", imported).strip().strip("()").split(","):
            item = item.split(" as ")[0].strip()
            if re.fullmatch(r"[A-Za-z_]\w*", item):
                names.add(f"{module}:{item}")
    return names


def _resolve(name):
    """The object ``name`` names, read as Python reads it: attribute by attribute from the
    package (``import sk_icnet.x as m`` also takes the attribute ``x``), importing a submodule
    only where the attribute is not there yet."""
    if ":" in name:  # from module import item
        module, item = name.split(":")
        return getattr(importlib.import_module(module), item)
    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=2):
        if not hasattr(obj, part) and isinstance(obj, types.ModuleType):
            try:
                importlib.import_module(".".join(parts[:i]))
            except ImportError:
                pass
        obj = getattr(obj, part)
    return obj


NAMES = sorted({(name, str(path.relative_to(ROOT))) for path in _documents()
                for name in _names(path.read_text(encoding="utf-8"))})


def test_the_documents_name_many_dotted_names():
    # the scan finds what the pages write (a regex that matched nothing would pass vacuously)
    assert len({name for name, _ in NAMES}) >= 40
    assert ("sk_icnet.compare.paired_statistics", "docs/user_guide/baselines.md") in NAMES


@pytest.mark.parametrize(("name", "where"), NAMES)
def test_every_dotted_name_in_the_docs_resolves_as_written(name, where):
    try:
        _resolve(name)
    except AttributeError as exc:
        pytest.fail(f"{where} writes {name}, which does not resolve: {exc}")


def test_the_resolver_fails_on_a_name_that_does_not_exist():
    for name in ("sk_icnet.compare.no_such_function", "sk_icnet.compare:no_such_function"):
        with pytest.raises(AttributeError):
            _resolve(name)
    assert _names("from sk_icnet.compare import (\n    plot_paired,  # x\n    holm as h)\n") == {
        "sk_icnet.compare", "sk_icnet.compare:plot_paired", "sk_icnet.compare:holm"}
