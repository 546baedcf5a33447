"""A model under test: what an in-silico experiment needs of a model, and the one adapter that asks it.

:class:`ModelUnderTest` is the public contract. :class:`_TestedModel` is the private adapter every
experiment of the package goes through: it checks the model once (``predict``, fitted, its rates),
predicts in batches with the shape and finiteness checks, warns outside the training range and
about implausible rates, and flags those neurons in the summary.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._core.exceptions import OutsideTrainingRangeWarning
from .._core.validation import _describe
from ..audio import _quieter_than_trained, sound_summary
from ._result import PhysiologyResult

__all__ = ["ModelUnderTest", "MAX_PLAUSIBLE_RATE_HZ", "LEVEL_MARGIN_DB", "BAND_MARGIN"]

#: rates above this (spikes/s) are flagged as implausible: no midbrain neuron sustains them
MAX_PLAUSIBLE_RATE_HZ = 1000.0
#: stimuli louder than the training sound's loudest 10 ms frame by more than this warn (dB)
LEVEL_MARGIN_DB = 3.0
#: stimuli reaching beyond the training sound's band by more than this factor warn (1/4 octave)
BAND_MARGIN = 2.0 ** 0.25
#: trials per call of ``predict``
_BATCH = 64
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_level():
    """The ``stacklevel`` that attributes a warning to the first caller outside the package
    (the user's call of the experiment), however deep inside it the warning is raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


@runtime_checkable
class ModelUnderTest(Protocol):
    """What an in-silico experiment needs of a model: sound in, expected counts per bin out.

    Any object with these members can be probed by the experiments of
    :mod:`sk_icnet.insilico` and by :func:`~sk_icnet.insilico.insilico_reliability`:
    a fitted :class:`~sk_icnet.ICNetRegressor`, a fitted
    :class:`~sk_icnet.LinearSTRFRegressor` or :class:`~sk_icnet.PoissonSTRFRegressor`,
    the simulators' :class:`~sk_icnet.simulate.TunedNeurons`, an ensemble of fits, or a
    model of your own. ``isinstance(model, ModelUnderTest)`` checks that the members
    exist (not their types or values).

    Attributes
    ----------
    audio_fs_ : float
        The audio rate (Hz) the model takes sound at; stimuli are made at this rate.
    samples_per_bin_ : int
        Audio samples per output bin (the bin width is ``samples_per_bin_ / audio_fs_``).

    Notes
    -----
    The number of neurons is what ``predict`` returns (with the experiment's
    ``predict_params``, so for the recording chosen), not an attribute. Optional
    members, used when present:

    ``training_summary_`` (dict)
        With ``"frame_level_db_spl_max"`` (the loudest 10 ms of the training sound,
        dB SPL) and ``"band_hz"`` (``(low, high)``, where 99 % of its power lies):
        stimuli louder or wider than that warn with
        :class:`~sk_icnet.exceptions.OutsideTrainingRangeWarning`.
    ``fit``
        A model with ``fit`` is checked with scikit-learn's ``check_is_fitted``.

    For models that predate this protocol, an ``audio_fs`` attribute (no trailing
    underscore) is read when ``audio_fs_`` is absent.

    ``predict(X, **predict_params)`` takes waveforms in pascals, ``X`` of shape
    ``(n_trials, n_samples)`` (float32, a whole number of bins), and returns the
    expected spike counts per bin, ``(n_trials, n_neurons, n_bins)`` (or
    ``(n_trials, n_bins)`` for one neuron), finite. The experiments pass their
    ``predict_params`` (e.g. ``recording=`` or ``time_s=``) through unchanged.
    """

    audio_fs_: float
    samples_per_bin_: int

    def predict(self, X: Any, **predict_params: Any) -> Any:
        """Expected spike counts per bin for waveforms ``X`` (pascals)."""


def _audio_fs_of(estimator):
    """The model's audio rate: ``audio_fs_`` (every fitted estimator of the package records it,
    and its model files restore it), or a plain ``audio_fs``; None if none."""
    fs = getattr(estimator, "audio_fs_", None)
    if fs is None:
        fs = getattr(estimator, "audio_fs", None)
    return fs


class _TestedModel:
    """The model under test, checked once: its rates, batched predictions and their checks."""

    def __init__(self, estimator, predict_params=None, progress=False):
        if not callable(getattr(estimator, "predict", None)):
            raise TypeError(f"estimator must be a fitted model with a predict method; received "
                            f"{_describe(estimator)}.")
        if callable(getattr(estimator, "fit", None)):
            check_is_fitted(estimator)
        fs = _audio_fs_of(estimator)
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
        _check_recording_chosen(estimator, self.predict_params)
        self.units = _unit_table(estimator, self.predict_params.get("recording"))
        self.progress = bool(progress)
        self.max_rate_hz = None
        self._n_neurons = None

    @property
    def n_neurons(self):
        """The number of neurons (predicted from a short silence once, when not stated)."""
        if self._n_neurons is None:
            self._n_neurons = self.predict(np.zeros((1, 4 * self.spb))).shape[1]
        return self._n_neurons

    def predict(self, X):
        """Expected counts ``(n_trials, n_neurons, n_bins)``, float64, in batches of trials.

        Warns (:class:`~sk_icnet.exceptions.OutsideTrainingRangeWarning`) when the stimuli
        leave the level range or frequency band the model was trained on (models with a
        ``training_summary_``), and when it predicts implausible rates."""
        from tqdm import tqdm

        if X.shape[0] > 1:
            self.check_training_range(X)
        pred = None  # filled batch by batch: one copy of the predictions, not two
        for lo in tqdm(range(0, X.shape[0], _BATCH), disable=not self.progress, unit="batch",
                       desc=f"in-silico: {X.shape[0]} stimuli"):
            part = self._predict_batch(X[lo: lo + _BATCH])
            if pred is None:
                pred = np.empty((X.shape[0],) + part.shape[1:])
            elif part.shape[1:] != pred.shape[1:]:
                raise ValueError(f"estimator.predict returned {part.shape[1:]} (neurons, bins) for "
                                 f"some trials and {pred.shape[1:]} for others of the same length.")
            pred[lo: lo + part.shape[0]] = part
        if not np.isfinite(pred).all():
            raise ValueError("estimator.predict returned NaN or inf for the in-silico stimuli.")
        if X.shape[0] > 1:
            self._check_rates(pred)
        return pred

    def _predict_batch(self, X):
        pred = np.asarray(self.estimator.predict(X.astype(np.float32), **self.predict_params),
                          dtype=float)
        if pred.ndim == 2:
            pred = pred[:, None, :]
        if pred.ndim != 3 or pred.shape[0] != X.shape[0]:
            raise ValueError(
                f"estimator.predict must return (n_trials, n_neurons, n_bins) or (n_trials, "
                f"n_bins) for waveforms of shape (n_trials, n_samples); received shape "
                f"{pred.shape}. A model fitted to one count per trial has no time course "
                "to probe.")
        return pred

    def _check_rates(self, pred):
        """Keep each neuron's largest rate; warn above :data:`MAX_PLAUSIBLE_RATE_HZ`."""
        self.max_rate_hz = pred.max(axis=(0, 2)) / self.dt_s
        wild = np.flatnonzero(self.max_rate_hz > MAX_PLAUSIBLE_RATE_HZ)
        if wild.size:
            warnings.warn(
                f"the model predicts implausible rates for these stimuli: up to "
                f"{self.max_rate_hz.max():,.0f} spikes/s ({wild.size} of {self.max_rate_hz.size} "
                f"neuron(s): {_short_list(wild.tolist(), 8)}; above "
                f"{MAX_PLAUSIBLE_RATE_HZ:,.0f} spikes/s, more than any midbrain neuron "
                "sustains). Its derived parameters are not to be trusted; the summary flags "
                "these neurons (implausible_rate).", OutsideTrainingRangeWarning, stacklevel=_caller_level())

    def check_training_range(self, X):
        """Warn when the stimuli ``X`` are louder or quieter, or reach lower or higher
        frequencies, than the sounds the model was trained on (its ``training_summary_``)."""
        summary = getattr(self.estimator, "training_summary_", None)
        if not isinstance(summary, dict):
            return
        stim = sound_summary(np.asarray(X, dtype=np.float64), self.fs, trial_levels=False)
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
        quiet = _quieter_than_trained(summary.get("coverage"), X, self.fs, LEVEL_MARGIN_DB)
        problems += [quiet] if quiet else []
        if problems:
            warnings.warn(
                "these in-silico stimuli are outside what the model was trained on: "
                + "; ".join(problems) + ". A model extrapolates there without any evidence, and "
                "its answers (rates, CFs, thresholds) can be confident nonsense; train on sounds "
                "that cover the experiment, or restrict the experiment's levels and frequencies.",
                OutsideTrainingRangeWarning, stacklevel=_caller_level())

    def flag(self, result):
        """``result`` with the summary's ``max_rate_hz`` and ``implausible_rate`` per neuron,
        and the recording and unit of every neuron (models with several recordings)."""
        if self.units is not None and (self.max_rate_hz is None
                                       or len(self.units) == len(self.max_rate_hz)):
            result = _with_units(result, self.units)
        if self.max_rate_hz is None or "neuron" not in result.summary:
            return result
        summary = result.summary.copy()
        neuron = summary["neuron"].to_numpy(dtype=int)
        summary["max_rate_hz"] = self.max_rate_hz[neuron]
        summary["implausible_rate"] = self.max_rate_hz[neuron] > MAX_PLAUSIBLE_RATE_HZ
        return PhysiologyResult(result.responses, summary)


# -- the units of a model with several recordings -------------------------------------------------
def _check_recording_chosen(estimator, predict_params):
    """A model with one decoder per recording predicts arrays for a recording it is told:
    refuse early, naming the experiment's argument (not ``predict``'s)."""
    names = getattr(estimator, "recording_names_", None)
    if "recording" in predict_params or not isinstance(names, (list, tuple)) or len(names) < 2:
        return
    raise ValueError(
        f"this model has one decoder per recording ({len(names)}: {_short_list(names)}): say "
        f"whose neurons to probe with predict_params={{\"recording\": \"{names[0]}\"}} (a name "
        "of recording_names_), or predict_params={\"recording\": \"all\"} for the neurons of "
        "every recording in one pass (the tables then name each neuron's recording and unit).")


def _short_list(names, limit=4):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _unit_table(estimator, recording):
    """``recording``, ``unit`` (index within its recording) and the columns of the model's
    ``neurons_`` table (prefixed ``unit_``, e.g. ``unit_cf_hz``) of every neuron that
    ``predict(..., recording=recording)`` returns, in its order; None for a model without
    several recordings, or when no recording is chosen."""
    names = getattr(estimator, "recording_names_", None)
    sizes = getattr(estimator, "neurons_per_recording_", None)
    if recording is None or not isinstance(names, (list, tuple)) or sizes is None \
            or len(sizes) != len(names):
        return None
    if isinstance(recording, str) and recording == "all":
        chosen = list(range(len(names)))
    elif isinstance(recording, str) and recording in names:
        chosen = [list(names).index(recording)]
    elif isinstance(recording, numbers.Integral) and not isinstance(recording, bool) \
            and 0 <= recording < len(names):
        chosen = [int(recording)]
    else:
        return None  # predict refuses it, with its own message
    frames = []
    for d in chosen:
        frame = pd.DataFrame({"recording": names[d], "unit": np.arange(int(sizes[d]))})
        for column, values in _neuron_columns(getattr(estimator, "neurons_", None), names[d],
                                              len(frame)).items():
            frame[f"unit_{column}"] = values
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["recording"] = pd.Categorical(table["recording"], categories=list(names))
    return table


def _neuron_columns(neurons, name, n_units):
    """The columns (but ``unit`` and ``recording``) of recording ``name``'s rows of a model's
    ``neurons_``: a dict of per-recording tables, or one table with a ``recording`` column."""
    table = None
    if isinstance(neurons, dict):
        table = neurons.get(name)
    elif isinstance(neurons, pd.DataFrame) and "recording" in neurons:
        table = neurons[neurons["recording"] == name]
    if not isinstance(table, pd.DataFrame) or len(table) != n_units:
        return {}
    return {c: table[c].to_numpy() for c in table.columns if c not in ("unit", "recording")}


def _with_units(result, units):
    """``result`` with its neurons' recording and unit columns after ``neuron``."""
    if units is None:
        return result
    tables = []
    for table in result:
        if "neuron" not in table or len(table) == 0 or table["neuron"].max() >= len(units):
            return result  # not the neurons the table was made for: leave it as it is
        neuron = table["neuron"].to_numpy(dtype=int)
        table = table.copy()
        at = table.columns.get_loc("neuron") + 1
        for k, column in enumerate(units.columns):
            values = units[column].iloc[neuron].to_numpy() if column != "recording" else \
                pd.Categorical.from_codes(units[column].cat.codes.to_numpy()[neuron],
                                          units[column].cat.categories)
            table.insert(at + k, column, values)
        tables.append(table)
    return PhysiologyResult(*tables)
