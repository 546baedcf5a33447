"""From the file's graph to a model plan: the stages, decoders and time layers, their weights' expected
shapes, checked against the graph before anything is read."""

from __future__ import annotations

import math

from ._hdf5 import _ACTIVATIONS, _CODE_LAYERS, _KERAS_PADDING, _SINC, SUPPORTED_CLASSES, _fail, _scan_code


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
