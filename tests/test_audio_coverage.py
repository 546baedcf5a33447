"""training_coverage: which levels and bands a training set covers, and the in-silico warning."""

import warnings

import numpy as np
import pytest

from sk_icnet.audio import training_coverage
from sk_icnet.exceptions import OutsideTrainingRangeWarning
from sk_icnet.simulate import make_natural_mix
from tests.conftest import tiny_estimator

FS = 8000.0


def tone(freq, level_db, seconds=0.5):
    t = np.arange(int(FS * seconds)) / FS
    return 20e-6 * 10 ** (level_db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq * t)


def test_tones_at_known_levels_give_those_levels_and_their_octave_band():
    X = np.stack([tone(1000.0, L) for L in (40.0, 50.0, 60.0, 70.0)])
    report = training_coverage(X, FS)
    pct = report["level_db_spl_percentiles"]
    assert pct["1"] == pytest.approx(40.0, abs=0.1) and pct["99"] == pytest.approx(70.0, abs=0.1)
    assert report["trusted_level_db_spl"] == pytest.approx([40.0, 70.0], abs=0.1)
    covered = [b["centre_hz"] for b in report["bands"] if b["covered"]]
    assert covered == [1000.0] and report["trusted_band_hz"] == [707.1, 1414.2]
    assert "40-70 dB SPL" in report["advice"] and "707-1,414 Hz" in report["advice"]


def test_a_narrow_level_range_is_reported_narrower_than_a_wide_one():
    narrow = training_coverage(make_natural_mix(16, 0.5, FS, level_range_db=(50, 70),
                                                random_state=0), FS)
    wide = training_coverage(make_natural_mix(16, 0.5, FS, level_range_db=(20, 80),
                                              random_state=0), FS)
    assert wide["trusted_level_db_spl"][0] < narrow["trusted_level_db_spl"][0] - 10
    assert len([b for b in wide["bands"] if b["covered"]]) >= 3


def test_a_band_gap_is_named_in_the_advice():
    X = np.stack([tone(250.0, 60.0) + tone(2000.0, 60.0)] * 2)
    report = training_coverage(X, FS)
    covered = {b["centre_hz"]: b["covered"] for b in report["bands"]}
    assert covered[250.0] and covered[2000.0] and not covered[1000.0]
    assert "except the octave bands at 500 Hz, 1,000 Hz" in report["advice"]


def test_silence_and_bad_input_are_reported_clearly():
    assert training_coverage(np.zeros((2, 800)), FS)["trusted_level_db_spl"] is None
    with pytest.raises(ValueError, match="frame_ms=.* is longer than the trials"):
        training_coverage(np.ones((1, 10)), FS)
    with pytest.raises(ValueError, match="X must be finite waveforms"):
        training_coverage(np.full((1, 800), np.nan), FS)


def test_a_fitted_model_keeps_the_report_and_warns_for_quieter_stimuli():
    from sk_icnet import insilico

    rng = np.random.default_rng(0)
    X = np.stack([tone(f, L) for f, L in zip(rng.uniform(300, 3000, 16), rng.uniform(50, 70, 16),
                                             strict=True)]).astype(np.float32)
    y = rng.poisson(1.0, size=(16, 1, 125)).astype(np.float32)
    est = tiny_estimator(max_epochs=0).fit(X, y)
    coverage = est.training_summary_["coverage"]
    assert 49.0 < coverage["trusted_level_db_spl"][0] < coverage["trusted_level_db_spl"][1] < 71.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideTrainingRangeWarning)
        insilico.rate_level(est, stimulus=1000.0, levels=[55.0, 65.0])
    with pytest.warns(OutsideTrainingRangeWarning, match=r"2 of 3 stimuli at levels down to 20 dB "
                                                         r"SPL \(99 % of the training sound's 20 ms"):
        insilico.rate_level(est, stimulus=1000.0, levels=[20.0, 30.0, 60.0])
