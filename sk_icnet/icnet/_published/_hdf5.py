"""The Keras 2 HDF5 file as untrusted input: its graph as JSON and its weight datasets, read with h5py
only (nothing in the file is executed). Knows no ICNet."""

from __future__ import annotations

import json
import os

import numpy as np

from ..._core.files import require

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


def _read(ds, where, layer, name):
    value = np.asarray(ds[()], dtype=np.float32)
    if not np.isfinite(value).all():
        raise _fail(where, layer, f"weight {name!r} holds NaN or inf values.")
    return value
