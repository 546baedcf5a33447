"""benchmarks/learning_curve.py: the report of the recipe's choices and of ensembles of seeds."""

import importlib.util
import json
import os

import pytest

from sk_icnet import small_data_params

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "learning_curve.py")


@pytest.fixture()
def script(tmp_path, monkeypatch):
    if not os.path.exists(SCRIPT):
        pytest.skip("benchmarks/ is not in this checkout")
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "rows_path", lambda suffix: str(tmp_path / f"{suffix}.json"))
    monkeypatch.setattr(module, "RESULTS", {})
    monkeypatch.setattr(module, "FIGURE", str(tmp_path / "learning_curve.png"))
    monkeypatch.setattr(module, "DEFAULT_OUT", str(tmp_path / "learning_curve.json"))
    return module


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_each_choice_changes_one_thing_of_the_recipe_and_keeps_its_network_valid(script):
    base = small_data_params(180, audio_fs=8000.0, dt_ms=2.0, n_neurons=8)
    choices = script.recipe_choices(base)
    assert sorted(choices) == ["lr 1e-2", "lr 1e-3", "patience x2", "size small"]
    assert choices["patience x2"] == {"early_stopping_patience":
                                      2 * base["early_stopping_patience"]}
    small = choices["size small"]
    assert small and all(k in base and small[k] <= base[k] for k in small)
    assert small["module__encoder_channels"] < base["module__encoder_channels"]


def test_choices_are_compared_with_the_recipe_fit_of_the_same_seed_per_family(script, tmp_path):
    worst = {"ic": 0.50, "periphery": 0.66, "level": 0.64}
    for family, base in worst.items():
        write_rows(tmp_path / f"{family}.json", [
            dict(minutes=3, arm="scratch", seed=0, fraction=base, epochs=40, learned=True),
            dict(minutes=3, arm="scratch", seed=1, fraction=base + 0.05, epochs=40, learned=True),
            dict(minutes=3, arm="choice: lr 1e-3", seed=0, fraction=base + 0.01, epochs=50,
                 learned=True),
            dict(minutes=3, arm="choice: lr 1e-2", seed=0, fraction=base - 0.10, epochs=20,
                 learned=family != "ic"),
        ])
    script.recipe_choices_report()
    block = script.RESULTS["choices"]["m3"]
    assert block["recipe"]["ic"]["pct"] == 50.0  # seed 0's fit, not seed 1's
    assert block["lr_1e_3"]["periphery"] == dict(pct=67.0, epochs=50, delta_pts=1.0, learned=True)
    assert block["lr_1e_2"]["ic"]["learned"] is False
    assert block["recipe"]["worst_pct"] == 50.0 and block["lr_1e_3"]["worst_pct"] == 51.0
    assert block["n_better_worst_family"] == 1


def test_an_ensemble_is_counted_below_its_median_and_its_best_member(script, tmp_path):
    rows = [dict(minutes=3, arm="scratch", seed=s, fraction=0.5, epochs=40, learned=True,
                 attainable=0.1, fit_s=1.0) for s in range(6)]
    rows += [dict(minutes=3, arm="ensemble_of_seeds", family="ic", fraction=0.55,
                  member_fractions=[0.5, 0.52, 0.56], member_seeds=[0, 1, 2], excluded_seeds=[]),
             dict(minutes=3, arm="ensemble_of_seeds", family="ic", fraction=0.45,
                  member_fractions=[0.4, 0.5, 0.6], member_seeds=[3, 4, 5], excluded_seeds=[4])]
    write_rows(tmp_path / "ic.json", rows)
    script.families_report()
    ens = script.RESULTS["families"]["ic"]["ensemble_m3"]
    assert ens["n"] == 2 and ens["below_median_member"] == 1 and ens["below_best_member"] == 2
    assert ens["excluded"] == 1
    assert script.RESULTS["families"]["ic"]["m3"]["n_seeds"] == 6
    assert (tmp_path / "learning_curve_families.png").is_file()  # the figure, not the docs' one
