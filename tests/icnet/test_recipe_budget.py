"""small_data_params(time_budget_s=...): size and epochs from the fit-time cost model."""

import json
import math
import pathlib

import pytest

from sk_icnet import small_data_params
from sk_icnet.icnet import _recipe
from sk_icnet.icnet._fit_cost import FIT_SECONDS_PER_FLOP, FIT_SECONDS_PER_SAMPLE
from sk_icnet.icnet._recipe import estimate_fit_seconds, forward_flops_per_sample

RESULTS = pathlib.Path(__file__).parents[2] / "benchmarks" / "results" / "fit_time.json"
FS, DT = 16000.0, 2.0


def two_digits(x):
    return float(f"{x:.2g}")


def test_the_cost_model_constants_are_the_measured_calibration():
    if not RESULTS.exists():
        pytest.skip("benchmarks/results/fit_time.json is not in this checkout")
    calibration = json.loads(RESULTS.read_text())["calibration"]
    assert FIT_SECONDS_PER_SAMPLE == two_digits(calibration["per_sample"])
    assert FIT_SECONDS_PER_FLOP == two_digits(calibration["per_flop"])


def test_flops_per_sample_grow_with_the_network_and_match_the_paper_figure():
    sizes = [forward_flops_per_sample(m, FS, DT) for m in (
        _recipe.SMALLER_PRESETS["tiny"], _recipe.SMALLER_PRESETS["small"],
        _recipe.SIZE_PRESETS[0][2])]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 10
    paper = forward_flops_per_sample({}, 24414.0625, 1.31072)
    assert paper > 10 * sizes[-1]
    assert 1.2e6 < paper < 1.6e6  # about 0.7 M multiply-adds per sample (FIELD_NOTES)


def test_a_generous_budget_keeps_the_recipe_and_a_small_one_shrinks_it():
    plain = small_data_params(180, audio_fs=FS, dt_ms=DT)
    generous = small_data_params(180, audio_fs=FS, dt_ms=DT, time_budget_s=1e9)
    assert generous == {**generous, **{k: v for k, v in plain.items() if k != "callbacks"}}
    full = estimate_fit_seconds(plain, 180)
    # half the recipe's time: the same size with about half the epochs
    half = small_data_params(180, audio_fs=FS, dt_ms=DT, time_budget_s=full / 2)
    assert half["module__encoder_channels"] == plain["module__encoder_channels"]
    assert half["max_epochs"] == pytest.approx(plain["max_epochs"] / 2, abs=1)
    assert estimate_fit_seconds(half, 180) <= full / 2
    assert half["early_stopping_patience"] == max(4, half["max_epochs"] // 8)
    # too little for 12 epochs of the recipe's size: a smaller network
    per_epoch = full / plain["max_epochs"]
    tight = small_data_params(180, audio_fs=FS, dt_ms=DT, time_budget_s=6 * per_epoch)
    assert tight["module__encoder_channels"] < plain["module__encoder_channels"]
    assert 12 <= tight["max_epochs"] and estimate_fit_seconds(tight, 180) <= 6 * per_epoch


def test_a_budget_below_one_epoch_of_the_smallest_network_is_refused():
    with pytest.raises(ValueError, match=r"time_budget_s=0\.001 is shorter than one epoch"):
        small_data_params(600, audio_fs=FS, dt_ms=DT, time_budget_s=0.001)
    for bad in (0, -5, math.nan, "60"):
        with pytest.raises((ValueError, TypeError), match="time_budget_s"):
            small_data_params(600, audio_fs=FS, dt_ms=DT, time_budget_s=bad)
