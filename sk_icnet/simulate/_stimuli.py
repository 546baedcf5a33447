"""Simulated sounds: natural-like mixtures of events, and dynamic random chords (DRC)."""

from __future__ import annotations

import numpy as np
from scipy import signal
from sklearn.utils import check_random_state

from .._core.signal import ramp_envelope
from .._core.validation import check_positive_int, check_positive_number

__all__ = ["make_stimuli", "make_random_chords"]


def _event_ramp(n, fs, ramp_ms=5.0):
    """Raised-cosine on/off ramps for an n-sample event.

    ``int(fs * ramp_ms / 1000)`` samples each (at least 1, at most half the event), the
    simulator's rule since 0.1; the shape is :func:`~sk_icnet._core.signal.ramp_envelope`'s.
    """
    n_ramp = max(1, min(n // 2, int(fs * ramp_ms / 1000.0)))
    return ramp_envelope(n, n_ramp * 1000.0 / fs, fs)


def _trial_levels(level_db, n_trials):
    """One finite dB SPL level per trial (a number for all, or one per trial)."""
    levels = np.broadcast_to(np.asarray(level_db, dtype=float), (n_trials,))
    if not np.isfinite(levels).all():
        raise ValueError(f"level_db must be finite dB SPL values; received {level_db!r}.")
    return levels


def make_stimuli(n_trials, duration_s, audio_fs, *, events_per_s=12.0, random_state=None):
    """Random natural-like sound mixtures: tone pips, band-noise bursts, harmonic complexes.

    Each trial is a sum of events at random onsets, frequencies (log-uniform
    from 200 Hz to 0.4 * audio_fs), durations (10-200 ms) and levels (a 40 dB
    range, peaks of about 0.01-1 Pa), over a quiet noise floor.

    Parameters
    ----------
    n_trials : int
    duration_s : float
        Duration of each trial in seconds.
    audio_fs : float
        Sampling rate in Hz.
    events_per_s : float, default=12.0
        Mean number of sound events per second.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_trials, n_samples), float32
        Waveforms in pascals, ``n_samples = round(duration_s * audio_fs)``.
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    duration_s = check_positive_number(duration_s, "duration_s")
    audio_fs = check_positive_number(audio_fs, "audio_fs")
    rng = check_random_state(random_state)
    n = int(round(duration_s * audio_fs))
    t_all = np.arange(n) / audio_fs
    f_lo, f_hi = 200.0, 0.4 * audio_fs
    X = 1e-3 * rng.standard_normal((n_trials, n))
    for i in range(n_trials):
        for _ in range(rng.poisson(events_per_s * duration_s) + 1):
            dur = int(audio_fs * rng.uniform(0.01, 0.2))
            start = rng.randint(0, max(1, n - dur // 2))
            stop = min(n, start + dur)
            length = stop - start
            if length < 4:
                continue
            t = t_all[:length]
            f = np.exp(rng.uniform(np.log(f_lo), np.log(f_hi)))
            kind = rng.randint(3)
            if kind == 0:  # tone pip, sometimes amplitude-modulated
                ev = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
                if rng.rand() < 0.5:
                    ev *= 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(4, 60) * t))
            elif kind == 1:  # half-octave noise burst
                lo, hi = f / 2**0.25, min(f * 2**0.25, 0.49 * audio_fs)
                sos = signal.butter(2, [lo, hi], btype="bandpass", fs=audio_fs, output="sos")
                ev = signal.sosfilt(sos, rng.standard_normal(length))
                ev /= np.max(np.abs(ev)) + 1e-12
            else:  # harmonic complex
                f0 = rng.uniform(100, 400)
                harmonics = np.arange(1, int(f_hi // f0) + 1)
                ev = np.sin(2 * np.pi * f0 * np.outer(harmonics, t)
                            + rng.uniform(0, 2 * np.pi, (len(harmonics), 1))).sum(0)
                ev /= np.max(np.abs(ev)) + 1e-12
            level = 10 ** (rng.uniform(-40, 0) / 20.0)  # 0.01 .. 1 Pa peak
            X[i, start:stop] += level * ev * _event_ramp(length, audio_fs)
    return X.astype(np.float32)


def make_random_chords(n_trials, duration_s, audio_fs, *, n_tones=24, fmin=200.0, fmax=None,
                       chord_ms=20.0, level_range_db=40.0, random_state=None):
    """Dynamic random chords (DRC), the classic stimulus for STRF estimation.

    Tones at ``n_tones`` log-spaced frequencies; every ``chord_ms`` each tone
    takes an independent random level (uniform over ``level_range_db`` dB below
    1 Pa peak, or silence with probability 1/2), so band powers are nearly
    uncorrelated across frequency and time.

    Parameters
    ----------
    n_trials : int
    duration_s : float
    audio_fs : float
    n_tones : int, default=24
    fmin, fmax : float, default=200.0 and 0.4 * audio_fs
    chord_ms : float, default=20.0
    level_range_db : float, default=40.0
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_trials, n_samples), float32, in pascals
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    audio_fs = check_positive_number(audio_fs, "audio_fs")
    duration_s = check_positive_number(duration_s, "duration_s")
    fmax = 0.4 * audio_fs if fmax is None else check_positive_number(fmax, "fmax")
    rng = check_random_state(random_state)
    n = int(round(duration_s * audio_fs))
    chord = max(1, int(round(check_positive_number(chord_ms, "chord_ms") * audio_fs / 1000.0)))
    n_chords = -(-n // chord)
    freqs = np.geomspace(check_positive_number(fmin, "fmin"), fmax, check_positive_int(n_tones, "n_tones"))
    t = np.arange(n) / audio_fs
    X = np.zeros((n_trials, n))
    for i in range(n_trials):
        levels = 10 ** (-rng.uniform(0, level_range_db, (len(freqs), n_chords)) / 20.0)
        levels *= rng.rand(len(freqs), n_chords) < 0.5
        amp = np.repeat(levels, chord, axis=1)[:, :n]
        phases = rng.uniform(0, 2 * np.pi, (len(freqs), 1))
        X[i] = (amp * np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases)).sum(0)
    return (X / np.sqrt(len(freqs))).astype(np.float32)
