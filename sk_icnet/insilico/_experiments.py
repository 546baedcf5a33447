"""In-silico physiology: the classic auditory experiments, run on any fitted encoding model.

Each experiment builds its stimuli at the model's own audio rate, in pascals
(levels in dB SPL re 20 µPa, raised-cosine onset and offset ramps, silence
before every presentation), asks the model for its expected spike counts with
``predict``, and returns a :class:`PhysiologyResult`: ``responses``, a tidy
table of what was measured, and ``summary``, one row per neuron (and
condition) of the derived parameters.

================================== ==========================================================
:func:`frequency_response_area`    pure tones over frequency x level: CF, threshold, Q10
:func:`rate_level`                 noise or tones: threshold, dynamic range, saturation
:func:`modulation_transfer`        SAM noise or tones: rate and synchrony (vector
                                   strength), best modulation frequency
:func:`forward_masking`            masker, gap, probe: recovery time constant
:func:`dynamic_range_adaptation`   rate-level functions inside level distributions with
                                   different means (Dean et al. 2005): shift of the curves
================================== ==========================================================

The model can be a fitted :class:`~sk_icnet.ICNetRegressor`, a fitted STRF
(:class:`~sk_icnet.LinearSTRFRegressor`, :class:`~sk_icnet.PoissonSTRFRegressor`),
or the ground-truth :class:`~sk_icnet.datasets.TunedNeurons`: anything with
``predict`` returning ``(n_trials, n_neurons, n_bins)`` (or ``(n_trials,
n_bins)`` for one neuron) and the attributes ``samples_per_bin_`` and
``audio_fs_`` (or ``audio_fs``).

Every presentation (a tone, a masker and probe, a sequence of levels) is its
own trial, after ``silence_ms`` of silence, so no response carries over from
another presentation. Before a trial, ICNet's causal convolutions see zeros,
that is more silence, so its whole receptive field (165 ms for the paper's
ICNet) holds silence or the stimulus; an STRF's lags (30 ms by default) stay
within the silence.

Conventions shared by all experiments: rates are in spikes/s; the
spontaneous rate is the mean over the second half of the silence before each
stimulus; a response is counted from ``latency_ms`` after the stimulus onset
to ``latency_ms`` after its offset (in whole bins; stimulus onsets fall on bin
boundaries); the *driven* rate is the rate minus the spontaneous rate. The
predictions are expected counts, so no repeats are needed.

>>> from sk_icnet.datasets import TunedNeurons
>>> from sk_icnet.insilico import frequency_response_area
>>> neurons = TunedNeurons(cf_hz=[2000.0], threshold_db=[25.0], q10=[5.0])
>>> fra = frequency_response_area(neurons, levels=range(0, 81, 1))
>>> fra.summary[["cf_hz", "threshold_db", "q10"]].round(1)
    cf_hz  threshold_db  q10
0  2000.0          25.7  5.1

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from __future__ import annotations

import numbers
import warnings
from collections import namedtuple

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._core.exceptions import OutsideTrainingRangeWarning
from .._core.plotting import pyplot as _pyplot
from .._core.signal import P_REF, ramp_envelope
from .._core.validation import _describe, check_positive_int, check_positive_number
from ..audio import _sound_summary

__all__ = ["frequency_response_area", "rate_level", "modulation_transfer", "forward_masking",
           "dynamic_range_adaptation", "PhysiologyResult", "plot_fra", "plot_rate_level",
           "plot_mtf", "plot_forward_masking", "plot_dynamic_range_adaptation"]

#: rates above this (spikes/s) are flagged as implausible: no midbrain neuron sustains them
MAX_PLAUSIBLE_RATE_HZ = 1000.0
#: stimuli louder than the training sound's loudest 10 ms frame by more than this warn (dB)
LEVEL_MARGIN_DB = 3.0
#: stimuli reaching beyond the training sound's band by more than this factor warn (1/4 octave)
BAND_MARGIN = 2.0 ** 0.25

PhysiologyResult = namedtuple("PhysiologyResult", ["responses", "summary"])
PhysiologyResult.__doc__ = """Result of an in-silico experiment.

responses : DataFrame
    Tidy table of the measured responses: one row per neuron and stimulus
    condition (columns depend on the experiment).
summary : DataFrame
    The derived parameters: one row per neuron (per neuron and level
    distribution for :func:`dynamic_range_adaptation`), with ``max_rate_hz``,
    the neuron's largest predicted rate in the experiment, and
    ``implausible_rate``, True above 1,000 spikes/s.
"""


# -- the model and its protocol -------------------------------------------------------------------
class _Protocol:
    """The model under test, its audio and bin rates, and the timing rules of an experiment."""

    def __init__(self, estimator, *, silence_ms, latency_ms, predict_params, progress=False):
        if not callable(getattr(estimator, "predict", None)):
            raise TypeError(f"estimator must be a fitted model with a predict method; received "
                            f"{_describe(estimator)}.")
        if callable(getattr(estimator, "fit", None)):
            check_is_fitted(estimator)
        fs = getattr(estimator, "audio_fs_", None)
        if fs is None and callable(getattr(estimator, "_fitted_audio_fs", None)):
            fs = estimator._fitted_audio_fs()  # an STRF read from a file: "auto" is the paper's
        if fs is None:
            fs = getattr(estimator, "audio_fs", None)
        self.progress = bool(progress)
        self.max_rate_hz = None
        spb = getattr(estimator, "samples_per_bin_", None)
        if not isinstance(fs, numbers.Real) or isinstance(spb, bool) \
                or not isinstance(spb, numbers.Integral):
            raise ValueError(
                f"estimator must say its audio rate (audio_fs_ or audio_fs, Hz) and bin width "
                f"(samples_per_bin_) so that stimuli can be made for it; received audio_fs="
                f"{fs!r}, samples_per_bin_={spb!r} on {type(estimator).__name__}.")
        self.estimator = estimator
        self.fs = float(fs)
        self.spb = int(spb)
        self.dt_s = self.spb / self.fs
        self.predict_params = dict(predict_params or {})
        self.pre = self.bins(silence_ms, "silence_ms", minimum=2)
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, numbers.Real) \
                or not 0 <= latency_ms < 1000:
            raise ValueError(f"latency_ms must be a number of ms in [0, 1000); received "
                             f"{latency_ms!r}.")
        self.lat = int(round(latency_ms / 1000.0 / self.dt_s))
        self._n_neurons = None

    def bins(self, ms, name, minimum=1):
        """A duration in ms as a whole number of bins (at least ``minimum``)."""
        ms = check_positive_number(ms, name)
        n = int(round(ms / 1000.0 / self.dt_s))
        if n < minimum:
            raise ValueError(f"{name}={ms!r} ms is shorter than {minimum} bin(s) of "
                             f"{self.dt_s * 1000:.3g} ms.")
        return n

    def ms(self, n_bins):
        return n_bins * self.dt_s * 1000.0

    def ramp(self, ramp_ms, n_samples, name="ramp_ms"):
        """Raised-cosine onset and offset ramps for an ``n_samples`` stimulus."""
        return ramp_envelope(n_samples, ramp_ms, self.fs, name)

    def carrier(self, spec, n_samples, rng):
        """Unit-RMS carrier: frozen Gaussian noise or a tone (``spec`` in Hz)."""
        if spec == "noise":
            x = rng.standard_normal(n_samples)
            return x / np.sqrt(np.mean(x**2))
        t = np.arange(n_samples) / self.fs
        return np.sqrt(2.0) * np.sin(2 * np.pi * spec * t)

    def predict(self, X):
        """Expected counts ``(n_trials, n_neurons, n_bins)``, float64, in batches of trials.

        Warns (:class:`~sk_icnet.exceptions.OutsideTrainingRangeWarning`) when the stimuli
        leave the level range or frequency band the model was trained on (models with a
        ``training_summary_``), and when it predicts implausible rates."""
        from tqdm import tqdm

        if X.shape[0] > 1:
            self.check_training_range(X)
        out = []
        for lo in tqdm(range(0, X.shape[0], 64), disable=not self.progress, unit="batch",
                       desc=f"in-silico: {X.shape[0]} stimuli"):
            pred = np.asarray(self.estimator.predict(X[lo: lo + 64].astype(np.float32),
                                                     **self.predict_params), dtype=float)
            if pred.ndim == 2:
                pred = pred[:, None, :]
            if pred.ndim != 3 or pred.shape[0] != min(64, X.shape[0] - lo):
                raise ValueError(
                    f"estimator.predict must return (n_trials, n_neurons, n_bins) or (n_trials, "
                    f"n_bins) for waveforms of shape (n_trials, n_samples); received shape "
                    f"{pred.shape}. A model fitted to one count per trial has no time course "
                    "to probe.")
            out.append(pred)
        pred = np.concatenate(out)
        if not np.isfinite(pred).all():
            raise ValueError("estimator.predict returned NaN or inf for the in-silico stimuli.")
        if X.shape[0] > 1:
            self.max_rate_hz = pred.max(axis=(0, 2)) / self.dt_s
            wild = np.flatnonzero(self.max_rate_hz > MAX_PLAUSIBLE_RATE_HZ)
            if wild.size:
                warnings.warn(
                    f"the model predicts implausible rates for these stimuli: up to "
                    f"{self.max_rate_hz.max():,.0f} spikes/s (neuron(s) {wild.tolist()}; above "
                    f"{MAX_PLAUSIBLE_RATE_HZ:,.0f} spikes/s, more than any midbrain neuron "
                    "sustains). Its derived parameters are not to be trusted; the summary flags "
                    "these neurons (implausible_rate).", OutsideTrainingRangeWarning, stacklevel=3)
        return pred

    def check_training_range(self, X):
        """Warn when the stimuli ``X`` are louder, or reach lower or higher frequencies,
        than the sounds the model was trained on (its ``training_summary_``)."""
        summary = getattr(self.estimator, "training_summary_", None)
        if not isinstance(summary, dict):
            return
        stim = _sound_summary(np.asarray(X, dtype=np.float64), self.fs, trial_levels=False)
        problems = []
        trained, asked = summary.get("frame_level_db_spl_max"), stim["frame_level_db_spl_max"]
        if trained is not None and asked is not None and asked > trained + LEVEL_MARGIN_DB:
            problems.append(f"levels up to {asked:.0f} dB SPL (the loudest 10 ms of the training "
                            f"sound: {trained:.0f} dB SPL)")
        band, asked = summary.get("band_hz"), stim["band_hz"]
        if band is not None and asked is not None:
            lo, hi = band
            if asked[0] < lo / BAND_MARGIN or asked[1] > hi * BAND_MARGIN:
                problems.append(f"frequencies from {asked[0]:,.0f} to {asked[1]:,.0f} Hz (99 % of "
                                f"the training sound's power lies between {lo:,.0f} and "
                                f"{hi:,.0f} Hz)")
        if problems:
            warnings.warn(
                "these in-silico stimuli are outside what the model was trained on: "
                + "; ".join(problems) + ". A model extrapolates there without any evidence, and "
                "its answers (rates, CFs, thresholds) can be confident nonsense; train on sounds "
                "that cover the experiment, or restrict the experiment's levels and frequencies.",
                OutsideTrainingRangeWarning, stacklevel=4)

    def flag(self, result):
        """``result`` with the summary's ``max_rate_hz`` and ``implausible_rate`` per neuron."""
        if self.max_rate_hz is None or "neuron" not in result.summary:
            return result
        summary = result.summary.copy()
        neuron = summary["neuron"].to_numpy(dtype=int)
        summary["max_rate_hz"] = self.max_rate_hz[neuron]
        summary["implausible_rate"] = self.max_rate_hz[neuron] > MAX_PLAUSIBLE_RATE_HZ
        return PhysiologyResult(result.responses, summary)

    @property
    def n_neurons(self):
        if self._n_neurons is None:
            self._n_neurons = self.predict(np.zeros((1, 4 * self.spb))).shape[1]
        return self._n_neurons

    def spontaneous(self, pred):
        """Spontaneous rate per neuron (spikes/s): second half of the pre-stimulus silence."""
        return pred[:, :, self.pre // 2: self.pre].mean(axis=(0, 2)) / self.dt_s

    def window(self, pred, onset_bin, n_bins, tail=0):
        """Mean rate (spikes/s) from ``latency`` after onset to ``latency`` after offset."""
        lo = onset_bin + self.lat
        return pred[..., lo: lo + n_bins + tail].mean(axis=-1) / self.dt_s

    def per_neuron(self, spec, name, allow_noise=True):
        """A stimulus choice per neuron: "noise" or a frequency (one, or one per neuron)."""
        noise = '"noise" or ' if allow_noise else ""
        rule = f"{name} must be {noise}a frequency in Hz (one, or one per neuron)"
        if isinstance(spec, str):
            if spec == "noise" and allow_noise:
                return ["noise"] * self.n_neurons
            raise ValueError(f"{rule}; received {spec!r}.")
        try:
            freqs = np.atleast_1d(np.asarray(spec, dtype=float))
        except (TypeError, ValueError):
            raise TypeError(f"{rule}; received {_describe(spec)}.") from None
        if freqs.ndim != 1 or freqs.size not in (1, self.n_neurons):
            raise ValueError(f"{name} must be one frequency or one per neuron ({self.n_neurons}); "
                             f"received {freqs.size} values.")
        bad = ~((freqs > 0) & (freqs < self.fs / 2))
        if bad.any():
            raise ValueError(f"{name} must be frequencies in (0, audio_fs / 2 = {self.fs / 2:g}) "
                             f"Hz; received {freqs[bad][0]!r}.")
        return list(np.broadcast_to(freqs, (self.n_neurons,)).astype(float))


def _grid(values, name, *, positive=False):
    """A non-empty, strictly increasing 1-D grid of finite numbers."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers; received {_describe(values)}.") \
            from None
    if arr.size == 0 or not np.isfinite(arr).all() or np.any(np.diff(arr) <= 0) \
            or (positive and np.any(arr <= 0)):
        raise ValueError(f"{name} must be a non-empty, strictly increasing sequence of finite "
                         f"{'positive ' if positive else ''}numbers; received {values!r}.")
    return arr


def _pascals(level_db):
    return P_REF * 10.0 ** (np.asarray(level_db, dtype=float) / 20.0)


def _check_fraction(value, name, *, closed_high=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value \
        and (value <= 1 if closed_high else value < 1)
    if not ok:
        raise ValueError(f"{name} must be a number in (0, 1{']' if closed_high else ')'}; "
                         f"received {value!r}.")
    return float(value)


def _crossing(x, y, target):
    """First ``x`` where ``y`` (sampled at increasing ``x``) reaches ``target``, interpolated.

    ``x[0]`` if ``y[0]`` already does (the true crossing is at or below the grid);
    NaN if it never does.
    """
    above = np.flatnonzero(y >= target)
    if above.size == 0:
        return np.nan
    i = above[0]
    if i == 0:
        return float(x[0])
    return float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def _groups(specs):
    """Neurons grouped by identical stimulus choice: {spec: [neuron, ...]}."""
    groups = {}
    for j, spec in enumerate(specs):
        groups.setdefault(spec, []).append(j)
    return groups


def _label(spec):
    """How a stimulus choice is written in the tables: "noise" or "<f> Hz"."""
    return spec if spec == "noise" else f"{spec:g} Hz"


def _check_level(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite level in dB SPL; received {value!r}.")
    return float(value)


def _result(rows, summary, responses_by, summary_by=("neuron",)):
    """Assemble a PhysiologyResult from per-neuron frames and summary rows, sorted."""
    return PhysiologyResult(
        pd.concat(rows).sort_values(list(responses_by), ignore_index=True),
        pd.DataFrame(summary).sort_values(list(summary_by), ignore_index=True))


def _protocol(estimator, silence_ms, latency_ms, predict_params, progress=False):
    return _Protocol(estimator, silence_ms=silence_ms, latency_ms=latency_ms,
                     predict_params=predict_params, progress=progress)


# -- frequency response area ----------------------------------------------------------------------
def _tuning_edges(freqs, thr, level):
    """Frequencies on both sides of the CF where the threshold curve crosses ``level``.

    Interpolated in log frequency; NaN on a side where the curve stays below
    ``level`` to the edge of the grid.
    """
    i = int(np.nanargmin(thr))
    curve = np.where(np.isnan(thr), np.inf, thr)
    edges = []
    for step in (-1, 1):
        k = i
        while 0 <= k + step < len(freqs) and curve[k + step] <= level:
            k += step
        if not 0 <= k + step < len(freqs):
            edges.append(np.nan)
            continue
        lo_t, hi_t = curve[k], curve[k + step]
        frac = 1.0 if not np.isfinite(hi_t) else (level - lo_t) / (hi_t - lo_t)
        edges.append(float(2 ** (np.log2(freqs[k]) + frac * (np.log2(freqs[k + step])
                                                               - np.log2(freqs[k])))))
    return edges


def frequency_response_area(estimator, *, frequencies=None, levels=None, tone_ms=50.0,
                            ramp_ms=5.0, silence_ms=100.0, latency_ms=5.0, criterion=0.1,
                            predict_params=None, progress=False):
    """Pure-tone frequency response area: characteristic frequency, threshold and Q10.

    One trial per tone (frequency x level): ``silence_ms`` of silence, the
    tone with ``ramp_ms`` ramps, then silence for the offset response.

    For each neuron and frequency, the threshold is the lowest level at which
    the driven rate reaches ``criterion`` times the neuron's largest driven
    rate over the whole area (linear interpolation between levels); the CF is
    the frequency of the lowest threshold, and the threshold the neuron's is
    that lowest threshold. Q10 is the CF over the bandwidth where the
    threshold curve is within 10 dB of it (edges interpolated in log
    frequency; NaN when the curve stays within 10 dB up to the edge of the
    frequency grid).

    Parameters
    ----------
    estimator : fitted model with ``predict``
    frequencies : array-like of float, optional
        Tone frequencies in Hz. Default: 8 per octave from 250 Hz to
        ``0.4 * audio_fs``.
    levels : array-like of float, optional
        Tone levels in dB SPL (RMS). Default: 0 to 90 dB in 5-dB steps.
    tone_ms, ramp_ms, silence_ms : float
        Tone duration (whole bins), onset/offset ramps, silence before it.
    latency_ms : float, default=5.0
        Start of the response window after the onset (and its end after the offset).
    criterion : float in (0, 1), default=0.1
        Threshold criterion as a fraction of the largest driven rate.
    predict_params : dict, optional
        Extra keyword arguments to ``estimator.predict`` (e.g. ``recording=``).
    progress : bool, default=False
        Show a progress bar (tqdm) over the batches of stimuli.

    Returns
    -------
    PhysiologyResult
        ``responses``: ``neuron, frequency_hz, level_db, rate_hz, driven_hz``.
        ``summary``: ``neuron, cf_hz, threshold_db, q10, bandwidth_oct,
        f_low_hz, f_high_hz, max_driven_hz, spont_hz`` (NaN where the neuron
        is not driven by any tone).
    """
    proto = _protocol(estimator, silence_ms, latency_ms, predict_params, progress)
    freqs = (2.0 ** np.arange(np.log2(250.0), np.log2(0.4 * proto.fs), 1 / 8)
             if frequencies is None else _grid(frequencies, "frequencies", positive=True))
    if freqs[-1] >= proto.fs / 2:
        raise ValueError(f"frequencies must be below audio_fs / 2 = {proto.fs / 2:g} Hz; "
                         f"received up to {freqs[-1]:g}.")
    levels = np.arange(0.0, 91.0, 5.0) if levels is None else _grid(levels, "levels")
    criterion = _check_fraction(criterion, "criterion")
    n_tone = proto.bins(tone_ms, "tone_ms")
    post = proto.lat + proto.bins(20.0, "offset window")
    n_bins = proto.pre + n_tone + post
    n_samples = n_tone * proto.spb
    env = proto.ramp(ramp_ms, n_samples)
    X = np.zeros((freqs.size * levels.size, n_bins * proto.spb))
    onset = proto.pre * proto.spb
    amps = _pascals(levels)
    for i, f in enumerate(freqs):
        tone = proto.carrier(f, n_samples, None) * env
        X[i * levels.size: (i + 1) * levels.size, onset: onset + n_samples] = amps[:, None] * tone
    pred = proto.predict(X)
    spont = proto.spontaneous(pred)
    rate = proto.window(pred, proto.pre, n_tone).reshape(freqs.size, levels.size, -1)
    driven = rate - spont
    n_neurons = driven.shape[2]
    responses = pd.DataFrame({
        "neuron": np.tile(np.arange(n_neurons), freqs.size * levels.size),
        "frequency_hz": np.repeat(freqs, levels.size * n_neurons),
        "level_db": np.tile(np.repeat(levels, n_neurons), freqs.size),
        "rate_hz": rate.ravel(),
        "driven_hz": driven.ravel(),
    }).sort_values(["neuron", "frequency_hz", "level_db"], ignore_index=True)
    rows = []
    for j in range(n_neurons):
        d = driven[:, :, j]
        peak = d.max()
        row = dict(neuron=j, cf_hz=np.nan, threshold_db=np.nan, q10=np.nan,
                   bandwidth_oct=np.nan, f_low_hz=np.nan, f_high_hz=np.nan,
                   max_driven_hz=float(peak), spont_hz=float(spont[j]))
        if peak > 0:
            thr = np.array([_crossing(levels, d[i], criterion * peak) for i in range(freqs.size)])
            if np.isfinite(thr).any():
                best = np.flatnonzero(thr == np.nanmin(thr))
                i = best[np.argmax(d[best].sum(axis=1))]  # ties: the most driven frequency
                f_lo, f_hi = _tuning_edges(freqs, thr, thr[i] + 10.0)
                row.update(cf_hz=float(freqs[i]), threshold_db=float(thr[i]), f_low_hz=f_lo,
                           f_high_hz=f_hi, q10=freqs[i] / (f_hi - f_lo),
                           bandwidth_oct=np.log2(f_hi / f_lo))
        rows.append(row)
    return proto.flag(PhysiologyResult(responses, pd.DataFrame(rows)))


# -- rate-level functions -------------------------------------------------------------------------
def _level_summary(levels, driven, criterion):
    """Threshold, 10-90 % dynamic range, saturation level and monotonicity of one curve."""
    peak = driven.max()
    if peak <= 0:
        return dict(threshold_db=np.nan, dynamic_range_db=np.nan, saturation_db=np.nan,
                    l50_db=np.nan, max_driven_hz=float(peak), monotonicity=np.nan)
    thr = _crossing(levels, driven, criterion * peak)
    sat = _crossing(levels, driven, (1 - criterion) * peak)
    return dict(threshold_db=thr, dynamic_range_db=sat - thr, saturation_db=sat,
                l50_db=_crossing(levels, driven, 0.5 * peak), max_driven_hz=float(peak),
                monotonicity=float(driven[-1] / peak))


def rate_level(estimator, *, levels=None, stimulus="noise", duration_ms=100.0, ramp_ms=5.0,
               silence_ms=100.0, latency_ms=5.0, criterion=0.1, random_state=0,
               predict_params=None, progress=False):
    """Rate-level functions for broadband noise or tones: threshold, dynamic range, saturation.

    One trial per level: ``silence_ms`` of silence, then the stimulus with
    ``ramp_ms`` ramps. The noise is one frozen token (``random_state``) for
    all levels. Per neuron, with ``peak`` its largest driven rate: threshold
    is the level where the driven rate first reaches ``criterion * peak``,
    saturation where it first reaches ``(1 - criterion) * peak``, the dynamic
    range the difference; ``l50_db`` is where it reaches half; monotonicity
    is the driven rate at the highest level over the peak (1 for a monotonic
    curve, small for a non-monotonic one).

    Parameters
    ----------
    estimator : fitted model with ``predict``
    levels : array-like of float, optional
        dB SPL (RMS). Default 0 to 100 dB in 5-dB steps.
    stimulus : "noise", float or array-like of float, default="noise"
        Broadband noise, or a tone frequency in Hz for all neurons or one per
        neuron (e.g. ``frequency_response_area(...).summary.cf_hz``).
    duration_ms, ramp_ms, silence_ms, latency_ms : float
    criterion : float in (0, 0.5), default=0.1
    random_state : int, RandomState instance or None, default=0
    predict_params : dict, optional
    progress : bool, default=False
        Show a progress bar (tqdm) over the batches of stimuli.

    Returns
    -------
    PhysiologyResult
        ``responses``: ``neuron, stimulus, level_db, rate_hz, driven_hz``.
        ``summary``: ``neuron, stimulus, threshold_db, dynamic_range_db,
        saturation_db, l50_db, max_driven_hz, monotonicity, spont_hz``.
    """
    proto = _protocol(estimator, silence_ms, latency_ms, predict_params, progress)
    levels = np.arange(0.0, 101.0, 5.0) if levels is None else _grid(levels, "levels")
    criterion = _check_fraction(criterion, "criterion")
    if criterion >= 0.5:
        raise ValueError(f"criterion must be below 0.5 for rate_level (its 1 - criterion sets "
                         f"saturation); received {criterion!r}.")
    specs = proto.per_neuron(stimulus, "stimulus")
    n_stim = proto.bins(duration_ms, "duration_ms")
    n_bins = proto.pre + n_stim + proto.lat + 1
    n_samples = n_stim * proto.spb
    env = proto.ramp(ramp_ms, n_samples)
    rng = check_random_state(random_state)
    onset = proto.pre * proto.spb
    groups = _groups(specs)
    X = np.zeros((len(groups) * levels.size, n_bins * proto.spb))
    for g, spec in enumerate(groups):
        x = proto.carrier(spec, n_samples, rng) * env
        X[g * levels.size: (g + 1) * levels.size, onset: onset + n_samples] = \
            _pascals(levels)[:, None] * x
    pred = proto.predict(X)
    spont = proto.spontaneous(pred)
    rate = proto.window(pred, proto.pre, n_stim)
    rows, summary = [], []
    for g, (spec, neurons) in enumerate(groups.items()):
        for j in neurons:
            r = rate[g * levels.size: (g + 1) * levels.size, j]
            label = _label(spec)
            rows.append(pd.DataFrame({"neuron": j, "stimulus": label, "level_db": levels,
                                      "rate_hz": r, "driven_hz": r - spont[j]}))
            summary.append(dict(neuron=j, stimulus=label,
                                **_level_summary(levels, r - spont[j], criterion),
                                spont_hz=float(spont[j])))
    return proto.flag(_result(rows, summary, ["neuron", "level_db"]))


# -- modulation transfer functions ----------------------------------------------------------------
def modulation_transfer(estimator, *, modulation_frequencies=None, carrier="noise", level_db=60.0,
                        depth=1.0, duration_ms=600.0, ramp_ms=10.0, silence_ms=100.0,
                        skip_ms=50.0, latency_ms=5.0, random_state=0, predict_params=None,
                        progress=False):
    """Rate and synchrony modulation transfer functions for sinusoidally amplitude-modulated sound.

    One trial per modulation frequency ``fm``: ``silence_ms`` of silence, then
    ``carrier * (1 + depth * sin(2 pi fm t - pi / 2))`` at ``level_db`` (the
    RMS of the modulated sound) with ``ramp_ms`` ramps. The carrier noise is
    one frozen token for all ``fm``. The analysis window starts ``skip_ms``
    after the onset (past the onset response) and holds a whole number of
    modulation cycles. Synchrony is the vector strength of the predicted rate
    in that window, ``|sum_k r_k exp(2 pi i fm t_k)| / sum_k r_k`` over bins
    ``k`` (bins of width ``dt`` scale it by about ``sinc(fm * dt)``).

    Parameters
    ----------
    estimator : fitted model with ``predict``
    modulation_frequencies : array-like of float, optional
        Hz. Default: powers of two from 4 Hz up to 0.4 times the bin rate.
        Each must be below half the bin rate and give at least two cycles in
        the window.
    carrier : "noise", float or array-like of float, default="noise"
        Broadband noise or a tone frequency (one, or one per neuron).
    level_db : float, default=60.0
    depth : float in (0, 1], default=1.0
    duration_ms, ramp_ms, silence_ms, skip_ms, latency_ms : float
    random_state : int, RandomState instance or None, default=0
    predict_params : dict, optional
    progress : bool, default=False
        Show a progress bar (tqdm) over the batches of stimuli.

    Returns
    -------
    PhysiologyResult
        ``responses``: ``neuron, carrier, modulation_hz, rate_hz, driven_hz,
        vector_strength``. ``summary``: ``neuron, carrier, rate_bmf_hz`` (the
        ``fm`` of the largest rate), ``sync_bmf_hz`` (of the largest vector
        strength), ``max_vector_strength``, ``sync_cutoff_hz`` (above
        ``sync_bmf_hz``, where the vector strength falls to half its maximum,
        interpolated in log frequency; NaN if it does not within the grid).
    """
    proto = _protocol(estimator, silence_ms, latency_ms, predict_params, progress)
    bin_rate = 1.0 / proto.dt_s
    if modulation_frequencies is None:
        fms = 2.0 ** np.arange(2, int(np.floor(np.log2(0.4 * bin_rate))) + 1)
    else:
        fms = _grid(modulation_frequencies, "modulation_frequencies", positive=True)
    if fms[-1] >= bin_rate / 2:
        raise ValueError(f"modulation_frequencies must be below half the bin rate "
                         f"({bin_rate / 2:.4g} Hz for {proto.dt_s * 1000:.4g} ms bins); received "
                         f"up to {fms[-1]:g}.")
    depth = _check_fraction(depth, "depth", closed_high=True)
    level_db = _check_level(level_db, "level_db")
    n_stim = proto.bins(duration_ms, "duration_ms")
    skip = int(round(check_positive_number(skip_ms, "skip_ms") / 1000.0 / proto.dt_s))
    window_s = (n_stim - skip) * proto.dt_s
    cycles = np.floor(window_s * fms)
    if cycles[0] < 2:
        raise ValueError(f"modulation_frequencies must give at least two cycles in the analysis "
                         f"window (duration_ms - skip_ms = {window_s * 1000:.4g} ms); "
                         f"{fms[0]:g} Hz gives {int(cycles[0])}.")
    specs = proto.per_neuron(carrier, "carrier")
    n_samples = n_stim * proto.spb
    env = proto.ramp(ramp_ms, n_samples)
    t = np.arange(n_samples) / proto.fs
    rng = check_random_state(random_state)
    onset = proto.pre * proto.spb
    n_bins = proto.pre + n_stim + proto.lat + 1
    groups = _groups(specs)
    X = np.zeros((len(groups) * fms.size, n_bins * proto.spb))
    for g, spec in enumerate(groups):
        c = proto.carrier(spec, n_samples, rng)
        for i, fm in enumerate(fms):
            x = c * (1 + depth * np.sin(2 * np.pi * fm * t - np.pi / 2))
            X[g * fms.size + i, onset: onset + n_samples] = \
                x * env * _pascals(level_db) / np.sqrt(np.mean(x**2))
    pred = proto.predict(X)
    spont = proto.spontaneous(pred)
    rows, summary = [], []
    start = proto.pre + skip + proto.lat
    for g, (spec, neurons) in enumerate(groups.items()):
        label = _label(spec)
        p = pred[g * fms.size: (g + 1) * fms.size]
        rate, vs = np.empty((fms.size, p.shape[1])), np.empty((fms.size, p.shape[1]))
        for i, fm in enumerate(fms):
            n_win = max(1, int(round(cycles[i] / fm / proto.dt_s)))
            seg = p[i, :, start: start + n_win]
            phase = np.exp(2j * np.pi * fm * (np.arange(n_win) + 0.5) * proto.dt_s)
            rate[i] = seg.mean(axis=1) / proto.dt_s
            total = seg.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                vs[i] = np.where(total > 0, np.abs(seg @ phase) / total, np.nan)
        for j in neurons:
            rows.append(pd.DataFrame({"neuron": j, "carrier": label, "modulation_hz": fms,
                                      "rate_hz": rate[:, j], "driven_hz": rate[:, j] - spont[j],
                                      "vector_strength": vs[:, j]}))
            v = vs[:, j]
            row = dict(neuron=j, carrier=label, rate_bmf_hz=float(fms[np.argmax(rate[:, j])]),
                       sync_bmf_hz=np.nan, max_vector_strength=np.nan, sync_cutoff_hz=np.nan)
            if np.isfinite(v).any():
                k = int(np.nanargmax(v))
                row.update(sync_bmf_hz=float(fms[k]), max_vector_strength=float(v[k]))
                tail = np.where(np.isfinite(v[k:]), v[k:], 0.0)
                # first fall below half the maximum, above the synchrony BMF (log-frequency axis)
                cut = _crossing(np.log2(fms[k:]), -tail, -0.5 * v[k])
                if np.isfinite(cut) and tail.min() < 0.5 * v[k]:
                    row["sync_cutoff_hz"] = float(2.0**cut)
            summary.append(row)
    return proto.flag(_result(rows, summary, ["neuron", "modulation_hz"]))


# -- forward masking ------------------------------------------------------------------------------
def _recovery(gap, value):
    return value[0] - value[1] * np.exp(-gap / value[2])


def _fit_recovery(gaps_ms, relative):
    """Fit ``c - a * exp(-gap / tau)``; returns (c, a, tau) or NaNs."""
    ok = np.isfinite(relative)
    if ok.sum() < 4 or np.ptp(relative[ok]) <= 1e-9:
        return np.nan, np.nan, np.nan
    g, r = gaps_ms[ok], relative[ok]
    c0, a0 = r[-1], max(r[-1] - r[0], 1e-3)
    half = _crossing(g, r, r[0] + 0.5 * (r[-1] - r[0])) if r[-1] > r[0] else np.nan
    tau0 = half / np.log(2) if np.isfinite(half) and half > 0 else float(np.median(g[g > 0]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (c, a, tau), _ = curve_fit(lambda x, c, a, tau: _recovery(x, (c, a, tau)), g, r,
                                       p0=(c0, a0, max(tau0, 0.5)),
                                       bounds=([-np.inf, 0.0, 0.1], [np.inf, np.inf, 1e5]),
                                       max_nfev=5000)
    except (RuntimeError, ValueError):
        return np.nan, np.nan, np.nan
    return float(c), float(a), float(tau)


def forward_masking(estimator, *, gaps_ms=(2, 4, 8, 16, 32, 64, 128, 256), masker="noise",
                    probe="noise", masker_level_db=70.0, probe_level_db=50.0, masker_ms=200.0,
                    probe_ms=20.0, ramp_ms=2.0, silence_ms=100.0, latency_ms=5.0, min_masking=0.1,
                    random_state=0, predict_params=None, progress=False):
    """Forward masking: the probe response against the masker-probe gap, and its recovery time constant.

    Trials: masker, then silence of each gap, then the probe; the masker
    alone; the probe alone. The probe response after a masker is the count
    in the probe's window minus the count in the same window after the
    masker alone (so the masker's own offset response does not count); the
    relative response divides it by the probe-alone driven count (which must
    be at least 0.01 spikes and a tenth of the spontaneous count in the
    window; otherwise the row is NaN). The
    recovery is fitted as ``relative(gap) = c - a * exp(-gap / tau)``
    (least squares); ``tau_ms`` is its time constant, reported when the
    masking at the shortest gap is at least ``min_masking``. Gaps are rounded to
    whole bins (the ``gap_ms`` column holds the gaps used); masker and probe
    noises are frozen tokens, the same in every trial.

    Parameters
    ----------
    estimator : fitted model with ``predict``
    gaps_ms : array-like of float, default=(2, 4, ..., 256)
        Silence between masker offset and probe onset (>= 0, increasing).
    masker, probe : "noise", float or array-like of float, default="noise"
        Broadband noise or a tone frequency (one, or one per neuron, e.g.
        the CFs).
    masker_level_db, probe_level_db : float, default=70.0 and 50.0
    masker_ms, probe_ms, ramp_ms, silence_ms, latency_ms : float
    min_masking : float in (0, 1), default=0.1
        Below this much masking (1 - relative response at the shortest gap)
        there is no recovery to time, and ``tau_ms`` is NaN.
    random_state : int, RandomState instance or None, default=0
    predict_params : dict, optional
    progress : bool, default=False
        Show a progress bar (tqdm) over the batches of stimuli.

    Returns
    -------
    PhysiologyResult
        ``responses``: ``neuron, gap_ms, probe_spikes`` (driven count of the
        probe after the masker), ``relative_response``. ``summary``:
        ``neuron, tau_ms, recovered`` (``c``), ``suppression`` (``a``),
        ``max_masking`` (1 - the relative response at the shortest gap),
        ``probe_alone_spikes``, ``spont_hz``; NaN where the probe alone drives
        no response, the masking is below ``min_masking`` or the fit fails.
    """
    proto = _protocol(estimator, silence_ms, latency_ms, predict_params, progress)
    gaps = _grid(gaps_ms, "gaps_ms")
    if gaps[0] < 0:
        raise ValueError(f"gaps_ms must be >= 0; received {gaps_ms!r}.")
    min_masking = _check_fraction(min_masking, "min_masking")
    gap_bins = np.round(gaps / 1000.0 / proto.dt_s).astype(int)
    if np.any(np.diff(gap_bins) <= 0):
        raise ValueError(f"gaps_ms must differ by at least one bin ({proto.dt_s * 1000:.4g} ms) "
                         f"once rounded to bins; received {gaps_ms!r}.")
    masker_level_db = _check_level(masker_level_db, "masker_level_db")
    probe_level_db = _check_level(probe_level_db, "probe_level_db")
    n_mask, n_probe = proto.bins(masker_ms, "masker_ms"), proto.bins(probe_ms, "probe_ms")
    tail = proto.bins(10.0, "offset window")
    n_bins = proto.pre + n_mask + gap_bins[-1] + n_probe + proto.lat + tail + 1
    m_env = proto.ramp(ramp_ms, n_mask * proto.spb)
    p_env = proto.ramp(ramp_ms, n_probe * proto.spb)
    rng = check_random_state(random_state)
    groups = _groups(list(zip(proto.per_neuron(masker, "masker"),
                              proto.per_neuron(probe, "probe"), strict=True)))
    per_group = gaps.size + 2  # masker + probe at each gap, masker alone, probe alone
    X = np.zeros((len(groups) * per_group, n_bins * proto.spb))
    m_on = proto.pre * proto.spb
    probe_alone_bin = proto.pre
    for g, (m_spec, p_spec) in enumerate(groups):
        m = proto.carrier(m_spec, n_mask * proto.spb, rng) * m_env * _pascals(masker_level_db)
        p = proto.carrier(p_spec, n_probe * proto.spb, rng) * p_env * _pascals(probe_level_db)
        rows = slice(g * per_group, g * per_group + gaps.size + 1)
        X[rows, m_on: m_on + m.size] = m
        for i, gb in enumerate(gap_bins):
            on = (proto.pre + n_mask + gb) * proto.spb
            X[g * per_group + i, on: on + p.size] += p
        on = probe_alone_bin * proto.spb
        X[g * per_group + gaps.size + 1, on: on + p.size] = p
    pred = proto.predict(X)
    spont = proto.spontaneous(pred)
    rows, summary = [], []
    for g, neurons in enumerate(groups.values()):
        base = g * per_group
        counts = np.empty((gaps.size, pred.shape[1]))
        for i, gb in enumerate(gap_bins):
            on = proto.pre + n_mask + gb
            masked = proto.window(pred[base + i], on, n_probe, tail)
            alone = proto.window(pred[base + gaps.size], on, n_probe, tail)
            counts[i] = (masked - alone) * (n_probe + tail) * proto.dt_s
        probe_alone = (proto.window(pred[base + gaps.size + 1], probe_alone_bin, n_probe, tail)
                       - spont) * (n_probe + tail) * proto.dt_s
        for j in neurons:
            spont_count = spont[j] * (n_probe + tail) * proto.dt_s
            driven = probe_alone[j] >= max(0.01, 0.1 * spont_count)
            rel = counts[:, j] / probe_alone[j] if driven else np.full(gaps.size, np.nan)
            rows.append(pd.DataFrame({"neuron": j, "gap_ms": proto.ms(gap_bins),
                                      "probe_spikes": counts[:, j], "relative_response": rel}))
            c, a, tau = _fit_recovery(proto.ms(gap_bins), rel)
            if not 1 - rel[0] >= min_masking:
                tau = np.nan
            summary.append(dict(neuron=j, tau_ms=tau, recovered=c, suppression=a,
                                max_masking=float(1 - rel[0]), probe_alone_spikes=float(
                                    probe_alone[j]), spont_hz=float(spont[j])))
    return proto.flag(_result(rows, summary, ["neuron", "gap_ms"]))


# -- dynamic range adaptation ---------------------------------------------------------------------
def dynamic_range_adaptation(estimator, *, means_db=(45.0, 60.0, 75.0), level_range_db=(21.0, 96.0),
                             level_step_db=3.0, hpr_width_db=12.0, hpr_probability=0.8,
                             segment_ms=50.0, n_segments=400, skip_segments=20, skip_ms=10.0,
                             carrier="noise",
                             silence_ms=100.0, latency_ms=5.0, criterion=0.1, random_state=0,
                             predict_params=None, progress=False):
    """Dynamic range adaptation (Dean et al. 2005): rate-level functions inside level distributions.

    For each mean in ``means_db``, one long trial of a continuous carrier
    whose level changes every ``segment_ms``: with probability
    ``hpr_probability`` drawn uniformly from the high-probability region
    (grid levels within ``hpr_width_db / 2`` of the mean), otherwise uniformly
    from the whole grid ``level_range_db`` in ``level_step_db`` steps. The
    rate-level function in each distribution is the mean rate over the
    segments (after the first ``skip_segments``) at each level, each counted
    from ``latency_ms + skip_ms`` after its start to ``latency_ms`` after its
    end (``skip_ms`` leaves out the decaying response to the previous level,
    which would otherwise raise the low-level rates more in louder
    distributions). An
    adapting neuron's curve shifts towards the mean: the summary gives, per
    distribution, its threshold and half-maximum level (``l50_db``), the shift
    of ``l50_db`` from the first distribution, and the slope of ``l50_db``
    against the distributions' mean levels (dB per dB; 0 for no adaptation,
    1 for full adaptation).

    Parameters
    ----------
    estimator : fitted model with ``predict``
    means_db : array-like of float, default=(45, 60, 75)
    level_range_db : (float, float), default=(21, 96)
    level_step_db, hpr_width_db : float, default=3.0 and 12.0
    hpr_probability : float in (0, 1], default=0.8
    segment_ms : float, default=50.0
    n_segments, skip_segments : int, default=400 and 20
    skip_ms : float, default=10.0
        Less than ``segment_ms``; 0 counts whole segments.
    carrier : "noise", float or array-like of float, default="noise"
        A frozen noise token (the same in every distribution) or a tone
        frequency (one, or one per neuron).
    silence_ms, latency_ms : float
    criterion : float in (0, 0.5), default=0.1
        Threshold criterion as a fraction of each curve's largest driven rate.
    random_state : int, RandomState instance or None, default=0
    predict_params : dict, optional
    progress : bool, default=False
        Show a progress bar (tqdm) over the batches of stimuli.

    Returns
    -------
    PhysiologyResult
        ``responses``: ``neuron, carrier, mean_db, level_db, rate_hz,
        driven_hz, n_segments``. ``summary``: ``neuron, carrier, mean_db,
        mean_level_db`` (the mean of the levels drawn), ``threshold_db,
        l50_db, max_driven_hz, shift_db, slope_db_per_db``.
    """
    proto = _protocol(estimator, silence_ms, latency_ms, predict_params, progress)
    means = _grid(means_db, "means_db")
    try:
        lo, hi = (float(v) for v in level_range_db)
    except (TypeError, ValueError):
        raise ValueError(f"level_range_db must be (lowest, highest) in dB SPL; received "
                         f"{level_range_db!r}.") from None
    step = check_positive_number(level_step_db, "level_step_db")
    if not lo < hi:
        raise ValueError(f"level_range_db must be (lowest, highest) with lowest < highest; "
                         f"received {level_range_db!r}.")
    grid = np.arange(lo, hi + step / 2, step)
    half = check_positive_number(hpr_width_db, "hpr_width_db") / 2
    hprs = [np.flatnonzero(np.abs(grid - m) <= half + 1e-9) for m in means]
    empty = [m for m, h in zip(means, hprs, strict=True) if h.size == 0]
    if empty:
        raise ValueError(f"means_db must lie within level_range_db={level_range_db!r} so that "
                         f"their high-probability regions hold grid levels; {empty[0]:g} dB holds "
                         "none.")
    p_hpr = _check_fraction(hpr_probability, "hpr_probability", closed_high=True)
    criterion = _check_fraction(criterion, "criterion")
    n_segments = check_positive_int(n_segments, "n_segments", minimum=2)
    if isinstance(skip_segments, bool) or not isinstance(skip_segments, numbers.Integral) \
            or not 0 <= skip_segments < n_segments - 1:
        raise ValueError(f"skip_segments must be an integer in [0, n_segments - 1); received "
                         f"{skip_segments!r}.")
    seg = proto.bins(segment_ms, "segment_ms")
    if isinstance(skip_ms, bool) or not isinstance(skip_ms, numbers.Real) \
            or not 0 <= skip_ms < proto.ms(seg):
        raise ValueError(f"skip_ms must be a number of ms in [0, segment_ms); received "
                         f"{skip_ms!r}.")
    skip = int(round(skip_ms / 1000.0 / proto.dt_s))
    rng = check_random_state(random_state)
    draws = []
    for h in hprs:
        in_hpr = rng.random_sample(n_segments) < p_hpr
        draws.append(np.where(in_hpr, grid[rng.choice(h, n_segments)],
                              grid[rng.randint(grid.size, size=n_segments)]))
    specs = proto.per_neuron(carrier, "carrier")
    groups = _groups(specs)
    n_samples = n_segments * seg * proto.spb
    n_bins = proto.pre + n_segments * seg + proto.lat + 1
    X = np.zeros((len(groups) * means.size, n_bins * proto.spb))
    onset = proto.pre * proto.spb
    for g, spec in enumerate(groups):
        c = proto.carrier(spec, n_samples, rng) * proto.ramp(2.0, n_samples)
        for k, levels in enumerate(draws):
            amp = np.repeat(_pascals(levels), seg * proto.spb)
            X[g * means.size + k, onset: onset + n_samples] = c * amp
    pred = proto.predict(X)
    spont = proto.spontaneous(pred)
    # what depends only on the level sequence: the segments counted, their levels, the mean
    used = [levels[skip_segments:] for levels in draws]
    present = [np.unique(u) for u in used]
    n_at = [np.array([(u == v).sum() for v in p]) for u, p in zip(used, present, strict=True)]
    mean_levels = np.array([u.mean() for u in used])
    start = proto.pre + proto.lat
    rows, summary = [], []
    for g, (spec, neurons) in enumerate(groups.items()):
        label = _label(spec)
        curves = []  # per distribution: mean rate (spikes/s) at each level present, all neurons
        for k in range(means.size):
            trial = pred[g * means.size + k, :, start: start + n_segments * seg]
            per_seg = trial.reshape(trial.shape[0], n_segments, seg)[:, skip_segments:, skip:]
            per_seg = per_seg.mean(axis=2) / proto.dt_s
            curves.append(np.stack([per_seg[:, used[k] == v].mean(axis=1) for v in present[k]]))
        for j in neurons:
            l50 = np.empty(means.size)
            for k, mean in enumerate(means):
                driven = curves[k][:, j] - spont[j]
                rows.append(pd.DataFrame({"neuron": j, "carrier": label, "mean_db": mean,
                                          "level_db": present[k], "rate_hz": curves[k][:, j],
                                          "driven_hz": driven, "n_segments": n_at[k]}))
                s = _level_summary(present[k], driven, criterion)
                l50[k] = s["l50_db"]
                summary.append(dict(neuron=j, carrier=label, mean_db=mean,
                                    mean_level_db=float(mean_levels[k]),
                                    threshold_db=s["threshold_db"], l50_db=s["l50_db"],
                                    max_driven_hz=s["max_driven_hz"]))
            ok = np.isfinite(l50)
            slope = (float(np.polyfit(mean_levels[ok], l50[ok], 1)[0]) if ok.sum() >= 2
                     else np.nan)
            for row, v in zip(summary[-means.size:], l50, strict=True):
                row.update(shift_db=float(v - l50[0]), slope_db_per_db=slope)
    return proto.flag(_result(rows, summary, ["neuron", "mean_db", "level_db"],
                              ["neuron", "mean_db"]))


# -- plots ----------------------------------------------------------------------------------------
def _octave_ticks(ax, values, scale=1.0):
    """Log x axis with plain-number ticks at powers of two (times 1000 for kHz)."""
    from matplotlib.ticker import NullFormatter

    values = np.asarray(values, dtype=float) / scale
    ax.set_xscale("log")
    lo, hi = np.floor(np.log2(values.min())), np.ceil(np.log2(values.max()))
    ticks = 2.0 ** np.arange(lo, hi + 1)
    ticks = ticks[(ticks >= values.min() / 1.05) & (ticks <= values.max() * 1.05)] * scale
    ax.set_xticks(ticks, [f"{t / scale:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _as_named(results):
    if isinstance(results, PhysiologyResult):
        return {"": results}
    if isinstance(results, dict) and results and all(
            isinstance(r, PhysiologyResult) for r in results.values()):
        return results
    raise TypeError(f"results must be a PhysiologyResult or a dict of name to PhysiologyResult; "
                    f"received {_describe(results)}.")


def _rows(result, neuron, name="result"):
    table = result.responses[result.responses.neuron == neuron]
    if table.empty:
        raise ValueError(f"neuron {neuron!r} is not in {name} (neurons: "
                         f"{sorted(result.responses.neuron.unique())}).")
    return table, result.summary[result.summary.neuron == neuron]


def plot_fra(result, neuron=0, *, ax=None):
    """Driven rate over frequency (log axis) and level, with the CF, threshold and Q10 bandwidth.

    Parameters
    ----------
    result : PhysiologyResult
        From :func:`frequency_response_area`.
    neuron : int, default=0
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    table, summary = _rows(result, neuron)
    grid = table.pivot(index="level_db", columns="frequency_hz", values="driven_hz")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    f, lv = grid.columns.to_numpy(), grid.index.to_numpy()
    mesh = ax.pcolormesh(f, lv, grid.to_numpy(), shading="nearest", cmap="magma")
    _octave_ticks(ax, f, scale=1000.0)
    ax.figure.colorbar(mesh, ax=ax, label="driven rate (spikes/s)")
    row = summary.iloc[0]
    if np.isfinite(row.cf_hz):
        ax.plot([row.cf_hz], [row.threshold_db], "c^", ms=8, label=f"CF {row.cf_hz:.0f} Hz")
        if np.isfinite(row.q10):
            ax.plot([row.f_low_hz, row.f_high_hz], [row.threshold_db + 10] * 2, "c-", lw=2,
                    label=f"Q10 {row.q10:.1f}")
        ax.legend(frameon=False, fontsize="small", labelcolor="w", loc="upper left")
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("level (dB SPL)")
    return ax


def plot_rate_level(results, neuron=0, *, ax=None):
    """Rate-level functions of one neuron, one line per model, thresholds marked.

    Parameters
    ----------
    results : PhysiologyResult or dict of str to PhysiologyResult
        From :func:`rate_level`; a dict draws several models (e.g. the fitted
        ICNet and the true neuron) on one axis.
    neuron : int, default=0
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    for name, result in _as_named(results).items():
        table, summary = _rows(result, neuron, name or "result")
        line, = ax.plot(table.level_db, table.rate_hz, marker="o", ms=3, label=name or None)
        thr = summary.threshold_db.iloc[0]
        if np.isfinite(thr):
            ax.axvline(thr, color=line.get_color(), lw=1, ls=":")
    ax.set_xlabel("level (dB SPL)")
    ax.set_ylabel("rate (spikes/s)")
    if len(_as_named(results)) > 1:
        ax.legend(frameon=False, fontsize="small")
    return ax


def plot_mtf(results, neuron=0, *, measure="vector_strength", ax=None):
    """Modulation transfer function of one neuron (log modulation-frequency axis), one line per model.

    Parameters
    ----------
    results : PhysiologyResult or dict of str to PhysiologyResult
        From :func:`modulation_transfer`.
    neuron : int, default=0
    measure : {"vector_strength", "rate_hz", "driven_hz"}, default="vector_strength"
        Synchrony (temporal MTF) or rate (rate MTF).
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    if measure not in ("vector_strength", "rate_hz", "driven_hz"):
        raise ValueError(f"measure must be 'vector_strength', 'rate_hz' or 'driven_hz'; "
                         f"received {measure!r}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    named = _as_named(results)
    for name, result in named.items():
        table, _ = _rows(result, neuron, name or "result")
        ax.plot(table.modulation_hz, table[measure], marker="o", ms=3, label=name or None)
    _octave_ticks(ax, table.modulation_hz)
    ax.set_xlabel("modulation frequency (Hz)")
    ax.set_ylabel({"vector_strength": "vector strength", "rate_hz": "rate (spikes/s)",
                   "driven_hz": "driven rate (spikes/s)"}[measure])
    if len(named) > 1:
        ax.legend(frameon=False, fontsize="small")
    return ax


def plot_forward_masking(results, neuron=0, *, ax=None):
    """Relative probe response against the gap, with each fitted recovery curve and its tau.

    Parameters
    ----------
    results : PhysiologyResult or dict of str to PhysiologyResult
        From :func:`forward_masking`.
    neuron : int, default=0
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    for name, result in _as_named(results).items():
        table, summary = _rows(result, neuron, name or "result")
        row = summary.iloc[0]
        label = f"{name} " if name else ""
        label += f"tau {row.tau_ms:.0f} ms" if np.isfinite(row.tau_ms) else "no fit"
        points = ax.plot(table.gap_ms, table.relative_response, "o", ms=4, label=label)[0]
        if np.isfinite(row.tau_ms):
            g = np.linspace(0, table.gap_ms.max(), 200)
            ax.plot(g, _recovery(g, (row.recovered, row.suppression, row.tau_ms)),
                    color=points.get_color(), lw=1)
    ax.set_xlabel("masker-probe gap (ms)")
    ax.set_ylabel("probe response / probe alone")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_dynamic_range_adaptation(result, neuron=0, *, ax=None):
    """Rate-level functions of one neuron in each level distribution, coloured by its mean.

    Parameters
    ----------
    result : PhysiologyResult
        From :func:`dynamic_range_adaptation`.
    neuron : int, default=0
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    if not isinstance(result, PhysiologyResult):
        raise TypeError(f"result must be the PhysiologyResult of dynamic_range_adaptation; "
                        f"received {_describe(result)}.")
    table, summary = _rows(result, neuron)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    means = summary.mean_db.to_numpy()
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, means.size))
    for mean, color in zip(means, colors, strict=True):
        curve = table[table.mean_db == mean]
        ax.plot(curve.level_db, curve.rate_hz, color=color, label=f"mean {mean:g} dB")
        ax.axvline(mean, color=color, lw=1, ls=":")
    slope = summary.slope_db_per_db.iloc[0]
    if np.isfinite(slope):
        ax.set_title(f"shift {slope:.2f} dB per dB", fontsize="medium")
    ax.set_xlabel("level (dB SPL)")
    ax.set_ylabel("rate (spikes/s)")
    ax.legend(frameon=False, fontsize="small")
    return ax
