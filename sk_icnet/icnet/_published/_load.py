"""Loading: the release's files, the graph's plan and the weights into a fitted estimator."""

from __future__ import annotations

import math
import os
import warnings
from typing import NamedTuple

import numpy as np
import torch

from ..._core.timebase import Timebase, rates_agree
from ._hdf5 import _attach_weights, _fail, _max_parameters, _read, _read_graph, _require, _resolve
from ._plan import _check_weights, _expected_weights, _Graph
from ._release import _number, _read_cfs, _read_yaml


def load_published_icnet(path, *, config=None, cfs=None, window_samples=None, device="cpu",
                         max_parameters=100_000_000):
    """Load the authors' published ICNet as a fitted :class:`~sk_icnet.icnet.ICNetRegressor`.

    The Keras model is rebuilt from the file's own graph (its ``model_config``):
    the SincNet layer, the encoder stages, the bottleneck and its crop (the
    authors' ``cropped_output``), and per output a decoder with its time layer.
    Each becomes the matching part of :class:`~sk_icnet.icnet.ICNet` with the
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
    max_parameters = _max_parameters(max_parameters)
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
    from .._estimator import ICNetRegressor

    fs, spb, units = cfg.fs, plan.samples_per_bin, plan.units
    dt_ms = Timebase.from_samples_per_bin(fs, spb).dt_ms
    est = ICNetRegressor(head="categorical", audio_fs=fs, dt_ms=dt_ms, verbose=0,
                         train_split=None, device=device,
                         **{f"module__{k}": v for k, v in plan.module.items()})
    est.timebase_ = Timebase.from_samples_per_bin(fs, spb)
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
