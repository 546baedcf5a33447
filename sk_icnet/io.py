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
import numbers
import os
import pickle
import re
import secrets
import stat

import numpy as np
import torch

from ._validation import check_fitted_metadata, is_json_int, is_json_real

__all__ = ["save_model", "load_model", "read_model_info", "read_nwb", "write_nwb", "atomic_path",
           "MODEL_FORMAT", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT = "sk_icnet.model"
MODEL_FORMAT_VERSION = 1

#: estimator parameters never stored: training-only objects, or meaningless elsewhere
_NOT_STORED = {"module", "criterion", "optimizer", "callbacks", "checkpoint_dir", "device",
               "train_split", "dataset", "iterator_train", "iterator_valid", "torch_load_kwargs"}
_NOT_STORED_PREFIXES = ("callbacks__", "iterator_", "optimizer__", "dataset__", "train_split")
#: how a model was trained, not what it is: written as these values, so that a model fitted
#: with a transferred encoder, under torchrun or compiled loads in a plain process (its weights
#: are all in the file)
_TRAINING_ONLY = {"encoder_from": None, "freeze_encoder": False, "distributed": "auto",
                  "compile": False}

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
        if not is_json_int(epoch, i + 1, i + 1):
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
            if key.endswith("_loss") and not (value is None or is_json_real(value)
                                              or isinstance(value, float)):
                raise ValueError(f"{where}: {key} must be a number; received {value!r}.")
    return history


# ------------------------------------------------------------ parameter rules
def _int(low, high=_INT_LIMIT):
    return (lambda v: is_json_int(v, low, high)), f"an integer from {low} to {high}"


def _real(low=0.0, *, strict=True):
    def rule(v):
        return is_json_real(v) and (v > low if strict else v >= low)
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
    "freeze_encoder": _one_of(False),
    "predict_nonlinearity": _one_of("auto", None),
    "warm_start": _BOOL,
    "verbose": _either(_BOOL, _int(0, 100)),
    "compile": _one_of(False),
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
        if key in _TRAINING_ONLY:  # how it was trained, not what it is: stored as the default
            value = _TRAINING_ONLY[key]
        elif key == "random_state" and not (value is None or isinstance(value, numbers.Integral)):
            value = None  # a RandomState instance seeded the fit only
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
    provenance = {"sk_icnet_version": __version__, "validation": _history_summary(est),
                  "training_summary": summary}
    neurons = getattr(est, "neurons_", None)  # per-decoder neuron tables (the published model's)
    if neurons is not None:
        provenance["neurons"] = {
            str(name): {"columns": [str(c) for c in table.columns],
                        "data": [[_json_cell(v) for v in row] for row in table.itertuples(False)]}
            for name, table in neurons.items()}
    layers = getattr(est, "keras_layers_", None)
    if layers is not None:
        provenance["keras_layers"] = json.loads(json.dumps(layers))
    return provenance


# ------------------------------------------------------------ saving
def _icnet_payload(est):
    from .estimator import _FITTED_METADATA
    from .losses import CategoricalCountLoss, PoissonLoss
    from .model import ICNet

    module = getattr(est.module_, "_orig_mod", est.module_)  # compile=True wraps the module
    if type(module) is not ICNet:  # subclasses may hold state this format does not store
        raise TypeError("save_model stores ICNet modules; this estimator's module_ is "
                        f"{type(module).__name__}: use save_params for other modules.")
    if est.criterion not in (PoissonLoss, CategoricalCountLoss):
        raise TypeError("save_model stores the Poisson and categorical criteria; received "
                        f"criterion={est.criterion!r}.")
    params = _stored_params(est, _ICNET_PARAMS)
    fitted = {key: getattr(est, key) for key in _FITTED_METADATA if hasattr(est, key)}
    tensors = {f"module.{k}": v.detach().to("cpu").contiguous()
               for k, v in module.state_dict().items()}
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
    for key in ("validation", "training_summary", "neurons", "keras_layers"):
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
        if is_json_real(value) and not math.isclose(value, fitted[name + "_"], rel_tol=1e-9):
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
    if is_json_real(param_fs) and not math.isclose(param_fs, audio_fs, rel_tol=1e-9):
        raise ValueError(f"{source}: the parameter audio_fs={param_fs!r} differs from the fitted "
                         f"audio_fs_={audio_fs!r}.")
    _check_rates(audio_fs, fitted["dt_ms_"], fitted["samples_per_bin_"], source)
    dt_ms = params.get("dt_ms", 1.31072)
    if is_json_real(dt_ms) and not math.isclose(dt_ms, fitted["dt_ms_"], rel_tol=1e-9):
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
    provenance = header.get("provenance") or {}
    if provenance.get("training_summary") is not None:
        est.training_summary_ = provenance["training_summary"]
    if provenance.get("neurons") is not None:
        est.neurons_ = _neuron_tables(provenance["neurons"], est, where)
    if provenance.get("keras_layers") is not None:
        est.keras_layers_ = provenance["keras_layers"]
    return est


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _json_cell(value):
    """A table cell as JSON: numpy scalars as Python ones, non-finite floats as 'inf', '-inf'
    or 'nan' (a CF of inf marks an unreliable channel in the published model)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _neuron_tables(stored, est, where):
    """The per-decoder neuron tables of a model file, one row per neuron of each decoder."""
    import pandas as pd

    names = getattr(est, "recording_names_", None) or ["recording_0"]
    sizes = dict(zip(names, getattr(est, "neurons_per_recording_", None) or [est.n_neurons_],
                     strict=False))
    tables = {}
    for name, table in stored.items():
        try:
            frame = pd.DataFrame(table["data"], columns=table["columns"])
            for column in frame.columns:  # 'inf', '-inf', 'nan' back to floats in numeric columns
                values = frame[column]
                if values.dtype == object and values.map(
                        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                        or v in _NON_FINITE).all():
                    frame[column] = values.map(lambda v: _NON_FINITE.get(v, v)).astype(float)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the model file {where!r}: the neurons table of {name!r} must be a "
                             f"table in JSON ('columns' and 'data'); {type(exc).__name__}: {exc}"
                             ) from None
        if name not in sizes or len(frame) != sizes[name]:
            raise ValueError(f"the model file {where!r}: the neurons table of {name!r} has "
                             f"{len(frame)} rows, but the model's decoders are {sizes}.")
        tables[name] = frame
    return tables


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

#: longest sound (s) that read_nwb assembles unless told otherwise: 4 hours, 1.4 GB of float32
#: samples at the paper's 24,414 Hz (pass max_duration_s= for longer sessions)
MAX_NWB_DURATION_S = 4 * 3600.0
#: largest |start time| (s) of a recording: beyond about 32 years it is no recording time
MAX_START_S = 1e9
#: most bins x units read_nwb builds (one count per unit and bin): 2**33, 8 GiB of uint8 counts
MAX_NWB_CELLS = 2**33
#: spike rate (spikes/s per unit) above which write_nwb refuses a bin's count as implausible
MAX_SPIKE_RATE_HZ = 10_000.0
#: the first bytes of every HDF5 (so NWB) file
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _require_pynwb():
    try:
        import pynwb
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("read_nwb/write_nwb need pynwb: pip install 'sk_icnet[nwb]'.") from exc
    return pynwb


def _check_optional_str(value, name):
    from ._validation import _describe

    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None; received {_describe(value)}.")
    return value


def _check_stored(data, where, what):
    """Refuse an HDF5 dataset whose declared size the file does not hold (chunks never written,
    a contiguous dataset never allocated) or whose data lives outside the file (external or
    virtual storage): checked before anything is read, so a small file cannot declare
    gigabytes of fill values, nor make read_nwb read other files."""
    import h5py

    if not isinstance(data, h5py.Dataset):  # in-memory data (a file being written, or tests)
        return
    dsid = data.id
    plist = dsid.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL or plist.get_external_count() > 0:
        raise ValueError(f"{what} of {where!r} is stored outside the file (HDF5 external or virtual "
                         "storage); read_nwb reads only data held in the NWB file itself.")
    if data.size == 0:
        return
    if layout == h5py.h5d.CHUNKED:
        expected = int(np.prod([-(-n // c) for n, c in zip(data.shape, data.chunks, strict=True)]))
        written = dsid.get_num_chunks()
        if written < expected:
            raise ValueError(f"{what} of {where!r} declares shape {data.shape} but the file holds "
                             f"only {written} of its {expected} chunks: the rest was never written "
                             "(a damaged or crafted file).")
    elif layout == h5py.h5d.CONTIGUOUS:
        needed = data.size * data.dtype.itemsize
        if dsid.get_storage_size() < needed:
            raise ValueError(f"{what} of {where!r} declares shape {data.shape} ({needed} bytes) but "
                             f"the file holds {dsid.get_storage_size()} bytes of it (a damaged or "
                             "crafted file).")


def _check_table(table, where, what):
    """:func:`_check_stored` for every column (and the ids) of an NWB DynamicTable."""
    for column in (table.id, *table.columns):
        _check_stored(getattr(column, "data", None), where, f"the {what} column {column.name!r}")


def _short(exc, limit=400):
    """``Type: message`` of an exception from pynwb/hdmf/h5py, long middles cut (hdmf puts whole
    builders in its messages, the reason at the end)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else f"{text[:limit // 3]} ... {text[-(2 * limit) // 3:]}"


def _table_frame(table, where, what):
    """An NWB table as a DataFrame, its columns' storage checked first; hdmf's errors on a
    damaged table (columns of different lengths, indexes past the data) become ValueErrors."""
    _check_table(table, where, what)
    try:
        return table.to_dataframe()
    except Exception as exc:  # hdmf raises many kinds on damaged tables
        raise ValueError(f"the {what} table of {where!r} is damaged ({_short(exc)}).") from None


def _finite_attribute(value, where, what, *, positive=False, nonzero=False):
    """An NWB attribute as a float, refused unless it is a finite (and positive / nonzero)
    number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not np.isfinite(number) or (positive and number <= 0) \
            or (nonzero and number == 0):
        rule = "a finite number > 0" if positive else "a finite nonzero number" if nonzero \
            else "a finite number"
        shown = number if number is not None and not isinstance(value, str) else value
        raise ValueError(f"{what} of {where!r} must be {rule}; received {shown!r}.")
    return number


def _check_start(t0, where, what):
    if abs(t0) > MAX_START_S:
        raise ValueError(f"{what} of {where!r} is {t0!r} s: recording times must lie within "
                         f"{MAX_START_S:g} s (about 32 years) of the session start.")
    return t0


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


def _sound_from_series(sound, where, audio_fs, max_duration_s):
    """``(waveform in pascals at the rate, rate, start time)`` of a stimulus TimeSeries, every
    attribute checked and its size bounded before its samples are read."""
    from .audio import resample

    what = f"the stimulus {sound.name!r}"
    if str(sound.unit).lower() not in _PASCAL_UNITS:
        raise ValueError(f"{what} of {where!r} is in {sound.unit!r}; ICNet needs pascals (unit "
                         "'Pa').")
    if sound.rate is None:
        raise ValueError(f"{what} of {where!r} has timestamps, not a sampling rate: read_nwb needs "
                         "a waveform sampled at a constant rate.")
    rate = _finite_attribute(sound.rate, where, f"the rate of {what}", positive=True)
    conversion = _finite_attribute(sound.conversion, where, f"the conversion of {what}",
                                   nonzero=True)
    offset = _finite_attribute(getattr(sound, "offset", 0.0) or 0.0, where, f"the offset of {what}")
    t0 = _check_start(_finite_attribute(sound.starting_time or 0.0, where,
                                        f"the starting_time of {what}"), where,
                      f"the starting_time of {what}")
    data = sound.data
    shape, dtype = tuple(np.shape(data)), np.dtype(getattr(data, "dtype", np.float64))
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] == 0:
        raise ValueError(f"{what} of {where!r} must be one non-empty waveform; received shape "
                         f"{shape}.")
    if dtype.kind not in "iuf":
        raise ValueError(f"{what} of {where!r} must hold numbers; its dtype is {dtype}.")
    if shape[0] > max_duration_s * rate:
        raise ValueError(f"{what} of {where!r} declares {shape[0]} samples at {rate:g} Hz "
                         f"({shape[0] / rate:.6g} s), more than max_duration_s={max_duration_s!r} "
                         "s: pass a larger max_duration_s to read a longer session.")
    _check_stored(data, where, what)
    raw = np.asarray(data[:]).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(raw)) if dtype.kind == "f" else ()
    if len(bad):
        raise ValueError(f"{what} of {where!r} holds {len(bad)} NaN or inf sample(s) (the first at "
                         f"sample {bad[0]}); a waveform must be finite.")
    with np.errstate(over="ignore"):
        pascals = raw.astype(np.float64) * conversion + offset
    if not np.isfinite(pascals).all():
        raise ValueError(f"{what} of {where!r} times its conversion {conversion!r} exceeds the range "
                         "of numbers: check its conversion.")
    fs = audio_fs if audio_fs is not None else rate
    return resample(pascals, rate, fs).astype(np.float32), fs, t0


def _sound_path(name, root, where, i):
    """The file a trial's ``sound_file`` names, refused unless it resolves inside ``root``."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"trial {i} of {where!r} names its sound file {name!r}; it must be a "
                         "non-empty file name relative to sound_dir.")
    if os.path.isabs(name) or os.path.splitdrive(name)[0]:
        raise ValueError(f"trial {i} of {where!r} names the absolute path {name!r}: sound files must "
                         f"be named relative to sound_dir ({root!r}).")
    full = os.path.realpath(os.path.join(root, name))  # symlinks resolved
    try:
        inside = os.path.commonpath([root, full]) == root
    except ValueError:  # another drive (Windows)
        inside = False
    if not inside:
        raise ValueError(f"trial {i} of {where!r} names {name!r}, which resolves to {full!r}, "
                         f"outside sound_dir ({root!r}): only files inside sound_dir are read.")
    return full


def _sound_from_trials(nwb, where, audio_fs, sound_column, sound_dir, level_column, scale,
                       max_duration_s):
    """A continuous waveform at ``audio_fs`` with each trial's sound file at its onset.

    Each trial's file must resolve (symlinks included) inside ``sound_dir`` and be a regular
    file; the session's length is checked against ``max_duration_s`` before the waveform is
    allocated, and every distinct file is read once.
    """
    from .audio import load_audio, set_level

    if nwb.trials is None or sound_column not in nwb.trials.colnames:
        raise ValueError(f"{where!r} has neither a stimulus TimeSeries nor a trials table with a "
                         f"{sound_column!r} column naming the sound file of each trial.")
    if audio_fs is None:
        raise ValueError("audio_fs is needed to assemble sounds from files (their rates differ).")
    root = os.path.realpath(sound_dir)
    if not os.path.isdir(root):
        raise ValueError(f"sound_dir must be a directory holding the trials' sound files; received "
                         f"{sound_dir!r}.")
    trials = _table_frame(nwb.trials, where, "trials")
    if len(trials) == 0:
        raise ValueError(f"the trials table of {where!r} is empty: there is no sound to read.")
    starts = _float_column(trials["start_time"])
    for i, t in zip(trials.index, starts.tolist(), strict=True):  # before any file is read
        if not np.isfinite(t) or t < 0 or t > max_duration_s:
            raise ValueError(f"trial {i} of {where!r} starts at start_time={t!r} s; trials must "
                             f"start at a finite time from 0 to max_duration_s={max_duration_s!r} "
                             "s (pass a larger max_duration_s to read a longer session).")
    use_levels = level_column is not None and level_column in trials.columns
    levels = _float_column(trials[level_column]).tolist() if use_levels else None
    limit = max_duration_s * audio_fs  # a float: no overflow for any max_duration_s
    sounds, pieces = {}, []
    for k, (i, row) in enumerate(trials.iterrows()):
        path = _sound_path(row[sound_column], root, where, i)
        if path not in sounds:  # a stimulus repeated over trials is read once
            try:
                sounds[path] = load_audio(path, audio_fs, scale=scale,
                                          max_duration_s=max_duration_s)
            except ValueError as exc:
                raise ValueError(f"trial {i} of {where!r}: {exc}") from None
        start = int(round(starts[k] * audio_fs))
        if start + len(sounds[path]) > limit:
            raise ValueError(f"trial {i} of {where!r} ends at {(start + len(sounds[path])) / audio_fs:.6g}"
                             f" s, after max_duration_s={max_duration_s!r} s: pass a larger "
                             "max_duration_s to read a longer session.")
        pieces.append((i, start, path, None if levels is None else levels[k]))
    audio = np.zeros(max(start + len(sounds[path]) for _, start, path, _ in pieces), np.float32)
    for i, start, path, level in pieces:
        x = sounds[path]
        if level is not None:
            try:
                x = set_level(x, level)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"trial {i} of {where!r} ({level_column}={level!r}, sound file "
                                 f"{path!r}): {exc}") from None
        audio[start: start + len(x)] += x
    return audio, 0.0


def _float_column(column):
    """A table column as float64, non-numbers as NaN (refused by the callers' checks)."""
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _observed_mask(units, centres, where):
    """``missing`` (n_units, n_bins) from each unit's obs_intervals: bins whose centre no interval
    covers. One pass over the bins per unit, whatever the number of intervals."""
    missing = np.ones((len(units), len(centres)), bool)
    for i, intervals in enumerate(units["obs_intervals"]):
        arr = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(arr).all() or (arr[:, 1] < arr[:, 0]).any():
            raise ValueError(f"unit {units.index[i]} of {where!r} has obs_intervals that are not "
                             "finite (start, stop) pairs with start <= stop.")
        first = np.searchsorted(centres, arr[:, 0], side="left")
        stop = np.searchsorted(centres, arr[:, 1], side="left")
        cover = np.zeros(len(centres) + 1, np.int64)
        np.add.at(cover, first, 1)
        np.add.at(cover, stop, -1)
        missing[i] = np.cumsum(cover[:-1]) <= 0
    return missing


def read_nwb(path, *, audio_fs=24414.0625, dt_ms=1.31072, stimulus=None, name=None,
             sound_column="sound_file", sound_dir=None, level_column="level_db_spl", scale=1.0,
             max_duration_s=MAX_NWB_DURATION_S):
    """Read one NWB session as a :class:`~sk_icnet.data.Recording`.

    The sound comes from either layout:

    * an acoustic waveform ``TimeSeries`` in the file's stimulus group, in
      pascals (``unit`` "Pa"; its ``conversion`` and ``offset`` are applied),
      at its own rate;
    * a trials table whose ``sound_column`` names the sound file played at each
      trial's ``start_time`` (relative to ``sound_dir``, by default the NWB
      file's folder); the optional ``level_column`` sets each sound's level in
      dB SPL, otherwise ``scale`` (pascals per full-scale unit) calibrates it.

    The waveform is resampled to ``audio_fs``. Spike times come from the Units
    table, relative to the sound's first sample; spikes outside the sound are
    dropped with a warning that counts them. The other Units columns (e.g.
    characteristic frequency, electrode) become the recording's ``neurons``.

    Files are untrusted: sizes are checked before anything is allocated (a
    dataset must hold the samples it declares, the sound must last at most
    ``max_duration_s``), a trial's sound file must resolve (symlinks included)
    inside ``sound_dir`` and be a regular file (a FIFO or device is refused,
    not read), data in HDF5 external or virtual storage is refused, and rates,
    conversions and times must be finite (rates and conversions nonzero).

    Parameters
    ----------
    path : str or path-like
        A regular file.
    audio_fs, dt_ms : float
        The recording's rates (the paper's by default); ``audio_fs=None`` keeps
        the stimulus TimeSeries' rate.
    stimulus : str, optional
        Name of the waveform TimeSeries when the file has several.
    name : str, optional
        The recording's name (default: the file's ``identifier``).
    sound_column : str, default="sound_file"
        Trials column naming each trial's sound file (the trials layout).
    sound_dir : str or path-like, optional
        Folder the sound files are named in (default: the NWB file's); a file
        resolving outside it is refused.
    level_column : str or None, default="level_db_spl"
        Trials column of presentation levels in dB SPL, if present.
    scale : float, default=1.0
        Pascals per full-scale unit of sound files played without a level.
    max_duration_s : float, default=MAX_NWB_DURATION_S (4 hours)
        Longest sound accepted: a file declaring a longer stimulus, or a trial
        that starts or ends later, is refused before its samples are read.

    Returns
    -------
    Recording

    Raises
    ------
    ValueError
        The file is not a readable NWB file, or holds data that breaks the
        rules above; the message names the file, the item and the value.
    """
    import stat
    import warnings

    from ._validation import _describe, check_positive_number, samples_per_bin
    from .data import Recording

    pynwb = _require_pynwb()
    if audio_fs is not None:
        audio_fs = check_positive_number(audio_fs, "audio_fs")
    dt_ms = check_positive_number(dt_ms, "dt_ms")
    if audio_fs is not None:
        samples_per_bin(audio_fs, dt_ms)
    max_duration_s = check_positive_number(max_duration_s, "max_duration_s")
    scale = check_positive_number(scale, "scale")
    for value, label in ((stimulus, "stimulus"), (name, "name"), (level_column, "level_column")):
        _check_optional_str(value, label)
    if not isinstance(sound_column, str):
        raise TypeError(f"sound_column must be a str; received {_describe(sound_column)}.")
    if sound_dir is not None and not isinstance(sound_dir, (str, os.PathLike)):
        raise TypeError(f"sound_dir must be a str or path-like; received {_describe(sound_dir)}.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like naming an NWB file; received "
                        f"{_describe(path)}.")
    where = os.fspath(path)
    try:
        mode = os.stat(where).st_mode
    except (OSError, ValueError) as exc:
        raise ValueError(f"path {where!r} is not a readable NWB file ({exc}).") from None
    if not stat.S_ISREG(mode):  # a FIFO would block the open, a device never end
        raise ValueError(f"path {where!r} is not a regular file, so not an NWB file.")
    try:
        io = pynwb.NWBHDF5IO(where, mode="r")
    except Exception as exc:
        raise ValueError(f"path {where!r} is not a readable NWB file ({_short(exc)}).") from None
    try:
        try:
            nwb = io.read()
        except Exception as exc:
            raise ValueError(f"path {where!r} is not a readable NWB file ({_short(exc)}).") from None
        sound = _nwb_sound(nwb, stimulus, where)
        if sound is not None:
            audio, fs, t0 = _sound_from_series(sound, where, audio_fs, max_duration_s)
        else:
            audio, t0 = _sound_from_trials(nwb, where, audio_fs, sound_column,
                                           sound_dir or os.path.dirname(os.path.abspath(where)),
                                           level_column, scale, max_duration_s)
            fs = audio_fs
        if nwb.units is None or len(nwb.units) == 0:
            raise ValueError(f"{where!r} has no units (spike times) to model.")
        spb = samples_per_bin(fs, dt_ms)
        n_bins = len(audio) // spb
        if len(nwb.units) * n_bins > MAX_NWB_CELLS:
            raise ValueError(f"{where!r} has {len(nwb.units)} units and {n_bins} bins: more than "
                             f"{MAX_NWB_CELLS} counts to hold in memory (a damaged or crafted file, "
                             "or a session to split).")
        units = _table_frame(nwb.units, where, "units")
        duration = n_bins * dt_ms / 1000.0
        trains, dropped = [], 0
        for unit, times in zip(units.index, units["spike_times"], strict=True):
            times = np.asarray(times, dtype=np.float64)
            if not np.isfinite(times).all():
                raise ValueError(f"unit {unit} of {where!r} has NaN or inf spike times.")
            rel = times - t0
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
            missing = _observed_mask(units, centres, where)
            missing = missing if missing.any() else None
        return Recording(audio, spike_times=trains, audio_fs=fs, dt_ms=dt_ms,
                         name=name or str(nwb.identifier), start_s=t0, neurons=neurons,
                         missing=missing)
    finally:
        io.close()


def _check_replaceable_nwb(path, overwrite):
    """An existing ``path`` is replaced only with ``overwrite=True`` and only if it is an NWB
    (HDF5) file: never a directory, a device or a file of another kind."""
    import stat

    from ._validation import _describe

    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False; received {_describe(overwrite)}.")
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise ValueError(f"path {path!r} exists; pass overwrite=True to replace it.")
    mode = os.lstat(path).st_mode
    signature = b""
    if stat.S_ISREG(mode):
        with open(path, "rb") as f:
            signature = f.read(len(_HDF5_SIGNATURE))
    if signature != _HDF5_SIGNATURE:
        raise ValueError(f"path {path!r} exists and is not an NWB (HDF5) file; write_nwb replaces "
                         "only NWB files, even with overwrite=True: choose another path.")


def write_nwb(recording, path, *, predictions=None, identifier=None, session_start_time=None,
              overwrite=False, max_rate_hz=MAX_SPIKE_RATE_HZ):
    """Write a :class:`~sk_icnet.data.Recording` (and optionally predictions) to an NWB file.

    The waveform becomes the stimulus TimeSeries ``"sound"`` (pascals), the
    counts become spike times in the Units table (a bin's spikes at its
    centre: the exact times within a bin are not kept), missing bins become
    each unit's ``obs_intervals``, and the ``neurons`` columns become Units
    columns. ``predictions`` (``(n_neurons, n_bins)`` rates, e.g.
    ``est.predict(recording)``) are stored as the TimeSeries
    ``"predicted_rates"`` in the processing module ``"sk_icnet"``. The file is
    written under a temporary name and renamed into place.

    Parameters
    ----------
    recording : Recording
    path : str or path-like
    predictions : array-like of shape (n_neurons, n_bins), optional
        Finite expected counts per bin.
    identifier : str, optional
        The NWB identifier (default: the recording's name).
    session_start_time : datetime.datetime, optional
        Timezone-aware (default: now, in UTC).
    overwrite : bool, default=False
        Replace an existing NWB file at ``path`` (anything else at ``path`` is
        never replaced).
    max_rate_hz : float, default=MAX_SPIKE_RATE_HZ (10,000)
        Spikes per second of one unit above which a bin's count is refused
        before it is expanded into spike times: a bin may hold at most
        ``ceil(max_rate_hz * dt_ms / 1000)`` spikes (40 in 4 ms bins). A store
        with an absurd count would otherwise expand into gigabytes of times.
    """
    import datetime

    from ._validation import _as_numeric_array, _describe, check_positive_number
    from .data import Recording

    pynwb = _require_pynwb()
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be an sk_icnet Recording; received "
                        f"{_describe(recording)}.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like; received {_describe(path)}.")
    path = os.path.abspath(os.fspath(path))
    _check_replaceable_nwb(path, overwrite)
    _check_optional_str(identifier, "identifier")
    if session_start_time is not None and (not isinstance(session_start_time, datetime.datetime)
                                           or session_start_time.tzinfo is None):
        raise TypeError(f"session_start_time must be a timezone-aware datetime.datetime; received "
                        f"{_describe(session_start_time)}.")
    max_rate_hz = check_positive_number(max_rate_hz, "max_rate_hz")
    rec = recording
    dt_s = rec.dt_ms / 1000.0
    pred = None
    if predictions is not None:
        pred = _as_numeric_array(predictions, "predictions").astype(np.float32)
        if pred.shape != (rec.n_neurons, rec.n_bins):
            raise ValueError(f"predictions must have shape (n_neurons, n_bins) = "
                             f"({rec.n_neurons}, {rec.n_bins}); received {pred.shape}.")
        if not np.isfinite(pred).all():
            raise ValueError("predictions must be finite expected counts; received NaN or inf "
                             "(or values beyond float32's range).")
    counts = np.asarray(rec.counts[:])
    if counts.size:  # checked before any count is expanded into spike times
        per_bin = float(np.ceil(max_rate_hz * dt_s))  # a float: any max_rate_hz compares
        low, high = np.unravel_index(counts.argmin(), counts.shape), \
            np.unravel_index(counts.argmax(), counts.shape)
        if counts[low] < 0:
            raise ValueError(f"the counts of recording {rec.name!r} must be >= 0; unit {low[0]} has "
                             f"{counts[low]} in bin {low[1]}.")
        if counts[high] > per_bin:
            raise ValueError(f"unit {high[0]} of recording {rec.name!r} has {counts[high]} spikes in "
                             f"bin {high[1]}, more than {per_bin:.0f} ({max_rate_hz:g} spikes/s in "
                             f"{rec.dt_ms:g} ms bins): not a plausible count. Check the counts, or "
                             "pass a larger max_rate_hz.")
    nwb = pynwb.NWBFile(
        session_description=f"sk_icnet recording {rec.name!r}",
        identifier=identifier or rec.name,
        session_start_time=session_start_time or datetime.datetime.now(datetime.timezone.utc))
    audio = np.asarray(rec.audio[:], dtype=np.float32)
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=audio, unit="Pa", rate=rec.audio_fs,
                                      starting_time=rec.start_s,
                                      description="sound pressure waveform"))
    columns = [c for c in rec.neurons.columns if c != "unit_id"]  # unit_id: the table's ids
    missing = None if rec.missing is None else np.asarray(rec.missing[:])
    centres = rec.start_s + (np.arange(rec.n_bins) + 0.5) * dt_s
    try:
        for column in columns:
            nwb.add_unit_column(name=str(column), description=f"neuron metadata: {column}")
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
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # hdmf's messages
        raise ValueError(f"recording {rec.name!r} cannot be written to NWB: a neurons column does "
                         f"not fit the Units table ({type(exc).__name__}: {exc}).") from None
    if pred is not None:
        module = nwb.create_processing_module("sk_icnet", "ICNet predictions")
        module.add(pynwb.TimeSeries(name="predicted_rates", data=pred.T, unit="spikes per bin",
                                    rate=1.0 / dt_s, starting_time=rec.start_s,
                                    description="expected spike counts per bin, one column per "
                                                "unit, from sk_icnet"))
    try:
        with atomic_path(path, ".nwb", overwrite=bool(overwrite),
                         replaceable=lambda p: _check_replaceable_nwb(p, True)) as tmp, \
                pynwb.NWBHDF5IO(tmp, mode="w") as io:
            io.write(nwb)
    except FileExistsError:
        raise ValueError(f"path {path!r} appeared while the NWB file was being written (another "
                         "process?); it was left as it is and nothing was written. Pass "
                         "overwrite=True to replace it.") from None
    except OSError:
        raise
    except Exception as exc:  # hdmf raises bare Exceptions for data HDF5 cannot store
        raise ValueError(f"recording {rec.name!r} could not be written to NWB ({type(exc).__name__}:"
                         f" {exc}); its neurons columns must hold numbers, strings or bools."
                         ) from None
