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

import json
import math
import numbers
import os
import pickle
import re
import stat

import numpy as np
import torch

from ._core.files import atomic_path, json_value, loads_json
from ._core.validation import check_fitted_metadata, is_json_int, is_json_real
from .data._nwb import read_nwb, write_nwb

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
_INT_LIMIT = 2 ** 31 - 1


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
        if not json_value(value) or not rule(value):
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
    from .icnet._estimator import _FITTED_METADATA
    from .icnet._losses import CategoricalCountLoss, PoissonLoss
    from .icnet._module import ICNet

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
    header = loads_json(metadata["header"], f"the header of the model file {where!r}")
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
    from ._core.validation import samples_per_bin

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
    from .icnet._estimator import _FITTED_METADATA

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
    from ._core.signal import hz_to_mel, mel_to_hz

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
    from .icnet._estimator import ICNetRegressor
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
