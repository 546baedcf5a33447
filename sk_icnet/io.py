"""File formats: trained models as single safetensors files, recordings as NWB files.

A model file is one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the weights (ICNet) or fitted arrays (STRFs) as tensors, and in its
header a JSON record of everything needed to predict: the estimator class, its
parameters, the fitted attributes (rates, neuron and recording counts and
names), the format version and the sk_icnet version that wrote it, and the
model's provenance (validation scores, the training summary).
Reading one runs no pickle, needs no data and no GPU:

>>> est.save_model("gerbil_icnet.safetensors")                           # doctest: +SKIP
>>> est = ICNetRegressor.load_model("gerbil_icnet.safetensors")          # doctest: +SKIP
>>> read_model_info("gerbil_icnet.safetensors")["validation"]            # doctest: +SKIP

A model file is untrusted input: the loader accepts only the parameters
:func:`save_model` writes, each with its type and range checked, checks the
network its header describes against the stored tensors' shapes before
building anything, and cross-checks the rates.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import pickle
import re
import secrets
import stat

import numpy as np
import torch

from ._validation import check_fitted_metadata

__all__ = ["save_model", "load_model", "read_model_info", "read_nwb", "write_nwb", "atomic_path",
           "MODEL_FORMAT", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT = "sk_icnet.model"
MODEL_FORMAT_VERSION = 1

#: estimator parameters never stored: training-only objects, or meaningless elsewhere
_NOT_STORED = {"module", "criterion", "optimizer", "callbacks", "checkpoint_dir", "device",
               "train_split", "dataset", "iterator_train", "iterator_valid", "torch_load_kwargs"}
_NOT_STORED_PREFIXES = ("callbacks__", "iterator_", "optimizer__", "dataset__", "train_split")

#: fitted attributes of the STRF baselines: name -> "array" or "scalar"
_STRF_FITTED = {
    "LinearSTRFRegressor": ("samples_per_bin_", "dt_ms_", "n_features_in_", "n_neurons_",
                            "y_ndim_", "n_lags_", "lags_ms_", "band_frequencies_hz_",
                            "feature_mean_", "response_mean_", "alpha_", "coef_", "intercept_"),
    "PoissonSTRFRegressor": ("samples_per_bin_", "dt_ms_", "n_features_in_", "n_neurons_",
                             "y_ndim_", "n_lags_", "lags_ms_", "band_frequencies_hz_", "n_iter_",
                             "coef_", "intercept_"),
}

#: fitted attributes of the STRFs stored when the estimator has them (older versions did not)
_STRF_OPTIONAL = ("audio_fs_",)

#: largest size (channels, filters, kernel, samples per bin) read from a model file
_MAX_SIZE = 1 << 20
#: largest SincNet kernel read from a model file (its size is in no stored tensor)
_MAX_KERNEL = 1 << 16
#: largest number of layers, classes or lags read from a model file
_MAX_COUNT = 1 << 12
#: largest JSON nesting accepted in a model file's header or a checkpoint's JSON files
_MAX_JSON_DEPTH = 64
_INT_LIMIT = 2 ** 31 - 1


# ------------------------------------------------------------ atomic writes
def _new_temporary(directory, suffix):
    """Create an empty temporary file in ``directory``; return its path and the mode that the
    umask gives new files (the kernel applies it: ``open(..., 0o666)``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f"tmp-{secrets.token_hex(8)}{suffix}")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        return tmp, mode
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", directory)


def _link_no_clobber(tmp, path):
    """Publish ``tmp`` at ``path`` only if nothing is there (a hard link fails if it exists)."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except OSError as exc:  # file systems without hard links (FAT, some network shares)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                             errno.ENOSYS, errno.EXDEV):
            raise
    if os.path.lexists(path):  # best effort there: a check, then a rename
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    os.rename(tmp, path)


@contextlib.contextmanager
def atomic_path(path, suffix="", *, overwrite=True, replaceable=None):
    """A temporary path in ``path``'s directory to write to, published at ``path`` when the
    block succeeds and removed when it fails, so ``path`` is never half-written.

    Parameters
    ----------
    path : str or path-like
    suffix : str, default=""
        Ending of the temporary name (some writers look at it).
    overwrite : bool, default=True
        ``True``: an existing ``path`` is replaced (renamed over), keeping its
        permission bits. ``False`` (no-clobber): the file is published with a
        hard link, which fails if anything appeared at ``path`` meanwhile; then
        :class:`FileExistsError` is raised, ``path`` is left as it is and the
        temporary file is removed.
    replaceable : callable, optional
        Called with ``path`` just before an existing ``path`` is replaced; it
        raises to refuse (e.g. the file is not of the kind being written).

    Notes
    -----
    A new file gets the permissions that the process's umask gives new files
    (``0o666 & ~umask``), not the ``0o600`` of :func:`tempfile.mkstemp`.
    """
    path = os.path.abspath(os.fspath(path))
    tmp, new_mode = _new_temporary(os.path.dirname(path), suffix)
    try:
        yield tmp
        for _ in range(3):  # in overwrite mode, a file appearing meanwhile is checked, replaced
            if overwrite and os.path.lexists(path):
                if replaceable is not None:
                    replaceable(path)
                try:
                    mode = stat.S_IMODE(os.stat(path).st_mode)
                except OSError:
                    mode = new_mode
                os.chmod(tmp, mode)
                os.replace(tmp, path)
                break
            os.chmod(tmp, new_mode)
            try:
                _link_no_clobber(tmp, path)
                break
            except FileExistsError:
                if not overwrite:
                    raise FileExistsError(
                        errno.EEXIST, "something appeared at this path while it was being "
                        "written; it was left as it is and nothing was written", path) from None
        else:  # pragma: no cover - a path replaced three times by others while publishing
            raise FileExistsError(errno.EEXIST, "the path kept changing while it was written",
                                  path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


class RefusedPickle(ValueError, pickle.UnpicklingError):
    """A checkpoint file holds pickled objects that torch's safe loader refuses (code, or
    classes other than tensors and containers). A ``ValueError`` and an ``UnpicklingError``."""

    def __init__(self, dirname, exc):
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL ([^\s]+)", text)
        what = f"the global {found.group(1)}" if found else text.splitlines()[0][:200]
        super().__init__(f"the checkpoint in {dirname!r} could not be loaded: it holds pickled "
                         f"objects other than tensors ({what}), which torch's safe loader "
                         "(weights_only=True) refuses. sk_icnet never writes these: the file was "
                         "tampered with or comes from elsewhere; it was not loaded (do not load it "
                         "with weights_only=False unless you trust its source).")


# ------------------------------------------------------------ JSON values
def _json_value(value):
    """Whether ``value`` is stored as is (JSON primitives and lists of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_value(v) for v in value)
    return False


def _json_depth(value, limit=_MAX_JSON_DEPTH):
    """Whether a decoded JSON value nests at most ``limit`` levels (iteratively, no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _loads_json(text, source, *, allow_nan=False):
    """Decode JSON from an untrusted file; ``ValueError`` naming ``source`` when it is not
    JSON, holds NaN/inf where JSON has none (unless ``allow_nan``), or nests deeper than the
    format does."""
    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(text, parse_constant=float if allow_nan else no_constant)
    except RecursionError:
        raise ValueError(f"{source} nests JSON deeper than this format ever does (more than "
                         f"{_MAX_JSON_DEPTH} levels).") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source} is not readable JSON ({exc}).") from None
    if not _json_depth(value):
        raise ValueError(f"{source} nests JSON deeper than this format ever does (more than "
                         f"{_MAX_JSON_DEPTH} levels).")
    return value


def read_json_file(path, what, *, allow_nan=False, max_bytes=256 << 20):
    """Read a JSON file of a checkpoint (``what`` names it in errors): regular files only, at
    most ``max_bytes``, nesting bounded, NaN/inf constants only with ``allow_nan``."""
    where = os.fspath(path)
    source = f"the {what} {where!r}"
    try:
        info = os.stat(where)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{source} is not a regular file.")
        if info.st_size > max_bytes:
            raise ValueError(f"{source} is {info.st_size} bytes, more than the {max_bytes} this "
                             "file ever needs.")
        with open(where, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"{source} is not readable ({exc.strerror or exc}).") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source} is not readable JSON (not UTF-8: {exc}).") from None
    return _loads_json(text, source, allow_nan=allow_nan)


def _is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def check_checkpoint_history(history, path):
    """Check the decoded ``history.json`` of a checkpoint: a list of epoch rows, each a JSON
    object whose ``epoch`` is its 1-based position, whose ``batches`` is a list of objects of
    scalars, and whose other values are scalars or lists of scalars (as skorch writes them)."""
    source = f"the checkpoint history {os.fspath(path)!r}"
    if not isinstance(history, list):
        raise ValueError(f"{source} must be a list of epoch rows; received "
                         f"{type(history).__name__}.")
    for i, row in enumerate(history):
        where = f"{source}: row {i}"
        if not isinstance(row, dict):
            raise ValueError(f"{where} must be a JSON object; received {type(row).__name__}.")
        epoch = row.get("epoch")
        if not _is_int(epoch, i + 1, i + 1):
            raise ValueError(f"{where} must have epoch={i + 1}; received {epoch!r}.")
        batches = row.get("batches", [])
        if not isinstance(batches, list) or not all(
                isinstance(b, dict) and all(_is_scalar(v) for v in b.values()) for b in batches):
            raise ValueError(f"{where}: batches must be a list of objects of numbers; received "
                             f"{str(batches)[:80]}.")
        for key, value in row.items():
            if key == "batches":
                continue
            if not (_is_scalar(value) or (isinstance(value, list)
                                          and all(_is_scalar(v) for v in value))):
                raise ValueError(f"{where}: {key} must be a number, string, bool or null; "
                                 f"received {str(value)[:80]}.")
            if key.endswith("_loss") and not (value is None or _is_real(value)
                                              or isinstance(value, float)):
                raise ValueError(f"{where}: {key} must be a number; received {value!r}.")
    return history


# ------------------------------------------------------------ parameter rules
def _is_int(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(low, high=_INT_LIMIT):
    return (lambda v: _is_int(v, low, high)), f"an integer from {low} to {high}"


def _real(low=0.0, *, strict=True):
    def rule(v):
        return _is_real(v) and (v > low if strict else v >= low)
    return rule, f"a finite number {'>' if strict else '>='} {low:g}"


def _one_of(*values):
    def rule(v):
        return any(v is x or (type(v) is type(x) and v == x) for x in values)
    return rule, "one of " + ", ".join(map(repr, values))


def _either(*rules):
    return (lambda v: any(rule(v) for rule, _ in rules)), " or ".join(d for _, d in rules)


def _list_of(item, min_len=1, max_len=_MAX_COUNT):
    rule, description = item
    return ((lambda v: isinstance(v, list) and min_len <= len(v) <= max_len
             and all(rule(x) for x in v)),
            f"a list of {min_len} to {max_len} values, each {description}")


def _text(max_len=64):
    return ((lambda v: isinstance(v, str) and 0 < len(v) <= max_len),
            f"a string of 1 to {max_len} characters")


_BOOL = _one_of(True, False)
_NONE = _one_of(None)
_POSITIVE = _real()

#: what save_model writes for ICNetRegressor, with the type and range of each value: the
#: loader refuses any other key (a file cannot set callbacks, torch_load_kwargs, ...)
_ICNET_PARAMS = {
    "audio_fs": _either(_POSITIVE, _one_of("auto")),
    "dt_ms": _either(_POSITIVE, _one_of("auto", None)),
    "lr": _POSITIVE,
    "max_epochs": _int(0),
    "batch_size": _either(_int(1), _one_of(-1)),
    "random_state": _either(_NONE, _int(0, 2 ** 32 - 1)),
    "head": _one_of("poisson", "categorical"),
    "skip_bins": _int(0),
    "precision": _one_of("float32", "bfloat16"),
    "predict_chunk_bins": _int(1),
    "early_stopping_patience": _either(_NONE, _int(1)),
    "distributed": _one_of("auto", True, False),
    "encoder_from": _NONE,
    "freeze_encoder": _BOOL,
    "predict_nonlinearity": _one_of("auto", None),
    "warm_start": _BOOL,
    "verbose": _either(_BOOL, _int(0, 100)),
    "compile": _BOOL,
    "use_caching": _one_of("auto", True, False),
    "module__out_neurons": _either(_int(1, _MAX_SIZE), _list_of(_int(1, _MAX_SIZE))),
    "module__n_filters": _int(1, _MAX_SIZE),
    "module__sincnet_kernel_size": _int(1, _MAX_KERNEL),
    "module__encoder_channels": _int(1, _MAX_SIZE),
    "module__encoder_kernel_size": _int(1, _MAX_SIZE),
    "module__n_encoder_layers": _int(1, _MAX_COUNT),
    "module__bottleneck_channels": _int(1, _MAX_SIZE),
    "module__encoder_strides": _either(_NONE, _list_of(_int(1, _MAX_SIZE))),
    "module__sincnet_min_low_hz": _real(0.0, strict=False),
    "module__sincnet_min_band_hz": _real(0.0, strict=False),
    "module__n_classes": _either(_NONE, _int(2, _MAX_COUNT)),
    "module__time_input": _BOOL,
    "module__time_scale_s": _POSITIVE,
    # parameters of ICNet variants (the published models' layout): types here, values by ICNet
    "module__padding": _either(_text(), _list_of(_text())),
    "module__sincnet_style": _text(),
    "module__sincnet_stride": _int(1, _MAX_SIZE),
    "module__input_scale": _real(-math.inf),
    "module__context_samples": _int(0, _MAX_SIZE),
    "module__crop_bins": _either(_NONE, _int(0, _MAX_SIZE)),
    "module__time_layer": _text(),
    "module__time_combine": _text(),
    "module__window_samples": _either(_NONE, _int(1, 2 ** 40)),
    "criterion__eps": _POSITIVE,
    "criterion__full": _BOOL,
}

_STRF_COMMON = {
    "audio_fs": _either(_POSITIVE, _one_of("auto")),
    "dt_ms": _either(_NONE, _POSITIVE, _one_of("auto")),
    "n_bands": _int(1, _MAX_SIZE),
    "fmin": _POSITIVE,
    "fmax": _either(_NONE, _POSITIVE),
    "win_ms": _POSITIVE,
    "lags_ms": _either(_NONE, _POSITIVE),
    "n_lags": _either(_NONE, _int(1, _MAX_SIZE)),
}
_STRF_PARAMS = {
    "LinearSTRFRegressor": {**_STRF_COMMON,
                            "alphas": _either(_NONE, _POSITIVE, _list_of(_POSITIVE, 1, _MAX_SIZE)),
                            "alpha_per_neuron": _BOOL, "cv": _int(2), "fit_intercept": _BOOL},
    "PoissonSTRFRegressor": {**_STRF_COMMON, "alpha": _real(0.0, strict=False),
                             "max_iter": _int(1), "tol": _POSITIVE},
}


def _rules_for(name):
    return _ICNET_PARAMS if name == "ICNetRegressor" else _STRF_PARAMS[name]


def _stored_params(est, rules):
    """The parameters save_model writes: the allow-listed ones, checked as the loader checks
    them; others only when at their default (nothing to store) or training-only."""
    name = type(est).__name__
    defaults = type(est)().get_params(deep=False)
    params = {}
    for key, value in est.get_params(deep=False).items():
        if key in _NOT_STORED or key.startswith(_NOT_STORED_PREFIXES):
            continue
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.generic):
            value = value.item()
        if key not in rules:
            if key in defaults and _same_default(value, defaults[key]):
                continue
            raise TypeError(f"save_model cannot store parameter {key}={value!r}: model files "
                            f"hold the parameters {sorted(rules)} of {name}.")
        rule, description = rules[key]
        if not _json_value(value) or not rule(value):
            raise TypeError(f"save_model cannot store parameter {key}={value!r}: a model file "
                            f"holds {description} there.")
        params[key] = value
    return params


def _same_default(value, default):
    try:
        return bool(value is default or value == default)
    except Exception:  # arrays and odd objects: not a default
        return False


def _check_params(name, params, where):
    """Refuse any key save_model does not write, and any value of the wrong type or range."""
    rules = _rules_for(name)
    if not isinstance(params, dict):
        raise ValueError(f"the model file {where!r} has a damaged header: params must be a JSON "
                         f"object; received {type(params).__name__}.")
    unknown = sorted(key for key in params if key not in rules)
    if unknown:
        raise ValueError(f"the model file {where!r} has unknown {name} parameters {unknown}: a "
                         "model file holds only the parameters save_model writes (nothing that "
                         "configures loading, callbacks or training objects).")
    for key, value in params.items():
        rule, description = rules[key]
        if not rule(value):
            raise ValueError(f"the model file {where!r}: parameter {key} must be {description}; "
                             f"received {value!r}.")
    return params


# ------------------------------------------------------------ provenance
def _history_summary(est):
    """Validation scores from a skorch history: epochs and the best losses."""
    history = getattr(est, "history_", None)
    if history is None or not len(history):
        return None
    rows = [row for row in history if isinstance(row, dict)]
    summary = {"epochs": len(rows)}
    for key in ("valid_loss", "train_loss"):
        scored = [(float(row[key]), row.get("epoch")) for row in rows
                  if isinstance(row.get(key), (int, float)) and math.isfinite(float(row[key]))]
        if scored:
            best, epoch = min(scored, key=lambda pair: pair[0])
            summary[f"best_{key}"], summary[f"best_{key}_epoch"] = best, epoch
            summary[f"last_{key}"] = scored[-1][0]
    return summary


def _provenance(est):
    from . import __version__

    summary = getattr(est, "training_summary_", None)
    if summary is not None:
        try:
            summary = json.loads(json.dumps(summary, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"save_model stores training_summary_ as JSON; this estimator's is not "
                            f"JSON-serialisable ({exc}).") from None
    return {"sk_icnet_version": __version__, "validation": _history_summary(est),
            "training_summary": summary}


# ------------------------------------------------------------ saving
def _icnet_payload(est):
    from .estimator import _FITTED_METADATA
    from .losses import CategoricalCountLoss, PoissonLoss
    from .model import ICNet

    if type(est.module_) is not ICNet:  # subclasses may hold state this format does not store
        raise TypeError("save_model stores ICNet modules; this estimator's module_ is "
                        f"{type(est.module_).__name__}: use save_params for other modules.")
    if est.criterion not in (PoissonLoss, CategoricalCountLoss):
        raise TypeError("save_model stores the Poisson and categorical criteria; received "
                        f"criterion={est.criterion!r}.")
    params = _stored_params(est, _ICNET_PARAMS)
    fitted = {key: getattr(est, key) for key in _FITTED_METADATA if hasattr(est, key)}
    tensors = {f"module.{k}": v.detach().to("cpu").contiguous()
               for k, v in est.module_.state_dict().items()}
    return params, fitted, tensors


def _strf_payload(est):
    params = _stored_params(est, _STRF_PARAMS[type(est).__name__])
    fitted, tensors = {}, {}
    keys = _STRF_FITTED[type(est).__name__] + tuple(k for k in _STRF_OPTIONAL if hasattr(est, k))
    for key in keys:
        value = getattr(est, key)
        if isinstance(value, np.ndarray):
            tensors[f"attr.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            fitted[key] = value.item() if isinstance(value, np.generic) else value
    return params, fitted, tensors


def _refuse_unless_model_file(path):
    """Raise ``ValueError`` unless ``path`` is an sk_icnet model file (which save_model may
    replace with ``overwrite=True``)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ValueError(f"path {path!r} is {kind}; save_model replaces only sk_icnet model files. "
                         "Choose another path.")
    try:
        metadata = _open_model(path)[0]
        ours = metadata.get("format") == MODEL_FORMAT
    except ValueError:
        ours = False
    if not ours:
        raise ValueError(f"path {path!r} exists and is not an sk_icnet model file; save_model "
                         "replaces only sk_icnet model files, even with overwrite=True. Choose "
                         "another path (or remove that file yourself).")


def save_model(est, path, *, overwrite=False):
    """Write a fitted estimator to one safetensors file (see the module docstring).

    Parameters
    ----------
    est : ICNetRegressor, LinearSTRFRegressor or PoissonSTRFRegressor
        A fitted estimator.
    path : str or path-like
    overwrite : bool, default=False
        Replace an existing file at ``path``; only an sk_icnet model file is
        ever replaced (anything else raises ``ValueError``), and it keeps its
        permissions.

    Notes
    -----
    The file is written under a temporary name in ``path``'s directory and
    published when complete (:func:`atomic_path`): without ``overwrite``, a
    file that another process created at ``path`` meanwhile is never replaced.
    The header also records the provenance, readable with
    :func:`read_model_info`: the sk_icnet version, the validation scores of
    the fit's history, and the estimator's ``training_summary_`` if it has one.
    """
    from safetensors.torch import save_file
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False; received {overwrite!r}.")
    name = type(est).__name__
    if name == "ICNetRegressor":
        check_is_fitted(est, ["module_", "samples_per_bin_"])
        params, fitted, tensors = _icnet_payload(est)
    elif name in _STRF_FITTED:
        check_is_fitted(est, ["coef_"])
        params, fitted, tensors = _strf_payload(est)
    else:
        raise TypeError(f"save_model stores ICNetRegressor and the STRF baselines; received {name}.")
    header = {"estimator": name, "params": params, "fitted": fitted,
              "provenance": _provenance(est)}
    metadata = {"format": MODEL_FORMAT, "format_version": str(MODEL_FORMAT_VERSION),
                "sk_icnet_version": __version__, "header": json.dumps(header, allow_nan=False)}
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path):
        if not overwrite:
            raise ValueError(f"path {path!r} exists; pass overwrite=True to replace it.")
        _refuse_unless_model_file(path)
    try:
        with atomic_path(path, ".safetensors", overwrite=bool(overwrite),
                         replaceable=_refuse_unless_model_file) as tmp:
            save_file(tensors, tmp, metadata=metadata)
    except FileExistsError:
        raise ValueError(f"path {path!r} appeared while the model was being written (another "
                         "process?); it was left as it is and nothing was written. Pass "
                         "overwrite=True to replace it.") from None


# ------------------------------------------------------------ reading
def _open_model(path):
    """``(metadata, tensor shapes and dtypes)`` of a safetensors file, without its tensors."""
    from safetensors import SafetensorError, safe_open

    where = os.fspath(path)
    try:
        info = os.stat(where)
    except OSError as exc:
        raise ValueError(f"path {where!r} is not a readable sk_icnet model file "
                         f"({exc.strerror or exc}).") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise ValueError(f"path {where!r} is not a readable sk_icnet model file (not a regular "
                         "file).")
    try:
        with safe_open(where, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            layout = {}
            for key in f.keys():
                piece = f.get_slice(key)
                layout[key] = (tuple(int(n) for n in piece.get_shape()), str(piece.get_dtype()))
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise ValueError(f"path {where!r} is not a readable sk_icnet model file ({exc}).") from None
    return metadata, layout


def _load_tensors(path, layout):
    """The tensors of a model file whose layout was checked; re-checked against it."""
    from safetensors import SafetensorError, safe_open

    where = os.fspath(path)
    try:
        with safe_open(where, framework="pt", device="cpu") as f:
            if set(f.keys()) != set(layout):
                raise ValueError("its tensors changed while it was read")
            tensors = {key: f.get_tensor(key) for key in layout}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise ValueError(f"path {where!r} is not a readable sk_icnet model file ({exc}).") from None
    for key, value in tensors.items():
        if tuple(value.shape) != layout[key][0]:
            raise ValueError(f"path {where!r} changed while it was read (tensor {key}).")
    return tensors


def _read_header(path):
    """``(header, metadata, layout)`` of an sk_icnet model file, validated as far as the file
    alone allows (format, version, header structure); no tensor is read."""
    where = os.fspath(path)
    metadata, layout = _open_model(path)
    if metadata.get("format") != MODEL_FORMAT:
        raise ValueError(f"path {where!r} is not an sk_icnet model file: its format is "
                         f"{metadata.get('format')!r}, expected {MODEL_FORMAT!r}.")
    raw = metadata.get("format_version")
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"the model file {where!r} has format_version={raw!r}; a model file's "
                         f"format_version is a whole number from 1 to {MODEL_FORMAT_VERSION} "
                         "written as text, so this file is damaged or not written by sk_icnet.")
    version = int(raw)
    if version > MODEL_FORMAT_VERSION:
        raise ValueError(f"the model file {where!r} has format_version={version}, newer than this "
                         f"sk_icnet reads ({MODEL_FORMAT_VERSION}); it was written by sk_icnet "
                         f"{metadata.get('sk_icnet_version')}: upgrade sk_icnet.")
    if "header" not in metadata:
        raise ValueError(f"the model file {where!r} has a damaged header: no 'header' entry.")
    header = _loads_json(metadata["header"], f"the header of the model file {where!r}")
    if not isinstance(header, dict) or not {"estimator", "params", "fitted"} <= set(header):
        raise ValueError(f"the model file {where!r} has a damaged header: it must be a JSON object "
                         "with the keys 'estimator', 'params' and 'fitted'; received "
                         f"{sorted(header) if isinstance(header, dict) else type(header).__name__}.")
    unknown = sorted(set(header) - {"estimator", "params", "fitted", "provenance"})
    if unknown:
        raise ValueError(f"the model file {where!r} has unknown header keys {unknown}.")
    if not isinstance(header["estimator"], str):
        raise ValueError(f"the model file {where!r} has a damaged header: estimator must be a class "
                         f"name; received {header['estimator']!r}.")
    for key in ("params", "fitted"):
        if not isinstance(header[key], dict):
            raise ValueError(f"the model file {where!r} has a damaged header: {key} must be a JSON "
                             f"object; received {type(header[key]).__name__}.")
    _check_provenance(header.get("provenance"), where)
    return header, metadata, layout


def _check_provenance(provenance, where):
    if provenance is None:
        return
    if not isinstance(provenance, dict):
        raise ValueError(f"the model file {where!r}: provenance must be a JSON object; received "
                         f"{type(provenance).__name__}.")
    for key in ("validation", "training_summary"):
        value = provenance.get(key)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"the model file {where!r}: provenance {key} must be a JSON object or "
                             f"null; received {type(value).__name__}.")


def read_model_info(path):
    """What a model file holds, read from its header alone (no weights are loaded).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.

    Returns
    -------
    dict
        ``estimator`` (class name), ``format_version``, ``sk_icnet_version``
        (of the writer), ``params`` and ``fitted`` (as stored), ``tensors``
        (name -> ``{"shape", "dtype"}``), ``validation`` (the fit's epochs and
        best and last ``valid_loss``/``train_loss`` with their epochs; ``None``
        for models without a training history, e.g. the STRFs, or files written
        before sk_icnet recorded it) and ``training_summary`` (the estimator's
        ``training_summary_`` when it had one, else ``None``).
    """
    header, metadata, layout = _read_header(path)
    provenance = header.get("provenance") or {}
    return {"estimator": header["estimator"], "format_version": int(metadata["format_version"]),
            "sk_icnet_version": metadata.get("sk_icnet_version"), "params": header["params"],
            "fitted": header["fitted"],
            "tensors": {k: {"shape": list(shape), "dtype": dtype}
                        for k, (shape, dtype) in sorted(layout.items())},
            "validation": provenance.get("validation"),
            "training_summary": provenance.get("training_summary")}


_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def _check_rates(audio_fs, dt_ms, spb, source):
    """``audio_fs * dt_ms / 1000`` must be the recorded samples per bin (a file whose rate was
    changed alone would predict on another bin grid)."""
    from ._validation import samples_per_bin

    try:
        implied = samples_per_bin(audio_fs, dt_ms)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{source}: its rates audio_fs_={audio_fs!r} and dt_ms_={dt_ms!r} do not "
                         f"give a whole number of samples per bin ({exc})") from None
    if implied != spb:
        raise ValueError(f"{source}: audio_fs_={audio_fs!r} Hz and dt_ms_={dt_ms!r} ms give "
                         f"{implied} samples per bin, but samples_per_bin_={spb}; the rates or the "
                         "bin size were changed, and the model would predict on another bin grid.")
    if spb > _MAX_SIZE:
        raise ValueError(f"{source}: samples_per_bin_={spb} is more than {_MAX_SIZE}.")


def check_fitted_rates(meta, source):
    """Cross-check the rates and sizes in a model file's or checkpoint's fitted attributes
    (already type-checked by ``check_fitted_metadata``); ``source`` names the file."""
    spb = meta["samples_per_bin_"]
    if "audio_fs_" in meta or "dt_ms_" in meta:
        if not {"audio_fs_", "dt_ms_"} <= set(meta):
            raise ValueError(f"{source} records only one of audio_fs_ and dt_ms_; both are needed.")
        _check_rates(meta["audio_fs_"], meta["dt_ms_"], spb, source)
    if meta["n_features_in_"] % spb:
        raise ValueError(f"{source}: n_features_in_={meta['n_features_in_']} is not a whole number "
                         f"of bins of samples_per_bin_={spb} samples.")
    if meta["y_ndim_"] < 3 and meta["n_neurons_"] != 1:
        raise ValueError(f"{source}: y_ndim_={meta['y_ndim_']} means one neuron, but n_neurons_="
                         f"{meta['n_neurons_']}.")
    return meta


def _check_icnet_params_against_fitted(params, fitted, where):
    for name in ("audio_fs", "dt_ms"):
        value = params.get(name)
        if _is_real(value) and not math.isclose(value, fitted[name + "_"], rel_tol=1e-9):
            raise ValueError(f"the model file {where!r}: the parameter {name}={value!r} differs "
                             f"from the fitted {name}_={fitted[name + '_']!r}.")


def _check_architecture_bounds(params, fitted, layout, where):
    """Integers that size the network must fit in what the file stores (cheap, before any
    building): each size at most the largest stored dimension, the layers at most the tensors."""
    largest = max((max(shape, default=1) for shape, _ in layout.values()), default=0)
    sizes = {key: params[key] for key in ("module__n_filters", "module__encoder_channels",
                                          "module__encoder_kernel_size",
                                          "module__bottleneck_channels") if key in params}
    sizes["n_neurons_"] = fitted["n_neurons_"]
    for key, value in sizes.items():
        if value > largest:
            raise ValueError(f"the model file {where!r}: {key}={value} is larger than every "
                             f"dimension of the tensors it stores (at most {largest}); the header "
                             "does not describe these weights.")
    layers = params.get("module__n_encoder_layers", 0)
    if layers > len(layout):
        raise ValueError(f"the model file {where!r}: module__n_encoder_layers={layers} is more than "
                         f"the {len(layout)} tensors it stores; the header does not describe these "
                         "weights.")


def _expected_layout(est, where):
    """Names and shapes of the network the header describes, built on the meta device (no
    memory is allocated for weights)."""
    try:
        with est._current_init_context("module"), torch.device("meta"):
            est.initialize_module()
            module = est.module_
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the model file {where!r} describes a network that cannot be built "
                         f"({exc})") from None
    shapes = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    return module, shapes


def _load_icnet(cls, header, layout, path, device):
    from .estimator import _FITTED_METADATA

    where = os.fspath(path)
    params = _check_params(cls.__name__, header["params"], where)
    fitted = check_fitted_metadata(header["fitted"], _FITTED_METADATA, f"the model file {where!r}")
    check_fitted_rates(fitted, f"the model file {where!r}")
    if "audio_fs_" not in fitted:
        raise ValueError(f"the model file {where!r} does not record audio_fs_ and dt_ms_.")
    _check_icnet_params_against_fitted(params, fitted, where)
    stored = {key[len("module."):]: value for key, value in layout.items()}
    if any(not key.startswith("module.") for key in layout):
        raise ValueError(f"the model file {where!r} has tensors outside the module: "
                         f"{sorted(k for k in layout if not k.startswith('module.'))}.")
    _check_architecture_bounds(params, fitted, layout, where)
    est = cls(**params, device=device)
    est._check_options()
    for key, value in fitted.items():
        setattr(est, key, value)
    module, expected = _expected_layout(est, where)
    _check_state(expected, {key: shape for key, (shape, _) in stored.items()}, where)
    if module.samples_per_bin != fitted["samples_per_bin_"] or not math.isclose(
            module.audio_fs, fitted["audio_fs_"], rel_tol=1e-9):
        raise ValueError(f"the model file {where!r}: the network built from it runs at "
                         f"{module.audio_fs!r} Hz with {module.samples_per_bin} samples per bin, but "
                         f"it was fitted at {fitted['audio_fs_']!r} Hz with "
                         f"{fitted['samples_per_bin_']}.")
    not_float = sorted(key for key, (_, dtype) in stored.items() if dtype not in _FLOAT_DTYPES)
    if not_float:
        raise ValueError(f"the model file {where!r}: weights {not_float} are not floating point.")
    tensors = _load_tensors(path, layout)
    state = {key[len("module."):]: value for key, value in tensors.items()}
    bad = sorted(key for key, value in state.items() if not torch.isfinite(value).all())
    if bad:
        raise ValueError(f"the model file {where!r}: weights {bad} hold NaN or infinite values.")
    est.initialize()
    est.module_.load_state_dict(state)
    return est


def _load_strf(cls, header, layout, path):
    name = cls.__name__
    where = os.fspath(path)
    params = _check_params(name, header["params"], where)
    allowed = _STRF_FITTED[name]
    fitted_keys = set(header["fitted"])
    if any(not key.startswith("attr.") for key in layout):
        raise ValueError(f"the model file {where!r} has tensors other than fitted attributes: "
                         f"{sorted(k for k in layout if not k.startswith('attr.'))}.")
    arrays = {key[len("attr."):]: spec for key, spec in layout.items()}
    stored = fitted_keys | set(arrays)
    unknown = sorted(stored - set(allowed) - set(_STRF_OPTIONAL))
    missing = sorted(set(allowed) - stored)
    twice = sorted(fitted_keys & set(arrays))
    if unknown or missing or twice:
        raise ValueError(f"the model file {where!r} does not hold a fitted {name}: unknown "
                         f"attributes {unknown}, missing {missing}, stored twice {twice}.")
    fitted = header["fitted"]
    scalar_rules = {"samples_per_bin_": _int(1, _MAX_SIZE), "dt_ms_": _POSITIVE, "audio_fs_": _POSITIVE,
                    "n_features_in_": _int(1, 2 ** 62), "n_neurons_": _int(1, _MAX_SIZE),
                    "y_ndim_": _int(1, 3), "n_lags_": _int(1, _MAX_SIZE)}
    for key, value in fitted.items():
        rule, description = scalar_rules.get(key, (lambda v: False, "an array (stored as a tensor)"))
        if not rule(value):
            raise ValueError(f"the model file {where!r}: {key} must be {description}; received "
                             f"{value!r}.")
    n, n_lags, n_bands = fitted["n_neurons_"], fitted["n_lags_"], params.get("n_bands", 32)
    shapes = {"coef_": (n, n_bands, n_lags), "intercept_": (n,), "lags_ms_": (n_lags,),
              "band_frequencies_hz_": (n_bands,), "feature_mean_": (n_bands,),
              "response_mean_": (n,), "alpha_": (n,), "n_iter_": (n,)}
    for key, (shape, dtype) in arrays.items():
        if shape != shapes[key]:
            raise ValueError(f"the model file {where!r}: {key} has shape {shape}, but n_neurons_={n},"
                             f" n_bands={n_bands} and n_lags_={n_lags} need {shapes[key]}.")
        kinds = {"I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64"} if key == "n_iter_" \
            else _FLOAT_DTYPES
        if dtype not in kinds:
            raise ValueError(f"the model file {where!r}: {key} has dtype {dtype}; expected one of "
                             f"{sorted(kinds)}.")
    source = f"the model file {where!r}"
    param_fs = params.get("audio_fs", 24414.0625)
    audio_fs = fitted.get("audio_fs_", 24414.0625 if param_fs == "auto" else param_fs)
    if _is_real(param_fs) and not math.isclose(param_fs, audio_fs, rel_tol=1e-9):
        raise ValueError(f"{source}: the parameter audio_fs={param_fs!r} differs from the fitted "
                         f"audio_fs_={audio_fs!r}.")
    _check_rates(audio_fs, fitted["dt_ms_"], fitted["samples_per_bin_"], source)
    dt_ms = params.get("dt_ms", 1.31072)
    if _is_real(dt_ms) and not math.isclose(dt_ms, fitted["dt_ms_"], rel_tol=1e-9):
        raise ValueError(f"{source}: the parameter dt_ms={dt_ms!r} differs from the fitted "
                         f"dt_ms_={fitted['dt_ms_']!r}.")
    if fitted["n_features_in_"] % fitted["samples_per_bin_"]:
        raise ValueError(f"{source}: n_features_in_={fitted['n_features_in_']} is not a whole "
                         f"number of bins of {fitted['samples_per_bin_']} samples.")
    if fitted["y_ndim_"] < 3 and n != 1:
        raise ValueError(f"{source}: y_ndim_={fitted['y_ndim_']} means one neuron, but "
                         f"n_neurons_={n}.")
    window = params.get("win_ms", 20.0) * audio_fs / 1000.0
    if window > _MAX_SIZE:
        raise ValueError(f"{source}: win_ms={params.get('win_ms')!r} is a window of {window:.4g} "
                         f"samples, more than {_MAX_SIZE}.")
    est = cls(**params)
    try:
        lags = est._n_lags(fitted["dt_ms_"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from None
    if lags != n_lags:
        raise ValueError(f"{source}: its parameters give {lags} lags (n_lags={est.n_lags!r}, "
                         f"lags_ms={est.lags_ms!r}), but n_lags_={n_lags}.")
    for key, value in fitted.items():
        setattr(est, key, value)
    for key, value in _load_tensors(path, layout).items():
        array = value.numpy()
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"{source}: {key[len('attr.'):]} holds NaN or infinite values.")
        setattr(est, key[len("attr."):], array)
    if not np.allclose(est.lags_ms_, np.arange(n_lags) * est.dt_ms_, rtol=1e-9, atol=1e-12):
        raise ValueError(f"{source}: lags_ms_ are not the multiples of dt_ms_={est.dt_ms_!r} that "
                         "the STRF uses.")
    _check_strf_bands(est, audio_fs, source)
    return est


def _check_strf_bands(est, audio_fs, source):
    """The stored band centres must be those the parameters give (the spectrogram of ``predict``
    is recomputed from the parameters)."""
    from .model import hz_to_mel, mel_to_hz

    fmax = est.fmax if est.fmax is not None else audio_fs / 2.0
    if not est.fmin < fmax <= audio_fs / 2.0:
        raise ValueError(f"{source}: fmin={est.fmin!r} < fmax={fmax!r} <= audio_fs / 2 = "
                         f"{audio_fs / 2.0!r} does not hold.")
    n_bands = est.band_frequencies_hz_.shape[0]
    centres = mel_to_hz(np.linspace(hz_to_mel(est.fmin), hz_to_mel(fmax), n_bands + 2))[1:-1]
    if not np.allclose(centres, est.band_frequencies_hz_, rtol=1e-6):
        raise ValueError(f"{source}: band_frequencies_hz_ are not the mel bands that fmin="
                         f"{est.fmin!r}, fmax={fmax!r} and n_bands={n_bands} give.")


def _a(name):
    """``name`` with its indefinite article ("an ICNetRegressor", "a LinearSTRFRegressor")."""
    return f"{'an' if name[:1].upper() in 'AEIOU' else 'a'} {name}"


def load_model(path, expected=None, *, device="cpu"):
    """Read a model file written by :func:`save_model`; returns the fitted estimator.

    Parameters
    ----------
    path : str or path-like
    expected : type, optional
        The estimator class the file must hold.
    device : str, default="cpu"
        Where an ICNet is placed (a model fitted on a GPU loads on a CPU).

    Raises
    ------
    ValueError
        Naming the file, the rule and what it holds, for anything but a model
        file as :func:`save_model` writes it: another format or a newer
        version, a parameter save_model does not write or of the wrong type,
        rates that disagree with the samples per bin, a network that does not
        match the stored tensors (checked from the tensors' shapes before the
        network is built, so a small file cannot make the loader allocate much),
        non-finite weights or arrays of the wrong shape.
    """
    from .estimator import ICNetRegressor
    from .strf import LinearSTRFRegressor, PoissonSTRFRegressor

    where = os.fspath(path)
    header, _, layout = _read_header(path)
    classes = {c.__name__: c for c in (ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor)}
    name = header["estimator"]
    if name not in classes:
        raise ValueError(f"the model file {where!r} holds an unknown estimator {name!r}.")
    cls = classes[name]
    if expected is not None and cls is not expected:
        raise ValueError(f"the model file {where!r} holds {_a(name)}, not {_a(expected.__name__)}; load "
                         f"it with {name}.load_model.")
    if cls is ICNetRegressor:
        est = _load_icnet(cls, header, layout, path, device)
    else:
        est = _load_strf(cls, header, layout, path)
    summary = (header.get("provenance") or {}).get("training_summary")
    if summary is not None:
        est.training_summary_ = summary
    return est


def _check_state(expected, stored, where):
    """Compare the names and shapes of the built network's state with the stored tensors'."""
    unknown = sorted(set(stored) - set(expected))
    missing = sorted(set(expected) - set(stored))
    if unknown or missing:
        raise ValueError(f"the model file {where!r} does not match the network its parameters "
                         f"build: unknown weights {unknown}, missing {missing}.")
    for key, shape in expected.items():
        if tuple(stored[key]) != tuple(shape):
            raise ValueError(f"the model file {where!r}: weight {key} has shape "
                             f"{tuple(stored[key])}, but the network built from its parameters "
                             f"has {tuple(shape)}.")


# ------------------------------------------------------------------------ NWB
_PASCAL_UNITS = {"pa", "pascal", "pascals"}


def _require_pynwb():
    try:
        import pynwb
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("read_nwb/write_nwb need pynwb: pip install 'sk_icnet[nwb]'.") from exc
    return pynwb


def _nwb_sound(nwb, stimulus, where):
    """The acoustic waveform TimeSeries (by name, or the only one), or None."""
    series = {name: ts for name, ts in nwb.stimulus.items() if hasattr(ts, "rate")}
    if stimulus is not None:
        if stimulus not in series:
            raise ValueError(f"{where!r} has no stimulus TimeSeries named {stimulus!r}; it has "
                             f"{sorted(series)}.")
        return series[stimulus]
    if len(series) > 1:
        raise ValueError(f"{where!r} has several stimulus TimeSeries {sorted(series)}: pass "
                         "stimulus=<name>.")
    return next(iter(series.values()), None)


def _sound_from_trials(nwb, where, audio_fs, sound_column, sound_dir, level_column, scale):
    """A continuous waveform at ``audio_fs`` with each trial's sound file at its onset."""
    from .audio import load_audio, set_level

    if nwb.trials is None or sound_column not in nwb.trials.colnames:
        raise ValueError(f"{where!r} has neither a stimulus TimeSeries nor a trials table with a "
                         f"{sound_column!r} column naming the sound file of each trial.")
    trials = nwb.trials.to_dataframe()
    if audio_fs is None:
        raise ValueError("audio_fs is needed to assemble sounds from files (their rates differ).")
    pieces = []
    for i, row in trials.iterrows():
        path = os.path.join(sound_dir, str(row[sound_column]))
        x = load_audio(path, audio_fs, scale=scale)
        if level_column is not None and level_column in trials.columns:
            x = set_level(x, float(row[level_column]))
        start = int(round(float(row["start_time"]) * audio_fs))
        if start < 0:
            raise ValueError(f"trial {i} of {where!r} starts before the session ({row['start_time']}"
                             " s).")
        pieces.append((start, x))
    n = max(start + len(x) for start, x in pieces)
    audio = np.zeros(n, np.float32)
    for start, x in pieces:
        audio[start: start + len(x)] += x
    return audio, 0.0


def read_nwb(path, *, audio_fs=24414.0625, dt_ms=1.31072, stimulus=None, name=None,
             sound_column="sound_file", sound_dir=None, level_column="level_db_spl", scale=1.0):
    """Read one NWB session as a :class:`~sk_icnet.data.Recording`.

    The sound comes from either layout:

    * an acoustic waveform ``TimeSeries`` in the file's stimulus group, in
      pascals (``unit`` "Pa"; its ``conversion`` is applied), at its own rate;
    * a trials table whose ``sound_column`` names the sound file played at each
      trial's ``start_time`` (relative to ``sound_dir``, by default the NWB
      file's folder); the optional ``level_column`` sets each sound's level in
      dB SPL, otherwise ``scale`` (pascals per full-scale unit) calibrates it.

    The waveform is resampled to ``audio_fs``. Spike times come from the Units
    table, relative to the sound's first sample; spikes outside the sound are
    dropped with a warning that counts them. The other Units columns (e.g.
    characteristic frequency, electrode) become the recording's ``neurons``.

    Parameters
    ----------
    path : str or path-like
    audio_fs, dt_ms : float
        The recording's rates (the paper's by default); ``audio_fs=None`` keeps
        the stimulus TimeSeries' rate.
    stimulus : str, optional
        Name of the waveform TimeSeries when the file has several.
    name : str, optional
        The recording's name (default: the file's ``identifier``).

    Returns
    -------
    Recording
    """
    import warnings

    from .audio import resample
    from .data import Recording

    pynwb = _require_pynwb()
    where = os.fspath(path)
    try:
        io = pynwb.NWBHDF5IO(where, mode="r")
        nwb = io.read()
    except Exception as exc:
        raise ValueError(f"path {where!r} is not a readable NWB file ({type(exc).__name__}: {exc})."
                         ) from None
    try:
        sound = _nwb_sound(nwb, stimulus, where)
        if sound is not None:
            if str(sound.unit).lower() not in _PASCAL_UNITS:
                raise ValueError(f"the stimulus {sound.name!r} of {where!r} is in {sound.unit!r}; "
                                 "ICNet needs pascals (unit 'Pa').")
            data = np.asarray(sound.data[:], dtype=np.float64) * float(sound.conversion)
            if data.ndim == 2 and data.shape[1] == 1:
                data = data[:, 0]
            if data.ndim != 1:
                raise ValueError(f"the stimulus {sound.name!r} of {where!r} must be one waveform; "
                                 f"received shape {data.shape}.")
            t0 = float(sound.starting_time or 0.0)
            fs = audio_fs if audio_fs is not None else float(sound.rate)
            audio = resample(data, float(sound.rate), fs).astype(np.float32)
        else:
            audio, t0 = _sound_from_trials(nwb, where, audio_fs, sound_column,
                                           sound_dir or os.path.dirname(os.path.abspath(where)),
                                           level_column, scale)
            fs = audio_fs
        if nwb.units is None or len(nwb.units) == 0:
            raise ValueError(f"{where!r} has no units (spike times) to model.")
        units = nwb.units.to_dataframe()
        from ._validation import samples_per_bin

        n_bins = len(audio) // samples_per_bin(fs, dt_ms)
        duration = n_bins * dt_ms / 1000.0
        trains, dropped = [], 0
        for times in units["spike_times"]:
            rel = np.asarray(times, dtype=np.float64) - t0
            keep = (rel >= 0) & (rel < duration)
            dropped += int((~keep).sum())
            trains.append(rel[keep])
        if dropped:
            warnings.warn(f"{dropped} spike(s) of {where!r} fall outside the sound (0 to "
                          f"{duration:.6g} s from its start) and were dropped.", UserWarning,
                          stacklevel=2)
        columns = [c for c in units.columns if c not in ("spike_times", "obs_intervals")
                   and not c.endswith("_index")]
        neurons = units[columns].reset_index().rename(columns={"id": "unit_id"})
        missing = None
        if "obs_intervals" in units.columns:  # bins whose centre no interval covers
            centres = t0 + (np.arange(n_bins) + 0.5) * dt_ms / 1000.0
            missing = np.ones((len(units), n_bins), bool)
            for i, intervals in enumerate(units["obs_intervals"]):
                for start, stop in np.asarray(intervals, dtype=np.float64).reshape(-1, 2):
                    missing[i, (centres >= start) & (centres < stop)] = False
            missing = missing if missing.any() else None
        return Recording(audio, spike_times=trains, audio_fs=fs, dt_ms=dt_ms,
                         name=name or str(nwb.identifier), start_s=t0, neurons=neurons,
                         missing=missing)
    finally:
        io.close()


def write_nwb(recording, path, *, predictions=None, identifier=None, session_start_time=None,
              overwrite=False):
    """Write a :class:`~sk_icnet.data.Recording` (and optionally predictions) to an NWB file.

    The waveform becomes the stimulus TimeSeries ``"sound"`` (pascals), the
    counts become spike times in the Units table (a bin's spikes at its
    centre: the exact times within a bin are not kept), missing bins become
    each unit's ``obs_intervals``, and the ``neurons`` columns become Units
    columns. ``predictions`` (``(n_neurons, n_bins)`` rates, e.g.
    ``est.predict(recording)``) are stored as the TimeSeries
    ``"predicted_rates"`` in the processing module ``"sk_icnet"``. The file is
    written under a temporary name and renamed into place.
    """
    import datetime

    pynwb = _require_pynwb()
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"path {path!r} exists; pass overwrite=True to replace it.")
    rec = recording
    dt_s = rec.dt_ms / 1000.0
    nwb = pynwb.NWBFile(
        session_description=f"sk_icnet recording {rec.name!r}",
        identifier=identifier or rec.name,
        session_start_time=session_start_time or datetime.datetime.now(datetime.timezone.utc))
    audio = np.asarray(rec.audio[:], dtype=np.float32)
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=audio, unit="Pa", rate=rec.audio_fs,
                                      starting_time=rec.start_s,
                                      description="sound pressure waveform"))
    columns = [c for c in rec.neurons.columns if c != "unit_id"]  # unit_id: the table's ids
    for column in columns:
        nwb.add_unit_column(name=str(column), description=f"neuron metadata: {column}")
    counts = np.asarray(rec.counts[:])
    missing = None if rec.missing is None else np.asarray(rec.missing[:])
    centres = rec.start_s + (np.arange(rec.n_bins) + 0.5) * dt_s
    for i in range(rec.n_neurons):
        extra = {str(c): rec.neurons[c].iloc[i] for c in columns}  # per column: dtypes kept
        extra = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in extra.items()}
        if "unit_id" in rec.neurons.columns:
            extra["id"] = int(rec.neurons["unit_id"].iloc[i])
        if missing is not None:
            observed = ~missing[min(i, missing.shape[0] - 1)]
            edges = np.flatnonzero(np.diff(np.concatenate([[0], observed.astype(int), [0]])))
            extra["obs_intervals"] = [[rec.start_s + a * dt_s, rec.start_s + b * dt_s]
                                      for a, b in zip(edges[::2], edges[1::2], strict=True)]
        nwb.add_unit(spike_times=np.repeat(centres, counts[i]), **extra)
    if predictions is not None:
        pred = np.asarray(predictions, dtype=np.float32)
        if pred.shape != (rec.n_neurons, rec.n_bins):
            raise ValueError(f"predictions must have shape (n_neurons, n_bins) = "
                             f"({rec.n_neurons}, {rec.n_bins}); received {pred.shape}.")
        module = nwb.create_processing_module("sk_icnet", "ICNet predictions")
        module.add(pynwb.TimeSeries(name="predicted_rates", data=pred.T, unit="spikes per bin",
                                    rate=1.0 / dt_s, starting_time=rec.start_s,
                                    description="expected spike counts per bin, one column per "
                                                "unit, from sk_icnet"))
    with atomic_path(path, ".nwb") as tmp, pynwb.NWBHDF5IO(tmp, mode="w") as io:
        io.write(nwb)
