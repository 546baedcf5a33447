"""Simulated neurons with known rates: linear and on-off neurons on a log-mel front end, and
neurons with known classic tuning (:class:`TunedNeurons`). See :mod:`sk_icnet.simulate`."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import fft as sp_fft
from scipy import signal
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch, check_random_state

from .._core.signal import P_REF
from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, samples_per_bin
from .._core.validation import (
    _describe,
    check_positive_int,
    check_positive_number,
    check_waveforms,
    check_whole_bins,
)
from ..spectral import log_mel_spectrogram
from ._stimuli import make_stimuli

__all__ = ["make_auditory_dataset", "make_tuned_neurons", "TunedNeurons", "q10_to_octaves",
           "NEURON_KINDS"]

NEURON_KINDS = ("linear", "onoff")

#: spectrogram front end of the simulated neurons: ``LinearSTRFRegressor(**FRONT_END)``
#: (with the same ``audio_fs`` and ``dt_ms``) has the features of the ground truth
FRONT_END = dict(n_bands=32, fmin=50.0, win_ms=8.0)


def _causal_filter(s, kernel):
    """Convolve each row of ``s`` with ``kernel`` (lag 0 first), causally."""
    return signal.lfilter(kernel, [1.0], s, axis=1)


def make_auditory_dataset(n_trials=64, duration_s=1.0, *, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS,
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


_LN9 = np.log(9.0)


def q10_to_octaves(q10):
    """10-dB bandwidth in octaves of a tuning curve symmetric in log frequency with this Q10.

    ``Q10 = CF / (f_high - f_low)`` with ``f_high / CF = CF / f_low = 2 ** (b / 2)``.
    """
    q10 = np.asarray(q10, dtype=float)
    u = (1.0 / q10 + np.sqrt(1.0 / q10**2 + 4.0)) / 2.0  # u - 1/u = 1/Q10, u = 2 ** (b / 2)
    return 2.0 * np.log2(u)


def _minimum_phase(gain_db, nfft):
    """Minimum-phase frequency response with magnitude ``gain_db`` (on the rfft grid of ``nfft``).

    Homomorphic: fold the real cepstrum of the log magnitude onto positive
    quefrencies; the filter is then causal with the same magnitude.
    """
    log_mag = gain_db * (np.log(10.0) / 20.0)
    cepstrum = sp_fft.irfft(log_mag, nfft)
    fold = np.zeros(nfft)
    fold[0] = cepstrum[0]
    fold[1: (nfft + 1) // 2] = 2.0 * cepstrum[1: (nfft + 1) // 2]
    if nfft % 2 == 0:
        fold[nfft // 2] = cepstrum[nfft // 2]
    return np.exp(sp_fft.rfft(fold))


def _check_rules(values, rules, owner):
    """Raise a ValueError naming the first value that breaks its rule: the parameter, the
    neuron, the rule and the value received."""
    for name, (rule, text) in rules.items():
        bad = ~rule(values[name])
        if bad.any():
            raise ValueError(f"{name} must be {text}; received {float(values[name][bad][0])!r} "
                             f"(neuron {int(np.flatnonzero(bad)[0])}); set it on {owner} within "
                             "that range.")


class _SimulatedNeurons(BaseEstimator):
    """What every simulator with known rates shares: parameters as one value or one per
    neuron (``cf_hz`` sets the number), the fitted attributes a model under test has, and
    batched :meth:`predict` and :meth:`sample` around ``_simulate``."""

    _PARAMETERS = ("cf_hz",)

    def _parameter_arrays(self):
        """The parameters as finite float arrays of length n_neurons (not yet checked against
        their rules)."""
        values = {}
        for name in self._PARAMETERS:
            raw = getattr(self, name)
            try:
                arr = np.atleast_1d(np.asarray(raw, dtype=float))
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be a number or a sequence of numbers; received "
                                f"{_describe(raw)}.") from None
            if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
                raise ValueError(f"{name} must be a finite number or a 1-D sequence of finite "
                                 f"numbers; received {raw!r}.")
            values[name] = arr
        n = values["cf_hz"].size
        for name, arr in values.items():
            if arr.size not in (1, n):
                raise ValueError(f"{name} must be one value or one per neuron (len(cf_hz)={n}); "
                                 f"received {arr.size} values.")
            values[name] = np.broadcast_to(arr, (n,)).astype(float)
        return values

    def _validated(self):
        return self._parameter_arrays()

    @property
    def samples_per_bin_(self):
        return samples_per_bin(self.audio_fs, self.dt_ms)

    @property
    def audio_fs_(self):
        return float(self.audio_fs)

    @property
    def dt_ms_(self):
        return self.samples_per_bin_ * 1000.0 / self.audio_fs_

    @property
    def n_neurons_(self):
        return self._validated()["cf_hz"].size

    def __sklearn_is_fitted__(self):
        return True  # a simulator: nothing to fit

    def predict(self, X):
        """Expected spike counts per bin.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples)
            Waveforms in pascals at ``audio_fs``, a whole number of bins long.

        Returns
        -------
        ndarray of shape (n_trials, n_neurons, n_bins), float64
        """
        p = self._validated()
        X = check_waveforms(X, name="X")
        spb = self.samples_per_bin_
        n_bins = check_whole_bins(X.shape[1], spb, estimator=type(self).__name__)
        out = np.empty((X.shape[0], p["cf_hz"].size, n_bins))
        for lo in range(0, X.shape[0], 64):  # bounded memory: 64 trials at a time
            out[lo: lo + 64] = self._simulate(X[lo: lo + 64].astype(np.float64), p, spb)
        return out

    def sample(self, X, random_state=None):
        """Poisson spike counts around :meth:`predict`; int64 of the same shape."""
        return check_random_state(random_state).poisson(self.predict(X)).astype(np.int64)

    def _simulate(self, X, p, spb):
        raise NotImplementedError


class TunedNeurons(_SimulatedNeurons):
    """Simulated inferior-colliculus neurons with known classic tuning parameters.

    A ground truth for :mod:`sk_icnet.insilico`: it has :meth:`predict` (the
    expected spike count per bin) and :meth:`sample` like a fitted
    :class:`~sk_icnet.ICNetRegressor`, and every parameter an in-silico
    experiment measures is set here. Each neuron, for waveforms in pascals:

    1. filters the sound with a causal (minimum-phase) band-pass whose gain
       in dB is a parabola in log frequency (floored at -120 dB): 0 dB at
       ``cf_hz``, -10 dB at ``cf_hz * 2 ** (+-b / 2)``, where ``b`` (octaves)
       is set by ``q10`` (``Q10 = CF / 10-dB bandwidth``; see
       :func:`q10_to_octaves`);
    2. takes the Hilbert envelope of that, low-passed at
       ``envelope_cutoff_hz`` (one pole), and its level ``L(t)`` in dB SPL per
       bin (a steady tone at CF of ``x`` dB SPL gives ``L = x``);
    3. optionally adapts to the recent mean level: ``L_eff = L - k * m(t)``,
       with ``m`` the exponential running mean (time constant
       ``adaptation_tau_ms``) of ``max(L, 0)`` and ``k =
       adaptation_db_per_db`` (a shift of the rate-level function towards the
       mean level, as in Dean et al. 2005);
    4. maps the level to a driven fraction ``d = logistic((L_eff - L50) / w)``
       such that ``d = 0.1`` at ``threshold_db`` and ``d = 0.9`` at
       ``threshold_db + dynamic_range_db``;
    5. optionally suppresses itself: ``s(t) = suppression * (exponential
       running mean of d over the past bins, time constant
       suppression_tau_ms)``, so after a sound ends the suppression decays as
       ``exp(-t / suppression_tau_ms)`` exactly (forward masking);
    6. fires at ``spont_rate_hz + (max_rate_hz - spont_rate_hz) * d * (1 - s)``,
       delayed by ``latency_ms``.

    So, with no adaptation and no suppression, a tone at CF has a driven rate
    (above spontaneous) that reaches 10 % of its maximum at ``threshold_db``
    and 90 % at ``threshold_db + dynamic_range_db``; a tone at another
    frequency needs ``10 * (2 * log2(f / cf) / b) ** 2`` dB more. The filter
    adds its build-up and decay time to ``latency_ms``: a tone at CF reaches
    its steady level within 1 dB after about 2 ms (CF 4 kHz, Q10 3) to 9 ms
    (2 kHz, Q10 8) or 20 ms (640 Hz, Q10 6).

    Parameters
    ----------
    cf_hz : float or sequence of float, default=(1000.0,)
        Characteristic frequency of each neuron; its length sets the number of
        neurons. Every other parameter is one value for all neurons or one per
        neuron.
    q10 : float or sequence, default=4.0
    threshold_db : float or sequence, default=30.0
        dB SPL of a tone at CF.
    dynamic_range_db : float or sequence, default=30.0
        From 10 % to 90 % of the driven rate.
    spont_rate_hz : float or sequence, default=5.0
    max_rate_hz : float or sequence, default=150.0
        Rate at saturation with no suppression (spontaneous included).
    latency_ms : float or sequence, default=5.0
    envelope_cutoff_hz : float or sequence, default=150.0
    suppression : float or sequence in [0, 1), default=0.0
        Strength of forward suppression (0: none).
    suppression_tau_ms : float or sequence, default=50.0
    adaptation_db_per_db : float or sequence in [0, 1), default=0.0
        Level adaptation (0: none).
    adaptation_tau_ms : float or sequence, default=200.0
    audio_fs : float, default=24414.0625
    dt_ms : float, default=1.31072
        ``audio_fs * dt_ms / 1000`` must be a whole number of samples.

    Attributes
    ----------
    tuning_ : DataFrame
        The true parameters, one row per neuron, with ``q10`` and
        ``bandwidth_oct`` (the 10-dB bandwidth in octaves).
    n_neurons_, samples_per_bin_, audio_fs_, dt_ms_
        As on a fitted :class:`~sk_icnet.ICNetRegressor`.

    Examples
    --------
    >>> from sk_icnet.simulate import TunedNeurons
    >>> neurons = TunedNeurons(cf_hz=[1000.0, 4000.0], threshold_db=[20.0, 35.0])
    >>> neurons.tuning_[["cf_hz", "threshold_db", "q10"]]
             cf_hz  threshold_db  q10
    neuron
    0       1000.0          20.0  4.0
    1       4000.0          35.0  4.0
    """

    _PARAMETERS = ("cf_hz", "q10", "threshold_db", "dynamic_range_db", "spont_rate_hz",
                   "max_rate_hz", "latency_ms", "envelope_cutoff_hz", "suppression",
                   "suppression_tau_ms", "adaptation_db_per_db", "adaptation_tau_ms")

    def __init__(self, cf_hz=(1000.0,), *, q10=4.0, threshold_db=30.0, dynamic_range_db=30.0,
                 spont_rate_hz=5.0, max_rate_hz=150.0, latency_ms=5.0, envelope_cutoff_hz=150.0,
                 suppression=0.0, suppression_tau_ms=50.0, adaptation_db_per_db=0.0,
                 adaptation_tau_ms=200.0, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS):
        self.cf_hz = cf_hz
        self.q10 = q10
        self.threshold_db = threshold_db
        self.dynamic_range_db = dynamic_range_db
        self.spont_rate_hz = spont_rate_hz
        self.max_rate_hz = max_rate_hz
        self.latency_ms = latency_ms
        self.envelope_cutoff_hz = envelope_cutoff_hz
        self.suppression = suppression
        self.suppression_tau_ms = suppression_tau_ms
        self.adaptation_db_per_db = adaptation_db_per_db
        self.adaptation_tau_ms = adaptation_tau_ms
        self.audio_fs = audio_fs
        self.dt_ms = dt_ms

    # -- parameters ---------------------------------------------------------------------------
    def _validated(self):
        """The parameters as float arrays of length n_neurons, checked."""
        values = self._parameter_arrays()
        fs = check_positive_number(self.audio_fs, "audio_fs")
        rules = {
            "cf_hz": (lambda a: (a > 0) & (a < fs / 2), f"in (0, audio_fs / 2 = {fs / 2:g})"),
            "q10": (lambda a: a > 0, "> 0"),
            "dynamic_range_db": (lambda a: a > 0, "> 0"),
            "spont_rate_hz": (lambda a: a >= 0, ">= 0"),
            "max_rate_hz": (lambda a: a > values["spont_rate_hz"], "> spont_rate_hz"),
            "latency_ms": (lambda a: a >= 0, ">= 0"),
            "envelope_cutoff_hz": (lambda a: a > 0, "> 0"),
            "suppression": (lambda a: (a >= 0) & (a < 1), "in [0, 1)"),
            "suppression_tau_ms": (lambda a: a > 0, "> 0"),
            "adaptation_db_per_db": (lambda a: (a >= 0) & (a < 1), "in [0, 1)"),
            "adaptation_tau_ms": (lambda a: a > 0, "> 0"),
        }
        _check_rules(values, rules, type(self).__name__)
        return values

    @property
    def tuning_(self):
        values = self._validated()
        table = pd.DataFrame(values)
        table.insert(2, "bandwidth_oct", q10_to_octaves(values["q10"]))
        table.index.name = "neuron"
        return table

    # -- simulation ---------------------------------------------------------------------------
    def _simulate(self, X, p, spb):
        level = band_levels(X, float(self.audio_fs), spb, p["cf_hz"], p["q10"],
                            p["envelope_cutoff_hz"])
        dt_s = spb / float(self.audio_fs)
        rates = np.empty(level.shape)
        for j in range(level.shape[1]):
            d = _driven_fraction(_adapted(level[:, j], p, j, dt_s), p, j)
            strength = p["suppression"][j]
            if strength > 0:  # exponential running mean of d over the past bins only
                b = np.exp(-dt_s * 1000.0 / p["suppression_tau_ms"][j])
                d = d * (1.0 - strength * signal.lfilter([0.0, 1 - b], [1, -b], d, axis=1))
            rates[:, j] = _to_rate(d, p, j, dt_s)
        return rates


def band_levels(X, fs, spb, cf_hz, q10, envelope_cutoff_hz):
    """Level (dB SPL per bin) of each band's envelope: steps 1-2 of :class:`TunedNeurons`.

    ``X`` (n_trials, n_samples) float64 pascals; one band per entry of ``cf_hz``
    (with its ``q10`` and ``envelope_cutoff_hz``). Returns (n_trials, n_bands, n_bins).
    """
    n_trials, n = X.shape
    n_bins = n // spb
    nfft = sp_fft.next_fast_len(n + int(0.05 * fs))  # zero padding: no circular wrap
    spec = sp_fft.rfft(X, nfft, axis=1)
    freqs = sp_fft.rfftfreq(nfft, 1.0 / fs)
    log_f = np.log2(np.maximum(freqs, 1e-12))
    analytic = np.zeros((n_trials, nfft), dtype=complex)
    m = freqs.size
    half_bw = q10_to_octaves(q10) / 2.0
    levels = np.empty((n_trials, len(cf_hz), n_bins))
    for j, cf in enumerate(cf_hz):
        gain_db = -10.0 * ((log_f - np.log2(cf)) / half_bw[j]) ** 2
        gain = _minimum_phase(np.maximum(gain_db, -120.0), nfft)
        analytic[:, :m] = 2.0 * spec * gain  # one-sided spectrum: the analytic signal
        analytic[:, 0] = 0.0
        if nfft % 2 == 0:
            analytic[:, m - 1] *= 0.5
        env = np.abs(sp_fft.ifft(analytic, axis=1)[:, :n])
        a = np.exp(-2 * np.pi * envelope_cutoff_hz[j] / fs)
        env = signal.lfilter([1 - a], [1, -a], env, axis=1)
        p_rms = np.sqrt(np.mean(env[:, : n_bins * spb].reshape(n_trials, n_bins, spb) ** 2,
                                axis=2) / 2.0)
        levels[:, j] = 20.0 * np.log10(np.maximum(p_rms, 1e-12) / P_REF)
    return levels


def _adapted(level, p, j, dt_s):
    """Step 3: the level minus ``adaptation_db_per_db`` times its running mean."""
    k = p["adaptation_db_per_db"][j]
    if k <= 0:
        return level
    b = np.exp(-dt_s * 1000.0 / p["adaptation_tau_ms"][j])
    return level - k * signal.lfilter([1 - b], [1, -b], np.maximum(level, 0.0), axis=1)


def _driven_fraction(level, p, j):
    """Step 4: 0.1 at ``threshold_db``, 0.9 at ``threshold_db + dynamic_range_db``."""
    w = p["dynamic_range_db"][j] / (2 * _LN9)
    l50 = p["threshold_db"][j] + p["dynamic_range_db"][j] / 2
    return expit((level - l50) / w)


def _to_rate(d, p, j, dt_s):
    """Step 6: expected counts per bin from the driven fraction, delayed by the latency."""
    n_trials, n_bins = d.shape
    rate = p["spont_rate_hz"][j] + (p["max_rate_hz"][j] - p["spont_rate_hz"][j]) * d
    lag = int(round(p["latency_ms"][j] / (dt_s * 1000.0)))
    if lag:
        rate = np.concatenate([np.full((n_trials, min(lag, n_bins)), p["spont_rate_hz"][j]),
                               rate[:, : max(n_bins - lag, 0)]], axis=1)
    return rate * dt_s


def make_tuned_neurons(n_neurons=8, *, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS, cf_range_hz=None,
                       forward_suppression=False, adaptation=False, random_state=None):
    """Random :class:`TunedNeurons` with physiological parameters.

    CF log-uniform over ``cf_range_hz`` (default 1 kHz to ``0.3 * audio_fs``),
    Q10 2-8, threshold 10-40 dB SPL, dynamic range 20-40 dB, spontaneous rate
    1-10 spikes/s, maximum rate 100-250 spikes/s, latency 4-8 ms, envelope
    cut-off 80-250 Hz. With ``forward_suppression``: strength 0.4-0.8, time
    constant 20-100 ms. With ``adaptation``: 0.3-0.7 dB per dB, time constant
    100-300 ms.

    Parameters
    ----------
    n_neurons : int, default=8
    audio_fs, dt_ms : float
    cf_range_hz : (float, float), optional
    forward_suppression, adaptation : bool, default=False
    random_state : int, RandomState instance or None

    Returns
    -------
    TunedNeurons
    """
    n = check_positive_int(n_neurons, "n_neurons")
    fs = check_positive_number(audio_fs, "audio_fs")
    samples_per_bin(fs, dt_ms)
    lo, hi = (1000.0, 0.3 * fs) if cf_range_hz is None else cf_range_hz
    if not 0 < lo < hi < fs / 2:
        raise ValueError(f"cf_range_hz must be (low, high) with 0 < low < high < audio_fs / 2 = "
                         f"{fs / 2:g}; received {cf_range_hz!r}.")
    rng = check_random_state(random_state)
    u = rng.uniform
    params = dict(
        cf_hz=np.exp(u(np.log(lo), np.log(hi), n)), q10=u(2, 8, n), threshold_db=u(10, 40, n),
        dynamic_range_db=u(20, 40, n), spont_rate_hz=u(1, 10, n), max_rate_hz=u(100, 250, n),
        latency_ms=u(4, 8, n), envelope_cutoff_hz=u(80, 250, n),
    )
    if forward_suppression:
        params.update(suppression=u(0.4, 0.8, n), suppression_tau_ms=u(20, 100, n))
    if adaptation:
        params.update(adaptation_db_per_db=u(0.3, 0.7, n), adaptation_tau_ms=u(100, 300, n))
    return TunedNeurons(**{k: np.round(v, 3) for k, v in params.items()}, audio_fs=fs,
                        dt_ms=dt_ms)
