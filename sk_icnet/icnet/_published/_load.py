"""Loading: the release's files, the graph's plan and the weights into a fitted estimator."""

from __future__ import annotations

import math
import os
import warnings
from typing import NamedTuple

import numpy as np
import torch

from ..._core.timebase import Timebase, rates_agree
from ._graph import INPUT_SCALE_RANGE, PublishedICNet, _geometry, dumps_plan
from ._hdf5 import _attach_weights, _fail, _max_parameters, _read, _read_graph, _require, _resolve
from ._plan import _check_weights, _Graph, set_time_shifts
from ._release import _number, _read_cfs, _read_yaml


def load_published_icnet(path, *, config=None, cfs=None, window_samples=None, device="cpu",
                         max_parameters=100_000_000):
    """Load the authors' published ICNet as a fitted :class:`~sk_icnet.icnet.ICNetRegressor`.

    The Keras model is rebuilt from the file's own graph (its ``model_config``) as a
    :class:`~sk_icnet.icnet.PublishedICNet`, a torch module that executes the
    graph layer by layer with Keras' semantics (padding rules, the authors' SincNet filters,
    PReLU, symlog, crops, ``Multiply``/``Add`` joins, ``CrossEntropyBlock``): any wiring
    the authors' layer classes and the Keras layers listed in the guide build, with kernels
    and strides of any size in every branch. Nothing in the file is executed. The result
    is a fitted estimator with the categorical head and one decoder per graph output,
    named ``animal_1`` .. ``animal_N`` in output order: ``predict``, ``predict_proba``,
    ``sample``, ``embed`` (the graph's ``cropped_output``), :mod:`sk_icnet.insilico`,
    ``save_model`` and ``encoder_from=`` / :func:`sk_icnet.transfer_params` work on it.
    Input stays in pascals (the ``audio_normalisation`` and the zero context are applied
    inside); ``time_s`` is the recording time (s) of the first bin.

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
        whose rates disagree with the graph, an ``audio_normalisation`` outside
        1e-30 .. 1e30, a graph that does not give one output bin per bin of sound.
    """
    h5py = _require("h5py", "load_published_icnet")
    max_parameters = _max_parameters(max_parameters)
    file, folder = _resolve(path)
    where = f"the Keras file {file!r}"
    cfg = _read_config(config, folder)
    with h5py.File(file, "r") as f:
        layers, inputs, outputs = _read_graph(f, where)
        graph = _Graph(layers, inputs, outputs, where)
        _attach_weights(f, layers, where)
        _check_weights(graph, where, max_parameters)  # before anything is read
        spb, units, module = _module_params(graph, cfg, where, window_samples)
        est = _fitted_estimator(spb, units, module, cfg, device, window_samples, where)
        state = _state_dict(graph, where)
    _load_state(est, state, where, device)
    names = est.recording_names_
    est.neurons_ = _neuron_tables(cfs, folder, file, names, units)
    est.keras_layers_ = _keras_layers(graph, names)
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
    if not os.path.lexists(config_path):
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


def _check_rates(graph, cfg, where):
    """The graph's samples per bin (its outputs' frame hop), checked against the config's rates,
    context, sizes and time scale."""
    plan = graph.plan
    for op in plan["encoder"]:
        if op["op"] == "sinc" and not rates_agree(op["fs"], cfg.fs):
            raise _fail(where, op["name"], f"its SincNet rate fs={op['fs']!r} disagrees with "
                        f"fs_audio={cfg.fs!r} in {cfg.where}.")
    geometry = _geometry(plan["encoder"], {plan["audio"]: (1, 0, 0)}, 1, 0)
    spb = geometry[plan["embedding"]][0]
    if cfg.ds_factor is not None and cfg.ds_factor != spb:
        raise _fail(where, None, f"the graph's strides downsample by {spb}, but {cfg.where} "
                    f"says ds_factor={cfg.ds_factor}.")
    if cfg.fs_mua is not None and not rates_agree(cfg.fs / cfg.fs_mua, spb):
        raise ValueError(f"{cfg.where}: fs_audio / fs_MUA = {cfg.fs / cfg.fs_mua!r} disagrees "
                         f"with the graph's downsampling by {spb} (rates disagree).")
    if cfg.context % spb:
        raise ValueError(f"{cfg.where}: context_size={cfg.context} is not a whole number of "
                         f"bins of {spb} samples.")
    heads = [d["ops"][-1] for d in plan["decoders"]]
    units = [h["units"] for h in heads]
    classes = {h["classes"] for h in heads}
    if len(classes) != 1:
        raise _fail(where, None, f"the outputs have different class counts {sorted(classes)}.")
    values = cfg.values
    for key, value in (("n_decoders", len(units)),
                       ("bottleneck_channels", graph.channels[plan["embedding"]]),
                       ("n_classes", next(iter(classes)))):
        if key in values and values[key] != value:
            raise ValueError(f"{cfg.where}: {key}={str(values[key])[:40]} disagrees with the "
                             f"graph's {value} ({where}).")
    if "decoder_channels" in values and any(u != values["decoder_channels"] for u in units):
        raise ValueError(f"{cfg.where}: decoder_channels={str(values['decoder_channels'])[:40]} "
                         f"disagrees with the graph's decoders of {units} units ({where}).")
    if graph.time_inputs and cfg.time_norm is None:
        raise ValueError(f"{cfg.where} lacks 'time_normalisation', which the graph's time "
                         "inputs need.")
    return spb, units, next(iter(classes))


def _module_params(graph, cfg, where, window_samples):
    """PublishedICNet's parameters: the plan (its time inputs' frames set) and the release's
    scaling, context and window."""
    spb, units, n_classes = _check_rates(graph, cfg, where)
    if window_samples is not None and (isinstance(window_samples, bool) or not isinstance(
            window_samples, (int, np.integer)) or window_samples < 1 or window_samples % spb):
        raise ValueError(f"window_samples must be a positive multiple of the model's {spb} "
                         f"samples per bin, or None; received {window_samples!r}.")
    low, high = INPUT_SCALE_RANGE
    if not low <= cfg.scale <= high:
        raise ValueError(f"{cfg.where}: audio_normalisation={cfg.scale!r} must be from {low:g} "
                         f"to {high:g}, so that sounds from 1 uPa to 10 kPa stay finite and "
                         "non-zero in float32 (the release has 0.04).")
    time_scale = 36000.0
    if graph.time_inputs:
        time_scale = 1.0 / float(cfg.time_norm)
        if not math.isfinite(time_scale) or not 1e-6 <= time_scale <= 1e30:
            raise ValueError(f"{cfg.where}: time_normalisation={cfg.time_norm!r} must be from "
                             "1e-30 to 1e6 (the release has 1/36000).")
    plan = set_time_shifts(graph.plan, spb, cfg.context)
    module = dict(plan=dumps_plan(plan), n_classes=n_classes, input_scale=cfg.scale,
                  context_samples=cfg.context, time_scale_s=time_scale,
                  window_samples=None if window_samples is None else int(window_samples))
    return spb, units, module


def _fitted_estimator(spb, units, module, cfg, device, window_samples, where):
    """An initialized categorical ICNetRegressor holding a PublishedICNet with the graph's plan."""
    from .._estimator import ICNetRegressor

    fs = cfg.fs
    dt_ms = Timebase.from_samples_per_bin(fs, spb).dt_ms
    est = ICNetRegressor(PublishedICNet, head="categorical", audio_fs=fs, dt_ms=dt_ms,
                         verbose=0, train_split=None, device=device,
                         **{f"module__{k}": v for k, v in module.items()})
    est.timebase_ = Timebase.from_samples_per_bin(fs, spb)
    est.n_neurons_, est.neurons_per_recording_ = sum(units), list(units)
    est.recording_names_ = [f"animal_{i + 1}" for i in range(len(units))]
    est.y_ndim_ = 3
    est.n_features_in_ = spb * max(1, (window_samples or cfg.context or spb) // spb)
    try:
        est.initialize()
    except ValueError as exc:
        raise _fail(where, None, f"the graph cannot run as sk_icnet reads it ({exc})") from None
    return est


def _load_state(est, state, where, device):
    """Load the graph's weights (``state``, float32 numpy) into the estimator's module."""
    ours = est.module_.state_dict()
    for key, value in state.items():
        if tuple(ours[key].shape) != tuple(value.shape):  # pragma: no cover - checked above
            raise _fail(where, None, f"{key} has shape {tuple(value.shape)}, the module "
                        f"{tuple(ours[key].shape)}.")
    if set(ours) != set(state):  # pragma: no cover - the plan and the map come from one graph
        raise _fail(where, None, f"the module's weights {sorted(set(ours) ^ set(state))[:3]} "
                    "have no counterpart in the file.")
    est.module_.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    est.module_.to(device)


def _neuron_tables(cfs, folder, file, names, units):
    """Per decoder name, a DataFrame of its units with their CF and reliability."""
    import pandas as pd

    cf_path = os.fspath(cfs) if cfs is not None else os.path.join(folder, "channel_CFs.mat")
    if os.path.lexists(cf_path):
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


def _keras_layers(graph, names):
    """The graph's layer names of every part (the ``keras_layers_`` record)."""
    plan = graph.plan
    return {
        "audio_input": plan["audio"], "encoder": [op["name"] for op in plan["encoder"]],
        "embedding": plan["embedding"],
        "decoders": {name: {"output": d["output"],
                            "layers": [op["name"] for op in d["ops"] if op["op"] != "time"],
                            "time_input": next((op["name"] for op in d["ops"]
                                                if op["op"] == "time"), None)}
                     for name, d in zip(names, plan["decoders"], strict=True)}}


def _state_dict(graph, where):
    """The module's state dict (float32 numpy, torch layout) from the graph's weights."""
    state = {}
    for layer, entries in graph.state_map.items():
        for key, (weight, layout) in entries.items():
            value = _read(graph.layers[layer].weights[weight], where, layer, weight)
            if layout == "conv":  # Keras (K, C_in, C_out) -> torch (C_out, C_in, K)
                value = value.transpose(2, 1, 0)
            elif layout == "dense":  # (C_in, C_out) -> (C_out, C_in, 1)
                value = value.T[:, :, None]
            else:
                value = value.reshape(-1)
            state[key] = np.ascontiguousarray(value)
    return state
