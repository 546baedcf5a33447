"""IC-like ground-truth neurons (band-pass modulation tuning) and natural-like stimuli."""

import numpy as np
import pytest

from sk_icnet.audio import level_db_spl
from sk_icnet.simulate import ICNeurons, make_ic_neurons, make_natural_mix, make_speech_like

FS, DT = 8000.0, 2.0


def _sam_tone(fm, cf=1000.0, level_db=60.0, seconds=1.0):
    t = np.arange(int(FS * seconds)) / FS
    x = (1 + np.sin(2 * np.pi * fm * t)) * np.sin(2 * np.pi * cf * t)
    x *= 20e-6 * 10 ** (level_db / 20) / np.sqrt(np.mean(x**2))
    return x[None].astype(np.float32)


def _neuron(inhibition):
    return ICNeurons(cf_hz=(1000.0,), inhibition=inhibition, inhibition_delay_ms=2.0,
                     inhibition_tau_ms=10.0, spont_rate_hz=0.0, audio_fs=FS, dt_ms=DT)


def test_delayed_inhibition_scales_the_sustained_response_by_one_minus_its_strength():
    tone = _sam_tone(0.0, level_db=60.0)  # fm=0: an unmodulated tone
    plain = _neuron(0.0).predict(tone)[0, 0]
    inhibited = _neuron(0.8).predict(tone)[0, 0]
    late = slice(300, 450)  # 600-900 ms: sustained, before the offset
    assert plain[late].mean() > 0
    assert inhibited[late].mean() / plain[late].mean() == pytest.approx(0.2, abs=0.03)


def test_delayed_inhibition_makes_the_rate_mtf_band_pass():
    def gain(neuron, fm):  # mean rate to a modulated tone relative to 2 Hz modulation
        return neuron.predict(_sam_tone(fm))[0, 0, 50:].mean() / \
            neuron.predict(_sam_tone(2.0))[0, 0, 50:].mean()

    plain, inhibited = _neuron(0.0), _neuron(0.9)
    assert gain(inhibited, 32.0) > 1.1  # fluctuations near the BMF escape the inhibition
    assert gain(inhibited, 32.0) > gain(plain, 32.0) + 0.1


def test_random_ic_neurons_are_reproducible_and_checked():
    a = make_ic_neurons(4, audio_fs=FS, dt_ms=DT, random_state=3)
    b = make_ic_neurons(4, audio_fs=FS, dt_ms=DT, random_state=3)
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert all(0.8 <= v <= 0.95 for v in np.atleast_1d(a.inhibition))
    with pytest.raises(ValueError, match=r"inhibition must be in \[0, 1\); received 1\.0"):
        ICNeurons(cf_hz=(1000.0,), inhibition=1.0, audio_fs=FS, dt_ms=DT).predict(_sam_tone(4.0))


def test_speech_like_sound_has_the_asked_level_and_depends_only_on_the_seed():
    X = make_speech_like(3, 1.0, FS, level_db=65.0, random_state=0)
    assert X.shape == (3, 8000) and X.dtype == np.float32 and np.isfinite(X).all()
    assert np.array_equal(X, make_speech_like(3, 1.0, FS, level_db=65.0, random_state=0))
    assert not np.array_equal(X, make_speech_like(3, 1.0, FS, level_db=65.0, random_state=1))
    levels = [level_db_spl(x, audio_fs=FS, active_only=True) for x in X]
    assert np.allclose(levels, 65.0, atol=3.0)
    with pytest.raises(ValueError, match="level_db must be finite"):
        make_speech_like(2, 1.0, FS, level_db=np.nan)


def test_natural_mix_roves_levels_within_the_asked_range():
    X = make_natural_mix(8, 0.5, FS, level_range_db=(50.0, 70.0), random_state=0)
    assert X.shape == (8, 4000)
    levels = np.array([level_db_spl(x, audio_fs=FS, active_only=True) for x in X])
    assert levels.min() > 46.0 and levels.max() < 74.0 and np.ptp(levels) > 3.0
    with pytest.raises(ValueError, match="level_range_db must be"):
        make_natural_mix(2, 0.5, FS, level_range_db=(70.0, 50.0))
