"""The spectro-temporal front end: a causal log-mel spectrogram at the neural bin rate.

The package's one spectrogram, shared by the STRF baselines
(:mod:`sk_icnet.strf`), the simulated neurons (:mod:`sk_icnet.simulate`) and the
receptive fields measured in silico (:mod:`sk_icnet.insilico`), so that their
bands, lags and units agree: ``torch.stft`` of a Hann window with a hop of one
bin, whose frame for bin ``t`` ends on the last audio sample of bin ``t``; mel
triangles; the natural log of the band power. :func:`lag_features` gives the
strictly causal lags ``0 .. n_lags - 1`` bins, which never cross trial boundaries
(each trial's lagged features are zero-padded at its start, as in MNE-Python's
``ReceptiveField``). :func:`hz_to_mel` and :func:`mel_to_hz` are the mel scale the
bands are spaced on (the HTK mel scale, ``2595 log10(1 + f / 700)``).

>>> import numpy as np
>>> from sk_icnet.spectral import lag_features, log_mel_spectrogram
>>> X = np.random.default_rng(0).normal(size=(2, 400))   # 2 trials, 100 bins of 4 samples
>>> S, center_hz = log_mel_spectrogram(X, 1000.0, 4.0, n_bands=3, fmin=50.0, win_ms=16.0)
>>> S.shape, lag_features(S, 5).shape
((2, 100, 3), (2, 100, 3, 5))
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ._core.signal import hz_to_mel, mel_to_hz
from ._core.timebase import samples_per_bin
from ._core.validation import check_positive_int, check_positive_number, check_waveforms, check_whole_bins

__all__ = ["log_mel_spectrogram", "mel_filterbank", "mel_design", "lag_features", "hz_to_mel",
           "mel_to_hz"]


def mel_filterbank(audio_fs, n_fft, n_bands, fmin, fmax):
    """Triangular mel filters (peak 1) on the ``n_fft // 2 + 1`` FFT frequencies.

    Returns
    -------
    weights : ndarray of shape (n_bands, n_fft // 2 + 1)
    center_hz : ndarray of shape (n_bands,)
    """
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_bands + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / audio_fs)
    lo, center, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lo) / (center - lo)
    falling = (hi - freqs[None, :]) / (hi - center)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    # a band narrower than the FFT resolution takes its nearest FFT bin
    empty = weights.sum(axis=1) == 0
    if empty.any():
        warnings.warn(
            f"{int(empty.sum())} of the n_bands={n_bands} mel bands between {fmin:g} and {fmax:g} Hz "
            f"are narrower than the FFT resolution ({audio_fs / n_fft:.3g} Hz: n_fft={n_fft}, set by "
            "win_ms) and take their nearest FFT bin, so neighbouring bands repeat the same "
            "frequencies; lower n_bands, raise fmin or raise win_ms.", UserWarning, stacklevel=3)
    for i in np.flatnonzero(empty):
        weights[i, np.argmin(np.abs(freqs - center[i, 0]))] = 1.0
    return weights, edges[1:-1]


def mel_design(audio_fs, hop, n_bands, fmin, fmax, win_ms):
    """The checked design of :func:`log_mel_spectrogram`: its FFT size and mel filters.

    For a front end that computes the same spectrogram another way (frame by
    frame, with its Jacobian, as :mod:`sk_icnet.insilico` does).

    Parameters
    ----------
    audio_fs : float
    hop : int
        The STFT hop: samples per bin.
    n_bands, fmin, fmax, win_ms
        As in :func:`log_mel_spectrogram` (``fmax=None`` is ``audio_fs / 2``).

    Returns
    -------
    n_fft : int
        The window length in samples: ``win_ms`` rounded up to a power of two and
        to at least one bin.
    weights : ndarray of shape (n_bands, n_fft // 2 + 1)
    center_hz : ndarray of shape (n_bands,)
    """
    n_bands = check_positive_int(n_bands, "n_bands")
    fmax = audio_fs / 2.0 if fmax is None else check_positive_number(fmax, "fmax")
    fmin = check_positive_number(fmin, "fmin")
    if not fmin < fmax <= audio_fs / 2.0:
        raise ValueError(f"fmin < fmax <= audio_fs / 2 is required; received fmin={fmin!r}, "
                         f"fmax={fmax!r}, audio_fs={audio_fs!r}.")
    win = check_positive_number(win_ms, "win_ms") * audio_fs / 1000.0
    n_fft = 1 << max(int(math.ceil(math.log2(max(win, hop, 2)))), 1)
    weights, center = mel_filterbank(audio_fs, n_fft, n_bands, fmin, fmax)
    return n_fft, weights, center


def log_mel_spectrogram(X, audio_fs, dt_ms, *, n_bands=32, fmin=50.0, fmax=None, win_ms=20.0,
                        log_floor=1e-8):
    """Causal log-mel spectrogram at the neural bin rate.

    Parameters
    ----------
    X : array-like of shape (n_trials, n_samples)
        Waveforms; ``n_samples`` a whole number of bins.
    audio_fs : float
    dt_ms : float
        Bin width; the STFT hop is ``audio_fs * dt_ms / 1000`` samples.
    n_bands : int, default=32
    fmin, fmax : float, default=50.0 and audio_fs / 2
        Frequency range of the mel bands in Hz.
    win_ms : float, default=20.0
        Analysis window (Hann) length; rounded up to a power of two in samples
        and to at least one bin.
    log_floor : float, default=1e-8
        Added to the band power (Pa² per bin) before the log.

    Returns
    -------
    S : ndarray of shape (n_trials, n_bins, n_bands), float32
        ``log(band power + log_floor)``; frame ``t`` covers the ``n_fft``
        samples ending on the last sample of bin ``t`` (zero-padded on the left).
    center_hz : ndarray of shape (n_bands,)
    """
    spb = samples_per_bin(audio_fs, dt_ms)
    X = check_waveforms(X, name="X")
    check_whole_bins(X.shape[1], spb, estimator="log_mel_spectrogram")
    n_fft, weights, center = mel_design(audio_fs, spb, n_bands, fmin, fmax, win_ms)
    x = torch.from_numpy(X)
    x = torch.nn.functional.pad(x, (n_fft - spb, 0))
    window = torch.hann_window(n_fft, dtype=x.dtype)
    spec = torch.stft(x, n_fft=n_fft, hop_length=spb, window=window, center=False,
                      return_complex=True)  # (n_trials, n_freq, n_bins)
    power = spec.real ** 2 + spec.imag ** 2
    power = power / (window ** 2).sum()
    mel = torch.einsum("bf,nft->ntb", torch.from_numpy(weights).to(power.dtype), power)
    return torch.log(mel + log_floor).numpy(), center


def lag_features(F, n_lags):
    """Causally lagged copies of ``F``, zero-padded at the start of each trial.

    Parameters
    ----------
    F : ndarray of shape (n_trials, n_bins, n_features)
    n_lags : int

    Returns
    -------
    ndarray of shape (n_trials, n_bins, n_features, n_lags)
        ``out[:, t, :, l] = F[:, t - l, :]`` for ``t >= l``, zero before.
    """
    n_trials, n_bins, n_feat = F.shape
    out = np.zeros((n_trials, n_bins, n_feat, n_lags), dtype=F.dtype)
    for lag in range(min(n_lags, n_bins)):  # loop over lags, as in MNE
        out[:, lag:, :, lag] = F[:, : n_bins - lag, :]
    return out
