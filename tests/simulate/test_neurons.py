import numpy as np
import pytest

from sk_icnet.simulate import make_auditory_dataset


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


def test_bad_arguments():
    with pytest.raises(ValueError, match="neuron_kinds"):
        make_auditory_dataset(n_trials=2, neuron_kinds="cubic")
    with pytest.raises(ValueError, match="n_neurons must be an integer >= 1"):
        make_auditory_dataset(n_trials=2, n_neurons=0)
    with pytest.raises(ValueError, match="whole number"):
        make_auditory_dataset(n_trials=2, audio_fs=8000, dt_ms=1.01)


# -- neurons with known tuning ---------------------------------------------------------------------
from sk_icnet.simulate import TunedNeurons, make_tuned_neurons, q10_to_octaves  # noqa: E402

FS, DT = 24414.0625, 1.31072


def _tone(freq, level_db, on_s=0.05, dur_s=0.2, total_s=0.4):
    n = int(round(total_s * FS)) // 32 * 32
    t = np.arange(n) / FS
    gate = (t >= on_s) & (t < on_s + dur_s)
    return np.where(gate, np.sqrt(2) * 20e-6 * 10 ** (level_db / 20) * np.sin(2 * np.pi * freq * t),
                    0.0)[None]


def _steady_rate(neurons, x, j=0, lo_s=0.15, hi_s=0.24):
    dt = neurons.dt_ms_ / 1000
    rate = neurons.predict(x)[0, j] / dt
    return rate[int(lo_s / dt): int(hi_s / dt)].mean()


def test_tuned_neuron_rate_level_matches_its_parameters():
    nrn = TunedNeurons(cf_hz=[2000.0], threshold_db=25.0, dynamic_range_db=30.0,
                       spont_rate_hz=4.0, max_rate_hz=104.0)
    driven = {lv: _steady_rate(nrn, _tone(2000.0, lv)) - 4.0 for lv in (25.0, 40.0, 55.0)}
    np.testing.assert_allclose([driven[25.0], driven[40.0], driven[55.0]], [10.0, 50.0, 90.0],
                               rtol=2e-3)
    # half a bandwidth away from CF the tone is 10 dB weaker: the threshold moves up 10 dB
    f_edge = 2000.0 * 2 ** (q10_to_octaves(4.0) / 2)
    np.testing.assert_allclose(_steady_rate(nrn, _tone(f_edge, 35.0)) - 4.0, 10.0, rtol=0.02)
    assert np.isclose(_steady_rate(nrn, np.zeros((1, 32 * 100)), lo_s=0.0, hi_s=0.1), 4.0)


def test_q10_and_bandwidth_agree():
    b = q10_to_octaves(np.array([1.0, 4.0, 10.0]))
    np.testing.assert_allclose(1 / (2 ** (b / 2) - 2 ** (-b / 2)), [1.0, 4.0, 10.0])
    table = TunedNeurons(cf_hz=[1000.0, 3000.0], q10=[2.0, 8.0]).tuning_
    np.testing.assert_allclose(table.bandwidth_oct, q10_to_octaves([2.0, 8.0]))
    assert list(table.index) == [0, 1] and table.shape[0] == 2


def test_tuned_neuron_is_causal_and_delayed():
    nrn = TunedNeurons(cf_hz=[3000.0], q10=2.0, latency_ms=8.0, spont_rate_hz=2.0)
    rate = nrn.predict(_tone(3000.0, 80.0, on_s=0.1))[0, 0] / (nrn.dt_ms_ / 1000)
    onset_bin = int(0.1 / (nrn.dt_ms_ / 1000))
    # before onset + latency only the spontaneous rate (the Hilbert envelope's precursor is tiny)
    assert np.allclose(rate[: onset_bin + int(8.0 / nrn.dt_ms_) - 1], 2.0, atol=1e-2)
    assert rate[onset_bin + int(8.0 / nrn.dt_ms_) + 5] > 50


def test_forward_suppression_decays_with_its_time_constant():
    tau = 40.0
    nrn = TunedNeurons(cf_hz=[2000.0], threshold_db=20.0, suppression=0.6, suppression_tau_ms=tau,
                       latency_ms=0.0)
    probe_on = [0.25 + g for g in (0.01, 0.03, 0.06)]
    # a probe after a masker is suppressed by s0 * exp(-gap / tau); the masker-alone baseline is
    # subtracted, so the suppression of the probe's driven response recovers exponentially
    dt = nrn.dt_ms_ / 1000
    deficits = []
    for on in probe_on:
        masker = _tone(2000.0, 70.0, on_s=0.05, dur_s=0.2, total_s=0.5)
        probe = _tone(2000.0, 40.0, on_s=on, dur_s=0.02, total_s=0.5)
        win = slice(int(on / dt), int((on + 0.03) / dt))
        both = nrn.predict(masker + probe)[0, 0, win].sum()
        alone_m = nrn.predict(masker)[0, 0, win].sum()
        alone_p = nrn.predict(probe)[0, 0, win].sum() - 5.0 * dt * (win.stop - win.start)
        deficits.append(1 - (both - alone_m) / alone_p)
    gaps = np.diff(probe_on)
    np.testing.assert_allclose(np.diff(np.log(deficits)) * -1, gaps / (tau / 1000), rtol=0.05)


def test_make_tuned_neurons_ranges_and_seed():
    a = make_tuned_neurons(5, forward_suppression=True, random_state=0)
    b = make_tuned_neurons(5, forward_suppression=True, random_state=0)
    assert all(np.array_equal(np.asarray(v), np.asarray(b.get_params()[k]))
               for k, v in a.get_params().items())
    assert not np.array_equal(a.cf_hz, make_tuned_neurons(5, random_state=1).cf_hz)
    t = a.tuning_
    assert ((t.cf_hz >= 1000) & (t.cf_hz <= 0.3 * FS)).all()
    assert ((t.suppression >= 0.4) & (t.suppression <= 0.8)).all()
    assert (t.adaptation_db_per_db == 0).all()
    counts = a.sample(_tone(2000.0, 60.0), random_state=0)
    assert counts.dtype == np.int64 and counts.shape == (1, 5, _tone(2000.0, 60.0).shape[1] // 32)


def test_tuned_neuron_errors():
    with pytest.raises(ValueError, match=r"cf_hz must be in \(0, audio_fs / 2"):
        TunedNeurons(cf_hz=[20000.0]).predict(np.zeros((1, 64)))
    with pytest.raises(ValueError, match="one value or one per neuron"):
        TunedNeurons(cf_hz=[1000.0, 2000.0], q10=[1.0, 2.0, 3.0]).predict(np.zeros((1, 64)))
    with pytest.raises(ValueError, match=r"suppression must be in \[0, 1\)"):
        TunedNeurons(suppression=1.5).predict(np.zeros((1, 64)))
    with pytest.raises(ValueError, match="max_rate_hz must be > spont_rate_hz"):
        TunedNeurons(spont_rate_hz=10.0, max_rate_hz=5.0).predict(np.zeros((1, 64)))
    with pytest.raises(TypeError, match="threshold_db must be a number"):
        TunedNeurons(threshold_db="loud").predict(np.zeros((1, 64)))
    with pytest.raises(ValueError, match="whole multiple of 32"):
        TunedNeurons().predict(np.zeros((1, 100)))
    with pytest.raises(ValueError, match="cf_range_hz"):
        make_tuned_neurons(2, cf_range_hz=(5000.0, 1000.0))
