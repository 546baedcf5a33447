"""The spectro-temporal front end: the log-mel spectrogram, its filters and its lags."""

import warnings

import numpy as np
import pytest

from sk_icnet.simulate import make_stimuli
from sk_icnet.spectral import lag_features, log_mel_spectrogram, mel_design, mel_filterbank

FS, DT = 8000.0, 4.0


@pytest.fixture(scope="module")
def sounds():
    return make_stimuli(2, 0.4, FS, random_state=0)  # 2 trials x 100 bins


def test_spectrogram_shape_causality_and_bands(sounds):
    S, centers = log_mel_spectrogram(sounds, FS, DT, n_bands=8, fmin=100.0)
    assert S.shape == (2, 100, 8) and np.all(np.diff(centers) > 0)
    # frame t depends on no sample after bin t
    X2 = sounds.copy()
    t = 50
    X2[:, (t + 1) * 32:] = 0.0
    S2, _ = log_mel_spectrogram(X2, FS, DT, n_bands=8, fmin=100.0)
    np.testing.assert_array_equal(S2[:, : t + 1], S[:, : t + 1])
    # a pure tone lights up the band that contains it
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(3200) / FS)[None].astype(np.float32)
    St, c = log_mel_spectrogram(tone, FS, DT, n_bands=8, fmin=100.0)
    assert abs(c[np.argmax(St[0, 50])] - 1000.0) < 400


def test_mel_filterbank_covers_every_band():
    # 40 bands on a 125 Hz FFT grid: the lowest bands are narrower than a bin, and it says so
    with pytest.warns(UserWarning, match="3 of the n_bands=40 mel bands .* narrower than the FFT "
                                         r"resolution \(125 Hz: n_fft=64"):
        w, c = mel_filterbank(8000.0, 64, 40, 50.0, 4000.0)
    assert w.shape == (40, 33) and np.all(w.sum(axis=1) > 0) and np.all(np.diff(c) > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mel_filterbank(8000.0, 256, 20, 100.0, 4000.0)  # resolvable: silent


def test_lags_never_cross_trials():
    F = np.arange(2 * 5 * 1, dtype=float).reshape(2, 5, 1) + 1
    L = lag_features(F, 3)
    assert L.shape == (2, 5, 1, 3)
    np.testing.assert_array_equal(L[1, :, 0, 2], [0, 0, 6, 7, 8])
    np.testing.assert_array_equal(L[1, :, 0, 0], F[1, :, 0])


def test_the_design_is_the_spectrogram_s_own():
    # 20 ms at 8 kHz is 160 samples: the window rounds up to 256, and the filters are those
    # log_mel_spectrogram applies (a tone's band power computed from them alone agrees)
    n_fft, weights, center = mel_design(FS, 32, 8, 100.0, None, 20.0)
    assert n_fft == 256 and weights.shape == (8, 129)
    np.testing.assert_array_equal(center, mel_filterbank(FS, 256, 8, 100.0, FS / 2)[1])
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(3200) / FS)[None]
    S, c = log_mel_spectrogram(tone, FS, DT, n_bands=8, fmin=100.0)
    np.testing.assert_array_equal(c, center)
    frame = tone[0, 3200 - n_fft:] * np.hanning(n_fft + 1)[:-1]
    power = np.abs(np.fft.rfft(frame)) ** 2 / (np.hanning(n_fft + 1)[:-1] ** 2).sum()
    np.testing.assert_allclose(S[0, -1], np.log(weights @ power + 1e-8), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fmin=5000.0), "fmin < fmax <= audio_fs / 2"),
    (dict(n_bands=0), "n_bands"),
    (dict(win_ms=-1.0), "win_ms"),
])
def test_a_design_outside_the_band_is_refused_naming_it(kwargs, match):
    params = dict(audio_fs=FS, hop=32, n_bands=8, fmin=100.0, fmax=None, win_ms=20.0) | kwargs
    with pytest.raises(ValueError, match=match):
        mel_design(**params)
