"""Neurons with strong level effects: the stated tuning, from their true rates."""

import numpy as np
import pytest

from sk_icnet.simulate import LevelNeurons, make_level_neurons

FS, DT = 8000.0, 2.0


def tone(freq, level_db, seconds=0.3, fs=FS):
    t = np.arange(int(fs * seconds)) / fs
    return (20e-6 * 10 ** (level_db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq * t))


def neuron(**kwargs):
    params = dict(cf_hz=(1000.0,), threshold_db=20.0, dynamic_range_db=20.0, spont_rate_hz=0.0,
                  latency_ms=4.0, audio_fs=FS, dt_ms=DT)
    params.update(kwargs)
    return LevelNeurons(**params)


def sustained(neuron, X):
    return neuron.predict(np.atleast_2d(X).astype(np.float32))[:, 0, 75:140].mean(axis=1)


def test_a_non_monotonic_neuron_peaks_then_falls_by_its_depth():
    levels = np.arange(0.0, 101.0, 5.0)
    X = np.stack([tone(1000.0, L) for L in levels])
    unit = neuron(nonmonotonic_depth=0.7, fall_db=60.0, fall_width_db=4.0)
    rate = sustained(unit, X)
    peak = int(np.argmax(rate))
    assert 20.0 < levels[peak] < 60.0  # between the threshold and the fall
    assert rate[-1] / rate[peak] == pytest.approx(0.3, abs=0.05)  # 1 - depth, 40 dB above the fall
    monotonic = sustained(neuron(), X)
    assert np.all(np.diff(monotonic) >= -1e-12)


def test_side_band_inhibition_lowers_the_rate_to_a_tone_beside_cf_and_to_a_second_tone():
    beside = tone(1000.0 * 2 ** 0.5, 60.0)
    plain, inhibited = neuron(q10=2.0), neuron(q10=2.0, sideband_inhibition=0.8, sideband_oct=0.75)
    assert sustained(inhibited, beside)[0] < 0.6 * sustained(plain, beside)[0]
    cf_alone = tone(1000.0, 40.0)
    with_side = cf_alone + tone(1000.0 * 2 ** 0.75, 60.0)
    assert sustained(inhibited, with_side)[0] < 0.5 * sustained(inhibited, cf_alone)[0]


def test_the_onset_drives_about_one_plus_the_onset_gain_times_the_sustained_rate():
    unit = neuron(onset_gain=2.0, onset_tau_ms=20.0)
    rate = unit.predict(tone(1000.0, 60.0)[None].astype(np.float32))[0, 0]
    assert rate[:8].max() / rate[100:140].mean() == pytest.approx(3.0, rel=0.15)
    steady = neuron().predict(tone(1000.0, 60.0)[None].astype(np.float32))[0, 0]
    assert steady[:8].max() <= steady[100:140].mean() * 1.01


def test_adaptation_moves_the_rate_level_midpoint_towards_the_context_level():
    k = 0.5
    unit = neuron(adaptation_db_per_db=k, adaptation_tau_ms=200.0, dynamic_range_db=20.0)
    probes = np.arange(10.0, 101.0, 2.0)

    def midpoint(context_db):
        context = tone(1000.0, context_db, seconds=1.0)
        X = np.stack([np.concatenate([context, tone(1000.0, L, seconds=0.02)]) for L in probes])
        rate = unit.predict(X.astype(np.float32))[:, 0, 500 + 2: 500 + 10].mean(axis=1)
        half = rate.min() + (rate.max() - rate.min()) / 2
        return float(np.interp(half, rate, probes))

    shift = midpoint(70.0) - midpoint(40.0)
    assert 0.6 * k * 30.0 < shift < 1.1 * k * 30.0


def test_random_level_neurons_are_reproducible_half_non_monotonic_and_checked():
    a = make_level_neurons(6, audio_fs=FS, dt_ms=DT, random_state=2)
    b = make_level_neurons(6, audio_fs=FS, dt_ms=DT, random_state=2)
    pa, pb = a.get_params(), b.get_params()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert (np.asarray(a.nonmonotonic_depth) > 0).sum() == 3
    assert a.tuning_.shape[0] == 6
    with pytest.raises(ValueError, match=r"sideband_inhibition must be in \[0, 1\]; received 1\.5"):
        neuron(sideband_inhibition=1.5).predict(tone(1000.0, 50.0)[None].astype(np.float32))
