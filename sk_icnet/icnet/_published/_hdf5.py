"""The Keras 2 HDF5 file as untrusted input: its graph as JSON and its weight datasets, read with h5py
only (nothing in the file is executed). Knows no ICNet."""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os

import numpy as np

from ..._core.files import check_hdf5_links, checked_path, quote, regular_file, require

#: largest ``model_config`` JSON and ``config.yaml`` read (characters / bytes)
MAX_GRAPH_CHARS = 16_000_000
MAX_YAML_BYTES = 1_000_000
MAX_MAT_BYTES = 64_000_000
#: most names a ``layer_names`` / ``weight_names`` attribute may list
MAX_NAMES = 100_000
#: longest rule of a refusal (the values it quotes are cut before: this is the last guard)
MAX_RULE_CHARS = 1500
#: the first bytes of every HDF5 file (at offset 0, 512, 1024, ...: a user block may come first)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

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
    where_layer = f", layer {quote(layer)}" if layer else ""
    if len(rule) > MAX_RULE_CHARS:
        rule = rule[:MAX_RULE_CHARS] + f"... (cut at {MAX_RULE_CHARS} characters)"
    return ValueError(f"{where}{where_layer}: {rule}")


def _scan_code(value, where, layer, depth=0):
    """Refuse configurations that carry code (marshalled functions, pickles)."""
    if depth > 50:
        raise _fail(where, layer, "the layer configuration is nested too deeply to be a Keras one.")
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _CODE_KEYS:
                raise _fail(where, layer, f"the configuration holds {quote(key)}, i.e. marshalled or "
                            "pickled Python code; sk_icnet never runs code from a file.")
            if key == "class_name" and isinstance(item, str) and \
                    item.lower() in ("function", "lambda", "__lambda__"):
                raise _fail(where, layer, f"the configuration holds a serialised Python function "
                            f"({quote(item)}); sk_icnet never runs code from a file.")
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
                    f"inbound node); received {quote(nodes)}.")
    sources = []
    for entry in nodes[0]:
        if not (isinstance(entry, list) and entry and isinstance(entry[0], str)):
            raise _fail(where, layer.get("name"), f"unreadable inbound node entry {quote(entry)}.")
        if len(entry) > 2 and entry[2] != 0:
            raise _fail(where, layer.get("name"), "only layers with one output tensor are "
                        f"supported; an input reads tensor {quote(entry[2])} of {quote(entry[0])}.")
        sources.append(entry[0])
    return sources


def _resolve(path):
    """(hdf5 file, folder) of a release folder or a ``.hdf5``/``.h5`` file, checked: a regular
    file (found inside the folder, or named by the user), an HDF5 file that h5py opens, with
    no link or reference anywhere in it (:func:`_open_keras`)."""
    what = "a Keras release folder or its .hdf5 file"
    path = checked_path(path, what)
    if os.path.isdir(path):
        names = ("model_weights.hdf5", "model_weights.h5")
        found = [n for n in names if os.path.lexists(os.path.join(path, n))][:1] or \
            sorted(f for f in os.listdir(path) if f.endswith((".hdf5", ".h5")))
        if len(found) != 1:
            raise ValueError(f"path {path!r} is a folder without model_weights.hdf5 (it holds "
                             f"{quote(found) if found else 'no HDF5 file'}); pass the .hdf5 "
                             "file itself.")
        file, _ = regular_file(os.path.join(path, found[0]), "a Keras HDF5 file", within=path)
        folder = path
    elif not os.path.lexists(path):
        raise ValueError(f"path {path!r} is neither the release folder nor its .hdf5 file (it "
                         "does not exist).")
    else:
        file, _ = regular_file(path, "a Keras HDF5 file")
        folder = os.path.dirname(os.path.abspath(path))
    with _open_keras(file):
        pass
    return file, folder


@contextlib.contextmanager
def _open_keras(file):
    """The Keras file ``file`` (a regular file) open with h5py, refused with a ``ValueError``
    naming it when h5py cannot open it (not HDF5, empty, truncated) or when anything in it
    links or refers elsewhere: external links (another file, a FIFO, a device), soft links
    (one layer's name reading another's weights), object references, data stored outside
    the file. A Keras 2 file holds none of these, so all are refused at every level."""
    h5py = _require("h5py", "reading a Keras file")
    where = f"the Keras file {file!r}"
    try:
        f = h5py.File(file, "r")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where} is not a readable HDF5 file ({quote(str(exc))}); pass the "
                         "release's model_weights.hdf5.") from None
    with f:
        try:
            check_hdf5_links(f, where)
        except OSError as exc:
            raise ValueError(f"{where} is not a readable HDF5 file (damaged while its links "
                             f"were listed: {quote(str(exc))}).") from None
        yield f


def _names(obj, attr, where, layer):
    """The names listed in attribute ``attr`` of ``obj`` (a group): a 1-D array of strings."""
    if attr not in obj.attrs:
        return []
    raw = obj.attrs.get(attr)
    if isinstance(raw, np.ndarray) and raw.ndim == 1 and raw.size == 0:
        return []
    if not isinstance(raw, np.ndarray) or raw.ndim != 1 or raw.dtype.kind not in "OSU" or \
            raw.size > MAX_NAMES:
        raise _fail(where, layer, f"{attr} must be a list of names (a 1-D array of at most "
                    f"{MAX_NAMES:,} strings), as Keras writes it; received {type(raw).__name__}"
                    f" {quote(raw)}" + (f" of dtype {raw.dtype}, shape {raw.shape}"
                                        if isinstance(raw, np.ndarray) else "") + ".")
    names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in raw.tolist()]
    if not all(isinstance(n, str) for n in names):
        raise _fail(where, layer, f"{attr} must be a list of names; it holds "
                    f"{quote([n for n in names if not isinstance(n, str)][:3])}.")
    return names


def _max_parameters(value):
    """``max_parameters`` checked: a whole number >= 1 (an int, or a float of one such as 1e8)."""
    ok_type = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer())
    if isinstance(value, bool) or not ok_type:
        raise TypeError(f"max_parameters must be a whole number >= 1; received "
                        f"{type(value).__name__} {quote(value)}.")
    if value < 1:
        raise ValueError(f"max_parameters must be a whole number >= 1; received {quote(value)}."
                         " Pass the largest parameter count a file may hold (default 1e8).")
    return int(value)


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
            raise _fail(where, layer, f"weight {quote(path)} is a {type(link).__name__} (a link to "
                        "elsewhere); only weights stored in the file itself are read.")
        node = node[part]
    if not isinstance(node, h5py.Dataset):
        return None
    if node.is_virtual or node.external:
        raise _fail(where, layer, f"weight {quote(path)} is stored outside the file (virtual or "
                    "external dataset); only weights stored in the file itself are read.")
    if node.dtype.kind != "f":
        raise _fail(where, layer, f"weight {quote(path)} has dtype {node.dtype}, not floating point "
                    "(an object, string or pickled value is never read).")
    return node


@contextlib.contextmanager
def _damaged(where):
    """h5py's ``OSError`` on a damaged (truncated, overwritten) file as a ``ValueError`` naming it."""
    try:
        yield
    except OSError as exc:
        raise ValueError(f"{where} is not a readable HDF5 file: it is damaged or truncated "
                         f"({quote(str(exc))}).") from None


def _read_graph(f, where):
    """The layers (by name, in file order), input and output layer names of an open file."""
    with _damaged(where):
        return _graph_of(f, where)


def _graph_of(f, where):
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
        cls = graph.get("class_name") if isinstance(graph, dict) else None
        raise ValueError(f"{where}: model_config is not a Keras functional graph (no config.layers;"
                         f" class {quote(cls)}).")
    layers = {}
    for spec in config["layers"]:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or \
                not isinstance(spec.get("class_name"), str):
            raise ValueError(f"{where}: a graph layer lacks a name or a class_name: "
                             f"{quote(spec)}.")
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
                raise _fail(where, layer.name, f"reads {quote(source)}, which is not a layer of the "
                            "graph.")
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
    with _damaged(where):
        _attach(f, layers, where)


def _attach(f, layers, where):
    h5py = _require("h5py", "reading a Keras file")
    root = f["model_weights"] if "model_weights" in f else f
    for name in _names(root, "layer_names", where, None):
        if name not in root or not isinstance(root[name], h5py.Group):
            raise _fail(where, name, "listed in model_weights' layer_names but has no group.")
        group = root[name]
        weight_names = _names(group, "weight_names", where, name)
        if weight_names and name not in layers:
            raise _fail(where, name, f"the file stores weights {quote(weight_names)} for a layer "
                        "that is not in the graph (extra weights).")
        for wname in weight_names:
            ds = _dataset(group, wname, where, name)
            if ds is None:
                raise _fail(where, name, f"weight {quote(wname)} is listed but not stored.")
            short = wname.rsplit("/", 1)[-1].split(":")[0]
            if short in layers[name].weights:
                raise _fail(where, name, f"two weights are named {quote(short)}.")
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

    Raises
    ------
    ValueError
        Naming the file and the rule, for a path that is not a regular file (a
        FIFO, a device, a directory), a file h5py cannot open (not HDF5, empty,
        truncated), or a file holding links or references (to another file, to
        another layer of the same file), which a Keras file never holds.
    """
    import pandas as pd

    h5py = _require("h5py", "describe_keras")
    file, _ = _resolve(path)
    where = f"the Keras file {file!r}"
    with _open_keras(file) as f, _damaged(where):
        layers, inputs, outputs = _graph_of(f, where)
        root = f["model_weights"] if "model_weights" in f else f
        rows = []
        for layer in layers.values():
            weights = []
            if layer.name in root and isinstance(root[layer.name], h5py.Group):
                group = root[layer.name]
                for wname in _names(group, "weight_names", where, layer.name):
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
    with _damaged(where):
        value = np.asarray(ds[()], dtype=np.float32)
    if not np.isfinite(value).all():
        raise _fail(where, layer, f"weight {quote(name)} holds NaN or inf values.")
    return value
