"""What :class:`~sk_icnet.icnet.ICNetRegressor` checks: its parameters, its rates and its data.

Every function here takes values (parameters, arrays, a timebase) and returns checked values
or raises; none sets an attribute: the estimator's methods decide what a checked value
becomes. Checks that only read (:func:`check_device`, used at predict, score and load) are
kept apart from what only a fit does (:func:`check_checkpoint_dir` creates and probes the
directory, :func:`warn_slow_bfloat16`), so that predicting or scoring leaves no trace on
disk. Every rate is resolved and compared through :mod:`sk_icnet._core.timebase`.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import torch
from torch.utils.data import Subset

from .._core import validation as contract
from .._core.exceptions import _rates_note, _reworded
from .._core.timebase import (
    PAPER_AUDIO_FS,
    PAPER_DT_MS,
    Timebase,
    resolve_samples_per_bin,
)
from ..data import Recording, WindowDataset, decoder_indices
from ._layers import cpu_supports_bf16

__all__ = ["as_data", "device_type", "check_device", "check_checkpoint_dir", "warn_slow_bfloat16",
           "check_skip_bins", "check_no_time_input", "resolve_rates", "check_data_rates",
           "fitted_note", "check_fit_arrays", "check_has_windows", "check_dataset", "check_X",
           "check_sample_weight", "check_no_target", "check_no_weights"]


def as_data(X):
    """A :class:`WindowDataset` for recordings and windows (views of Subsets too), else None."""
    if isinstance(X, Subset) and isinstance(X.dataset, WindowDataset):
        return X.dataset[np.asarray(X.indices)]
    if isinstance(X, WindowDataset):
        return X
    if isinstance(X, Recording) or (isinstance(X, (list, tuple)) and X
                                    and all(isinstance(r, Recording) for r in X)):
        return WindowDataset(X)
    return None


def device_type(device):
    """``"cpu"`` or ``"cuda"``: the type of a torch ``device`` (None means the CPU)."""
    return torch.device(device if device else "cpu").type


# ------------------------------------------------------------------------------- parameters
def check_device(device):
    """A device that this machine has (None: the CPU)."""
    if device is None:
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; "
                         f"received {device!r} ({exc}).") from None
    if parsed.type == "cuda":
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == 0 or (parsed.index is not None and parsed.index >= available):
            raise ValueError(f"device={device!r} is not available: this machine has "
                             f"{available} CUDA device(s); use device='cpu' or another index.")


def check_checkpoint_dir(checkpoint_dir):
    """A writable checkpoint directory, created here (only a fit asks)."""
    if checkpoint_dir is None:
        return
    path = os.fspath(checkpoint_dir)
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


def warn_slow_bfloat16(precision, device, stacklevel):
    """Warn when a fit would emulate bfloat16 on a CPU without native instructions."""
    if precision == "bfloat16" and device_type(device) == "cpu" and cpu_supports_bf16() is False:
        warnings.warn("precision='bfloat16' on a CPU without native bfloat16 instructions "
                      "(avx512_bf16/amx_bf16): autocast emulates them, several times slower "
                      "than float32 here; use precision='float32' on this machine.",
                      UserWarning, stacklevel=stacklevel + 1)


def check_skip_bins(skip_bins, n_bins):
    if skip_bins >= n_bins:
        raise ValueError(f"skip_bins must be smaller than the number of bins per trial "
                         f"({n_bins}); received skip_bins={skip_bins}.")


def check_no_time_input(module_params):
    if module_params.get("time_input"):
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


def resolve_rates(audio_fs, dt_ms, owner, data=None):
    """``(audio_fs, dt_ms)`` from the parameters and, when it carries them, the data.

    ``"auto"`` means the data's rates, or the paper's (:data:`~sk_icnet._core.timebase.PAPER`)
    without data; an explicit rate must agree with the data's by the timebase's rule
    (``owner`` names the estimator in the error).
    """
    explicit = {name: _rate_param(value, name) for name, value in (("audio_fs", audio_fs),
                                                                   ("dt_ms", dt_ms))}
    if data is None:
        return (PAPER_AUDIO_FS if audio_fs == "auto" else explicit["audio_fs"],
                PAPER_DT_MS if dt_ms == "auto" else explicit["dt_ms"])
    for name, carried, value in Timebase(data.audio_fs, data.dt_ms).mismatches(**explicit)[:1]:
        raise ValueError(
            f"{name}={value!r} was set on {owner}, but the data carry "
            f"{name}={carried!r}; leave {name}='auto' to use the data's, or resample the data.")
    return data.audio_fs, data.dt_ms


def check_data_rates(timebase, data):
    """Data given after fit must have the fitted rates (``timebase``)."""
    for name, fitted, carried in timebase.mismatches(data.audio_fs, data.dt_ms)[:1]:
        raise ValueError(f"the data carry {name}={carried!r}, but this model was fitted "
                         f"with {name}={fitted!r}.")


def fitted_note(timebase):
    return (f"(this model was fitted with audio_fs_={timebase.audio_fs!r} Hz and "
            f"dt_ms_={timebase.dt_ms!r} ms.)")


# ------------------------------------------------------------------------------------- data
def check_fit_arrays(X, y, audio_fs, dt_ms, skip_bins, owner, timebase=None):
    """Arrays for a fit (``timebase`` None: the rates are resolved from the parameters and the
    shapes) or for more training at the fitted ``timebase``. Returns ``(X (n, 1, T), y (n, N,
    T), y_ndim, timebase)``; the caller keeps what it needs."""
    X = contract.check_waveforms(X, name="X")
    y3, y_ndim = contract.check_responses(y, name="y", max_value=contract.MAX_COUNT)
    contract.check_consistent_trials(X, y3)
    if timebase is None:  # audio_fs and dt_ms are the parameters ("auto" included)
        fs, dt = resolve_rates(audio_fs, dt_ms, owner)
        note = _rates_note(audio_fs, dt_ms, fs, dt)
        with _reworded(note):
            spb = resolve_samples_per_bin(fs, dt, X.shape[1], y3.shape[2])
        timebase = Timebase.from_samples_per_bin(fs, spb) if dt is None else Timebase(fs, dt)
    else:
        note = fitted_note(timebase)
    with _reworded(note):
        contract.check_whole_bins(X.shape[1], timebase.samples_per_bin, n_bins=y3.shape[2],
                                  estimator=owner)
    check_skip_bins(skip_bins, y3.shape[2])
    return X[:, None, :], y3, y_ndim, timebase


def check_has_windows(data):
    if len(data) == 0:
        raise ValueError("the WindowDataset holds no window.")


def check_dataset(data, skip_bins, fitted=None):
    """A WindowDataset for a fit (``fitted`` None: its window must outlast ``skip_bins``) or for
    a fitted model, ``fitted = (timebase, recording_names, neurons_per_recording)``: the fitted
    rates, and a decoder with its neuron count for every recording (raises naming it)."""
    if fitted is None:
        check_skip_bins(skip_bins, data.window_bins)
        return data
    timebase, names, neurons_per_recording = fitted
    check_data_rates(timebase, data)
    decoder_indices(data.recordings, names, neurons_per_recording)
    return data


def check_X(X, timebase, owner):
    """Waveforms for a fitted model, ``(n_trials, 1, n_samples)``, in whole bins."""
    X = contract.check_waveforms(X, name="X")
    with _reworded(fitted_note(timebase)):
        contract.check_whole_bins(X.shape[1], timebase.samples_per_bin, estimator=owner)
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
