"""Simulated sounds and spike counts from known auditory neuron models.

No public package ships real auditory-midbrain recordings, so the examples and
tests use responses generated from models whose ground truth is known:

``"linear"`` neurons
    A linear-nonlinear-Poisson cascade on a log-compressed band envelope: the
    waveform is band-pass filtered around the neuron's best frequency, the
    rectified output averaged per bin and log-compressed, convolved with a causal
    excitatory-inhibitory temporal kernel and passed through ``exp``. A linear
    STRF with an exponential link is the right model class for these neurons.
``"onoff"`` neurons
    Respond to envelope *changes* of either sign (onsets and offsets): the rate
    grows with the magnitude of a biphasic (differentiating) filter of the same
    log envelope. ``rate = f(|h * s|)`` is not a monotonic function of any
    linear projection of the spectrogram, so a linear(-nonlinear) STRF cannot
    capture it.

Everything is reproducible from ``random_state``.
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from sklearn.utils import Bunch, check_random_state

from ._validation import check_positive_int, check_positive_number, samples_per_bin

__all__ = ["make_stimuli", "make_auditory_dataset", "NEURON_KINDS"]

NEURON_KINDS = ("linear", "onoff")


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


def _band_log_envelope(X, audio_fs, bf, spb, floor):
    """Log-compressed rectified band envelope at the bin rate, (n_trials, n_bins)."""
    lo = bf / 2**0.25
    hi = min(bf * 2**0.25, 0.49 * audio_fs)
    sos = signal.butter(2, [lo, hi], btype="bandpass", fs=audio_fs, output="sos")
    band = signal.sosfilt(sos, X.astype(np.float64), axis=1)
    n_bins = X.shape[1] // spb
    env = np.abs(band[:, : n_bins * spb]).reshape(X.shape[0], n_bins, spb).mean(-1)
    return np.log(env + floor) - np.log(floor)


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
        expected counts per bin; ``neuron_kinds``; ``best_frequency_hz``;
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
    lag_s = np.arange(int(np.ceil(0.03 / dt_s))) * dt_s  # 30 ms of history
    rates = np.empty((X.shape[0], n_neurons, n_bins))
    bfs = np.exp(rng.uniform(np.log(400.0), np.log(0.3 * audio_fs), n_neurons))
    target = mean_rate_hz * dt_s
    for j, (kind, bf) in enumerate(zip(kinds, bfs)):
        s = _band_log_envelope(X, audio_fs, bf, spb, floor=3e-3)
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
        else:  # on-off: magnitude of a differentiating filter of the log envelope
            shift = max(1, int(round(0.004 / dt_s)))
            delayed = np.concatenate([np.zeros(shift), alpha[:-shift]])
            drive = _causal_filter(s, alpha - delayed)
            drive = drive / (drive.std() + 1e-12)
            r = np.abs(drive) ** 2
        rates[:, j, :] = r * (target / r.mean())
    y = rng.poisson(rates).astype(np.float32)
    data = Bunch(X=X, y=y, rates=rates, neuron_kinds=kinds, best_frequency_hz=bfs,
                 audio_fs=float(audio_fs), dt_ms=float(dt_ms))
    if n_repeats is not None:
        data.y_repeats = rng.poisson(np.repeat(rates[:, None], n_repeats, axis=1)).astype(np.float32)
    return data
