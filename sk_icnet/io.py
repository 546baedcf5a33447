"""Model files: a fitted estimator as one safetensors file, readable without pickle.

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

This module knows the container (header, format version, tensor layout,
provenance) and no estimator. Each estimator family registers how its payload
is written and read with :func:`register_model_format`, keyed by the class
name the header records: ``ICNetRegressor`` in ``sk_icnet.icnet._model_file``,
the STRF baselines in ``sk_icnet.strf._model_file``. A new estimator is saved by
registering it; this module is not edited. The parameter rules of
``sk_icnet._core.rules`` (``integer``, ``real``, ``one_of``, ...), :func:`stored_params`,
:func:`model_provenance` and :func:`check_fitted_rates` are the toolkit the registered
readers and writers share.

NWB recordings are read and written by :mod:`sk_icnet.data`; ``read_nwb``,
``write_nwb`` and ``atomic_path`` stay importable from here for older code.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import stat
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._core.files import atomic_path, json_value, loads_json
from ._core.rules import MAX_SIZE
from ._core.timebase import Timebase, rates_agree
from ._core.validation import is_json_real
from ._version import __version__
from .data._nwb import read_nwb, write_nwb

__all__ = ["save_model", "load_model", "read_model_info", "register_model_format",
           "ModelPayload", "ModelFile", "read_nwb", "write_nwb", "atomic_path",
           "MODEL_FORMAT", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT = "sk_icnet.model"
MODEL_FORMAT_VERSION = 1

#: estimator parameters never stored: training-only objects, or meaningless elsewhere
_NOT_STORED = {"module", "criterion", "optimizer", "callbacks", "checkpoint_dir", "device",
               "train_split", "dataset", "iterator_train", "iterator_valid", "torch_load_kwargs"}
_NOT_STORED_PREFIXES = ("callbacks__", "iterator_", "optimizer__", "dataset__", "train_split")

#: safetensors dtypes of floating-point tensors
_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}
#: provenance entries every model file may hold, each a JSON object or null
_PROVENANCE_OBJECTS = ("validation", "training_summary")


# ------------------------------------------------------------ the registry
class ModelPayload(NamedTuple):
    """What a registered writer returns for :func:`save_model`.

    Attributes
    ----------
    params : dict
        The estimator's parameters, as :func:`stored_params` gives them.
    fitted : dict
        Fitted attributes stored in the header (JSON scalars and lists).
    tensors : dict of str to torch.Tensor
        Contiguous CPU tensors stored in the file.
    provenance : dict, optional
        Entries added to the header's provenance (each a JSON object), declared
        with ``provenance=`` when the format was registered.
    """

    params: dict
    fitted: dict
    tensors: dict
    provenance: dict = {}


class _ModelFormat(NamedTuple):
    cls: type
    params: dict
    write: Callable[[Any], ModelPayload]
    read: Callable[[type, Any], Any]
    provenance: tuple


#: class name (as a model file's header records it) -> its registered format
_FORMATS: dict[str, _ModelFormat] = {}


def register_model_format(cls, *, params, write, read, provenance=()):
    """Register how estimators of class ``cls`` are written to and read from model files.

    Parameters
    ----------
    cls : type
        The estimator class; a model file names it by ``cls.__name__``.
    params : dict
        The parameters a file may hold: name -> ``(rule, description)``, built
        from the rules of ``sk_icnet._core.rules`` (``integer``, ``real``, ``one_of``, ...). The
        loader refuses any other key and any value its rule rejects.
    write : callable
        ``write(est) -> ModelPayload``; checks that ``est`` is fitted and can be
        stored (raising ``TypeError`` or ``NotFittedError`` otherwise).
    read : callable
        ``read(cls, model_file) -> est``, given a :class:`ModelFile` whose
        container was checked; returns the fitted estimator or raises
        ``ValueError`` naming the file.
    provenance : tuple of str, default=()
        The provenance entries the writer adds (each a JSON object or null).

    Returns
    -------
    cls
        Unchanged, so that this can close a class's module.

    Raises
    ------
    ValueError
        If another class of the same name is registered (a model file could not
        tell them apart).
    """
    name = cls.__name__
    known = _FORMATS.get(name)
    if known is not None and known.cls is not cls and (
            known.cls.__module__, known.cls.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"register_model_format: the class name {name!r} is already registered "
                         f"for {known.cls.__module__}.{known.cls.__qualname__}; model files name "
                         f"their estimator by class name, so {cls.__module__}.{cls.__qualname__} "
                         "cannot share it. Give the class another name.")
    _FORMATS[name] = _ModelFormat(cls, dict(params), write, read, tuple(provenance))
    return cls


def _rules_for(name):
    """The parameter rules registered for the estimator class named ``name``."""
    return _FORMATS[name].params


class ModelFile:
    """A model file whose container :func:`load_model` checked, as a registered reader sees it.

    Attributes
    ----------
    path : str or path-like
    where : str
        ``path`` as text, for messages.
    source : str
        ``"the model file '<where>'"``, the start of the reader's messages.
    header : dict
        The decoded header: ``estimator``, ``params``, ``fitted`` and
        ``provenance`` (structure checked, values not yet).
    layout : dict
        Tensor name -> ``(shape, safetensors dtype)``, read without the tensors.
    device : str
        Where the caller asked the model to be placed.
    """

    def __init__(self, path, header, layout, device):
        self.path, self.header, self.layout, self.device = path, header, layout, device
        self.where = os.fspath(path)
        self.source = f"the model file {self.where!r}"

    @property
    def fitted(self):
        return self.header["fitted"]

    @property
    def provenance(self):
        return self.header.get("provenance") or {}

    def params(self):
        """The stored parameters, checked against the registered rules."""
        return _check_params(self.header["estimator"], self.header["params"], self.where)

    def tensors(self):
        """The stored tensors (read now; the layout is re-checked against them)."""
        return _load_tensors(self.path, self.layout)


def _format_of(est):
    name = type(est).__name__
    fmt = _FORMATS.get(name)
    if fmt is None or not isinstance(est, fmt.cls):
        raise TypeError(f"save_model stores the estimators registered for model files "
                        f"({', '.join(sorted(_FORMATS))}); received {name}. Register a new "
                        "estimator with sk_icnet.io.register_model_format.")
    return fmt


# ------------------------------------------------------------ parameters
def stored_params(est, rules, training_only=None):
    """The parameters save_model writes: the allow-listed ones, checked as the loader checks
    them; others only when at their default (nothing to store). ``training_only`` maps the
    parameters that describe how a model was trained, not what it is, to the value stored."""
    name = type(est).__name__
    training_only = training_only or {}
    defaults = type(est)().get_params(deep=False)
    params = {}
    for key, value in est.get_params(deep=False).items():
        if key in _NOT_STORED or key.startswith(_NOT_STORED_PREFIXES):
            continue
        value = _json_param(key, value, training_only)
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


def _json_param(key, value, training_only):
    """A parameter's value as a model file stores it (numpy and tuples as JSON values)."""
    if key in training_only:  # how it was trained, not what it is: stored as the default
        return training_only[key]
    if key == "random_state" and not (value is None or isinstance(value, numbers.Integral)):
        return None  # a RandomState instance seeded the fit only
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


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


def model_provenance(est, extras):
    """The header's provenance: the writer's version, the fit's validation scores, the
    estimator's ``training_summary_``, and the entries its format's writer added."""
    summary = getattr(est, "training_summary_", None)
    if summary is not None:
        try:
            summary = json.loads(json.dumps(summary, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"save_model stores training_summary_ as JSON; this estimator's is not "
                            f"JSON-serialisable ({exc}).") from None
    return {"sk_icnet_version": __version__, "validation": _history_summary(est),
            "training_summary": summary, **extras}


# ------------------------------------------------------------ saving
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
    est : estimator
        A fitted estimator of a registered class (:func:`register_model_format`):
        ``ICNetRegressor``, ``LinearSTRFRegressor``, ``PoissonSTRFRegressor``.
    path : str or path-like
    overwrite : bool, default=False
        Replace an existing file at ``path``; only an sk_icnet model file is
        ever replaced (anything else raises ``ValueError``), and it keeps its
        permissions.

    Raises
    ------
    TypeError
        If ``est``'s class is not registered, or it holds a parameter or module
        that a model file cannot store.

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

    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False; received {overwrite!r}.")
    payload = _format_of(est).write(est)
    header = {"estimator": type(est).__name__, "params": payload.params,
              "fitted": payload.fitted, "provenance": model_provenance(est, payload.provenance)}
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
            save_file(payload.tensors, tmp, metadata=metadata)
    except FileExistsError:
        raise ValueError(f"path {path!r} appeared while the model was being written (another "
                         "process?); it was left as it is and nothing was written. Pass "
                         "overwrite=True to replace it.") from None


# ------------------------------------------------------------ reading
def _open_model(path):
    """``(metadata, tensor shapes and dtypes)`` of a safetensors file, without its tensors."""
    from safetensors import SafetensorError, safe_open

    from ._core.files import regular_file

    where, _ = regular_file(path, "an sk_icnet model file")  # a FIFO would block, a device never end
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

    from ._core.files import regular_file

    where, _ = regular_file(path, "an sk_icnet model file")
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
    metadata, layout = _open_model(path)
    where = os.fspath(path)
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
    extras = [key for fmt in _FORMATS.values() for key in fmt.provenance]
    for key in dict.fromkeys((*_PROVENANCE_OBJECTS, *extras)):
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


def _check_rates(audio_fs, dt_ms, spb, source):
    """``audio_fs * dt_ms / 1000`` must be the recorded samples per bin (a file whose rate was
    changed alone would predict on another bin grid)."""
    try:
        implied = Timebase(audio_fs, dt_ms).samples_per_bin
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{source}: its rates audio_fs_={audio_fs!r} and dt_ms_={dt_ms!r} do not "
                         f"give a whole number of samples per bin ({exc})") from None
    if implied != spb:
        raise ValueError(f"{source}: audio_fs_={audio_fs!r} Hz and dt_ms_={dt_ms!r} ms give "
                         f"{implied} samples per bin, but samples_per_bin_={spb}; the rates or the "
                         "bin size were changed, and the model would predict on another bin grid.")
    if spb > MAX_SIZE:
        raise ValueError(f"{source}: samples_per_bin_={spb} is more than {MAX_SIZE}.")


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


def check_params_agree_with_fitted(params, fitted, source, names=("audio_fs", "dt_ms")):
    """An explicit rate parameter (``names``) in a model file must be the fitted rate (``"auto"``
    and None give way to the fitted one); ``source`` names the file."""
    for name in names:
        value = params.get(name)
        if is_json_real(value) and not rates_agree(value, fitted[name + "_"]):
            raise ValueError(f"{source}: the parameter {name}={value!r} differs from the fitted "
                             f"{name}_={fitted[name + '_']!r}.")


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
        version, an estimator class that no module registered
        (:func:`register_model_format`), a parameter save_model does not write
        or of the wrong type, rates that disagree with the samples per bin, a
        network that does not match the stored tensors (checked from the
        tensors' shapes before the network is built, so a small file cannot make
        the loader allocate much), non-finite weights or arrays of the wrong
        shape.
    """
    where = os.fspath(path)
    header, _, layout = _read_header(path)
    name = header["estimator"]
    fmt = _FORMATS.get(name)
    if fmt is None:
        raise ValueError(f"the model file {where!r} holds an unknown estimator {name!r}: no model "
                         f"format is registered under that class name (registered: "
                         f"{', '.join(sorted(_FORMATS))}). Import the module that defines "
                         f"{name} and registers it with sk_icnet.io.register_model_format, then "
                         "load the file again.")
    if expected is not None and fmt.cls is not expected:
        raise ValueError(f"the model file {where!r} holds {_a(name)}, not {_a(expected.__name__)}; load "
                         f"it with {name}.load_model.")
    est = fmt.read(fmt.cls, ModelFile(path, header, layout, device))
    summary = (header.get("provenance") or {}).get("training_summary")
    if summary is not None:
        est.training_summary_ = summary
    return est
