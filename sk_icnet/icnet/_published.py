"""The authors' published ICNet, read from its Keras 2 HDF5 file without TensorFlow.

The release folder (``DNN/`` of the authors' repository, fotisdr/ICNet; archived on
Zenodo, doi 10.5281/zenodo.11842064) holds ``model_weights.hdf5`` (a whole Keras
model: the graph as JSON and the weights), ``config.yaml`` and ``channel_CFs.mat``.
sk_icnet never ships or downloads these files (UCL Academic Licence: non-commercial
research); it reads the copy a user obtained:

>>> est = sk_icnet.load_published_icnet("DNN/")                      # doctest: +SKIP
>>> est.predict_proba(sound_pa, recording="animal_1", time_s=7200)   # doctest: +SKIP

The file is untrusted input: the graph is read as JSON and mapped onto
:class:`~sk_icnet.model.ICNet` (nothing in the file is executed; a ``Lambda``
layer, marshalled code or a pickle is refused by name), every weight's shape is
checked against the graph before anything is read, and ``config.yaml`` is read
with ``yaml.safe_load``. Reading needs h5py and PyYAML
(``pip install 'sk_icnet[published]'``).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import NamedTuple

import numpy as np
import torch

from .._core.files import require
from .._core.timebase import Timebase, rates_agree

__all__ = ["describe_keras", "load_published_icnet"]

#: largest ``model_config`` JSON and ``config.yaml`` read (characters / bytes)
MAX_GRAPH_CHARS = 16_000_000
MAX_YAML_BYTES = 1_000_000
MAX_MAT_BYTES = 64_000_000

#: layer classes that hold code (never run): refused by name
_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda", "TFClassMethodDispatcher"}
#: configuration keys that carry marshalled or pickled code
_CODE_KEYS = {"function", "function_type", "output_shape_type", "__lambda__", "__passive_serialization__",
              "module_objects", "pickle", "marshal"}

_SINC = {"layers>SincNetBlock", "layers>SincConv1D"}
_ACTIVATIONS = {"activations>get_activation", "Activation", "PReLU"}
#: every layer class the reader maps onto ICNet
SUPPORTED_CLASSES = (_SINC | _ACTIVATIONS | {
    "layers>ConvEncoderBlock", "layers>CrossEntropyBlock", "InputLayer", "Conv1D", "Dense",
    "Cropping1D", "Multiply", "Add", "Reshape"})
_KERAS_PADDING = {"same": "same", "causal": "keras_causal", "valid": "valid"}


def _require(module, purpose):
    """``module`` (h5py or PyYAML's yaml), which the ``published`` extra installs."""
    return require(module, "published", purpose)


class _Layer:
    """One layer of the graph: name, class, config, source layer names, weights (name -> dataset)."""

    def __init__(self, name, cls, config, inputs):
        self.name, self.cls, self.config, self.inputs = name, cls, config, inputs
        self.weights = {}


def _fail(where, layer, rule):
    where_layer = f", layer {layer!r}" if layer else ""
    return ValueError(f"{where}{where_layer}: {rule}")


def _scan_code(value, where, layer, depth=0):
    """Refuse configurations that carry code (marshalled functions, pickles)."""
    if depth > 50:
        raise _fail(where, layer, "the layer configuration is nested too deeply to be a Keras one.")
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _CODE_KEYS:
                raise _fail(where, layer, f"the configuration holds {key!r}, i.e. marshalled or "
                            "pickled Python code; sk_icnet never runs code from a file.")
            if key == "class_name" and isinstance(item, str) and \
                    item.lower() in ("function", "lambda", "__lambda__"):
                raise _fail(where, layer, f"the configuration holds a serialised Python function "
                            f"({item!r}); sk_icnet never runs code from a file.")
            _scan_code(item, where, layer, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _scan_code(item, where, layer, depth + 1)
    elif isinstance(value, str) and "__lambda__" in value:
        raise _fail(where, layer, "the configuration holds marshalled Python code; sk_icnet never "
                    "runs code from a file.")


def _flatten(entries):
    """Layer names of a (possibly nested) ``input_layers``/``output_layers`` list, in order."""
    if isinstance(entries, list) and len(entries) == 3 and isinstance(entries[0], str):
        return [entries[0]]
    if not isinstance(entries, list):
        raise ValueError("not a list of [layer_name, node_index, tensor_index] entries")
    return [name for entry in entries for name in _flatten(entry)]


def _inbound(layer, where):
    nodes = layer.get("inbound_nodes", [])
    if not nodes:
        return []
    if not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], list):
        raise _fail(where, layer.get("name"), "a layer must be called once in the graph (one "
                    f"inbound node); received {str(nodes)[:200]}.")
    sources = []
    for entry in nodes[0]:
        if not (isinstance(entry, list) and entry and isinstance(entry[0], str)):
            raise _fail(where, layer.get("name"), f"unreadable inbound node entry {entry!r}.")
        if len(entry) > 2 and entry[2] != 0:
            raise _fail(where, layer.get("name"), "only layers with one output tensor are "
                        f"supported; an input reads tensor {entry[2]} of {entry[0]!r}.")
        sources.append(entry[0])
    return sources


def _resolve(path):
    """(hdf5 file, folder) of a release folder or a ``.hdf5``/``.h5`` file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in ("model_weights.hdf5", "model_weights.h5"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name), path
        found = sorted(f for f in os.listdir(path) if f.endswith((".hdf5", ".h5")))
        if len(found) != 1:
            raise ValueError(f"path {path!r} is a folder without model_weights.hdf5 (it holds "
                             f"{found or 'no HDF5 file'}); pass the .hdf5 file itself.")
        return os.path.join(path, found[0]), path
    if not os.path.isfile(path):
        raise ValueError(f"path {path!r} is neither the release folder nor its .hdf5 file.")
    return path, os.path.dirname(os.path.abspath(path))


def _dataset(group, path, where, layer):
    """The dataset at ``path`` under ``group``, through hard links only, stored in the file."""
    h5py = _require("h5py", "reading a Keras file")
    node = group
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if not isinstance(node, h5py.Group) or part not in node:
            return None
        link = node.get(part, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise _fail(where, layer, f"weight {path!r} is a {type(link).__name__} (a link to "
                        "elsewhere); only weights stored in the file itself are read.")
        node = node[part]
    if not isinstance(node, h5py.Dataset):
        return None
    if node.is_virtual or node.external:
        raise _fail(where, layer, f"weight {path!r} is stored outside the file (virtual or "
                    "external dataset); only weights stored in the file itself are read.")
    if node.dtype.kind != "f":
        raise _fail(where, layer, f"weight {path!r} has dtype {node.dtype}, not floating point "
                    "(an object, string or pickled value is never read).")
    return node


def _read_graph(f, where):
    """The layers (by name, in file order), input and output layer names of an open file."""
    raw = f.attrs.get("model_config")
    if raw is None:
        raise ValueError(f"{where} holds no model_config attribute: it is not a whole Keras model "
                         "file (a weights-only file has no graph to build the model from).")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str) or len(raw) > MAX_GRAPH_CHARS:
        raise ValueError(f"{where}: model_config must be a JSON string of at most "
                         f"{MAX_GRAPH_CHARS:,} characters; received {type(raw).__name__} of "
                         f"{len(raw) if hasattr(raw, '__len__') else '?'}.")
    try:
        graph = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{where}: model_config is not valid JSON ({str(exc)[:200]}).") from None
    config = graph.get("config") if isinstance(graph, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{where}: model_config is not a Keras functional graph (no config.layers;"
                         f" class {graph.get('class_name') if isinstance(graph, dict) else None!r}).")
    layers = {}
    for spec in config["layers"]:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or \
                not isinstance(spec.get("class_name"), str):
            raise ValueError(f"{where}: a graph layer lacks a name or a class_name: "
                             f"{str(spec)[:200]}.")
        name, cls = spec["name"], spec["class_name"]
        if name in layers:
            raise _fail(where, name, "two layers of the graph have this name.")
        cfg = spec.get("config", {})
        if not isinstance(cfg, dict):
            raise _fail(where, name, "the layer config is not a JSON object.")
        layers[name] = _Layer(name, cls, cfg, _inbound(spec, where))
    for layer in layers.values():
        for source in layer.inputs:
            if source not in layers:
                raise _fail(where, layer.name, f"reads {source!r}, which is not a layer of the graph.")
    try:
        inputs, outputs = _flatten(config.get("input_layers")), _flatten(config.get("output_layers"))
    except (ValueError, RecursionError):
        raise ValueError(f"{where}: the graph's input_layers/output_layers are unreadable.") from None
    for name in inputs + outputs:
        if name not in layers:
            raise _fail(where, name, "named as a model input or output but not a layer of the graph.")
    return layers, inputs, outputs


def _attach_weights(f, layers, where):
    """Attach each layer's weight datasets (not read) from ``model_weights``."""
    root = f["model_weights"] if "model_weights" in f else f
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs.get("layer_names", [])]
    for name in names:
        if name not in root:
            raise _fail(where, name, "listed in model_weights' layer_names but has no group.")
        group = root[name]
        weight_names = [w.decode() if isinstance(w, bytes) else str(w)
                        for w in group.attrs.get("weight_names", [])]
        if weight_names and name not in layers:
            raise _fail(where, name, f"the file stores weights {weight_names} for a layer that is "
                        "not in the graph (extra weights).")
        for wname in weight_names:
            ds = _dataset(group, wname, where, name)
            if ds is None:
                raise _fail(where, name, f"weight {wname!r} is listed but not stored.")
            short = wname.rsplit("/", 1)[-1].split(":")[0]
            if short in layers[name].weights:
                raise _fail(where, name, f"two weights are named {short!r}.")
            layers[name].weights[short] = ds


def _summary(cfg):
    keys = ("channels", "filters", "units", "kernel_size", "strides", "stride", "padding",
            "activation", "value", "fs", "N_filt", "Filt_dim", "cropping", "parameters",
            "output_channels", "target_shape", "shared_axes", "use_bias", "batch_input_shape")
    return ", ".join(f"{k}={cfg[k]}" for k in keys if k in cfg)


def describe_keras(path):
    """The layers of a Keras 2 HDF5 model file as a table (read with h5py only).

    The file's own graph (its ``model_config``) is listed as it is, supported
    or not, so that a file sk_icnet cannot load can be seen and reported.
    Nothing is executed and no weight is read (only their shapes).

    Parameters
    ----------
    path : str or path-like
        The ``.hdf5`` file, or the release folder holding it.

    Returns
    -------
    pandas.DataFrame
        One row per layer, in the graph's order: ``layer``, ``class``,
        ``config`` (a summary of the sizes, paddings and activations),
        ``inputs`` (the layers it reads), ``weights`` (name and shape of each
        stored variable), ``supported`` (whether :func:`load_published_icnet`
        knows the class).
    """
    import pandas as pd

    h5py = _require("h5py", "describe_keras")
    file, _ = _resolve(path)
    where = f"the Keras file {file!r}"
    with h5py.File(file, "r") as f:
        layers, inputs, outputs = _read_graph(f, where)
        root = f["model_weights"] if "model_weights" in f else f
        rows = []
        for layer in layers.values():
            weights = []
            if layer.name in root and isinstance(root[layer.name], h5py.Group):
                group = root[layer.name]
                for wname in group.attrs.get("weight_names", []):
                    wname = wname.decode() if isinstance(wname, bytes) else str(wname)
                    try:
                        ds = _dataset(group, wname, where, layer.name)
                        shape = "missing" if ds is None else tuple(ds.shape)
                    except ValueError as exc:
                        shape = f"refused ({str(exc).split(': ', 1)[-1][:60]})"
                    weights.append(f"{wname.rsplit('/', 1)[-1]} {shape}")
            role = " (input)" if layer.name in inputs else " (output)" if layer.name in outputs else ""
            rows.append({"layer": layer.name + role, "class": layer.cls,
                         "config": _summary(layer.config), "inputs": ", ".join(layer.inputs),
                         "weights": "; ".join(weights),
                         "supported": layer.cls in SUPPORTED_CLASSES})
    return pd.DataFrame(rows, columns=["layer", "class", "config", "inputs", "weights", "supported"])


# ------------------------------------------------------------------ graph -> ICNet
def _int(cfg, key, where, layer, minimum=1, default=None):
    value = cfg.get(key, default)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, layer, f"config {key!r} must be an integer >= {minimum}; received "
                    f"{value!r}.")
    return value


def _padding(cfg, where, layer):
    mode = cfg.get("padding", "valid")
    if mode not in _KERAS_PADDING:
        raise _fail(where, layer, f"padding must be 'same', 'causal' or 'valid'; received {mode!r}.")
    return _KERAS_PADDING[mode]


def _activation_of(layer, where):
    """The activation name of an activation layer (prelu, symlog, softmax, linear)."""
    if layer.cls == "PReLU":
        shared = layer.config.get("shared_axes")
        if shared not in ([1], (1,)):
            raise _fail(where, layer.name, "PReLU must share its alpha over time (shared_axes=[1]); "
                        f"received shared_axes={shared!r}.")
        return "prelu"
    value = layer.config.get("value" if layer.cls == "activations>get_activation" else "activation")
    if value not in ("prelu", "symlog", "softmax", "linear", None):
        raise _fail(where, layer.name, f"activation {value!r} is not supported (prelu, symlog, "
                    "softmax, linear).")
    return value or "linear"


class _Graph:
    """The graph of a published ICNet mapped onto ICNet's parts, weights not yet read."""

    def __init__(self, layers, inputs, outputs, where):
        self.layers, self.where = layers, where
        for layer in layers.values():
            if layer.cls in _CODE_LAYERS:
                raise _fail(where, layer.name, f"a {layer.cls} layer holds Python code marshalled "
                            "into the file; sk_icnet never runs code from a file.")
            _scan_code(layer.config, where, layer.name)
            if layer.cls not in SUPPORTED_CLASSES:
                raise _fail(where, layer.name, f"layer class {layer.cls!r} is not supported (see "
                            "sk_icnet.describe_keras for the whole graph).")
        self.visited = set()
        if not outputs or len(set(outputs)) != len(outputs):
            raise _fail(where, None, f"the graph must have one or more distinct outputs (one per "
                        f"decoder); its output_layers are {outputs}.")
        self.decoders = [self._decoder(name) for name in outputs]
        embeddings = {d["embedding"] for d in self.decoders}
        if len(embeddings) != 1:
            raise _fail(where, None, f"the decoders read different representations {sorted(embeddings)}"
                        "; an ICNet's decoders share one encoder output.")
        self.embedding = embeddings.pop()
        self.stages, self.crop, self.audio = self._encoder(self.embedding)
        self.time_inputs = [d["time_input"] for d in self.decoders if d["time_input"]]
        if self.time_inputs and len(self.time_inputs) != len(self.decoders):
            raise _fail(where, None, "some decoders have a time input and others not; sk_icnet "
                        "needs all or none.")
        unused = [n for n in layers if n not in self.visited]
        if unused:
            raise _fail(where, unused[0], "this layer is not on the path from the audio input to an "
                        "output that sk_icnet maps onto ICNet (see sk_icnet.describe_keras).")
        extra_inputs = [n for n in inputs if n not in self.visited]
        if extra_inputs:
            raise _fail(where, extra_inputs[0], "a model input that no output reads.")

    def _get(self, name, classes, role):
        layer = self.layers[name]
        if layer.cls not in classes:
            raise _fail(self.where, name, f"expected the {role} ({' or '.join(sorted(classes))}); "
                        f"found a {layer.cls}.")
        self.visited.add(name)
        return layer

    def _one_input(self, layer):
        if len(layer.inputs) != 1:
            raise _fail(self.where, layer.name, f"expected one input; it reads {layer.inputs}.")
        return layer.inputs[0]

    def _decoder(self, name):
        """Walk back from an output: softmax head <- decoder <- (time combination) <- embedding."""
        head = self.layers[name]
        info = {"output": name}
        if head.cls == "layers>CrossEntropyBlock":
            self._get(name, {head.cls}, "output head")
            info["n_classes"] = _int(head.config, "parameters", self.where, name, minimum=2)
            source = self._one_input(head)
        elif head.cls in _ACTIVATIONS and _activation_of(head, self.where) == "softmax":
            self._get(name, {head.cls}, "output head")
            reshape = self._get(self._one_input(head), {"Reshape"}, "reshape to (units, classes)")
            target = reshape.config.get("target_shape")
            if not (isinstance(target, list) and len(target) == 3 and isinstance(target[2], int)
                    and target[2] >= 2):
                raise _fail(self.where, reshape.name, "target_shape must be (time, units, classes);"
                            f" received {target!r}.")
            info["n_classes"] = target[2]
            source = self._one_input(reshape)
        else:
            raise _fail(self.where, name, f"an output must be a CrossEntropyBlock (or a softmax over "
                        f"a Reshape); found a {head.cls}.")
        decoder = self._get(source, {"Conv1D", "Dense"}, "decoder (Conv1D or Dense)")
        self._check_pointwise(decoder)
        units = _int(decoder.config, "filters" if decoder.cls == "Conv1D" else "units",
                     self.where, decoder.name)
        if units % info["n_classes"]:
            raise _fail(self.where, decoder.name, f"its {units} channels are not a whole number of "
                        f"units of {info['n_classes']} classes.")
        info.update(decoder=decoder.name, units=units // info["n_classes"], time_input=None,
                    time=None, combine=None, time_activation=None)
        source = self._one_input(decoder)
        combine = self.layers[source]
        if combine.cls in ("Multiply", "Add"):
            self._get(source, {combine.cls}, "time combination")
            if len(combine.inputs) != 2:
                raise _fail(self.where, source, f"expected two inputs; it reads {combine.inputs}.")
            sides = [self._time_branch(s) for s in combine.inputs]
            if sum(s is not None for s in sides) != 1:
                raise _fail(self.where, source, "exactly one of its inputs must come from a time "
                            "input (through a one-sample Conv1D/Dense/ConvEncoderBlock).")
            k = 0 if sides[0] is not None else 1
            info.update(sides[k], combine="multiply" if combine.cls == "Multiply" else "add")
            source = combine.inputs[1 - k]
        info["embedding"] = source
        return info

    def _check_pointwise(self, layer):
        cfg = self.layers[layer.name].config
        if layer.cls == "Conv1D":
            for key in ("kernel_size", "strides"):
                if _int(cfg, key, self.where, layer.name, default=1) != 1:
                    raise _fail(self.where, layer.name, f"a decoder or time layer must have {key} 1;"
                                f" received {cfg.get(key)!r}.")
            self._check_conv1d(layer)
        elif cfg.get("activation", "linear") != "linear":
            raise _fail(self.where, layer.name, f"activation {cfg.get('activation')!r}: a decoder or "
                        "time Dense layer must be linear.")

    def _check_conv1d(self, layer):
        cfg = layer.config
        if _int(cfg, "dilation_rate", self.where, layer.name, default=1) != 1 or \
                _int(cfg, "groups", self.where, layer.name, default=1) != 1:
            raise _fail(self.where, layer.name, "dilated or grouped convolutions are not supported.")
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise _fail(self.where, layer.name, "data_format must be channels_last.")
        if cfg.get("activation", "linear") != "linear":
            raise _fail(self.where, layer.name, f"activation {cfg.get('activation')!r} inside a "
                        "Conv1D is not supported (linear, followed by an activation layer).")

    def _time_branch(self, name):
        """``{time_input, time, time_activation}`` if ``name`` computes from a time input, else None."""
        layer = self.layers[name]
        activation, act_layer = "linear", None
        if layer.cls in _ACTIVATIONS:
            act_layer, activation = layer, _activation_of(layer, self.where)
            layer = self.layers[self._one_input(layer)]
        if layer.cls not in ("layers>ConvEncoderBlock", "Conv1D", "Dense"):
            return None
        if len(layer.inputs) != 1 or self.layers[layer.inputs[0]].cls != "InputLayer":
            return None
        if layer.cls == "layers>ConvEncoderBlock":
            if act_layer is not None:
                raise _fail(self.where, act_layer.name, "an activation after a ConvEncoderBlock "
                            "time layer is not supported.")
            activation = layer.config.get("activation", "linear")
            if _int(layer.config, "kernel_size", self.where, layer.name) != 1 or \
                    _int(layer.config, "strides", self.where, layer.name, default=1) != 1:
                raise _fail(self.where, layer.name, "a time layer must have kernel_size 1, stride 1.")
        else:
            self._check_pointwise(layer)
        if activation not in ("prelu", "linear"):
            raise _fail(self.where, layer.name, f"time-layer activation {activation!r} is not "
                        "supported (prelu or linear).")
        if act_layer is not None:
            self.visited.add(act_layer.name)
        self.visited.update({layer.name, layer.inputs[0]})
        return {"time_input": layer.inputs[0], "time": layer.name, "time_activation": activation,
                "time_act_layer": act_layer.name if act_layer is not None else None}

    def _encoder(self, name):
        """Walk back from the embedding to the audio input: crop, conv stages, SincNet."""
        crop = (0, 0)
        layer = self.layers[name]
        if layer.cls == "Cropping1D":
            self._get(name, {"Cropping1D"}, "crop")
            cropping = layer.config.get("cropping")
            if not (isinstance(cropping, list) and len(cropping) == 2 and
                    all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cropping)):
                raise _fail(self.where, name, f"cropping must be [start, end] integers; received "
                            f"{cropping!r}.")
            if cropping[1]:
                raise _fail(self.where, name, f"cropping {cropping}: only frames at the start (the "
                            "context) can be cropped; a crop at the end drops bins of the sound.")
            crop = tuple(cropping)
            layer = self.layers[self._one_input(layer)]
        stages, seen = [], set()
        while True:
            if layer.name in seen:
                raise _fail(self.where, layer.name, "the graph loops back to this layer; a Keras "
                            "functional graph has no cycles.")
            seen.add(layer.name)
            act = None
            if layer.cls in _ACTIVATIONS:
                act = layer
                self._get(layer.name, {layer.cls}, "activation")
                layer = self.layers[self._one_input(layer)]
            if layer.cls in _SINC:
                self._get(layer.name, {layer.cls}, "SincNet")
                stages.append(self._stage(layer, act, sinc=True))
                audio = self._get(self._one_input(layer), {"InputLayer"}, "audio input")
                shape = audio.config.get("batch_input_shape")
                if isinstance(shape, list) and shape and shape[-1] not in (1, None):
                    raise _fail(self.where, audio.name, f"the audio input must have 1 channel; its "
                                f"shape is {shape}.")
                return stages[::-1], crop, audio.name
            if layer.cls not in ("layers>ConvEncoderBlock", "Conv1D"):
                raise _fail(self.where, layer.name, f"expected an encoder stage (ConvEncoderBlock, "
                            f"or Conv1D with an activation) or the SincNet layer; found a {layer.cls}.")
            self._get(layer.name, {layer.cls}, "encoder stage")
            stages.append(self._stage(layer, act, sinc=False))
            layer = self.layers[self._one_input(layer)]

    def _stage(self, layer, act, sinc):
        cfg, where = layer.config, self.where
        stage = {"layer": layer.name, "act_layer": act.name if act is not None else None}
        if layer.cls == "layers>SincNetBlock":
            kernel = _int(cfg, "kernel_size", where, layer.name)
            stage.update(kind="sinc", channels=_int(cfg, "channels", where, layer.name),
                         kernel=kernel + 1, stride=_int(cfg, "strides", where, layer.name, default=1),
                         padding=_padding(cfg, where, layer.name), activation=cfg.get("activation"),
                         fs=cfg.get("fs"))
        elif layer.cls == "layers>SincConv1D":
            stage.update(kind="sinc", channels=_int(cfg, "N_filt", where, layer.name),
                         kernel=_int(cfg, "Filt_dim", where, layer.name),
                         stride=_int(cfg, "stride", where, layer.name, default=1),
                         padding=_padding(cfg, where, layer.name), activation="linear",
                         fs=cfg.get("fs"))
        elif layer.cls == "layers>ConvEncoderBlock":
            if cfg.get("layer_normalization"):
                raise _fail(where, layer.name, "layer_normalization is not supported.")
            stage.update(kind="conv", channels=_int(cfg, "channels", where, layer.name),
                         kernel=_int(cfg, "kernel_size", where, layer.name),
                         stride=_int(cfg, "strides", where, layer.name, default=1),
                         padding=_padding(cfg, where, layer.name),
                         activation=cfg.get("activation", "linear"), use_bias=True)
        else:  # Conv1D
            self._check_conv1d(layer)
            stage.update(kind="conv", channels=_int(cfg, "filters", where, layer.name),
                         kernel=_int(cfg, "kernel_size", where, layer.name),
                         stride=_int(cfg, "strides", where, layer.name, default=1),
                         padding=_padding(cfg, where, layer.name), activation="linear",
                         use_bias=bool(cfg.get("use_bias", True)))
        if act is not None:
            if stage["activation"] not in ("linear", None):
                raise _fail(where, act.name, f"a second activation after {layer.name!r}'s "
                            f"{stage['activation']!r} is not supported.")
            stage["activation"] = _activation_of(act, where)
        want = "symlog" if sinc else "prelu"
        if stage["activation"] != want:
            raise _fail(where, layer.name, f"an ICNet {'SincNet' if sinc else 'encoder'} stage ends "
                        f"with {want}; this one has activation {stage['activation']!r}.")
        if sinc and stage["kernel"] % 2 == 0:
            raise _fail(where, layer.name, f"SincNet filters of {stage['kernel']} taps (even) cannot "
                        "be built by the authors' layer (Filt_dim = kernel_size + 1 must be odd).")
        return stage


def _expected_weights(graph):
    """``{layer: {weight: shape}}`` that the graph's configuration implies."""
    expected = {}
    stages = graph.stages
    in_ch = 1
    for stage in stages:
        c, k = stage["channels"], stage["kernel"]
        if stage["kind"] == "sinc":
            expected[stage["layer"]] = {"filt_b1": (c, 1), "filt_band": (c, 1)}
        else:
            w = {"kernel": (k, in_ch, c)}
            if stage["use_bias"]:
                w["bias"] = (c,)
            if stage["act_layer"] is None:
                w["alpha"] = (1, c)
            expected[stage["layer"]] = w
        if stage["act_layer"] is not None and stage["activation"] == "prelu":
            expected[stage["act_layer"]] = {"alpha": (1, c)}
        in_ch = c
    z = stages[-1]["channels"]
    for d in graph.decoders:
        layer = graph.layers[d["decoder"]]
        n_out = d["units"] * d["n_classes"]
        w = {"kernel": (1, z, n_out) if layer.cls == "Conv1D" else (z, n_out)}
        if layer.config.get("use_bias", True):
            w["bias"] = (n_out,)
        expected[d["decoder"]] = w
        if d["time"]:
            t = graph.layers[d["time"]]
            w = {"kernel": (1, z) if t.cls == "Dense" else (1, 1, z)}
            if t.cls == "layers>ConvEncoderBlock" or t.config.get("use_bias", True):
                w["bias"] = (z,)
            if t.cls == "layers>ConvEncoderBlock" and d["time_activation"] == "prelu":
                w["alpha"] = (1, z)
            expected[d["time"]] = w
            if d["time_act_layer"] is not None and d["time_activation"] == "prelu":
                expected[d["time_act_layer"]] = {"alpha": (1, z)}
    return expected


def _check_weights(graph, expected, where, max_parameters):
    total = 0
    for name, layer in graph.layers.items():
        want = expected.get(name, {})
        have = {k: tuple(ds.shape) for k, ds in layer.weights.items()}
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        if missing:
            raise _fail(where, name, f"weights {missing} are missing (the layer's config needs "
                        f"{want}).")
        if extra:
            raise _fail(where, name, f"the file stores weights {extra} that the layer's config does "
                        f"not use (it needs {sorted(want)}).")
        for key, shape in want.items():
            if have[key] != shape:
                raise _fail(where, name, f"weight {key!r} has shape {have[key]}, but the layer's "
                            f"config needs {shape}.")
            total += math.prod(shape)
    if total > max_parameters:
        raise _fail(where, None, f"the graph holds {total:,} parameters, more than max_parameters="
                    f"{max_parameters:,}; pass a larger max_parameters if the file is trusted.")


def _read(ds, where, layer, name):
    value = np.asarray(ds[()], dtype=np.float32)
    if not np.isfinite(value).all():
        raise _fail(where, layer, f"weight {name!r} holds NaN or inf values.")
    return value


# ------------------------------------------------------------------ config and CFs
def _read_yaml(path):
    yaml = _require("yaml", "reading config.yaml")
    where = f"the config file {os.fspath(path)!r}"
    size = os.path.getsize(path)
    if size > MAX_YAML_BYTES:
        raise ValueError(f"{where} has {size:,} bytes, more than a config file's {MAX_YAML_BYTES:,}.")
    with open(path, encoding="utf-8") as fh:
        try:
            config = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"{where} is not valid YAML (read with yaml.safe_load: no tags, no "
                             f"objects; {str(exc)[:200]}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a mapping of keys to values; received "
                         f"{type(config).__name__}.")
    return config, where


def _number(config, key, where, integer=False, required=True):
    if key not in config:
        if required:
            raise ValueError(f"{where} lacks {key!r}, which the model needs.")
        return None
    value = config[key]
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and (value >= 0 if key == "context_size" else value > 0)
    if not ok:
        raise ValueError(f"{where}: {key} must be a {'whole' if integer else 'finite'} number "
                         f"{'>= 0' if key == 'context_size' else '> 0'}; received {value!r}.")
    return value


def _read_cfs(path, n_units):
    """The CF of every unit (Hz; inf: unreliable), decoder-major, checked before it is read."""
    where = f"the CF file {os.fspath(path)!r}"
    size = os.path.getsize(path)
    if size > MAX_MAT_BYTES:
        raise ValueError(f"{where} has {size:,} bytes, more than {MAX_MAT_BYTES:,} for "
                         f"{n_units} CFs.")
    h5py = _require("h5py", "reading a MATLAB v7.3 CF file")
    if h5py.is_hdf5(path):  # MATLAB v7.3: an HDF5 file (after a 512-byte MATLAB header)
        with h5py.File(path, "r") as f:
            ds = _dataset(f, "channel_CFs", where, None)
            if ds is None:
                raise ValueError(f"{where} holds no numeric variable 'channel_CFs'.")
            shape = tuple(ds.shape)
            if math.prod(shape) != n_units or max(shape) != n_units:
                raise ValueError(f"{where}: channel_CFs has shape {shape}, but the model has "
                                 f"{n_units} units (decoders x units per decoder).")
            cfs = np.asarray(ds[()], dtype=np.float64).reshape(-1)
    else:
        from scipy.io import loadmat, whosmat

        try:
            listing = {name: (shape, kind) for name, shape, kind in whosmat(path)}
        except Exception as exc:  # scipy raises several types for a damaged file
            raise ValueError(f"{where} is not a readable MATLAB file ({type(exc).__name__}: "
                             f"{str(exc)[:200]}).") from None
        if "channel_CFs" not in listing:
            raise ValueError(f"{where} holds no variable 'channel_CFs' (it holds "
                             f"{sorted(listing)}).")
        shape, kind = listing["channel_CFs"]
        if kind != "double" and kind not in ("single", "int32", "uint32", "int16", "uint16"):
            raise ValueError(f"{where}: channel_CFs is a MATLAB {kind}, not a numeric array.")
        if math.prod(shape) != n_units or max(shape) != n_units:
            raise ValueError(f"{where}: channel_CFs has shape {tuple(shape)} ({math.prod(shape)} "
                             f"CFs), but the model has {n_units} units (decoders x units per "
                             "decoder).")
        cfs = np.asarray(loadmat(path, variable_names=["channel_CFs"])["channel_CFs"],
                         dtype=np.float64).reshape(-1)
    bad = np.isnan(cfs) | (cfs <= 0)
    if bad.any():
        raise ValueError(f"{where}: CFs must be > 0 Hz (inf for unreliable units); unit "
                         f"{int(np.flatnonzero(bad)[0])} has {cfs[bad][0]!r}.")
    return cfs


# ------------------------------------------------------------------ loader
def load_published_icnet(path, *, config=None, cfs=None, window_samples=None, device="cpu",
                         max_parameters=100_000_000):
    """Load the authors' published ICNet as a fitted :class:`~sk_icnet.estimator.ICNetRegressor`.

    The Keras model is rebuilt from the file's own graph (its ``model_config``):
    the SincNet layer, the encoder stages, the bottleneck and its crop (the
    authors' ``cropped_output``), and per output a decoder with its time layer.
    Each becomes the matching part of :class:`~sk_icnet.model.ICNet` with the
    options that reproduce the Keras computation (``padding``, the Keras
    SincNet filters, ``input_scale``, ``context_samples``, the PReLU time
    layer). The result is a fitted estimator with the categorical head and one
    decoder per graph output, named ``animal_1`` .. ``animal_N`` in output order:
    ``predict``, ``predict_proba``, ``sample``, ``embed``,
    :mod:`sk_icnet.insilico`, ``save_model`` and ``encoder_from=`` work on it.
    Input stays in pascals (the ``audio_normalisation`` and the zero context
    are applied inside); ``time_s`` is the recording time (s) of the first bin.

    Parameters
    ----------
    path : str or path-like
        The release folder (``DNN/``: ``model_weights.hdf5``, ``config.yaml``,
        ``channel_CFs.mat``) or the ``.hdf5`` file.
    config : str or path-like, optional
        ``config.yaml`` (default: the one next to the ``.hdf5`` file; needed).
    cfs : str or path-like, optional
        ``channel_CFs.mat`` (default: the one next to the file; without one the
        neurons tables have no CFs, with a warning).
    window_samples : int, optional
        The authors' windowed mode: independent windows of this many samples,
        each with ``context_size`` samples of left context (their notebook's
        computation). None (default): one pass over the whole sound, which
        ``predict`` reproduces whatever its chunk size.
    device : str, default="cpu"
    max_parameters : int, default=100_000_000
        Files whose graph holds more parameters are refused before any weight is
        read (the paper's model has about 6.6 million).

    Returns
    -------
    ICNetRegressor
        Fitted, with ``recording_names_`` ``["animal_1", ...]``, ``audio_fs_``
        and ``dt_ms_`` from ``config.yaml``, ``neurons_`` (per decoder name, a
        DataFrame with ``unit``, ``cf_hz`` and ``reliable``: finite CF) and
        ``keras_layers_`` (the graph's layer names of every part).

    Raises
    ------
    ValueError
        Naming the file, the layer and the rule, for anything the reader does
        not map exactly: an unsupported layer, code in the file, missing, extra,
        misshaped or non-finite weights, a CF file of another length, a config
        whose rates disagree with the graph.
    """
    h5py = _require("h5py", "load_published_icnet")
    max_parameters = int(max_parameters)
    file, folder = _resolve(path)
    where = f"the Keras file {file!r}"
    cfg = _read_config(config, folder)
    with h5py.File(file, "r") as f:
        layers, inputs, outputs = _read_graph(f, where)
        graph = _Graph(layers, inputs, outputs, where)
        _attach_weights(f, layers, where)
        expected = _expected_weights(graph)
        _check_weights(graph, expected, where, max_parameters)  # before anything is read
        plan = _plan_module(graph, cfg, where, window_samples)
        est = _fitted_estimator(plan, cfg, device, window_samples, where)
        state = _state_dict(graph, where, cfg.fs)
    _load_state(est, state, where, device)
    names = est.recording_names_
    est.neurons_ = _neuron_tables(cfs, folder, file, names, plan.units)
    est.keras_layers_ = _keras_layers(graph, plan, names)
    return est


class _Config(NamedTuple):
    """What ``config.yaml`` says: rates, context, input and time scaling (checked numbers)."""

    values: dict
    where: str
    fs: float
    ds_factor: int | None
    fs_mua: float | None
    context: int
    scale: float
    time_norm: float | None


def _read_config(config, folder):
    """``config.yaml`` (``config``, or the one in ``folder``), read and its numbers checked."""
    config_path = os.fspath(config) if config is not None else os.path.join(folder, "config.yaml")
    if not os.path.isfile(config_path):
        raise ValueError(f"config {config_path!r} does not exist: the model needs the release's "
                         "config.yaml (rates, context, input scaling); pass config=<path>.")
    cfg, cfg_where = _read_yaml(config_path)
    return _Config(
        values=cfg, where=cfg_where,
        fs=float(_number(cfg, "fs_audio", cfg_where)),
        ds_factor=_number(cfg, "ds_factor", cfg_where, integer=True, required=False),
        fs_mua=_number(cfg, "fs_MUA", cfg_where, required=False),
        context=_number(cfg, "context_size", cfg_where, integer=True, required=False) or 0,
        scale=float(_number(cfg, "audio_normalisation", cfg_where, required=False) or 1.0),
        time_norm=_number(cfg, "time_normalisation", cfg_where, required=False))


class _Plan(NamedTuple):
    """The graph's parts and the :class:`~sk_icnet.icnet.ICNet` parameters that rebuild them."""

    sinc: dict
    encoder: list
    bottleneck: dict
    samples_per_bin: int
    units: list
    module: dict


def _split_stages(graph, where):
    """The SincNet stage, the encoder stages and the bottleneck, checked against each other."""
    stages = graph.stages
    sinc, convs = stages[0], stages[1:]
    if len(convs) < 2:
        raise _fail(where, sinc["layer"], "an ICNet needs at least one strided encoder stage "
                    "and a bottleneck after the SincNet layer.")
    encoder, bottleneck = convs[:-1], convs[-1]
    for stage in encoder[1:]:
        for key in ("channels", "kernel"):
            if stage[key] != encoder[0][key]:
                raise _fail(where, stage["layer"], f"encoder stages must share their {key} "
                            f"({encoder[0][key]} in {encoder[0]['layer']!r}); this one has "
                            f"{stage[key]}.")
    if bottleneck["kernel"] != encoder[0]["kernel"] or bottleneck["stride"] != 1:
        raise _fail(where, bottleneck["layer"], "the bottleneck must have the encoder's kernel "
                    f"size ({encoder[0]['kernel']}) and stride 1; it has kernel "
                    f"{bottleneck['kernel']}, stride {bottleneck['stride']}.")
    return sinc, encoder, bottleneck


def _check_rates(sinc, encoder, cfg, where):
    """The graph's samples per bin, checked against the config's rates and context."""
    spb = sinc["stride"] * math.prod(s["stride"] for s in encoder)
    if not isinstance(sinc["fs"], (int, float)) or isinstance(sinc["fs"], bool) or \
            not rates_agree(sinc["fs"], cfg.fs):
        raise _fail(where, sinc["layer"], f"its SincNet rate fs={sinc['fs']!r} disagrees with "
                    f"fs_audio={cfg.fs!r} in {cfg.where}.")
    if cfg.ds_factor is not None and cfg.ds_factor != spb:
        raise _fail(where, None, f"the graph's strides downsample by {spb}, but {cfg.where} "
                    f"says ds_factor={cfg.ds_factor}.")
    if cfg.fs_mua is not None and not rates_agree(cfg.fs / cfg.fs_mua, spb):
        raise ValueError(f"{cfg.where}: fs_audio / fs_MUA = {cfg.fs / cfg.fs_mua!r} disagrees "
                         f"with the graph's downsampling by {spb} (rates disagree).")
    if cfg.context % spb:
        raise ValueError(f"{cfg.where}: context_size={cfg.context} is not a whole number of "
                         f"bins of {spb} samples.")
    return spb


def _check_decoders(graph, bottleneck, cfg, where):
    """Units per decoder, the class count and the time layer, alike over decoders and config."""
    units = [d["units"] for d in graph.decoders]
    classes = {d["n_classes"] for d in graph.decoders}
    if len(classes) != 1:
        raise _fail(where, None, f"the outputs have different class counts {sorted(classes)}.")
    n_classes = classes.pop()
    values = cfg.values
    for key, value in (("n_decoders", len(units)), ("bottleneck_channels",
                                                    bottleneck["channels"]),
                       ("n_classes", n_classes)):
        if key in values and values[key] != value:
            raise ValueError(f"{cfg.where}: {key}={values[key]!r} disagrees with the graph's "
                             f"{value} ({where}).")
    if "decoder_channels" in values and any(u != values["decoder_channels"] for u in units):
        raise ValueError(f"{cfg.where}: decoder_channels={values['decoder_channels']!r} "
                         f"disagrees with the graph's decoders of {units} units ({where}).")
    time_input = bool(graph.time_inputs)
    if time_input and cfg.time_norm is None:
        raise ValueError(f"{cfg.where} lacks 'time_normalisation', which the graph's time "
                         "inputs need.")
    activations = {d["time_activation"] for d in graph.decoders}
    combines = {d["combine"] for d in graph.decoders}
    if len(activations) != 1 or len(combines) != 1:
        raise _fail(where, None, "the decoders' time layers differ in kind; sk_icnet needs them "
                    "alike.")
    return units, n_classes, time_input, activations.pop(), combines.pop()


def _plan_module(graph, cfg, where, window_samples):
    """The graph's stages checked against the config and each other, and ICNet's parameters."""
    sinc, encoder, bottleneck = _split_stages(graph, where)
    spb = _check_rates(sinc, encoder, cfg, where)
    units, n_classes, time_input, activation, combine = _check_decoders(
        graph, bottleneck, cfg, where)
    if window_samples is not None and (isinstance(window_samples, bool) or not isinstance(
            window_samples, (int, np.integer)) or window_samples < 1 or window_samples % spb):
        raise ValueError(f"window_samples must be a positive multiple of the model's {spb} "
                         f"samples per bin, or None; received {window_samples!r}.")
    module = dict(
        n_filters=sinc["channels"], sincnet_kernel_size=sinc["kernel"],
        sincnet_style="keras", sincnet_stride=sinc["stride"],
        encoder_channels=encoder[0]["channels"], encoder_kernel_size=encoder[0]["kernel"],
        n_encoder_layers=len(encoder), bottleneck_channels=bottleneck["channels"],
        encoder_strides=[s["stride"] for s in encoder], n_classes=n_classes,
        padding=[s["padding"] for s in graph.stages], input_scale=cfg.scale,
        context_samples=cfg.context, crop_bins=graph.crop[0], time_input=time_input,
        window_samples=window_samples)
    if time_input:
        module.update(time_scale_s=1.0 / float(cfg.time_norm), time_layer=activation,
                      time_combine=combine)
    return _Plan(sinc, encoder, bottleneck, spb, units, module)


def _fitted_estimator(plan, cfg, device, window_samples, where):
    """An initialized categorical ICNetRegressor with the plan's module and fitted attributes."""
    from ._estimator import ICNetRegressor

    fs, spb, units = cfg.fs, plan.samples_per_bin, plan.units
    dt_ms = Timebase.from_samples_per_bin(fs, spb).dt_ms
    est = ICNetRegressor(head="categorical", audio_fs=fs, dt_ms=dt_ms, verbose=0,
                         train_split=None, device=device,
                         **{f"module__{k}": v for k, v in plan.module.items()})
    est.audio_fs_, est.dt_ms_, est.samples_per_bin_ = fs, dt_ms, spb
    est.n_neurons_, est.neurons_per_recording_ = sum(units), units
    est.recording_names_ = [f"animal_{i + 1}" for i in range(len(units))]
    est.y_ndim_ = 3
    est.n_features_in_ = spb * max(1, (window_samples or cfg.context or spb) // spb)
    try:
        est.initialize()
    except ValueError as exc:
        raise _fail(where, None, f"the graph's sizes make no ICNet ({exc}).") from None
    return est


def _load_state(est, state, where, device):
    """Load the graph's weights (``state``, float32 numpy) into the estimator's module."""
    ours = est.module_.state_dict()
    for key, value in state.items():
        if tuple(ours[key].shape) != tuple(value.shape):  # pragma: no cover - checked above
            raise _fail(where, None, f"{key} has shape {tuple(value.shape)}, the module "
                        f"{tuple(ours[key].shape)}.")
    est.module_.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    est.module_.to(device)


def _neuron_tables(cfs, folder, file, names, units):
    """Per decoder name, a DataFrame of its units with their CF and reliability."""
    import pandas as pd

    cf_path = os.fspath(cfs) if cfs is not None else os.path.join(folder, "channel_CFs.mat")
    if os.path.isfile(cf_path):
        cf = _read_cfs(cf_path, sum(units))
    elif cfs is not None:
        raise ValueError(f"cfs {cf_path!r} does not exist.")
    else:
        warnings.warn(f"no channel_CFs.mat next to {file!r}: the neurons tables have no CFs "
                      "(pass cfs=<path>).", UserWarning, stacklevel=3)
        cf = np.full(sum(units), np.nan)
    offsets = np.concatenate([[0], np.cumsum(units)])
    return {
        name: pd.DataFrame({"unit": np.arange(n), "cf_hz": cf[offsets[i]: offsets[i + 1]],
                            "reliable": np.isfinite(cf[offsets[i]: offsets[i + 1]])})
        for i, (name, n) in enumerate(zip(names, units, strict=True))}


def _keras_layers(graph, plan, names):
    """The graph's layer names of every part (the ``keras_layers_`` record)."""
    return {
        "audio_input": graph.audio, "sincnet": plan.sinc["layer"],
        "encoder": [s["layer"] for s in plan.encoder], "bottleneck": plan.bottleneck["layer"],
        "embedding": graph.embedding,
        "decoders": {name: {k: d[k] for k in ("output", "decoder", "time", "time_input")}
                     for name, d in zip(names, graph.decoders, strict=True)}}


def _state_dict(graph, where, fs):
    """ICNet's state dict (float32 numpy) from the graph's weights, each read and checked."""
    def weight(layer, name):
        return _read(graph.layers[layer].weights[name], where, layer, name)

    def alpha(stage):
        if stage["act_layer"] is not None:
            return weight(stage["act_layer"], "alpha").reshape(-1)
        return weight(stage["layer"], "alpha").reshape(-1)

    stages = graph.stages
    sinc = stages[0]
    state = {"sincnet.low_hz": (weight(sinc["layer"], "filt_b1").reshape(-1).astype(np.float64)
                                * fs).astype(np.float32),
             "sincnet.band_hz": (weight(sinc["layer"], "filt_band").reshape(-1).astype(np.float64)
                                 * fs).astype(np.float32)}
    convs = stages[1:]
    for i, stage in enumerate(convs):
        prefix = "bottleneck" if i == len(convs) - 1 else f"encoder.{i}"
        kernel = weight(stage["layer"], "kernel")
        state[f"{prefix}.conv.weight"] = np.ascontiguousarray(kernel.transpose(2, 1, 0))
        state[f"{prefix}.conv.bias"] = (weight(stage["layer"], "bias") if stage["use_bias"]
                                        else np.zeros(kernel.shape[2], np.float32))
        state[f"{prefix}.act.weight"] = alpha(stage)
    weights, biases, gains, tbias, talpha = [], [], [], [], []
    for d in graph.decoders:
        layer = graph.layers[d["decoder"]]
        kernel = weight(d["decoder"], "kernel")
        kernel = kernel[0] if kernel.ndim == 3 else kernel  # (C, units * classes)
        weights.append(kernel.T)
        biases.append(weight(d["decoder"], "bias") if "bias" in layer.weights
                      else np.zeros(kernel.shape[1], np.float32))
        if d["time"]:
            t = graph.layers[d["time"]]
            gains.append(weight(d["time"], "kernel").reshape(-1))
            tbias.append(weight(d["time"], "bias") if "bias" in t.weights
                         else np.zeros_like(gains[-1]))
            if d["time_activation"] == "prelu":
                source = d["time_act_layer"] or d["time"]
                talpha.append(weight(source, "alpha").reshape(-1))
    state["decoder.weight"] = np.ascontiguousarray(np.concatenate(weights, axis=0))
    state["decoder.bias"] = np.concatenate(biases)
    if gains:
        state["time_gain"] = np.stack(gains)
        state["time_bias"] = np.stack(tbias)
        if talpha:
            state["time_alpha"] = np.stack(talpha)
    return state
