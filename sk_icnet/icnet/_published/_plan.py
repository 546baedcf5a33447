"""From the file's graph to a plan that :class:`~._graph.PublishedICNet` executes: every layer on a
path from the audio input to an output becomes one operation with Keras semantics, the weights'
expected shapes checked against the graph before anything is read.

What is refused, and why (each refusal names the layer and the rule):

- layer classes other than the authors' (``SincNetBlock``, ``SincConv1D``, ``ConvEncoderBlock``,
  ``CrossEntropyBlock``, ``get_activation``) and Keras' ``InputLayer``, ``Conv1D``, ``Dense``,
  ``Activation``, ``PReLU``, ``Cropping1D``, ``Multiply``, ``Add`` and a ``Reshape`` before the
  output softmax; layers holding code (``Lambda``);
- dilated or grouped convolutions, ``channels_first``, ``layer_normalization``, activations other
  than prelu, symlog, softmax and Keras' linear, relu, sigmoid, tanh, softplus, exponential;
- a time branch that changes its length (stride, ``valid`` padding, crop): the authors' time
  input has one value per frame of the tensor it joins;
- graphs without one shared representation (the embedding) that every decoder reads, or with a
  layer after it shared by several decoders: ``encode`` and ``encoder_from=`` need that split;
- outputs other than a ``CrossEntropyBlock`` (or a softmax over a ``Reshape`` to classes).
"""

from __future__ import annotations

import math

from ._graph import MAX_CHANNELS, MAX_CROP, MAX_KERNEL, MAX_OPS, MAX_STRIDE, _frames
from ._hdf5 import _CODE_LAYERS, _SINC, SUPPORTED_CLASSES, _fail, _scan_code

#: most layers a graph may have (the plan holds at most MAX_OPS operations per part)
MAX_LAYERS = 4 * MAX_OPS
#: activations of Keras' own layers (Conv1D, Dense, Activation)
_KERAS_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softplus", "softmax", "exponential")
#: activations of the authors' get_activation (ConvEncoderBlock, SincNetBlock)
_AUTHORS_ACTIVATIONS = ("prelu", "symlog", "softmax", "linear")


def _int(cfg, key, where, layer, minimum=1, default=None, maximum=MAX_CHANNELS):
    value = cfg.get(key, default)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise _fail(where, layer, f"config {key!r} must be an integer from {minimum} to "
                    f"{maximum:,}; received {str(value)[:60]}.")
    return value


def _padding(cfg, where, layer):
    mode = cfg.get("padding", "valid")
    if mode not in ("same", "causal", "valid"):
        raise _fail(where, layer, f"padding must be 'same', 'causal' or 'valid'; received "
                    f"{str(mode)[:40]!r}.")
    return mode


def _activation(value, allowed, where, layer):
    value = "linear" if value is None else value
    if value not in allowed:
        raise _fail(where, layer, f"activation {str(value)[:40]!r} is not supported (this layer "
                    f"takes {', '.join(allowed)}).")
    return value


class _Graph:
    """The graph of a published ICNet as a plan (dict) and the weights each operation reads."""

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
        if not outputs or len(set(outputs)) != len(outputs):
            raise _fail(where, None, f"the graph must have one or more distinct outputs (one per "
                        f"decoder); its output_layers are {str(outputs)[:200]}.")
        if len(layers) > MAX_LAYERS:
            raise _fail(where, None, f"the graph has {len(layers):,} layers, more than the "
                        f"{MAX_LAYERS:,} a published ICNet plan holds.")
        self.outputs = outputs
        self.readers = {name: [] for name in layers}
        for layer in layers.values():
            for source in layer.inputs:
                self.readers[source].append(layer.name)
        self.order = self._topological(outputs)
        unused = [n for n in layers if n not in self.order]
        if unused:
            raise _fail(where, unused[0], "this layer is not on the path from an input to an "
                        "output (see sk_icnet.describe_keras).")
        extra = [n for n in inputs if n not in self.order]
        if extra:
            raise _fail(where, extra[0], "a model input that no output reads.")
        self.audio = self._audio(inputs)
        self.time_inputs = [n for n in self.order if layers[n].cls == "InputLayer"
                            and n != self.audio]
        self.from_audio = self._descendants([self.audio])
        self.from_time = self._descendants(self.time_inputs)
        self.embedding = self._embedding()
        self.expected, self.state_map = {}, {}
        self.channels = {name: 1 for name in [self.audio, *self.time_inputs]}
        before = self._ancestors(self.embedding)
        encoder_names = [n for n in self.order if n in before and n != self.audio]
        self.encoder_names = encoder_names
        encoder = [self._op(n, f"encoder.{i}") for i, n in enumerate(encoder_names)]
        taken = set(encoder_names) | {self.audio}
        decoders, owner = [], {}
        for d, output in enumerate(outputs):
            reads = self._ancestors(output)
            names = [n for n in self.order if n in reads and n not in taken]
            for n in names:
                if n in owner and self.layers[n].cls != "InputLayer":
                    raise _fail(where, n, f"this layer is shared by the decoders of "
                                f"{owner[n]!r} and {output!r}; sk_icnet's decoders share only "
                                f"the embedding {self.embedding!r}.")
                owner.setdefault(n, output)
            decoders.append({"output": output, "ops": self._decoder(d, output, names)})
        self.plan = {"format": 1, "audio": self.audio, "encoder": encoder,
                     "embedding": self.embedding, "decoders": decoders}

    # ------------------------------------------------------------------ structure
    def _topological(self, outputs):
        """Layers that the outputs read, inputs first (refuses cycles)."""
        order, state = [], {}
        for out in outputs:
            stack = [(out, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise _fail(self.where, name, "the graph loops back to this layer; a Keras "
                                "functional graph has no cycles.")
                state[name] = 1
                stack.append((name, True))
                for source in reversed(self.layers[name].inputs):
                    if state.get(source) == 1:
                        raise _fail(self.where, source, "the graph loops back to this layer; a "
                                    "Keras functional graph has no cycles.")
                    if state.get(source) != 2:
                        stack.append((source, False))
        return order

    def _audio(self, inputs):
        audio = inputs[0] if inputs else None
        if audio is None or self.layers[audio].cls != "InputLayer":
            raise _fail(self.where, audio, "the graph's first input must be the audio input "
                        "layer.")
        shape = self.layers[audio].config.get("batch_input_shape")
        if isinstance(shape, list) and shape and shape[-1] not in (1, None):
            raise _fail(self.where, audio, f"the audio input must have 1 channel; its shape is "
                        f"{shape}.")
        return audio

    def _descendants(self, roots):
        found = set(roots)
        for name in self.order:
            if any(source in found for source in self.layers[name].inputs):
                found.add(name)
        return found

    def _ancestors(self, name):
        found, stack = set(), [name]
        while stack:
            n = stack.pop()
            if n not in found:
                found.add(n)
                stack.extend(self.layers[n].inputs)
        return found

    def _dominators(self):
        """Layers that every path from the audio input to every output passes through.

        In a topological order, such a layer is one that no edge of those paths jumps over
        (an edge from before it to after it is a path around it): one pass over the edges.
        """
        on_path = self.from_audio & set.union(*[self._ancestors(o) for o in self.outputs])
        position = {name: i for i, name in enumerate(self.order)}
        jumps = [0] * (len(self.order) + 1)
        for name in on_path:
            for source in self.layers[name].inputs:
                if source in on_path and position[name] - position[source] > 1:
                    jumps[position[source] + 1] += 1
                    jumps[position[name]] -= 1
        covered, found = 0, set()
        for i, name in enumerate(self.order):
            covered += jumps[i]
            if name in on_path and not covered:
                found.add(name)
        return found

    def _embedding(self):
        """The layer every decoder reads the encoder through: ``cropped_output`` (the authors'
        name) when it is one, else the last such layer before the decoders' own layers."""
        shared = set.intersection(*[self._ancestors(o) for o in self.outputs])
        dominators = self._dominators()
        candidates = [n for n in self.order if n in shared and n in dominators
                      and n not in self.from_time and n != self.audio and n not in self.outputs]
        if "cropped_output" in candidates:
            return "cropped_output"
        heads = {src for o in self.outputs for src in self.layers[o].inputs}
        heads |= {src for h in list(heads) if self.layers[h].cls == "Reshape"
                  for src in self.layers[h].inputs}
        if len(self.outputs) == 1 and not self.time_inputs:
            candidates = [n for n in candidates if n not in heads]
        if not candidates:
            raise _fail(self.where, None, "the decoders share no representation of the sound "
                        "(one layer that every output reads the encoder through); sk_icnet needs "
                        "it for embed and encoder_from.")
        return candidates[-1]

    # ------------------------------------------------------------------ operations
    def _op(self, name, prefix):
        """The operation of layer ``name``, its weights' expected shapes and state-dict map."""
        layer, where = self.layers[name], self.where
        cfg, cls = layer.config, layer.cls
        ins = list(layer.inputs)
        if not ins:
            raise _fail(where, name, "an input layer other than the audio and time inputs.")
        in_ch = [self.channels[i] for i in ins]
        op = {"name": name, "inputs": ins}
        expected, state = {}, {}
        if cls in ("Multiply", "Add"):
            op["op"] = cls.lower()
            widest = max(in_ch)
            if len(ins) < 2 or any(c not in (1, widest) for c in in_ch):
                raise _fail(where, name, f"joins {len(ins)} tensors of {in_ch} channels; it needs "
                            "two or more of equal channels.")
            out = widest
        elif len(ins) != 1:
            raise _fail(where, name, f"expected one input; it reads {ins}.")
        elif cls in _SINC:
            block = cls == "layers>SincNetBlock"
            taps = _int(cfg, "kernel_size", where, name, maximum=MAX_KERNEL - 1) + 1 if block \
                else _int(cfg, "Filt_dim", where, name, maximum=MAX_KERNEL)
            if taps % 2 == 0:
                raise _fail(where, name, f"SincNet filters of {taps} taps (even) cannot be built "
                            "by the authors' layer (Filt_dim = kernel_size + 1 must be odd).")
            filters = _int(cfg, "channels" if block else "N_filt", where, name)
            if in_ch[0] != 1:
                raise _fail(where, name, f"a SincNet layer reads one channel; its input has "
                            f"{in_ch[0]}.")
            fs = cfg.get("fs")
            if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not 0 < fs < 1e9:
                raise _fail(where, name, f"config 'fs' must be a rate in Hz; received "
                            f"{str(fs)[:40]}.")
            op.update(op="sinc", filters=filters, taps=taps, fs=float(fs),
                      stride=_int(cfg, "strides" if block else "stride", where, name, default=1,
                                  maximum=MAX_STRIDE),
                      padding=_padding(cfg, where, name),
                      activation=_activation(cfg.get("activation") if block else None,
                                             ("symlog", "softmax", "linear"), where, name))
            expected = {"filt_b1": (filters, 1), "filt_band": (filters, 1)}
            state = {"filt_b1": ("filt_b1", "flat"), "filt_band": ("filt_band", "flat")}
            out = filters
        elif cls in ("layers>ConvEncoderBlock", "Conv1D", "Dense"):
            out, expected, state = self._conv(op, layer, in_ch[0])
        elif cls in ("Activation", "PReLU", "activations>get_activation"):
            op.update(op="act", activation=self._activation_layer(layer))
            if op["activation"] == "prelu":
                expected, state = {"alpha": (1, in_ch[0])}, {"alpha": ("alpha", "flat")}
            out = in_ch[0]
        elif cls == "Cropping1D":
            cropping = cfg.get("cropping")
            if not (isinstance(cropping, list) and len(cropping) == 2 and all(
                    isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= MAX_CROP
                    for c in cropping)):
                raise _fail(where, name, f"cropping must be [start, end] integers from 0 to "
                            f"{MAX_CROP:,}; received {str(cropping)[:60]}.")
            op.update(op="crop", start=cropping[0], end=cropping[1])
            out = in_ch[0]
        else:  # a Reshape or a CrossEntropyBlock away from an output
            raise _fail(where, name, f"a {cls} is supported only as (part of) an output head.")
        self.channels[name] = out
        if expected:
            self.expected[name] = expected
            self.state_map[name] = {f"{prefix}.{key}": value for key, value in state.items()}
        return op

    def _conv(self, op, layer, in_ch):
        cfg, where, name, cls = layer.config, self.where, layer.name, layer.cls
        if cls == "Dense":
            units = _int(cfg, "units", where, name)
            op.update(op="conv", in_channels=in_ch, channels=units, kernel=1, stride=1,
                      padding="valid", bias=bool(cfg.get("use_bias", True)),
                      activation=_activation(cfg.get("activation"), _KERAS_ACTIVATIONS, where,
                                             name))
            expected, state = {"kernel": (in_ch, units)}, {"kernel": ("kernel", "dense")}
        else:
            block = cls == "layers>ConvEncoderBlock"
            if block and cfg.get("layer_normalization"):
                raise _fail(where, name, "layer_normalization is not supported.")
            if not block:
                if _int(cfg, "dilation_rate", where, name, default=1) != 1 or \
                        _int(cfg, "groups", where, name, default=1) != 1:
                    raise _fail(where, name, "dilated or grouped convolutions are not supported.")
                if cfg.get("data_format", "channels_last") != "channels_last":
                    raise _fail(where, name, "data_format must be channels_last.")
            channels = _int(cfg, "channels" if block else "filters", where, name)
            kernel = _int(cfg, "kernel_size", where, name, maximum=MAX_KERNEL)
            op.update(op="conv", in_channels=in_ch, channels=channels, kernel=kernel,
                      stride=_int(cfg, "strides", where, name, default=1, maximum=MAX_STRIDE),
                      padding=_padding(cfg, where, name),
                      bias=True if block else bool(cfg.get("use_bias", True)),
                      activation=_activation(cfg.get("activation"), _AUTHORS_ACTIVATIONS if block
                                             else _KERAS_ACTIVATIONS, where, name))
            expected = {"kernel": (kernel, in_ch, channels)}
            state = {"kernel": ("kernel", "conv")}
        if op["bias"]:
            expected["bias"], state["bias"] = (op["channels"],), ("bias", "flat")
        if op["activation"] == "prelu":
            expected["alpha"], state["alpha"] = (1, op["channels"]), ("alpha", "flat")
        return op["channels"], expected, state

    def _activation_layer(self, layer):
        if layer.cls == "PReLU":
            shared = layer.config.get("shared_axes")
            if shared not in ([1], (1,)):
                raise _fail(self.where, layer.name, "PReLU must share its alpha over time "
                            f"(shared_axes=[1]); received shared_axes={str(shared)[:40]}.")
            return "prelu"
        if layer.cls == "Activation":
            return _activation(layer.config.get("activation"), _KERAS_ACTIVATIONS, self.where,
                               layer.name)
        return _activation(layer.config.get("value"), _AUTHORS_ACTIVATIONS, self.where,
                           layer.name)

    def _head(self, output):
        """The class output: a CrossEntropyBlock, or a softmax over a Reshape to classes."""
        head, where = self.layers[output], self.where
        if head.cls == "layers>CrossEntropyBlock":
            classes = _int(head.config, "parameters", where, output, minimum=2, maximum=4096)
            source = head.inputs
        elif head.cls in ("Activation", "activations>get_activation") and \
                self._activation_layer(head) == "softmax" and head.inputs and \
                self.layers[head.inputs[0]].cls == "Reshape":
            reshape = self.layers[head.inputs[0]]
            target = reshape.config.get("target_shape")
            if not (isinstance(target, list) and len(target) == 3 and isinstance(target[2], int)
                    and 2 <= target[2] <= 4096):
                raise _fail(where, reshape.name, "target_shape must be (time, units, classes); "
                            f"received {str(target)[:60]}.")
            classes, source = target[2], reshape.inputs
        else:
            raise _fail(where, output, f"an output must be a CrossEntropyBlock (or a softmax over "
                        f"a Reshape); found a {head.cls}.")
        if len(source) != 1:
            raise _fail(where, output, f"expected one input; it reads {source}.")
        width = self.channels[source[0]]
        if width % classes:
            raise _fail(where, source[0], f"its {width} channels are not a whole number of units "
                        f"of {classes} classes.")
        return {"name": output, "op": "classes", "inputs": list(source), "units": width // classes,
                "classes": classes}

    def _decoder(self, d, output, names):
        """The operations of output ``d``'s decoder: its own layers in order, the time input
        placed after the tensor it joins (its frames are that tensor's)."""
        head = self.layers[output]
        skip = [head.inputs[0]] if head.cls != "layers>CrossEntropyBlock" and head.inputs \
            and self.layers[head.inputs[0]].cls == "Reshape" else []
        ops, times = [], []
        for n in names:
            if n == output or n in skip:
                continue
            if self.layers[n].cls == "InputLayer":
                times.append(n)
            else:
                ops.append(self._op(n, f"decoders.{d}.{len(ops)}"))
        ops.append(self._head(output))
        if len(times) > 1:
            raise _fail(self.where, times[1], f"the decoder of {output!r} reads two time inputs "
                        f"({times}); sk_icnet gives each decoder one.")
        if times:
            ops = self._place_time(ops, times[0], output)
        # number the state keys in the final order (the time input has no weights)
        for j, op in enumerate(ops):
            if op["name"] in self.state_map:
                self.state_map[op["name"]] = {
                    f"decoders.{d}.{j}.{key.rsplit('.', 1)[1]}": value
                    for key, value in self.state_map[op["name"]].items()}
        return ops

    def _place_time(self, ops, tin, output):
        """Add the time input's operation, ordered after the audio-side tensor its branch joins
        (it takes that tensor's frame count), the time layers checked to keep the length."""
        branch = self._descendants([tin]) - {tin}
        join = next((op for op in ops if op["name"] in branch and any(
            i in self.from_audio for i in op["inputs"])), None)
        if join is None or join["op"] not in ("multiply", "add"):
            raise _fail(self.where, tin, f"the time input must join the sound's branch of "
                        f"{output!r} through a Multiply or Add.")
        audio_side = next(i for i in join["inputs"] if i in self.from_audio)
        for op in ops:
            if op["name"] in branch and op["name"] not in self.from_audio and (
                    op["op"] == "crop" or (op["op"] == "conv" and (
                        op["stride"] != 1 or (op["padding"] == "valid" and op["kernel"] > 1)))):
                raise _fail(self.where, op["name"], "a time layer must keep the time input's "
                            "length (stride 1, padding 'same' or 'causal', no crop): the time "
                            "input has one value per frame of the tensor it joins.")
        pending = [{"name": tin, "op": "time", "inputs": [], "join": audio_side, "shift": 0},
                   *ops]
        needs = {op["name"]: set(op["inputs"]) | ({audio_side} if op["op"] == "time" else set())
                 for op in pending}
        done, ordered = {self.embedding}, []
        while pending:  # a stable topological order with the extra dependency
            op = next(op for op in pending if needs[op["name"]] <= done)
            pending.remove(op)
            ordered.append(op)
            done.add(op["name"])
        return ordered


def set_time_shifts(plan, spb, context):
    """Each time input's frames: frame ``j`` is the bin ``j - shift`` of the sound, where
    ``shift`` is what the decoder drops at the start after the join (its crops' starts and any
    other frames beyond the sound's bins that its crops' ends do not account for)."""
    n = 256
    length = {plan["audio"]: context + n * spb}
    for op in plan["encoder"]:
        length[op["name"]] = _frames(op, length[op["inputs"][0]] if op["inputs"] else 0)
    for dec in plan["decoders"]:
        known = dict(length)
        for i, op in enumerate(dec["ops"]):
            if op["op"] == "time":
                after = dec["ops"][i + 1:]
                ends = sum(o["end"] for o in after if o["op"] == "crop")
                op["shift"] = max(known[op["join"]] - n - ends, 0)
                known[op["name"]] = known[op["join"]]
                continue
            known[op["name"]] = _frames(op, known[op["inputs"][0]])
    return plan


def _check_weights(graph, where, max_parameters):
    """Every layer's stored weights against the shapes its config needs (nothing read)."""
    total = 0
    for name, layer in graph.layers.items():
        want = graph.expected.get(name, {})
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
