"""Static checks of the examples the guides quote (running them takes minutes: the lead's
reruns through ``docs/_results.py`` do that)."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def test_the_quickstart_grid_search_reports_each_fit():
    # 0.4's search printed nothing for minutes; GridSearchCV(verbose=2) prints one line per fit
    tree = ast.parse((ROOT / "examples" / "quickstart.py").read_text(encoding="utf-8"))
    (search,) = _calls(tree, "GridSearchCV")
    verbose = {k.arg: k.value for k in search.keywords}.get("verbose")
    assert isinstance(verbose, ast.Constant) and verbose.value >= 2


@pytest.mark.parametrize("name", sorted(json.loads(
    (ROOT / "docs" / "results" / "pending.json").read_text(encoding="utf-8"))))
def test_every_pending_rerun_names_a_script_that_leaves_its_figures_in_results(name):
    command = json.loads((ROOT / "docs" / "results" / "pending.json").read_text())[name]
    script = ROOT / command.split()[3]
    assert script.is_file(), command
    tree = ast.parse(script.read_text(encoding="utf-8"))
    assigned = {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                if isinstance(t, ast.Name)}
    assert "RESULTS" in assigned, f"{script.name} defines no module-level RESULTS"
    assert script.stem == name or f"--name {name}" in command
