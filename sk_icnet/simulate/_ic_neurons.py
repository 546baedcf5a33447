"""Inferior-colliculus-like ground-truth neurons and natural-like stimuli for learning curves.

:class:`ICNeurons` extends :class:`~sk_icnet.simulate.TunedNeurons` (frequency
tuning, thresholds, level-dependent adaptation, forward suppression) with
**band-pass modulation tuning**: the driven rate of each neuron is followed by
delayed, slower inhibition of itself (the same-frequency inhibition-excitation
model of Nelson & Carney 2004), so slow envelope changes are cancelled in part
and envelope fluctuations near the neuron's best modulation frequency pass
best. Every parameter is known, so models fitted to their spike counts can be
checked against the truth with :mod:`sk_icnet.insilico`.

Two natural-like stimuli complement :func:`~sk_icnet.simulate.make_stimuli`
and :func:`~sk_icnet.simulate.make_random_chords`:
:func:`make_speech_like` (voiced syllables with a gliding pitch and moving
formants, fricatives, pauses, a syllable rate of 3-6 Hz) and
:func:`make_natural_mix` (speech-like and random-chord trials at roved levels).
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from sklearn.utils import check_random_state

from .._core.signal import P_REF
from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, Timebase
from .._core.validation import check_positive_int, check_positive_number
from ._neurons import TunedNeurons, _check_rules, make_tuned_neurons
from ._stimuli import _event_ramp, _trial_levels, make_random_chords

__all__ = ["ICNeurons", "make_ic_neurons", "make_speech_like", "make_natural_mix"]


class ICNeurons(TunedNeurons):
    """Simulated IC neurons with frequency, level and band-pass modulation tuning.

    Each neuron is a :class:`~sk_icnet.simulate.TunedNeurons` neuron (steps 1-6
    there: band-pass filter, envelope, level adaptation, rate-level function,
    forward suppression, latency) whose driven rate ``d(t)`` (expected counts
    per bin above spontaneous) then passes through delayed self-inhibition:
    ``out(t) = max(d(t) - inhibition * i(t - inhibition_delay_ms), 0)``, with
    ``i`` the one-pole low-pass of ``d`` with time constant
    ``inhibition_tau_ms``. The sustained response is scaled by ``1 -
    inhibition``; envelope fluctuations faster than the inhibition can follow
    escape it, which makes the rate modulation transfer function band-pass.
    Measure the resulting best modulation frequency with
    :func:`sk_icnet.insilico.modulation_transfer` on the neurons themselves.

    Parameters
    ----------
    cf_hz, q10, threshold_db, dynamic_range_db, spont_rate_hz, max_rate_hz, latency_ms, \
envelope_cutoff_hz, suppression, suppression_tau_ms, adaptation_db_per_db, adaptation_tau_ms, \
audio_fs, dt_ms
        As in :class:`~sk_icnet.simulate.TunedNeurons`.
    inhibition : float or sequence in [0, 1), default=0.0
        Strength of the delayed inhibition (0: none, a low-pass MTF).
    inhibition_delay_ms : float or sequence >= 0, default=2.0
    inhibition_tau_ms : float or sequence > 0, default=5.0

    Examples
    --------
    >>> from sk_icnet.simulate import make_ic_neurons
    >>> neurons = make_ic_neurons(3, audio_fs=8000.0, dt_ms=2.0, random_state=0)
    >>> neurons.tuning_.shape
    (3, 16)
    """

    _PARAMETERS = TunedNeurons._PARAMETERS + ("inhibition", "inhibition_delay_ms",
                                              "inhibition_tau_ms")

    def __init__(self, cf_hz=(1000.0,), *, q10=4.0, threshold_db=30.0, dynamic_range_db=30.0,
                 spont_rate_hz=5.0, max_rate_hz=150.0, latency_ms=5.0, envelope_cutoff_hz=150.0,
                 suppression=0.0, suppression_tau_ms=50.0, adaptation_db_per_db=0.0,
                 adaptation_tau_ms=200.0, inhibition=0.0, inhibition_delay_ms=2.0,
                 inhibition_tau_ms=5.0, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS):
        super().__init__(cf_hz, q10=q10, threshold_db=threshold_db,
                         dynamic_range_db=dynamic_range_db, spont_rate_hz=spont_rate_hz,
                         max_rate_hz=max_rate_hz, latency_ms=latency_ms,
                         envelope_cutoff_hz=envelope_cutoff_hz, suppression=suppression,
                         suppression_tau_ms=suppression_tau_ms,
                         adaptation_db_per_db=adaptation_db_per_db,
                         adaptation_tau_ms=adaptation_tau_ms, audio_fs=audio_fs, dt_ms=dt_ms)
        self.inhibition = inhibition
        self.inhibition_delay_ms = inhibition_delay_ms
        self.inhibition_tau_ms = inhibition_tau_ms

    def _validated(self):
        values = super()._validated()
        rules = {"inhibition": (lambda a: (a >= 0) & (a < 1), "in [0, 1)"),
                 "inhibition_delay_ms": (lambda a: a >= 0, ">= 0"),
                 "inhibition_tau_ms": (lambda a: a > 0, "> 0")}
        _check_rules(values, rules, type(self).__name__)
        return values

    def _simulate(self, X, p, spb):
        rates = super()._simulate(X, p, spb)
        dt_ms = Timebase.from_samples_per_bin(float(self.audio_fs), spb).dt_ms
        for j in range(rates.shape[1]):
            strength = p["inhibition"][j]
            if strength <= 0:
                continue
            spont = p["spont_rate_hz"][j] * dt_ms / 1000.0
            driven = rates[:, j] - spont
            b = np.exp(-dt_ms / p["inhibition_tau_ms"][j])
            slow = signal.lfilter([1 - b], [1, -b], driven, axis=1)
            lag = int(round(p["inhibition_delay_ms"][j] / dt_ms))
            if lag:
                slow = np.concatenate([np.zeros((slow.shape[0], min(lag, slow.shape[1]))),
                                       slow[:, : max(slow.shape[1] - lag, 0)]], axis=1)
            rates[:, j] = spont + np.maximum(driven - strength * slow, 0.0)
        return rates


def make_ic_neurons(n_neurons=8, *, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS, cf_range_hz=None,
                    random_state=None):
    """Random :class:`ICNeurons`: IC-like tuning with adaptation and band-pass modulation tuning.

    Frequency and level tuning as :func:`~sk_icnet.simulate.make_tuned_neurons`
    with ``adaptation=True`` (0.3-0.7 dB per dB, 100-300 ms), then maximum rates
    of 150-400 spikes/s, inhibition of strength 0.8-0.95, delay 1-4 ms and time
    constant 1.5-15 ms. Measured (8 neurons, 8 kHz audio, 2 ms bins, one minute
    of :func:`make_natural_mix`): mean rates of 11-47 spikes/s, rate MTFs
    peaking at 16-32 Hz with a 20-40 % rise over the 4 Hz rate.

    Parameters
    ----------
    n_neurons : int, default=8
    audio_fs, dt_ms : float
    cf_range_hz : (float, float), optional
        Default: 300 Hz to ``0.35 * audio_fs``.
    random_state : int, RandomState instance or None

    Returns
    -------
    ICNeurons
    """
    fs = check_positive_number(audio_fs, "audio_fs")
    rng = check_random_state(random_state)
    base = make_tuned_neurons(n_neurons, audio_fs=fs, dt_ms=dt_ms,
                              cf_range_hz=(300.0, 0.35 * fs) if cf_range_hz is None else cf_range_hz,
                              adaptation=True, random_state=rng)
    n = check_positive_int(n_neurons, "n_neurons")
    params = base.get_params()
    u = rng.uniform
    params.update(max_rate_hz=np.round(u(150, 400, n), 3), inhibition=np.round(u(0.8, 0.95, n), 3),
                  inhibition_delay_ms=np.round(u(1, 4, n), 3),
                  inhibition_tau_ms=np.round(u(1.5, 15, n), 3))
    return ICNeurons(**params)


def _formant_gain(freqs, formants, bandwidth_oct=0.35):
    """Sum of Gaussian (in log frequency) formant peaks, unit peak, at ``freqs``."""
    logf = np.log2(np.maximum(freqs, 1.0))[:, None]
    centres = np.log2(np.asarray(formants))[None, :]
    return np.exp(-0.5 * ((logf - centres) / bandwidth_oct) ** 2).sum(axis=1) + 1e-3


def make_speech_like(n_trials, duration_s, audio_fs, *, level_db=65.0, random_state=None):
    """Speech-like sound: voiced syllables, fricatives and pauses at a syllable rate of 3-6 Hz.

    Each trial is a sequence of segments: voiced syllables (70 %; 100-300 ms, a
    harmonic complex whose pitch glides between two values in 90-250 Hz,
    shaped by three formants that move from one random vowel to another),
    fricatives (15 %; 50-150 ms of noise band-passed around 2.5-4 kHz, capped
    below Nyquist) and pauses (15 %; 30-200 ms). Syllables have raised-cosine
    envelopes and levels that vary by +-6 dB around the trial's level.

    Parameters
    ----------
    n_trials : int
    duration_s : float
    audio_fs : float
    level_db : float or array-like of shape (n_trials,), default=65.0
        RMS level of each trial in dB SPL (over the whole trial, pauses included).
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_trials, round(duration_s * audio_fs)), float32
        Waveforms in pascals.
    """
    fs = check_positive_number(audio_fs, "audio_fs")
    n = int(round(check_positive_number(duration_s, "duration_s") * fs))
    n_trials = check_positive_int(n_trials, "n_trials")
    levels = _trial_levels(level_db, n_trials)
    rng = check_random_state(random_state)
    top = 0.45 * fs
    X = np.zeros((n_trials, n))
    for i in range(n_trials):
        pos = 0
        while pos < n:
            kind = rng.choice(3, p=[0.7, 0.15, 0.15])
            if kind == 2:  # pause
                pos += int(fs * rng.uniform(0.03, 0.2))
                continue
            length = min(n - pos, int(fs * (rng.uniform(0.1, 0.3) if kind == 0
                                            else rng.uniform(0.05, 0.15))))
            if length < 8:
                break
            t = np.arange(length) / fs
            if kind == 0:
                f0 = np.geomspace(rng.uniform(90, 250), rng.uniform(90, 250), length)
                phase = 2 * np.pi * np.cumsum(f0) / fs
                a, b = ([rng.uniform(300, 900), rng.uniform(900, 2500), rng.uniform(2000, 3500)]
                        for _ in range(2))
                ks = np.arange(1, int(top // f0.min()) + 1)
                seg = np.zeros(length)
                for k in ks:  # each harmonic, weighted by the (moving) formant envelope
                    fk = k * f0
                    w = np.where(fk < top, 1.0, 0.0)
                    frac = t / t[-1] if length > 1 else t
                    g = (1 - frac) * _formant_gain(fk, np.minimum(a, top * 0.95)) \
                        + frac * _formant_gain(fk, np.minimum(b, top * 0.95))
                    seg += w * g / k**0.5 * np.sin(k * phase)
            else:
                centre = min(rng.uniform(2500, 4000), 0.8 * top)
                sos = signal.butter(2, [centre / 2**0.5, min(centre * 2**0.5, 0.98 * fs / 2)],
                                    btype="bandpass", fs=fs, output="sos")
                seg = signal.sosfilt(sos, rng.standard_normal(length))
            seg *= 10 ** (rng.uniform(-6, 6) / 20) / (np.sqrt(np.mean(seg**2)) + 1e-12)
            X[i, pos: pos + length] += seg * _event_ramp(length, fs, 20.0 if kind == 0 else 10.0)
            pos += length
        rms = np.sqrt(np.mean(X[i] ** 2)) + 1e-12
        X[i] *= P_REF * 10 ** (levels[i] / 20) / rms
    return X.astype(np.float32)


def make_natural_mix(n_trials, duration_s, audio_fs, *, level_range_db=(40.0, 80.0),
                     chord_fraction=0.5, random_state=None):
    """Speech-like and random-chord trials at levels roved over ``level_range_db``.

    Parameters
    ----------
    n_trials : int
    duration_s : float
    audio_fs : float
    level_range_db : (float, float), default=(40.0, 80.0)
        Each trial's RMS level is drawn uniformly in this range (dB SPL).
    chord_fraction : float in [0, 1], default=0.5
        Fraction of trials that are random chords
        (:func:`~sk_icnet.simulate.make_random_chords`, 16 tones from 200 Hz to
        ``0.4 * audio_fs``); the rest are :func:`make_speech_like`.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_trials, n_samples), float32, in pascals (trials in random order)
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    lo, hi = level_range_db
    if not (np.isfinite([lo, hi]).all() and lo <= hi):
        raise ValueError(f"level_range_db must be (low, high) dB SPL with low <= high; received "
                         f"{level_range_db!r}.")
    if not 0.0 <= chord_fraction <= 1.0:
        raise ValueError(f"chord_fraction must be in [0, 1]; received {chord_fraction!r}.")
    rng = check_random_state(random_state)
    levels = rng.uniform(lo, hi, n_trials)
    n_chords = int(round(chord_fraction * n_trials))
    parts = []
    if n_chords:
        chords = make_random_chords(n_chords, duration_s, audio_fs, n_tones=16,
                                    random_state=rng).astype(np.float64)
        rms = np.sqrt(np.mean(chords**2, axis=1, keepdims=True)) + 1e-12
        parts.append(chords * P_REF * 10 ** (levels[:n_chords, None] / 20) / rms)
    if n_trials > n_chords:
        parts.append(make_speech_like(n_trials - n_chords, duration_s, audio_fs,
                                      level_db=levels[n_chords:], random_state=rng))
    X = np.concatenate(parts).astype(np.float32)
    return X[rng.permutation(n_trials)]
