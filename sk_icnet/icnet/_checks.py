"""What :class:`~sk_icnet.icnet.ICNetRegressor` checks: its parameters, its rates and its data.

Checks that only read (:func:`check_params`, used at predict, score and load) are kept apart
from the checks a fit adds (:func:`check_fit_options`: the checkpoint directory is created
and probed, precision is weighed against the CPU), so that predicting or scoring leaves no
trace on disk and warns about nothing that only training would do. Every rate is resolved
and compared through :mod:`sk_icnet._core.timebase`.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import torch
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted

from .._core import validation as contract
from .._core.exceptions import _rates_note, _reworded
from .._core.timebase import (
    PAPER_AUDIO_FS,
    PAPER_DT_MS,
    Timebase,
    resolve_samples_per_bin,
)
from ..data import decoder_indices
from ._layers import cpu_supports_bf16

__all__ = ["check_params", "check_fit_options", "resolve_rates", "check_data_rates",
           "validate_fit_data", "validate_dataset", "validate_X", "check_sample_weight",
           "check_no_target", "check_no_weights", "device_type"]


def device_type(est):
    """``"cpu"`` or ``"cuda"``: the type of the estimator's device."""
    return torch.device(est.device if est.device else "cpu").type


# ------------------------------------------------------------------------------- parameters
def check_params(est):
    """Validate the parameters (own and inherited) before they are used; reads only."""
    params = {key: getattr(est, key) for key in est._parameter_constraints}
    validate_parameter_constraints(est._parameter_constraints, params,
                                   caller_name=type(est).__name__)
    _validate_device(est)


def check_fit_options(est):
    """:func:`check_params`, and what only a fit needs: a writable checkpoint directory
    (created here) and a precision this CPU runs at speed (a warning otherwise)."""
    check_params(est)
    _check_checkpoint_dir(est)
    if est.precision == "bfloat16" and device_type(est) == "cpu" and cpu_supports_bf16() is False:
        warnings.warn("precision='bfloat16' on a CPU without native bfloat16 instructions "
                      "(avx512_bf16/amx_bf16): autocast emulates them, several times slower "
                      "than float32 here; use precision='float32' on this machine.",
                      UserWarning, stacklevel=4)


def _validate_device(est):
    if est.device is None:
        return
    try:
        device = torch.device(est.device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; "
                         f"received {est.device!r} ({exc}).") from None
    if device.type == "cuda":
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == 0 or (device.index is not None and device.index >= available):
            raise ValueError(f"device={est.device!r} is not available: this machine has "
                             f"{available} CUDA device(s); use device='cpu' or another index.")


def _check_checkpoint_dir(est):
    if est.checkpoint_dir is None:
        return
    path = os.fspath(est.checkpoint_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"checkpoint_dir must be a directory; received {path!r}, which is a "
                         "file.")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ValueError(f"checkpoint_dir must be a writable directory; received {path!r} "
                         f"({exc.strerror or exc}).") from None


def check_skip_bins(est, n_bins):
    if est.skip_bins >= n_bins:
        raise ValueError(f"skip_bins must be smaller than the number of bins per trial "
                         f"({n_bins}); received skip_bins={est.skip_bins}.")


def check_no_time_input(est):
    if est.get_params_for("module").get("time_input"):
        raise ValueError("module__time_input=True needs the recording time of every window: "
                         "fit a WindowDataset of Recordings; arrays carry no time.")


# ------------------------------------------------------------------------------------ rates
def _rate_param(value, name):
    """An explicit rate parameter as a float; None for ``"auto"`` (and ``dt_ms=None``)."""
    if isinstance(value, str) and value != "auto":
        raise ValueError(f"{name} must be a number > 0 or 'auto'; received {value!r}.")
    if isinstance(value, str) or (value is None and name == "dt_ms"):
        return None
    return contract.check_positive_number(value, name)


def resolve_rates(est, data=None):
    """``(audio_fs, dt_ms)`` from the parameters and, when it carries them, the data.

    ``"auto"`` means the data's rates, or the paper's (:data:`~sk_icnet._core.timebase.PAPER`)
    without data; an explicit rate must agree with the data's by the timebase's rule.
    """
    explicit = {name: _rate_param(getattr(est, name), name) for name in ("audio_fs", "dt_ms")}
    if data is None:
        return (PAPER_AUDIO_FS if est.audio_fs == "auto" else explicit["audio_fs"],
                PAPER_DT_MS if est.dt_ms == "auto" else explicit["dt_ms"])
    for name, carried, value in Timebase(data.audio_fs, data.dt_ms).mismatches(**explicit)[:1]:
        raise ValueError(
            f"{name}={value!r} was set on {type(est).__name__}, but the data carry "
            f"{name}={carried!r}; leave {name}='auto' to use the data's, or resample the data.")
    return data.audio_fs, data.dt_ms


def check_data_rates(est, data):
    """Data given after fit must have the fitted rates."""
    for name, fitted, carried in est.timebase_.mismatches(data.audio_fs, data.dt_ms)[:1]:
        raise ValueError(f"the data carry {name}={carried!r}, but this model was fitted "
                         f"with {name}={fitted!r}.")


def _fitted_note(est):
    return (f"(this model was fitted with audio_fs_={est.audio_fs_!r} Hz and "
            f"dt_ms_={est.dt_ms_!r} ms.)")


# ------------------------------------------------------------------------------------- data
def validate_fit_data(est, X, y, reset):
    """Check arrays for a fit (``reset``) or for more training of a fitted model; returns
    ``(X (n, 1, T), y (n, N, T))`` and, at ``reset``, sets the fitted attributes (the
    caller then warns if rates were assumed, :func:`warn_rates_assumed`)."""
    check_fit_options(est)  # the parameters first, then the data
    X = contract.check_waveforms(X, name="X")
    y3, y_ndim = contract.check_responses(y, name="y", max_value=contract.MAX_COUNT)
    contract.check_consistent_trials(X, y3)
    if reset or not hasattr(est, "samples_per_bin_"):
        audio_fs, dt_ms = resolve_rates(est)
        note = _rates_note(est.audio_fs, est.dt_ms, audio_fs, dt_ms)
        with _reworded(note):
            spb = resolve_samples_per_bin(audio_fs, dt_ms, X.shape[1], y3.shape[2])
    else:
        spb, note = est.samples_per_bin_, _fitted_note(est)
    with _reworded(note):
        contract.check_whole_bins(X.shape[1], spb, n_bins=y3.shape[2], estimator=type(est).__name__)
    check_skip_bins(est, y3.shape[2])
    if reset:
        check_no_time_input(est)
        timebase = Timebase.from_samples_per_bin(audio_fs, spb) if dt_ms is None \
            else Timebase(audio_fs, dt_ms)
        est._set_fitted({"timebase_": timebase, "n_features_in_": X.shape[1],
                         "n_neurons_": y3.shape[1], "neurons_per_recording_": [y3.shape[1]],
                         "recording_names_": None, "y_ndim_": y_ndim})
    else:
        if getattr(est, "recording_names_", None) is not None:
            raise ValueError("this model was fitted on recordings (a WindowDataset); continue "
                             "training it on a WindowDataset, not on arrays.")
        if y3.shape[1] != est.n_neurons_:
            raise ValueError(f"y has {y3.shape[1]} neuron(s), but {type(est).__name__} "
                             f"was fitted with {est.n_neurons_}.")
    return X[:, None, :], y3


def warn_rates_assumed(est):
    """The arguments of the warning that a fit on arrays assumed the paper's rates; the
    fit calls ``_warn_rates_assumed(*warn_rates_assumed(est))`` itself, so that the warning
    points at the user's call."""
    return (est.audio_fs, est.dt_ms, est.audio_fs_, est.dt_ms_, est.samples_per_bin_,
            type(est).__name__)


def validate_dataset(est, data, reset, training):
    """Check a WindowDataset against the parameters (``reset``) or the fitted model.

    ``training``: for a fit (the fit's checks, :func:`check_fit_options`); predict and score
    pass False and change nothing outside the estimator.
    """
    if len(data) == 0:
        raise ValueError("the WindowDataset holds no window.")
    if training:
        check_fit_options(est)
    else:
        check_params(est)
    if reset:
        audio_fs, dt_ms = resolve_rates(est, data)
        check_skip_bins(est, data.window_bins)
        est._set_fitted({"audio_fs_": audio_fs, "dt_ms_": dt_ms,
                         "samples_per_bin_": data.samples_per_bin,
                         "n_features_in_": data.window_samples,
                         "recording_names_": data.recording_names,
                         "neurons_per_recording_": data.neurons_per_recording,
                         "n_neurons_": sum(data.neurons_per_recording), "y_ndim_": 3})
    else:
        check_is_fitted(est, ["samples_per_bin_"])
        check_data_rates(est, data)
        # every recording has a decoder with its neuron count (raises naming the recording)
        decoder_indices(data.recordings, getattr(est, "recording_names_", None),
                        est.neurons_per_recording_)
    return data


def validate_X(est, X):
    """Waveforms for a fitted model, ``(n_trials, 1, n_samples)``, in whole bins."""
    check_is_fitted(est, ["module_", "samples_per_bin_"])
    X = contract.check_waveforms(X, name="X")
    with _reworded(_fitted_note(est)):
        contract.check_whole_bins(X.shape[1], est.samples_per_bin_, estimator=type(est).__name__)
    return X[:, None, :]


def check_no_target(y):
    if y is not None:
        raise ValueError("y must be None when X is a WindowDataset or Recording: the "
                         f"responses come with the recordings; received {type(y).__name__}.")


def check_no_weights(sample_weight):
    if sample_weight is not None:
        raise ValueError("sample_weight weighs the trials of array X; recordings (a "
                         "WindowDataset or Recording) take none: select the windows instead.")


def check_sample_weight(sample_weight, n_trials):
    """``sample_weight`` as float32 ``(n_trials,)``, checked; None stays None."""
    if sample_weight is None:
        return None
    w = contract._as_numeric_array(sample_weight, "sample_weight")
    if w.shape != (n_trials,):
        raise ValueError(f"sample_weight must have one weight per trial, shape ({n_trials},); "
                         f"received shape {w.shape}.")
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError("sample_weight must be finite, non-negative and not all zero; "
                         f"received values from {w.min()!r} to {w.max()!r}.")
    return w.astype(np.float32)
