"""The ICNet family's model files: what :func:`sk_icnet.io.save_model` writes for an
``ICNetRegressor`` or an ``ICNetEnsemble`` and how :func:`sk_icnet.io.load_model` reads them back,
registered with :func:`sk_icnet.io.register_model_format` under the class names.

An ensemble's file holds each member as an ICNetRegressor's file would (its parameters, fitted
metadata and provenance in the header's ``fitted["members"]``, its weights under
``member.<i>.module.``), and each member is read back through the same checks.

The header holds the allow-listed parameters (:data:`ICNET_PARAMS`), the fitted metadata
(rates, neuron and recording counts and names) and, for the published model, its neuron
tables and Keras layer map; the tensors are the module's state dict under ``module.``.
Reading checks the parameters, the rates and the sizes of the network the header describes
against the stored tensors' shapes before anything is built (on the meta device), then the
weights' dtypes and values.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from .. import io
from .._core.rules import (
    BOOL,
    MAX_COUNT,
    MAX_SIZE,
    NONE,
    POSITIVE,
    either,
    integer,
    list_of,
    one_of,
    real,
    text,
)
from .._core.validation import check_fitted_metadata, is_json_int
from ._checkpoints import FITTED_METADATA, module_runs_at
from ._ensemble import ICNetEnsemble, check_members_agree, member_record
from ._estimator import ICNetRegressor
from ._published._graph import MAX_KERNEL, MAX_PLAN_CHARS, GraphPlan, PublishedICNet

__all__ = ["ICNET_PARAMS", "ENSEMBLE_PARAMS"]

#: largest SincNet kernel read from a model file (its size is in no stored tensor); the Keras
#: reader's bound on every kernel of a published graph, so both refuse the same files
_MAX_KERNEL = MAX_KERNEL
#: how a model was trained, not what it is: written as these values, so that a model fitted
#: with a transferred encoder, under torchrun or compiled loads in a plain process (its weights
#: are all in the file)
_TRAINING_ONLY = {"encoder_from": None, "freeze_encoder": False, "distributed": "auto",
                  "compile": False}

#: what save_model writes for ICNetRegressor, with the type and range of each value: the
#: loader refuses any other key (a file cannot set callbacks, torch_load_kwargs, ...)
ICNET_PARAMS = {
    "audio_fs": either(POSITIVE, one_of("auto")),
    "dt_ms": either(POSITIVE, one_of("auto", None)),
    "lr": POSITIVE,
    "max_epochs": integer(0),
    "batch_size": either(integer(1), one_of(-1)),
    "random_state": either(NONE, integer(0, 2 ** 32 - 1)),
    "head": one_of("poisson", "categorical"),
    "skip_bins": integer(0),
    "precision": one_of("float32", "bfloat16"),
    "predict_chunk_bins": integer(1),
    "early_stopping_patience": either(NONE, integer(1)),
    "distributed": one_of("auto", True, False),
    "encoder_from": NONE,
    "freeze_encoder": one_of(False),
    "predict_nonlinearity": one_of("auto", None),
    "warm_start": BOOL,
    "verbose": either(BOOL, integer(0, 100)),
    "compile": one_of(False),
    "use_caching": one_of("auto", True, False),
    "module__out_neurons": either(integer(1, MAX_SIZE), list_of(integer(1, MAX_SIZE))),
    "module__n_filters": integer(1, MAX_SIZE),
    "module__sincnet_kernel_size": integer(1, _MAX_KERNEL),
    "module__encoder_channels": integer(1, MAX_SIZE),
    "module__encoder_kernel_size": integer(1, MAX_SIZE),
    "module__n_encoder_layers": integer(1, MAX_COUNT),
    "module__bottleneck_channels": integer(1, MAX_SIZE),
    "module__encoder_strides": either(NONE, list_of(integer(1, MAX_SIZE))),
    "module__sincnet_min_low_hz": real(0.0, strict=False),
    "module__sincnet_min_band_hz": real(0.0, strict=False),
    "module__n_classes": either(NONE, integer(2, MAX_COUNT)),
    "module__time_input": BOOL,
    "module__time_scale_s": POSITIVE,
    # parameters of ICNet variants (the published models' layout): types here, values by ICNet
    "module__padding": either(text(), list_of(text())),
    "module__sincnet_style": text(),
    "module__sincnet_stride": integer(1, MAX_SIZE),
    "module__input_scale": real(-math.inf),
    "module__context_samples": integer(0, MAX_SIZE),
    "module__crop_bins": either(NONE, integer(0, MAX_SIZE)),
    "module__time_layer": text(),
    "module__time_combine": text(),
    "module__window_samples": either(NONE, integer(1, 2 ** 40)),
    # the published model's graph (PublishedICNet): JSON text, every size checked by the module
    "module__plan": text(MAX_PLAN_CHARS),
    "criterion__eps": POSITIVE,
    "criterion__full": BOOL,
}

#: provenance entries of the published model: per-decoder neuron tables, Keras layer names
_PROVENANCE = ("neurons", "keras_layers")


# ------------------------------------------------------------ writing
def _write_icnet(est):
    """``io.ModelPayload`` of a fitted ICNetRegressor: parameters, fitted metadata, the module's
    weights under ``module.`` and the published model's tables."""
    from ._losses import CategoricalCountLoss, PoissonLoss
    from ._module import ICNet

    check_is_fitted(est, ["module_", "samples_per_bin_"])
    module = getattr(est.module_, "_orig_mod", est.module_)  # compile=True wraps the module
    if type(module) not in (ICNet, PublishedICNet):  # subclasses may hold other state
        raise TypeError("save_model stores ICNet modules; this estimator's module_ is "
                        f"{type(module).__name__}: use save_params for other modules.")
    if est.criterion not in (PoissonLoss, CategoricalCountLoss):
        raise TypeError("save_model stores the Poisson and categorical criteria; received "
                        f"criterion={est.criterion!r}.")
    params = io.stored_params(est, ICNET_PARAMS, _TRAINING_ONLY)
    fitted = {key: getattr(est, key) for key in FITTED_METADATA if hasattr(est, key)}
    tensors = {f"module.{k}": v.detach().to("cpu").contiguous()
               for k, v in module.state_dict().items()}
    return io.ModelPayload(params, fitted, tensors, _published_provenance(est))


def _published_provenance(est):
    """The published model's neuron tables and Keras layer map, as JSON (absent otherwise)."""
    provenance = {}
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


# ------------------------------------------------------------ reading
def _read_icnet(cls, file):
    """The fitted ICNetRegressor a checked model file holds, on ``file.device``."""
    where, source = file.where, file.source
    params = file.params()
    fitted = check_fitted_metadata(file.fitted, FITTED_METADATA, source)
    io.check_fitted_rates(fitted, source)
    if "audio_fs_" not in fitted:
        raise ValueError(f"the model file {where!r} does not record audio_fs_ and dt_ms_.")
    io.check_params_agree_with_fitted(params, fitted, source)
    layout = file.layout
    if any(not key.startswith("module.") for key in layout):
        raise ValueError(f"the model file {where!r} has tensors outside the module: "
                         f"{sorted(k for k in layout if not k.startswith('module.'))}.")
    stored = {key[len("module."):]: value for key, value in layout.items()}
    _check_architecture_bounds(params, fitted, layout, where)
    if "module__plan" in params:  # the published model's graph: its module, not ICNet
        params = {**params, "module": PublishedICNet,
                  "module__plan": GraphPlan(params["module__plan"])}
    est = cls(**params, device=file.device)
    est._check_options()
    est._set_fitted(fitted)
    module, expected = _expected_layout(est, where)
    _check_state(expected, {key: shape for key, (shape, _) in stored.items()}, where)
    if not module_runs_at(module, est.timebase_):
        raise ValueError(f"the model file {where!r}: the network built from it runs at "
                         f"{module.audio_fs!r} Hz with {module.samples_per_bin} samples per bin, but "
                         f"it was fitted at {fitted['audio_fs_']!r} Hz with "
                         f"{fitted['samples_per_bin_']}.")
    not_float = sorted(key for key, (_, dtype) in stored.items() if dtype not in io._FLOAT_DTYPES)
    if not_float:
        raise ValueError(f"the model file {where!r}: weights {not_float} are not floating point.")
    _load_weights(est, file)
    _read_published_provenance(est, file)
    return est


def _load_weights(est, file):
    """Read the stored weights, refuse non-finite ones, and load them into a new module."""
    state = {key[len("module."):]: value for key, value in file.tensors().items()}
    bad = sorted(key for key, value in state.items() if not torch.isfinite(value).all())
    if bad:
        raise ValueError(f"the model file {file.where!r}: weights {bad} hold NaN or infinite "
                         "values.")
    est.initialize()
    est.module_.load_state_dict(state)


def _read_published_provenance(est, file):
    provenance = file.provenance
    if provenance.get("neurons") is not None:
        est.neurons_ = _neuron_tables(provenance["neurons"], est, file.where)
    if provenance.get("keras_layers") is not None:
        est.keras_layers_ = provenance["keras_layers"]


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


io.register_model_format(ICNetRegressor, params=ICNET_PARAMS, write=_write_icnet, read=_read_icnet,
                      provenance=_PROVENANCE)


# ------------------------------------------------------------------ seed ensembles
#: what save_model writes for ICNetEnsemble (the member estimator is stored member by member)
ENSEMBLE_PARAMS = {
    "n_members": integer(1, 1 << 12),
    "random_state": either(NONE, integer(0)),
    "vary_split": BOOL,
}


class _MemberFile(io.ModelFile):
    """One member of an ensemble's model file, as the ICNetRegressor reader sees a whole file:
    its tensor layout, and its tensors out of the file's, which are read once for all members."""

    def __init__(self, file, record, index, layout, all_tensors):
        header = {"estimator": "ICNetRegressor", "params": record["params"],
                  "fitted": record["fitted"], "provenance": record.get("provenance")}
        super().__init__(file.path, header, layout, file.device)
        self.where = f"{file.where}, member {index}"
        self.source = f"the model file {self.where!r}"
        self._prefix, self._all_tensors = f"member.{index}.", all_tensors

    def tensors(self):
        prefix = self._prefix
        return {key[len(prefix):]: value for key, value in self._all_tensors().items()
                if key.startswith(prefix)}


def _member_layouts(layout, n_members, source):
    """Each member's tensor layout (names without ``member.<i>.``), the file's keys parsed
    once; the header's member count must be what the file holds."""
    layouts = {}
    stray = []
    for key, value in layout.items():
        head, _, rest = key.partition(".")
        index, _, name = rest.partition(".")
        if head != "member" or not index.isascii() or not index.isdigit() or not name \
                or str(int(index)) != index or int(index) >= n_members:
            stray.append(key)
            continue
        layouts.setdefault(int(index), {})[name] = value
    if stray:
        raise ValueError(f"{source} has tensors outside its members: {sorted(stray)[:3]}.")
    if sorted(layouts) != list(range(n_members)):
        raise ValueError(f"{source}: its header lists n_members={n_members} members, but it holds "
                         f"the weights of {len(layouts)} members "
                         f"({_index_summary(sorted(layouts))}); the header does not describe "
                         "this file.")
    return [layouts[i] for i in range(n_members)]


def _check_same_network(layouts, source):
    """Every member must store the tensors of member 0 (names, shapes and dtypes)."""
    first = layouts[0]
    for index in range(1, len(layouts)):
        if layouts[index] != first:
            names = sorted(set(first) ^ set(layouts[index])) or sorted(
                key for key in first if first[key] != layouts[index][key])
            key = names[0]
            raise ValueError(f"{source}, member {index}: its weights differ from member 0's (first: "
                             f"{key}, {layouts[index].get(key)} against {first.get(key)}); every "
                             "member of an ensemble must be the same network.")


def _index_summary(indices):
    return ", ".join(map(str, indices[:5])) + (" ..." if len(indices) > 5 else "")


def _write_ensemble(model):
    """``io.ModelPayload`` of a fitted ICNetEnsemble: each member as an ICNetRegressor's file."""
    check_is_fitted(model, ["estimators_", "seeds_"])
    members, tensors = [], {}
    for i, member in enumerate(model.estimators_):
        payload = _write_icnet(member)
        members.append({"params": payload.params, "fitted": payload.fitted,
                        "provenance": io.model_provenance(member, payload.provenance)})
        tensors.update({f"member.{i}.{key}": value for key, value in payload.tensors.items()})
    seed = model.random_state if isinstance(model.random_state, (int, np.integer)) \
        and not isinstance(model.random_state, bool) else None
    params = {"n_members": len(members), "random_state": None if seed is None else int(seed),
              "vary_split": bool(model.vary_split)}
    return io.ModelPayload(params, {"seeds": [int(s) for s in model.seeds_], "members": members},
                           tensors)


def _read_ensemble(cls, file):
    """The fitted ICNetEnsemble a checked model file holds; each member read as a whole file."""
    params, fitted, source = file.params(), file.fitted, file.source
    members, seeds = fitted.get("members"), fitted.get("seeds")
    if set(fitted) != {"members", "seeds"} or not isinstance(members, list) \
            or not isinstance(seeds, list) or len(members) != params["n_members"] \
            or len(seeds) != len(members):
        raise ValueError(f"{source} has a damaged ensemble header: fitted must hold n_members="
                         f"{params['n_members']} member records and as many seeds.")
    if not all(is_json_int(s, 0) for s in seeds) or not all(
            isinstance(r, dict) and {"params", "fitted"} <= set(r)
            and isinstance(r["params"], dict) and isinstance(r["fitted"], dict) for r in members):
        raise ValueError(f"{source} has a damaged ensemble header: seeds must be integers >= 0 and "
                         "each member a record with params and fitted.")
    layouts = _member_layouts(file.layout, len(members), source)
    check_members_agree([member_record(r["fitted"], r["params"]) for r in members], source)
    _check_same_network(layouts, source)
    all_tensors = functools.cache(file.tensors)  # read once, for every member
    fitted_members = [_read_icnet(ICNetRegressor, _MemberFile(file, record, i, layout, all_tensors))
                      for i, (record, layout) in enumerate(zip(members, layouts, strict=True))]
    model = cls(clone(fitted_members[0]).set_params(random_state=None), **params)
    model._set_members(fitted_members, seeds)
    return model


io.register_model_format(ICNetEnsemble, params=ENSEMBLE_PARAMS, write=_write_ensemble,
                         read=_read_ensemble)
