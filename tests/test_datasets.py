import numpy as np
import pytest

from sk_icnet.datasets import make_auditory_dataset, make_stimuli


def test_reproducible_by_seed():
    a = make_auditory_dataset(n_trials=4, duration_s=0.2, audio_fs=8000, dt_ms=4.0, random_state=3)
    b = make_auditory_dataset(n_trials=4, duration_s=0.2, audio_fs=8000, dt_ms=4.0, random_state=3)
    c = make_auditory_dataset(n_trials=4, duration_s=0.2, audio_fs=8000, dt_ms=4.0, random_state=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_shapes_contract_and_rates():
    d = make_auditory_dataset(n_trials=20, duration_s=0.5, audio_fs=8000, dt_ms=4.0, n_neurons=4,
                              neuron_kinds="mixed", mean_rate_hz=50.0, random_state=0,
                              n_repeats=3)
    assert d.X.shape == (20, 4000) and d.X.dtype == np.float32
    assert d.y.shape == (20, 4, 125)
    assert d.y_repeats.shape == (20, 3, 4, 125)
    assert d.neuron_kinds == ["linear", "onoff", "linear", "onoff"]
    assert np.all(d.y >= 0) and np.all(d.y == np.round(d.y))
    # mean rate of each neuron is the requested one (50 Hz * 4 ms = 0.2 per bin)
    np.testing.assert_allclose(d.rates.mean(axis=(0, 2)), 0.2, rtol=1e-6)
    assert abs(d.y.mean() - 0.2) < 0.02


def test_paper_rate_bins_are_whole():
    d = make_auditory_dataset(n_trials=2, duration_s=0.1, n_neurons=1, random_state=0)
    assert d.X.shape[1] == d.y.shape[2] * 32


def test_stimuli_are_sound_like():
    X = make_stimuli(3, 0.5, 16000, random_state=0)
    assert X.shape == (3, 8000)
    assert 1e-3 < np.abs(X).max() < 5.0  # pascals
    assert np.all(np.isfinite(X))


def test_bad_arguments():
    with pytest.raises(ValueError, match="neuron_kinds"):
        make_auditory_dataset(n_trials=2, neuron_kinds="cubic")
    with pytest.raises(ValueError, match="n_neurons must be an integer >= 1"):
        make_auditory_dataset(n_trials=2, n_neurons=0)
    with pytest.raises(ValueError, match="whole number"):
        make_auditory_dataset(n_trials=2, audio_fs=8000, dt_ms=1.01)
