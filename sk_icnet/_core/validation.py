"""Input validation shared by the estimators, metrics and helpers.

Every public entry point funnels its arrays through these helpers so that bad
input raises a :class:`ValueError` or :class:`TypeError` naming the argument,
the rule that was broken and what was received, instead of a raw torch or
numpy traceback.

The data contract
-----------------
``X`` (waveforms)
    ``(n_trials, n_samples)`` or ``(n_trials, 1, n_samples)``, real numbers,
    finite. Returned as C-contiguous ``float32`` of shape
    ``(n_trials, n_samples)``.
``y`` (responses)
    ``(n_trials,)`` (one bin per trial, one neuron), ``(n_trials, n_bins)``
    (one neuron) or ``(n_trials, n_neurons, n_bins)``; non-negative counts or
    rates; NaN marks a missing bin. Returned as ``float32`` of shape
    ``(n_trials, n_neurons, n_bins)`` together with the original ``ndim`` so
    that outputs can be given back in the caller's layout.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "check_waveforms",
    "check_responses",
    "check_consistent_trials",
    "to_layout",
]

#: largest accepted |waveform| value (pascals); beyond it float32 convolutions overflow
MAX_WAVEFORM = 1e15
#: largest accepted response per bin for fitting (spikes per bin)
MAX_COUNT = 1e6


def _describe(value):
    """Short description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{value!r} ({type(value).__name__})"


#: the largest recording time (s) accepted anywhere (about 32 years): larger times overflow the
#: model's time input to NaN, and the training error would then blame the learning rate
MAX_RECORDING_TIME_S = 1e9


def recording_time_ok(value):
    """Whether ``value`` is a recording time in seconds within :data:`MAX_RECORDING_TIME_S`."""
    return bool(np.all(np.abs(np.asarray(value, dtype=np.float64)) <= MAX_RECORDING_TIME_S))


def check_positive_number(value, name):
    """Return ``value`` as a float after checking it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number > 0; received {_describe(value)}.")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; received {value!r}.")
    return value


def check_positive_int(value, name, *, minimum=1):
    """Return ``value`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; received {_describe(value)}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; received {value!r}.")
    return int(value)


def _as_numeric_array(value, name):
    """Convert ``value`` to a numpy array of real numbers, refusing other kinds."""
    if value is None:
        raise ValueError(f"{name} is required: this estimator requires y to be passed, but "
                         f"the target y is None" if name == "y" else
                         f"{name} must be an array of real numbers; received None.")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "toarray") and not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a dense array of real numbers; sparse input "
            f"({type(value).__name__}) is not supported."
        )
    if isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array of real numbers; received {_describe(value)}.")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(
            f"{name} must be a rectangular array of real numbers; it could not be "
            f"converted ({exc})."
        ) from None
    if arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} must be real-valued; received dtype {arr.dtype}."
        )
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must contain real numbers (integer or floating dtype); "
            f"received dtype {arr.dtype}."
        )
    return arr


def check_waveforms(X, *, name="X"):
    """Validate waveforms and return them as float32 ``(n_trials, n_samples)``.

    Parameters
    ----------
    X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples)
        Sound pressure waveforms, one row per trial.
    name : str, default="X"
        Argument name used in error messages.

    Returns
    -------
    ndarray of shape (n_trials, n_samples), dtype float32
    """
    arr = _as_numeric_array(X, name)
    if arr.ndim == 3:
        if arr.shape[1] != 1:
            raise ValueError(
                f"{name} with 3 dimensions must have shape (n_trials, 1, n_samples) "
                f"(mono audio); received shape {arr.shape}."
            )
        arr = arr[:, 0, :]
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_trials, n_samples) or 3-D (n_trials, 1, n_samples); "
            f"received an array with {arr.ndim} dimension(s) and shape {arr.shape}. "
            "Reshape your data: a single waveform is X.reshape(1, -1)."
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"{name} is empty: found array with 0 sample(s) (shape={arr.shape}) while a "
            "minimum of 1 is required (one trial per row)."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} is empty: found 0 feature(s) (shape={arr.shape}) while a minimum of 1 "
            "is required (audio samples per trial)."
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} contains NaN or inf: {n_bad} non-finite value(s). Waveforms must "
            "be finite; mark missing responses with NaN in y instead."
        )
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains values too large for float32 (|x| > 3.4e38 overflows to "
            "inf); rescale the waveforms (e.g. to pascals)."
        )
    peak = max(abs(float(arr.max())), abs(float(arr.min())))  # no |X| copy of long audio
    if peak > MAX_WAVEFORM:
        raise ValueError(
            f"{name} has values up to {peak:.3g}; waveforms are expected in pascals (a 194 dB "
            f"SPL sound peaks at 1e5 Pa), and |x| > {MAX_WAVEFORM:.0e} would overflow the "
            "network's float32 arithmetic. Rescale the waveforms."
        )
    if not arr.flags.writeable:  # torch cannot wrap read-only memory
        arr = arr.copy()
    return arr


def check_responses(y, *, name="y", allow_nan=True, max_value=None):
    """Validate responses and return them as float32 ``(n_trials, n_neurons, n_bins)``.

    Parameters
    ----------
    y : array-like of shape (n_trials,), (n_trials, n_bins) or (n_trials, n_neurons, n_bins)
        Non-negative spike counts or rates. NaN marks a missing bin.
    name : str, default="y"
        Argument name used in error messages.
    allow_nan : bool, default=True
        Whether NaN (missing bins) is accepted. Inf is never accepted.
    max_value : float or None, default=None
        Largest accepted value (the estimators use :data:`MAX_COUNT`).

    Returns
    -------
    y3 : ndarray of shape (n_trials, n_neurons, n_bins), dtype float32
    ndim : int
        The number of dimensions of the input, to restore its layout.
    """
    arr = _as_numeric_array(y, name)
    ndim = arr.ndim
    if ndim == 1:
        arr = arr[:, None, None]
    elif ndim == 2:
        arr = arr[:, None, :]
    elif ndim != 3:
        raise ValueError(
            f"{name} must be 1-D (n_trials,), 2-D (n_trials, n_bins) or 3-D "
            f"(n_trials, n_neurons, n_bins); received shape {arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(
            f"{name} is empty: it needs at least one trial, neuron and bin; "
            f"received shape {np.shape(y)}."
        )
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not arr.flags.writeable:
        arr = arr.copy()
    nan = np.isnan(arr)
    if np.isinf(arr).any():
        raise ValueError(
            f"{name} contains inf (or values too large for float32); responses must "
            "be finite non-negative numbers, with NaN marking missing bins."
        )
    if nan.any():
        if not allow_nan:
            raise ValueError(f"{name} contains NaN, which is not accepted here.")
        if nan.all():
            raise ValueError(f"{name} contains only NaN: there is no observed bin.")
    if (arr < 0).any():
        raise ValueError(
            f"{name} must be non-negative spike counts or rates; received a minimum "
            f"of {float(np.nanmin(arr))!r} ({int((arr < 0).sum())} negative value(s))."
        )
    if max_value is not None and np.nanmax(arr) > max_value:
        raise ValueError(
            f"{name} has values up to {float(np.nanmax(arr)):.3g} per bin; spike counts above "
            f"{max_value:.0e} per bin are not plausible (check the units and the binning)."
        )
    return arr, ndim


def check_consistent_trials(X, y, *, x_name="X", y_name="y"):
    """Check that ``X`` and ``y`` have the same number of trials."""
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of trials (first axis); "
            f"received {X.shape[0]} and {y.shape[0]}."
        )


def check_prediction_shape(y_pred, y):
    """Check that ``y`` (given to ``score``) has the trials and shape of the predictions."""
    pred_shape, y_shape = np.shape(y_pred), np.shape(y)
    if y_shape[:1] != pred_shape[:1]:
        raise ValueError(f"X and y must have the same number of trials (first axis); "
                         f"received {pred_shape[0]} and {y_shape[0] if y_shape else y_shape}.")
    if y_shape != pred_shape:
        raise ValueError(f"y must have the shape of the predictions for X, "
                         f"{pred_shape}; received {y_shape}.")


def check_whole_bins(n_samples, spb, *, n_bins=None, name="X", estimator="ICNetRegressor"):
    """Check that ``n_samples`` holds a whole number of bins (and ``n_bins`` if given)."""
    if n_samples % spb != 0:
        raise ValueError(
            f"{name} has {n_samples} features, but {estimator} is expecting {spb} features "
            f"as input, or any whole multiple of {spb}: one neural bin is {spb} audio "
            f"samples, and {n_samples} samples per trial is not a whole number of bins."
        )
    if n_bins is not None and n_samples // spb != n_bins:
        raise ValueError(
            f"{name} has {n_samples} samples per trial = {n_samples // spb} bins of {spb} "
            f"samples, but y has {n_bins} bins per trial: n_samples must equal "
            f"n_bins * samples_per_bin ({n_bins} * {spb} = {n_bins * spb})."
        )
    return n_samples // spb


def to_layout(y3, ndim):
    """Return ``(n_trials, n_neurons, n_bins)`` data in the layout of a ``ndim``-D ``y``."""
    if ndim == 1:  # one bin per trial at fit; longer inputs give (n_trials, n_bins)
        flat = y3.reshape(y3.shape[0], -1)
        return flat[:, 0] if flat.shape[1] == 1 else flat
    if ndim == 2:
        return y3[:, 0, :] if y3.shape[1] == 1 else y3
    return y3


def is_json_int(value, low=None, high=None):
    """Whether a decoded JSON value is an integer (not a bool) within ``[low, high]``."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and (low is None or value >= low) and (high is None or value <= high))


def is_json_real(value):
    """Whether a decoded JSON value is a finite number (not a bool); an integer too large for
    a float is not."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_int(value, minimum=1):
    return is_json_int(value, minimum)


def _is_rate(value):
    return is_json_real(value) and value > 0


#: rule and description of every key a checkpoint's metadata may hold
_METADATA_RULES = {
    "n_neurons_": (_is_int, "an integer >= 1"),
    "samples_per_bin_": (_is_int, "an integer >= 1"),
    "y_ndim_": (lambda v: v in (1, 2, 3) and not isinstance(v, bool), "1, 2 or 3"),
    "n_features_in_": (_is_int, "an integer >= 1"),
    "audio_fs_": (_is_rate, "a number > 0"),
    "dt_ms_": (_is_rate, "a number > 0"),
    "recording_names_": (lambda v: v is None or (isinstance(v, list) and v and len(set(v)) == len(v)
                                                 and all(isinstance(n, str) and n for n in v)),
                         "null or a list of unique non-empty names"),
    "neurons_per_recording_": (lambda v: isinstance(v, list) and v and all(_is_int(n) for n in v),
                               "a list of integers >= 1"),
}
_METADATA_REQUIRED = ("n_neurons_", "samples_per_bin_", "y_ndim_", "n_features_in_")


def check_fitted_metadata(meta, allowed, source):
    """Validate a dict of fitted attributes of ICNetRegressor (``source`` names it in errors)."""
    if not isinstance(meta, dict):
        raise ValueError(f"{source} must be a JSON object; received {type(meta).__name__}.")
    unknown = sorted(set(meta) - set(allowed))
    if unknown:
        raise ValueError(f"{source} has unknown keys {unknown}; the known keys are "
                         f"{sorted(allowed)}.")
    missing = [key for key in _METADATA_REQUIRED if key not in meta]
    if missing:
        raise ValueError(f"{source} lacks {missing}.")
    for key, value in meta.items():
        rule, description = _METADATA_RULES[key]
        if not rule(value):
            raise ValueError(f"{source}: {key} must be {description}; received {value!r}.")
    per = meta.get("neurons_per_recording_")
    names = meta.get("recording_names_")
    if per is not None and sum(per) != meta["n_neurons_"]:
        raise ValueError(f"{source}: neurons_per_recording_ {per} does not add up to "
                         f"n_neurons_={meta['n_neurons_']}.")
    if names is not None and (per is None or len(per) != len(names)):
        raise ValueError(f"{source}: recording_names_ needs one neurons_per_recording_ entry per "
                         "recording.")
    return meta
