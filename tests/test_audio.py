"""Sound files, resampling and calibrated levels (sk_icnet.audio)."""

import numpy as np
import pytest

from sk_icnet.audio import (
    P_REF,
    level_db_spl,
    load_audio,
    ramp,
    resample,
    resampling_ratio,
    set_level,
)

sf = pytest.importorskip("soundfile")


def test_the_paper_rate_is_an_exact_ratio_of_44100():
    assert resampling_ratio(44100, 24414.0625) == (15625, 28224, 0.0)
    assert resampling_ratio(48000, 24414.0625)[2] == 0.0
    up, down, err = resampling_ratio(44100, 24414.0625, max_ratio_terms=1000)
    assert max(up, down) <= 1000 and 0 < err < 1e-5


def test_load_audio_resamples_a_wav_and_keeps_the_tone(tmp_path):
    fs = 44100
    t = np.arange(fs) / fs
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), fs, subtype="FLOAT")
    x = load_audio(tmp_path / "tone.wav", 24414.0625)
    assert x.dtype == np.float32 and abs(len(x) - 24414) <= 1
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    peak_hz = np.argmax(spectrum) * 24414.0625 / len(x)
    assert abs(peak_hz - 1000) < 2
    mid = x[2000:-2000]
    assert abs(np.sqrt(np.mean(mid**2)) - 0.5 / np.sqrt(2)) < 1e-3  # amplitude preserved
    # 15 kHz is above the new Nyquist frequency (12.2 kHz): the anti-alias filter removes it
    sf.write(tmp_path / "high.wav", 0.5 * np.sin(2 * np.pi * 15000 * t), fs, subtype="FLOAT")
    high = load_audio(tmp_path / "high.wav", 24414.0625)
    assert np.sqrt(np.mean(high[2000:-2000] ** 2)) < 0.01  # the anti-alias filter removed it
    assert len(load_audio(tmp_path / "tone.wav", None)) == fs
    np.testing.assert_allclose(load_audio(tmp_path / "tone.wav", None, scale=2.0),
                               2 * load_audio(tmp_path / "tone.wav", None), rtol=1e-6)


def test_load_audio_errors(tmp_path):
    stereo = np.zeros((100, 2))
    sf.write(tmp_path / "stereo.wav", stereo, 8000)
    with pytest.raises(ValueError, match="has 2 channels: pass channel="):
        load_audio(tmp_path / "stereo.wav")
    assert load_audio(tmp_path / "stereo.wav", None, channel=1).shape == (100,)
    with pytest.raises(ValueError, match=r"channel must be an integer in \[0, 2\)"):
        load_audio(tmp_path / "stereo.wav", channel=2)
    (tmp_path / "junk.wav").write_bytes(b"not a sound file")
    with pytest.raises(ValueError, match="is not a readable sound file"):
        load_audio(tmp_path / "junk.wav")


def test_levels_in_db_spl():
    fs = 16000
    t = np.arange(fs) / fs
    one_pa_rms = np.sqrt(2) * np.sin(2 * np.pi * 500 * t)
    assert level_db_spl(one_pa_rms) == pytest.approx(20 * np.log10(1 / P_REF), abs=1e-3)  # 93.98
    x = set_level(one_pa_rms, 60.0)
    assert level_db_spl(x) == pytest.approx(60.0, abs=1e-4)
    # with pauses: the active-frame level ignores the silence
    gated = np.concatenate([one_pa_rms, np.zeros(3 * fs)])
    assert level_db_spl(gated) == pytest.approx(93.98 - 20 * np.log10(2), abs=0.01)
    assert level_db_spl(gated, audio_fs=fs, active_only=True) == pytest.approx(93.98, abs=0.01)
    assert level_db_spl(set_level(gated, 70.0, audio_fs=fs, active_only=True), audio_fs=fs,
                        active_only=True) == pytest.approx(70.0, abs=1e-3)
    with pytest.raises(ValueError, match="x is silent"):
        set_level(np.zeros(100), 60.0)
    with pytest.raises(ValueError, match="db_spl must be a finite level"):
        set_level(one_pa_rms, float("nan"))
    assert level_db_spl(np.zeros(10)) == float("-inf")


def test_ramp_and_resample():
    x = ramp(np.ones(1000), 5.0, 8000)  # 40 samples each side
    assert x[0] == 0 and x[40] == 1 and x[-1] < 0.01 and np.all(np.diff(x[:40]) > 0)
    with pytest.raises(ValueError, match="do not fit"):
        ramp(np.ones(50), 5.0, 8000)
    assert resample(np.ones(300), 300, 100).shape == (100,)
