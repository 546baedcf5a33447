"""Simulated sounds and spike counts from known auditory neuron models.

No public package ships real auditory-midbrain recordings, so the examples and
tests use responses generated from models whose ground truth is known. Both
kinds of neuron read a standardised log-mel spectrogram at the bin rate (the
front end of :class:`~sk_icnet.strf.LinearSTRFRegressor` with
:data:`FRONT_END`), weighted by a Gaussian tuning curve around a best band:

``"linear"`` neurons
    A linear-nonlinear-Poisson cascade: the band-weighted log power convolved
    with a causal excitatory-inhibitory temporal kernel, then ``exp``. A
    Poisson STRF on the same features is the true model class.
``"onoff"`` neurons
    Respond to changes of the band power of either sign (onsets and offsets):
    the rate grows with the square of a biphasic (differentiating) filter of it.
    ``rate = f(|h * s|)`` is not a monotonic function of any linear projection of
    the spectrogram, so a linear(-nonlinear) STRF cannot capture it.

Everything is reproducible from ``random_state``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import signal
from sklearn.utils import Bunch, check_random_state

from ._validation import check_positive_int, check_positive_number, samples_per_bin
from .strf import log_mel_spectrogram

__all__ = ["make_stimuli", "make_random_chords", "make_auditory_dataset", "NEURON_KINDS"]

NEURON_KINDS = ("linear", "onoff")

#: spectrogram front end of the simulated neurons: ``LinearSTRFRegressor(**FRONT_END)``
#: (with the same ``audio_fs`` and ``dt_ms``) has the features of the ground truth
FRONT_END = dict(n_bands=32, fmin=50.0, win_ms=8.0)


def _ramp(n, fs, ramp_ms=5.0):
    """Raised-cosine on/off ramps for an n-sample event."""
    n_ramp = max(1, min(n // 2, int(fs * ramp_ms / 1000.0)))
    env = np.ones(n)
    r = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_ramp) / n_ramp)
    env[:n_ramp] = r
    env[n - n_ramp:] = r[::-1]
    return env


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
            X[i, start:stop] += level * ev * _ramp(length, audio_fs)
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


def _causal_filter(s, kernel):
    """Convolve each row of ``s`` with ``kernel`` (lag 0 first), causally."""
    return signal.lfilter(kernel, [1.0], s, axis=1)


def make_auditory_dataset(n_trials=64, duration_s=1.0, *, audio_fs=24414.0625, dt_ms=1.31072,
                          n_neurons=4, neuron_kinds="linear", mean_rate_hz=60.0,
                          n_repeats=None, random_state=None):
    """Simulated waveforms and Poisson spike counts from known neuron models.

    Parameters
    ----------
    n_trials : int, default=64
        Number of distinct stimuli (trials).
    duration_s : float, default=1.0
        Trial duration; trimmed down to a whole number of bins.
    audio_fs : float, default=24414.0625
    dt_ms : float, default=1.31072
        Bin width; ``audio_fs * dt_ms / 1000`` must be an integer.
    n_neurons : int, default=4
    neuron_kinds : {"linear", "onoff", "mixed"} or sequence of those, default="linear"
        Model of each neuron (see the module docstring). ``"mixed"`` alternates
        linear and on-off neurons.
    mean_rate_hz : float, default=60.0
        Average firing rate of each neuron over the stimulus set.
    n_repeats : int or None, default=None
        If given, each stimulus is presented ``n_repeats`` times and
        ``y_repeats`` of shape ``(n_trials, n_repeats, n_neurons, n_bins)`` is
        returned too (independent Poisson draws from the same rates).
    random_state : int, RandomState instance or None

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_samples) float32 waveforms in Pa; ``y``
        (n_trials, n_neurons, n_bins) float32 spike counts; ``rates`` the true
        expected counts per bin; ``neuron_kinds``; ``best_band`` (centre of each tuning curve,
        in mel bands); ``front_end`` (spectrogram parameters);
        ``audio_fs``; ``dt_ms``; and ``y_repeats`` when ``n_repeats`` is set.
    """
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    mean_rate_hz = check_positive_number(mean_rate_hz, "mean_rate_hz")
    spb = samples_per_bin(audio_fs, dt_ms)
    if isinstance(neuron_kinds, str):
        if neuron_kinds == "mixed":
            kinds = [NEURON_KINDS[i % 2] for i in range(n_neurons)]
        elif neuron_kinds in NEURON_KINDS:
            kinds = [neuron_kinds] * n_neurons
        else:
            raise ValueError(f"neuron_kinds must be one of {NEURON_KINDS + ('mixed',)} or a "
                             f"sequence of those; received {neuron_kinds!r}.")
    else:
        kinds = list(neuron_kinds)
        if len(kinds) != n_neurons or any(k not in NEURON_KINDS for k in kinds):
            raise ValueError(f"neuron_kinds must list one of {NEURON_KINDS} per neuron "
                             f"(n_neurons={n_neurons}); received {neuron_kinds!r}.")
    if n_repeats is not None:
        n_repeats = check_positive_int(n_repeats, "n_repeats")
    rng = check_random_state(random_state)
    X = make_stimuli(n_trials, duration_s, audio_fs, random_state=rng)
    n_bins = X.shape[1] // spb
    if n_bins < 1:
        raise ValueError(f"duration_s={duration_s!r} is shorter than one bin ({dt_ms} ms).")
    X = np.ascontiguousarray(X[:, : n_bins * spb])

    dt_s = spb / audio_fs
    with warnings.catch_warnings():  # the simulator's own fixed front end, by design
        warnings.filterwarnings("ignore", message=".*narrower than the FFT resolution")
        S, _ = log_mel_spectrogram(X, audio_fs, dt_ms, **FRONT_END)
    S = (S - S.mean(axis=(0, 1))) / (S.std(axis=(0, 1)) + 1e-12)  # (trials, bins, bands)
    n_bands = S.shape[2]
    lag_s = np.arange(int(np.ceil(0.02 / dt_s))) * dt_s  # 20 ms of history
    rates = np.empty((X.shape[0], n_neurons, n_bins))
    bf_band = rng.uniform(0.15, 0.85, n_neurons) * (n_bands - 1)
    target = mean_rate_hz * dt_s
    for j, kind in enumerate(kinds):
        tuning = np.exp(-0.5 * ((np.arange(n_bands) - bf_band[j]) / 1.5) ** 2)
        s = S @ (tuning / tuning.sum())  # band-weighted log power, (trials, bins)
        latency = rng.uniform(0.002, 0.005)
        tau = rng.uniform(0.002, 0.004)
        x = np.clip(lag_s - latency, 0, None) / tau
        alpha = x * np.exp(1 - x)  # excitatory alpha function after the latency
        if kind == "linear":
            inhibition = np.roll(alpha, int(round(0.006 / dt_s))) * 0.4
            inhibition[: int(round(0.006 / dt_s))] = 0
            drive = _causal_filter(s, alpha - inhibition)
            drive = (drive - drive.mean()) / (drive.std() + 1e-12)
            r = np.exp(1.2 * drive)
        else:  # on-off: magnitude of a differentiating filter of the band power
            shift = max(1, int(round(0.004 / dt_s)))
            delayed = np.concatenate([np.zeros(shift), alpha[:-shift]])
            drive = _causal_filter(s, alpha - delayed)
            drive = drive / (drive.std() + 1e-12)
            r = np.abs(drive) ** 2
        rates[:, j, :] = r * (target / r.mean())
    y = rng.poisson(rates).astype(np.float32)
    data = Bunch(X=X, y=y, rates=rates, neuron_kinds=kinds, best_band=bf_band,
                 audio_fs=float(audio_fs), dt_ms=float(dt_ms), front_end=dict(FRONT_END))
    if n_repeats is not None:
        data.y_repeats = rng.poisson(np.repeat(rates[:, None], n_repeats, axis=1)).astype(np.float32)
    return data
