"""Periphery-driven neurons: the stated tuning, from their true rates."""

import numpy as np
import pytest

from sk_icnet.simulate import PeripheryNeurons, make_periphery_neurons

FS, DT = 8000.0, 2.0


def tone(freq, level_db, seconds=0.3):
    t = np.arange(int(FS * seconds)) / FS
    return (20e-6 * 10 ** (level_db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq * t))


def neuron(**kwargs):
    params = dict(cf_hz=(1000.0,), threshold_db=20.0, spont_rate_hz=0.0, latency_ms=4.0,
                  audio_fs=FS, dt_ms=DT)
    params.update(kwargs)
    return PeripheryNeurons(**params)


def rates(unit, X):
    return unit.predict(np.atleast_2d(X).astype(np.float32))[:, 0]


def test_the_best_frequency_is_the_cf_within_an_eighth_of_an_octave():
    freqs = 1000.0 * 2.0 ** np.arange(-1.0, 1.01, 1 / 8)
    unit = neuron(cf_hz=(1000.0,))
    rate = rates(unit, np.stack([tone(f, 40.0) for f in freqs]))[:, 75:140].mean(axis=1)
    assert abs(np.log2(freqs[np.argmax(rate)] / 1000.0)) <= 1 / 8
    assert rate[0] < 0.5 * rate.max() and rate[-1] < 0.5 * rate.max()


def test_no_drive_at_threshold_and_a_compressive_growth_above_it():
    unit = neuron(threshold_db=30.0, half_drive=50.0)  # far from saturation: drive ~ rate
    below = rates(unit, tone(1000.0, 29.0)[None])
    assert np.all(below == 0.0)
    levels = np.array([40.0, 60.0, 80.0])
    r = rates(unit, np.stack([tone(1000.0, L) for L in levels]))[:, 75:140].mean(axis=1)
    assert np.all(np.diff(r) > 0)
    # drive (p / p_th) ** c - 1, rate ~ drive far from saturation: from 60 to 80 dB (30 and
    # 50 dB above threshold) the rate grows by (10 ** (2.5 c) - 1) / (10 ** (1.5 c) - 1)
    def expected(c):
        return (10 ** (2.5 * c) - 1) / (10 ** (1.5 * c) - 1)

    linear = neuron(threshold_db=30.0, half_drive=5000.0, compression=1.0)
    r_lin = rates(linear, np.stack([tone(1000.0, L) for L in levels]))[:, 75:140].mean(axis=1)
    assert r[2] / r[1] == pytest.approx(expected(0.3), rel=0.1)
    assert r_lin[2] / r_lin[1] == pytest.approx(expected(1.0), rel=0.1)


def test_adaptation_passes_the_onset_and_divides_the_sustained_response():
    plain, adapting = neuron(), neuron(adaptation=3.0, adaptation_tau_ms=20.0)
    x = tone(1000.0, 60.0)[None]
    r_plain, r_adapt = rates(plain, x)[0], rates(adapting, x)[0]
    first = np.flatnonzero(r_plain > 0.5 * r_plain.max())[0]  # the first well-driven bin
    assert r_adapt[first] > 0.9 * r_plain[first]
    assert r_adapt[75:140].mean() < 0.7 * r_plain[75:140].mean()


def test_delayed_inhibition_spares_the_first_milliseconds_and_lowers_the_rest():
    delay_ms = 8.0
    plain = neuron(inhibition_delay_ms=delay_ms)
    inhibited = neuron(inhibition=0.7, inhibition_delay_ms=delay_ms, inhibition_bw_erb=0.7)
    x = tone(1000.0, 50.0)[None]
    r_plain, r_inh = rates(plain, x)[0], rates(inhibited, x)[0]
    early = slice(0, int((4.0 + delay_ms) / DT))  # latency + delay
    np.testing.assert_allclose(r_inh[early], r_plain[early])
    assert r_inh[75:140].mean() < 0.8 * r_plain[75:140].mean()


def test_random_periphery_neurons_are_reproducible_and_checked():
    a = make_periphery_neurons(4, audio_fs=FS, dt_ms=DT, random_state=1)
    b = make_periphery_neurons(4, audio_fs=FS, dt_ms=DT, random_state=1)
    pa, pb = a.get_params(), b.get_params()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    r = a.predict(np.stack([tone(500.0, 60.0), tone(2000.0, 60.0)]).astype(np.float32))
    assert r.shape == (2, 4, 150) and np.isfinite(r).all() and (r >= 0).all()
    with pytest.raises(ValueError, match=r"compression must be in \(0, 1\]; received 1\.5"):
        neuron(compression=1.5).predict(tone(1000.0, 50.0)[None].astype(np.float32))
