"""Keras-layout HDF5 files written with h5py (no TensorFlow), for the published-ICNet reader.

``keras_icnet`` describes an ICNet-like Keras functional graph as the authors' code
builds it (their layer classes ``layers>SincNetBlock``, ``layers>ConvEncoderBlock``,
``layers>CrossEntropyBlock``, or the standard ``Conv1D``/``PReLU``/``Dense``/... ones),
with random weights; ``write_keras`` writes it in the layout of a Keras 2 "whole
model" file (``model_config`` JSON, ``model_weights/<layer>/<weight path>``) and
``write_release`` adds ``config.yaml`` and ``channel_CFs.mat`` like the release folder.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

FS = 8000.0


def _layer(cls, name, config, inbound=()):
    return {"class_name": cls, "name": name, "config": {"name": name, "trainable": True,
                                                         "dtype": "float32", **config},
            "inbound_nodes": [[[src, 0, 0, {}] for src in inbound]] if inbound else []}


def keras_icnet(rng, *, n_filters=4, sinc_kernel=8, channels=6, kernel=4, strides=(2, 2),
                bottleneck=5, n_decoders=2, units=3, n_classes=5, padding="same", crop=None,
                context=16, time="block", combine="Multiply", head="block", stages="block",
                sinc="block", decoder="conv", fs=FS):
    """A graph (layers, inputs, outputs) and its weights ``{layer: [(path, array)]}``.

    ``padding`` is one mode or a list (SincNet, each strided stage, bottleneck);
    ``time``: "block" (ConvEncoderBlock k=1 with prelu), "dense_prelu" (Dense then a
    PReLU layer), "conv" (Conv1D k=1, linear) or None; ``head``: "block"
    (CrossEntropyBlock) or "softmax" (Reshape then Activation); ``stages``: "block"
    (ConvEncoderBlock) or "conv_prelu" (Conv1D then a prelu activation layer);
    ``sinc``: "block" (SincNetBlock, Filt_dim = sinc_kernel + 1) or "conv"
    (SincConv1D with Filt_dim = sinc_kernel + 1 and a symlog activation layer).
    """
    n_conv = len(strides) + 1
    pads = [padding] * (n_conv + 1) if isinstance(padding, str) else list(padding)
    spb = int(np.prod(strides))
    crop = context // spb if crop is None else crop
    layers, weights = [], {}
    f32 = np.float32

    def w(*shape, scale=0.5):
        return (rng.standard_normal(shape) * scale).astype(f32)

    layers.append(_layer("InputLayer", "audio_input",
                         {"batch_input_shape": [None, None, 1], "sparse": False, "ragged": False}))
    b1 = rng.uniform(100, fs / 4, (n_filters, 1)) / fs
    band = rng.uniform(100, fs / 4, (n_filters, 1)) / fs
    if sinc == "block":
        layers.append(_layer("layers>SincNetBlock", "sincnet", {
            "channels": n_filters, "kernel_size": sinc_kernel, "padding": pads[0],
            "activation": "symlog", "strides": 1, "fs": fs}, ["audio_input"]))
        weights["sincnet"] = [("sincnet/sincnet_conv/filt_b1:0", b1.astype(f32)),
                              ("sincnet/sincnet_conv/filt_band:0", band.astype(f32))]
        last = "sincnet"
    else:
        layers.append(_layer("layers>SincConv1D", "sinc_conv", {
            "N_filt": n_filters, "Filt_dim": sinc_kernel + 1, "fs": fs, "stride": 1,
            "padding": pads[0]}, ["audio_input"]))
        weights["sinc_conv"] = [("sinc_conv/filt_b1:0", b1.astype(f32)),
                                ("sinc_conv/filt_band:0", band.astype(f32))]
        layers.append(_layer("activations>get_activation", "sinc_act", {"value": "symlog"},
                             ["sinc_conv"]))
        last = "sinc_act"
    in_ch = n_filters
    for i, (stride, mode) in enumerate(zip([*strides, 1], pads[1:], strict=True)):
        name = f"encoder_{i}" if i < len(strides) else "bottleneck"
        out_ch = channels if i < len(strides) else bottleneck
        kern, bias, alpha = w(kernel, in_ch, out_ch), w(out_ch, scale=0.1), \
            rng.uniform(0.05, 0.4, (1, out_ch)).astype(f32)
        if stages == "block":
            layers.append(_layer("layers>ConvEncoderBlock", name, {
                "channels": out_ch, "kernel_size": [kernel], "padding": mode, "activation": "prelu",
                "strides": stride, "layer_normalization": None}, [last]))
            weights[name] = [(f"{name}/{name}_conv/kernel:0", kern), (f"{name}/{name}_conv/bias:0", bias),
                             (f"{name}/{name}_out/{name}_out/alpha:0", alpha)]
            last = name
        else:
            layers.append(_layer("Conv1D", name, {
                "filters": out_ch, "kernel_size": [kernel], "strides": [stride], "padding": mode,
                "data_format": "channels_last", "dilation_rate": [1], "groups": 1,
                "activation": "linear", "use_bias": True}, [last]))
            weights[name] = [(f"{name}/kernel:0", kern), (f"{name}/bias:0", bias)]
            layers.append(_layer("PReLU", name + "_prelu", {"shared_axes": [1]}, [name]))
            weights[name + "_prelu"] = [(f"{name}_prelu/alpha:0", alpha)]
            last = name + "_prelu"
        in_ch = out_ch
    if crop:
        layers.append(_layer("Cropping1D", "cropped_output", {"cropping": [crop, 0]}, [last]))
        last = "cropped_output"
    z = last
    inputs, outputs = [["audio_input", 0, 0]], []
    time_inputs = []
    for d in range(1, n_decoders + 1):
        source = z
        if time is not None:
            tin = f"time_input_{d}"
            layers.append(_layer("InputLayer", tin, {"batch_input_shape": [None, None, 1]}))
            time_inputs.append([tin, 0, 0])
            tname = f"time_{d}"
            kern, bias = w(1, 1, bottleneck, scale=2.0), w(bottleneck, scale=0.5) + 1
            alpha = rng.uniform(0.05, 0.4, (1, bottleneck)).astype(f32)
            if time == "block":
                layers.append(_layer("layers>ConvEncoderBlock", tname, {
                    "channels": bottleneck, "kernel_size": [1], "padding": "same",
                    "activation": "prelu", "strides": 1}, [tin]))
                weights[tname] = [(f"{tname}/{tname}_conv/kernel:0", kern),
                                  (f"{tname}/{tname}_conv/bias:0", bias),
                                  (f"{tname}/{tname}_out/{tname}_out/alpha:0", alpha)]
                tout = tname
            elif time == "dense_prelu":
                layers.append(_layer("Dense", tname, {"units": bottleneck, "activation": "linear",
                                                      "use_bias": True}, [tin]))
                weights[tname] = [(f"{tname}/kernel:0", kern[0]), (f"{tname}/bias:0", bias)]
                layers.append(_layer("PReLU", tname + "_prelu", {"shared_axes": [1]}, [tname]))
                weights[tname + "_prelu"] = [(f"{tname}_prelu/alpha:0", alpha)]
                tout = tname + "_prelu"
            else:
                layers.append(_layer("Conv1D", tname, {
                    "filters": bottleneck, "kernel_size": [1], "strides": [1], "padding": "same",
                    "activation": "linear", "use_bias": True}, [tin]))
                weights[tname] = [(f"{tname}/kernel:0", kern), (f"{tname}/bias:0", bias)]
                tout = tname
            source = f"modulated_{d}"
            layers.append(_layer(combine, source, {}, [z, tout]))
        dname = f"decoder_{d}"
        n_out = units * n_classes
        kern, bias = w(1, bottleneck, n_out), w(n_out, scale=0.2)
        if decoder == "conv":
            layers.append(_layer("Conv1D", dname, {
                "filters": n_out, "kernel_size": [1], "strides": [1], "padding": "same",
                "data_format": "channels_last", "dilation_rate": [1], "groups": 1,
                "activation": "linear", "use_bias": True}, [source]))
            weights[dname] = [(f"{dname}/kernel:0", kern), (f"{dname}/bias:0", bias)]
        else:
            layers.append(_layer("Dense", dname, {"units": n_out, "activation": "linear",
                                                  "use_bias": True}, [source]))
            weights[dname] = [(f"{dname}/kernel:0", kern[0]), (f"{dname}/bias:0", bias)]
        oname = f"output_{d}"
        if head == "block":
            layers.append(_layer("layers>CrossEntropyBlock", oname, {
                "parameters": n_classes, "output_channels": units}, [dname]))
        else:
            layers.append(_layer("Reshape", f"reshape_{d}", {"target_shape": [-1, units, n_classes]},
                                 [dname]))
            layers.append(_layer("Activation", oname, {"activation": "softmax"}, [f"reshape_{d}"]))
        outputs.append([oname, 0, 0])
    if time_inputs:
        inputs = [["audio_input", 0, 0], time_inputs]
    return {"layers": layers, "inputs": inputs, "outputs": outputs, "weights": weights,
            "spb": spb, "context": context, "units": units, "n_decoders": n_decoders,
            "bottleneck": bottleneck, "n_classes": n_classes, "fs": fs}


def write_keras(path, model, *, extra_attrs=None):
    """Write ``model`` (from :func:`keras_icnet`) as a Keras 2 HDF5 whole-model file."""
    graph = {"class_name": "Functional", "config": {
        "name": "icnet", "trainable": True, "layers": model["layers"],
        "input_layers": model["inputs"], "output_layers": model["outputs"]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(graph)
        root = f.create_group("model_weights")
        root.attrs["keras_version"] = "2.15.0"
        root.attrs["backend"] = "tensorflow"
        names = [layer["name"] for layer in model["layers"]]
        root.attrs["layer_names"] = np.array(names, dtype=object)
        for name in names:
            group = root.create_group(name)
            entries = model["weights"].get(name, [])
            group.attrs["weight_names"] = np.array([p for p, _ in entries], dtype=object) \
                if entries else np.array([], dtype=np.float64)
            for wpath, value in entries:
                group.create_dataset(wpath, data=value)
        for key, value in (extra_attrs or {}).items():
            f.attrs[key] = value
    return path


def release_config(model, **overrides):
    fs, spb = model["fs"], model["spb"]
    config = {"context_size": model["context"], "fs_audio": fs, "fs_MUA": fs / spb,
              "ds_factor": spb, "p0": 2e-5, "audio_normalisation": 0.04,
              "time_normalisation": 1 / 36000, "decoder_channels": model["units"],
              "n_decoders": model["n_decoders"], "bottleneck_channels": model["bottleneck"],
              "n_classes": model["n_classes"]}
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def write_release(folder, model, *, config=None, cfs=None):
    """A release folder: ``model_weights.hdf5``, ``config.yaml``, ``channel_CFs.mat``."""
    import yaml
    from scipy.io import savemat

    os.makedirs(folder, exist_ok=True)
    write_keras(os.path.join(folder, "model_weights.hdf5"), model)
    with open(os.path.join(folder, "config.yaml"), "w") as fh:
        yaml.safe_dump(release_config(model) if config is None else config, fh)
    n = model["units"] * model["n_decoders"]
    if cfs is None:
        cfs = np.geomspace(300.0, 3000.0, n)
        cfs[0] = np.inf
    savemat(os.path.join(folder, "channel_CFs.mat"), {"channel_CFs": np.asarray(cfs)[None]})
    return folder


class GraphBuilder:
    """Any wiring of the authors' layer classes and Keras' layers, written layer by layer with
    random weights (``build`` gives the dict :func:`write_keras` and ``numpy_forward`` take)."""

    def __init__(self, rng, fs=FS):
        self.rng, self.fs = rng, fs
        self.layers, self.weights, self.channels = [], {}, {}

    def _w(self, *shape, scale=0.5):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def _alpha(self, c):
        return self.rng.uniform(0.05, 0.4, (1, c)).astype(np.float32)

    def _add(self, cls, name, config, inbound, channels, weights=()):
        self.layers.append(_layer(cls, name, config, inbound))
        self.channels[name] = channels
        if weights:
            self.weights[name] = list(weights)
        return name

    def input(self, name):
        return self._add("InputLayer", name, {"batch_input_shape": [None, None, 1]}, (), 1)

    def sinc(self, src, name="sincnet", filters=4, kernel_size=8, stride=1, padding="same"):
        b1 = self.rng.uniform(100, self.fs / 4, (filters, 1)) / self.fs
        band = self.rng.uniform(100, self.fs / 4, (filters, 1)) / self.fs
        return self._add("layers>SincNetBlock", name, {
            "channels": filters, "kernel_size": kernel_size, "padding": padding,
            "activation": "symlog", "strides": stride, "fs": self.fs}, [src], filters,
            [(f"{name}/{name}_conv/filt_b1:0", b1.astype(np.float32)),
             (f"{name}/{name}_conv/filt_band:0", band.astype(np.float32))])

    def block(self, src, name, channels, kernel, stride=1, padding="same", activation="prelu",
              scale=0.5, bias=0.0):
        c_in = self.channels[src]
        weights = [(f"{name}/{name}_conv/kernel:0", self._w(kernel, c_in, channels, scale=scale)),
                   (f"{name}/{name}_conv/bias:0", self._w(channels, scale=0.1) + bias)]
        if activation == "prelu":
            weights.append((f"{name}/{name}_out/{name}_out/alpha:0", self._alpha(channels)))
        return self._add("layers>ConvEncoderBlock", name, {
            "channels": channels, "kernel_size": [kernel], "padding": padding,
            "activation": activation, "strides": stride, "layer_normalization": None}, [src],
            channels, weights)

    def conv(self, src, name, filters, kernel, stride=1, padding="same", activation="linear",
             scale=0.5, bias=0.0):
        c_in = self.channels[src]
        return self._add("Conv1D", name, {
            "filters": filters, "kernel_size": [kernel], "strides": [stride], "padding": padding,
            "data_format": "channels_last", "dilation_rate": [1], "groups": 1,
            "activation": activation, "use_bias": True}, [src], filters,
            [(f"{name}/kernel:0", self._w(kernel, c_in, filters, scale=scale)),
             (f"{name}/bias:0", self._w(filters, scale=0.1) + bias)])

    def dense(self, src, name, units, activation="linear", scale=0.5, bias=0.0):
        c_in = self.channels[src]
        return self._add("Dense", name, {"units": units, "activation": activation,
                                         "use_bias": True}, [src], units,
                         [(f"{name}/kernel:0", self._w(c_in, units, scale=scale)),
                          (f"{name}/bias:0", self._w(units, scale=0.1) + bias)])

    def act(self, src, name, value):
        c = self.channels[src]
        weights = [(f"{name}/alpha:0", self._alpha(c))] if value == "prelu" else ()
        return self._add("activations>get_activation", name, {"value": value}, [src], c, weights)

    def crop(self, src, name, start, end=0):
        return self._add("Cropping1D", name, {"cropping": [start, end]}, [src],
                         self.channels[src])

    def join(self, cls, name, *sources):
        return self._add(cls, name, {}, list(sources), max(self.channels[s] for s in sources))

    def xent(self, src, name, classes=5):
        return self._add("layers>CrossEntropyBlock", name, {
            "parameters": classes, "output_channels": self.channels[src] // classes}, [src],
            self.channels[src] // classes)

    def build(self, inputs, outputs, *, spb, context, units, bottleneck, n_classes=5):
        return {"layers": self.layers, "inputs": inputs, "outputs": [[o, 0, 0] for o in outputs],
                "weights": self.weights, "spb": spb, "context": context, "units": units,
                "n_decoders": len(outputs), "bottleneck": bottleneck, "n_classes": n_classes,
                "fs": self.fs}


def wired_icnet(rng, *, encoder=((6, 4, 2), (6, 3, 2)), bottleneck=(5, 4), head=((1, 1),),
                time=((1, 1),), combine="Multiply", crop="before", n_decoders=2, units=3,
                context=16, padding="same", head_padding="same", time_padding="same"):
    """An ICNet-like graph of the authors' classes with the given wiring.

    ``encoder``: (channels, kernel, stride) per strided ConvEncoderBlock (each its own);
    ``bottleneck``: (channels, kernel); ``head``: (kernel, stride) per decoder layer, the last
    one giving units x classes channels, the others ``bottleneck`` channels (prelu blocks);
    ``time``: (kernel, stride) per time layer (ConvEncoderBlocks, prelu, the last linear) or
    None; ``crop``: "before" (the authors' ``cropped_output``) or "after" the join (one crop per
    decoder, after its first decoder layer).
    """
    g = GraphBuilder(rng)
    audio = g.input("audio_input")
    last = g.sinc(audio, filters=4, kernel_size=8, padding=padding)
    for i, (channels, kernel, stride) in enumerate(encoder):
        last = g.block(last, f"encoder_{i}", channels, kernel, stride, padding)
    spb = int(np.prod([s for _, _, s in encoder]))
    z = g.block(last, "bottleneck", bottleneck[0], bottleneck[1], 1, padding)
    n_crop = context // spb
    if crop == "before":
        z = g.crop(z, "cropped_output", n_crop)
    time_inputs, outputs = [], []
    for d in range(1, n_decoders + 1):
        source = z
        if time is not None:
            tin = g.input(f"time_input_{d}")
            time_inputs.append([tin, 0, 0])
            t = tin
            for j, (kernel, stride) in enumerate(time):
                final = j == len(time) - 1
                t = g.block(t, f"time_{d}_{j}", bottleneck[0], kernel, stride, time_padding,
                            activation="linear" if final and len(time) > 1 else "prelu",
                            scale=2.0 if j == 0 else 0.5, bias=1.0 if final else 0.0)
            source = g.join(combine, f"modulated_{d}", z, t)
        for j, (kernel, stride) in enumerate(head):
            final = j == len(head) - 1
            if final:
                source = g.conv(source, f"decoder_{d}_{j}", units * 5, kernel, stride,
                                head_padding, scale=0.3)
            else:
                source = g.block(source, f"decoder_{d}_{j}", bottleneck[0], kernel, stride,
                                 head_padding)
            if crop == "after" and j == 0:
                source = g.crop(source, f"crop_{d}", n_crop)
        outputs.append(g.xent(source, f"output_{d}"))
    inputs = [["audio_input", 0, 0], time_inputs] if time_inputs else [["audio_input", 0, 0]]
    return g.build(inputs, outputs, spb=spb, context=context, units=units,
                   bottleneck=bottleneck[0])
