"""The published ICNet as a torch module that executes the Keras file's graph as a plan.

Why a plan and not :class:`~sk_icnet.icnet.ICNet` with options: the authors' layer classes
(``ConvEncoderBlock``, ``SincNetBlock``, ``CrossEntropyBlock``) and Keras' standard layers
build graphs that no fixed architecture holds (kernels and strides of any size in the time
and decoder branches, branches of several layers, ``Multiply`` or ``Add`` joins, crops before
or after a join, a different kernel per encoder layer). :class:`PublishedICNet` runs the
graph itself: a topologically ordered list of operations with Keras semantics (the padding
rules of ``FORMAT.md``, channels-last weights transposed once at load), the parameters of
each operation in a ``ParameterDict``. The plan is JSON text and an ordinary constructor
parameter (``module__plan``), so ``clone``, ``save_model`` / ``load_model`` and joblib
workers rebuild exactly the same network; the model file stores it in its header and
checks every size in it (:data:`MAX_KERNEL`, :data:`MAX_CHANNELS`, ...) before building
anything (on the meta device).

The plan is split where :class:`~sk_icnet.icnet.ICNet` is: an **encoder** from the audio to
the **embedding** (the authors' ``cropped_output``), which :meth:`PublishedICNet.encode`
returns and ``encoder_from=`` transfers, and per graph output a **decoder** (its own
operations, with its time input). A plan without decoders has sk_icnet's head instead:
one linear decoder per recording (rates through a softplus, or class logits), with the
optional multiplicative recording-time gain; :func:`sk_icnet.transfer_params` builds that
from a published model for new neurons.
"""

from __future__ import annotations

import contextlib
import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, Timebase
from ..._core.validation import check_positive_int, check_positive_number

__all__ = ["PublishedICNet", "GraphPlan", "MAX_KERNEL", "MAX_CHANNELS", "MAX_STRIDE",
           "MAX_OPS", "INPUT_SCALE_RANGE"]

#: largest kernel (SincNet filter taps included) of a graph or a model file: the SincNet
#: filters are computed, not stored, so this bounds their memory (one bound for both readers)
MAX_KERNEL = 1 << 16
#: largest channel count, stride, crop and operation count a plan may declare
MAX_CHANNELS = 1 << 20
MAX_STRIDE = 1 << 16
MAX_CROP = 1 << 24
MAX_OPS = 4096
MAX_CLASSES = 1 << 12
#: largest plan text (characters)
MAX_PLAN_CHARS = 4_000_000
#: the input scale (the authors' ``audio_normalisation``) keeps sounds from 1 uPa to 10 kPa
#: finite and non-zero in float32 (1e-6 * 1e-30 and 1e4 * 1e30 are inside float32's range)
INPUT_SCALE_RANGE = (1e-30, 1e30)

PADDINGS = ("same", "valid", "causal")
#: activations: the authors' ``get_activation`` (prelu, symlog, softmax) and Keras' strings
ACTIVATIONS = ("linear", "prelu", "symlog", "softmax", "relu", "sigmoid", "tanh", "softplus",
               "exponential")
_OPS = ("sinc", "conv", "act", "crop", "multiply", "add", "time", "classes")


class GraphPlan(str):
    """A plan's JSON text with a short ``repr`` (an estimator's ``repr`` stays readable)."""

    __slots__ = ()

    def __repr__(self):
        try:
            plan = json.loads(self)
            decoders = plan.get("decoders")
            return (f"GraphPlan({len(plan.get('encoder', []))} encoder ops, "
                    f"{'sk_icnet head' if decoders is None else f'{len(decoders)} decoders'})")
        except (ValueError, AttributeError):
            return f"GraphPlan({len(self)} characters)"


def encoder_plan(module):
    """The plan of ``module``'s encoder with sk_icnet's head (:func:`sk_icnet.transfer_params`):
    the same encoder operations, so its weights copy one to one, and the embedding's crop."""
    plan = {"format": 1, "audio": module.plan["audio"], "encoder": module.plan["encoder"],
            "embedding": module.plan["embedding"], "decoders": None}
    if any(module.embedding_crop):
        plan["embedding_crop"] = list(module.embedding_crop)
    return dumps_plan(plan)


def dumps_plan(plan):
    """A plan (dict) as :class:`GraphPlan` text (sorted keys, compact)."""
    return GraphPlan(json.dumps(plan, sort_keys=True, separators=(",", ":")))


# ------------------------------------------------------------------ plan checks
def _bad(rule, op=None):
    where = f"operation {op.get('name')!r} ({op.get('op')}): " if isinstance(op, dict) else ""
    return ValueError(f"module__plan: {where}{rule}")


def _int_field(op, key, low, high):
    value = op.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{key} must be an integer from {low} to {high:,}; received "
                   f"{str(value)[:40]}.", op)
    return value


def _choice(op, key, options):
    value = op.get(key)
    if value not in options:
        raise _bad(f"{key} must be one of {list(options)}; received {str(value)[:40]!r}.", op)
    return value


def _check_op(op, channels, known):
    """Check one operation against the channels of the tensors before it; its output channels."""
    if not isinstance(op, dict) or not isinstance(op.get("name"), str) or \
            not 0 < len(op["name"]) <= 256:
        raise _bad(f"each operation must be an object with a name; received {str(op)[:80]}.")
    kind = _choice(op, "op", _OPS)
    inputs = op.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, str) and i in known for i in inputs):
        raise _bad(f"inputs must name earlier tensors; received {str(inputs)[:120]}.", op)
    n_in = {"time": 0, "multiply": None, "add": None}.get(kind, 1)
    if (n_in is None and len(inputs) < 2) or (n_in is not None and len(inputs) != n_in):
        raise _bad(f"takes {'two or more inputs' if n_in is None else f'{n_in} input(s)'}; "
                   f"received {len(inputs)}.", op)
    ins = [channels[i] for i in inputs]
    if kind == "sinc":
        _int_field(op, "filters", 1, MAX_CHANNELS)
        if _int_field(op, "taps", 1, MAX_KERNEL) % 2 == 0:
            raise _bad("taps must be odd (the authors' Filt_dim = kernel_size + 1).", op)
        _int_field(op, "stride", 1, MAX_STRIDE)
        _choice(op, "padding", PADDINGS)
        _choice(op, "activation", [a for a in ACTIVATIONS if a != "prelu"])
        fs = op.get("fs")
        if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not 0 < fs < 1e9:
            raise _bad(f"fs must be a rate in Hz; received {str(fs)[:40]}.", op)
        if ins[0] != 1:
            raise _bad(f"reads {ins[0]} channels; a SincNet layer reads one.", op)
        return op["filters"]
    if kind == "conv":
        if _int_field(op, "in_channels", 1, MAX_CHANNELS) != ins[0]:
            raise _bad(f"in_channels={op['in_channels']} but its input has {ins[0]}.", op)
        _int_field(op, "channels", 1, MAX_CHANNELS)
        _int_field(op, "kernel", 1, MAX_KERNEL)
        _int_field(op, "stride", 1, MAX_STRIDE)
        _choice(op, "padding", PADDINGS)
        _choice(op, "activation", ACTIVATIONS)
        _choice(op, "bias", (True, False))
        return op["channels"]
    if kind == "act":
        _choice(op, "activation", ACTIVATIONS)
        return ins[0]
    if kind == "crop":
        _int_field(op, "start", 0, MAX_CROP)
        _int_field(op, "end", 0, MAX_CROP)
        return ins[0]
    if kind in ("multiply", "add"):
        widest = max(ins)
        if any(c not in (1, widest) for c in ins):
            raise _bad(f"joins tensors of {ins} channels; they must be equal (or 1).", op)
        return widest
    if kind == "time":
        if op.get("join") not in known:
            raise _bad("join must name the earlier tensor whose frames the time input has.", op)
        _int_field(op, "shift", 0, MAX_CROP)
        return 1
    # classes: logits (B, units * classes, T) -> (B, units, classes, T)
    units, classes = _int_field(op, "units", 1, MAX_CHANNELS), _int_field(op, "classes", 2,
                                                                          MAX_CLASSES)
    if units * classes != ins[0]:
        raise _bad(f"reads {ins[0]} channels, not units x classes = {units * classes}.", op)
    return units


def parse_plan(plan):
    """The plan (JSON text or dict) as a checked dict: every size bounded, every input known,
    channels consistent. Raises ValueError naming ``module__plan`` and the operation."""
    if isinstance(plan, str):
        if len(plan) > MAX_PLAN_CHARS:
            raise ValueError(f"module__plan must be at most {MAX_PLAN_CHARS:,} characters; "
                             f"received {len(plan):,}.")
        try:
            plan = json.loads(plan)
        except (ValueError, RecursionError):
            raise ValueError("module__plan is not valid JSON; build it with "
                             "sk_icnet.load_published_icnet or transfer_params.") from None
    if not isinstance(plan, dict) or plan.get("format") != 1:
        raise ValueError("module__plan must be a published-ICNet plan (format 1), as "
                         "sk_icnet.load_published_icnet writes it; received "
                         f"{str(plan)[:80]}.")
    encoder = plan.get("encoder")
    if not isinstance(encoder, list) or not 1 <= len(encoder) <= MAX_OPS:
        raise _bad(f"encoder must be a list of 1 to {MAX_OPS} operations.")
    audio = plan.get("audio")
    if not isinstance(audio, str):
        raise _bad("audio must name the audio input.")
    channels = {audio: 1}
    for op in encoder:
        if op.get("op") in ("time", "classes") if isinstance(op, dict) else False:
            raise _bad("the encoder holds no time input and no class output.", op)
        out = _check_op(op, channels, channels)
        if op["name"] in channels:
            raise _bad("two tensors have this name.", op)
        channels[op["name"]] = out
    embedding = plan.get("embedding")
    if embedding not in channels or embedding == audio:
        raise _bad(f"embedding must name an encoder operation; received {str(embedding)[:60]!r}.")
    decoders = plan.get("decoders")
    crop = plan.get("embedding_crop")
    if crop is not None and (decoders is not None or not isinstance(crop, list) or len(crop) != 2
                             or not all(isinstance(c, int) and not isinstance(c, bool)
                                        and 0 <= c <= MAX_CROP for c in crop)):
        raise _bad("embedding_crop must be [start, end] frames (only with sk_icnet's head).")
    if decoders is not None:
        if not isinstance(decoders, list) or not 1 <= len(decoders) <= MAX_OPS:
            raise _bad(f"decoders must be null or a list of 1 to {MAX_OPS} decoders.")
        classes = set()
        for dec in decoders:
            ops = dec.get("ops") if isinstance(dec, dict) else None
            if not isinstance(ops, list) or not 1 <= len(ops) <= MAX_OPS:
                raise _bad("each decoder must hold a list of operations.")
            known = {embedding: channels[embedding]}
            for op in ops:
                if not isinstance(op, dict) or op.get("op") == "sinc":
                    raise _bad("a decoder holds no SincNet layer.", op)
                out = _check_op(op, known, known)
                if op["name"] in known:
                    raise _bad("two tensors of a decoder have this name.", op)
                known[op["name"]] = out
            last = ops[-1]
            if last["op"] != "classes" and decoders:
                raise _bad("a decoder ends with its class output (CrossEntropyBlock).", last)
            classes.add(last["classes"])
            times = [op for op in ops if op["op"] == "time"]
            if len(times) > 1:
                raise _bad("a decoder has at most one time input.", times[1])
        if len(classes) != 1:
            raise _bad(f"the decoders' class counts differ: {sorted(classes)}.")
    return plan


# ------------------------------------------------------------------ Keras semantics
def keras_padding(mode, kernel, stride, length):
    """Zeros ``(left, right)`` Keras pads an input of ``length`` frames with (FORMAT.md)."""
    if mode == "valid":
        return 0, 0
    if mode == "causal":
        return kernel - 1, 0
    total = max((-(-length // stride) - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def _frames(op, length):
    """Output frames of ``op`` over ``length`` input frames (negative: too short)."""
    kind = op["op"]
    if kind in ("sinc", "conv"):
        kernel = op["taps"] if kind == "sinc" else op["kernel"]
        left, right = keras_padding(op["padding"], kernel, op["stride"], length)
        padded = length + left + right
        return (padded - kernel) // op["stride"] + 1 if padded >= kernel else -1
    if kind == "crop":
        return length - op["start"] - op["end"]
    return length


def symlog(x):
    return torch.sign(x) * torch.log1p(torch.abs(x))


def _activate(x, kind, alpha=None):
    if kind == "linear":
        return x
    if kind == "prelu":
        return torch.where(x > 0, x, alpha.to(x.dtype)[None, :, None] * x)
    if kind == "symlog":
        return symlog(x)
    if kind == "softmax":  # over the channels (Keras' last axis)
        return torch.softmax(x, dim=1)
    return {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "softplus": F.softplus, "exponential": torch.exp}[kind](x)


def decoder_indices(decoder, batch, n_decoders):
    """The decoder index of each of ``batch`` windows as a host list, or ``"all"``: the module
    protocol's ``decoder`` argument (None with one decoder, an index, one per window as a
    sequence or host tensor, or ``"all"``), checked against ``n_decoders``."""
    if isinstance(decoder, str):
        if decoder != "all":
            raise ValueError(f"decoder must be an index, a sequence of indices or 'all'; "
                             f"received {decoder[:40]!r}.")
        return "all"
    if decoder is None:
        if n_decoders > 1:
            raise ValueError(f"this model has {n_decoders} decoders (one per recording): pass "
                             "decoder, the decoder index of each window, or 'all'.")
        return [0] * batch
    if isinstance(decoder, torch.Tensor):
        decoder = decoder.reshape(-1).tolist()  # a host tensor: no device sync
    index = np.asarray(decoder).reshape(-1).astype(np.int64)
    if index.size not in (1, batch):
        raise ValueError(f"decoder must have one entry per window ({batch}) or one for all; "
                         f"received {index.size}.")
    outside = index[(index < 0) | (index >= n_decoders)]
    if outside.size:
        raise ValueError(f"decoder indices must be in [0, {n_decoders}); received "
                         f"{int(outside[0])}.")
    return np.broadcast_to(index, (batch,)).tolist()


def _float32(x):
    """A context that turns autocast off for ``x``'s device (a no-op where it cannot be on)."""
    device_type = x.device.type
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def sinc_filters(filt_b1, filt_band, taps, fs):
    """The authors' SincNet filters ``(N, 1, taps)`` in float64: band-pass of cut-offs
    ``f1 = |b1| + 50 / fs`` and ``f2 = f1 + |band| + 50 / fs`` (cycles per sample, no clamp),
    divided by its largest tap, times the window ``0.54 - 0.46 cos(2 pi n / taps)``."""
    f1 = filt_b1.double().abs() + 50.0 / fs
    f2 = f1 + filt_band.double().abs() + 50.0 / fs
    m = torch.arange(taps, dtype=torch.float64, device=f1.device) - (taps - 1) / 2.0
    band = 2 * f2[:, None] * torch.sinc(2 * f2[:, None] * m) - \
        2 * f1[:, None] * torch.sinc(2 * f1[:, None] * m)
    band = band / band.max(dim=1, keepdim=True).values
    n = torch.arange(taps, dtype=torch.float64, device=f1.device)
    return (band * (0.54 - 0.46 * torch.cos(2 * math.pi * n / taps))).unsqueeze(1)


def _parameters(op, in_channels):
    """An operation's parameters (torch layout), initialised for shape (the file's or the
    source encoder's weights replace them; a fresh sk_icnet head trains from these)."""
    params = nn.ParameterDict()
    kind = op["op"]
    if kind == "sinc":
        n = op["filters"]
        edges = torch.linspace(0.01, 0.4, n + 1)  # cycles per sample, replaced at load
        params["filt_b1"] = nn.Parameter(edges[:-1].clone())
        params["filt_band"] = nn.Parameter(torch.diff(edges))
    elif kind == "conv":
        weight = torch.empty(op["channels"], in_channels, op["kernel"])
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        params["kernel"] = nn.Parameter(weight)
        if op["bias"]:
            params["bias"] = nn.Parameter(torch.zeros(op["channels"]))
    if kind in ("conv", "act") and op["activation"] == "prelu":
        width = op["channels"] if kind == "conv" else in_channels
        params["alpha"] = nn.Parameter(torch.full((width,), 0.25))
    return params


def _geometry(ops, geometry, spb, ctx):
    """Extend ``geometry`` (tensor -> (hop, lo, hi): frame ``i`` reads padded-input samples
    ``i * hop + lo .. i * hop + hi``) through ``ops``, Keras' left padding taken for lengths
    that are multiples of each stride (checked in :meth:`PublishedICNet._check_lengths`)."""
    for op in ops:
        kind = op["op"]
        if kind == "time":  # frame i: the bin i - shift of the sound
            lo = ctx - op["shift"] * spb
            geometry[op["name"]] = (spb, lo, lo + spb - 1)
            continue
        hop, lo, hi = (min(geometry[i][0] for i in op["inputs"]),
                       min(geometry[i][1] for i in op["inputs"]),
                       max(geometry[i][2] for i in op["inputs"]))
        if kind in ("sinc", "conv"):
            kernel, stride = (op["taps"], op["stride"]) if kind == "sinc" else \
                (op["kernel"], op["stride"])
            left = {"valid": 0, "causal": kernel - 1, "same": max(kernel - stride, 0) // 2}[
                op["padding"]]
            lo, hi, hop = lo - left * hop, hi + (kernel - 1 - left) * hop, hop * stride
        elif kind == "crop":
            lo, hi = lo + op["start"] * hop, hi + op["start"] * hop
        geometry[op["name"]] = (hop, lo, hi)
    return geometry


class PublishedICNet(nn.Module):
    """The authors' published ICNet (or an encoder of it with sk_icnet's head), executing a plan.

    Built by :func:`sk_icnet.load_published_icnet` (``module__plan`` from the Keras file's
    graph) and by :func:`sk_icnet.transfer_params` (the encoder of a published model with a
    new decoder); follows sk_icnet's module protocol (``forward(x, decoder, time_s,
    prepend_context)``, ``encode``, ``context_bins``, ``encoder_prefixes``,
    ``encoder_config``).

    Parameters
    ----------
    plan : str or dict
        The graph as JSON (:class:`GraphPlan`): ``audio`` (the audio input's name), ``encoder``
        (operations from the audio to the embedding, in order), ``embedding``, and
        ``decoders`` (per graph output its operations and time input) or null for sk_icnet's
        head. Every size is checked against :data:`MAX_KERNEL`, :data:`MAX_CHANNELS`, ...
    audio_fs, dt_ms : float
        Rates (filled in by the estimator).
    out_neurons : int or sequence of int
        Neurons per decoder; with the graph's decoders, their units.
    n_classes : int or None, default=None
        Classes of the categorical head (the graph's, with its decoders); None: rates.
    input_scale : float, default=1.0
        Pascals times this is the network input (the authors' ``audio_normalisation``),
        within :data:`INPUT_SCALE_RANGE`.
    context_samples : int, default=0
        Zeros put in front of the sound inside the network (``context_size``).
    time_scale_s : float, default=36000.0
        Seconds per unit of the time input (``1 / time_normalisation``).
    time_input : bool or None, default=None
        None: the graph's (its decoders' time inputs); with sk_icnet's head, whether each
        decoder has a recording-time gain ``z * (1 + w_r * t / time_scale_s)``.
    window_samples : int or None, default=None
        The authors' windowed mode (see :func:`sk_icnet.load_published_icnet`).
    """

    #: state-dict prefixes of the encoder (the part ``encoder_from=`` transfers)
    encoder_prefixes = ("encoder.",)

    def __init__(self, plan, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS, out_neurons=1,
                 n_classes=None, input_scale=1.0, context_samples=0, time_scale_s=36000.0,
                 time_input=None, window_samples=None):
        super().__init__()
        self.plan = parse_plan(plan)
        timebase = Timebase(audio_fs, dt_ms)
        self.audio_fs, self.dt_ms = timebase.audio_fs, timebase.dt_ms
        self._dt_s = timebase.dt_s
        spb = self.samples_per_bin = timebase.samples_per_bin
        groups = tuple(out_neurons) if isinstance(out_neurons, (list, tuple)) else (out_neurons,)
        if not groups:
            raise ValueError("out_neurons must be an int or a non-empty sequence of ints.")
        self.neurons_per_decoder = tuple(check_positive_int(n, "out_neurons[i]") for n in groups)
        self.out_neurons = sum(self.neurons_per_decoder)
        self._offsets = [0, *np.cumsum(self.neurons_per_decoder).tolist()]
        self.input_scale = check_positive_number(input_scale, "input_scale")
        low, high = INPUT_SCALE_RANGE
        if not low <= self.input_scale <= high:
            raise ValueError(f"input_scale (the release's audio_normalisation) must be from "
                             f"{low:g} to {high:g}, so that sounds from 1 uPa to 10 kPa stay "
                             f"finite and non-zero in float32; received {self.input_scale!r}.")
        self.context_samples = check_positive_int(context_samples, "context_samples", minimum=0)
        if self.context_samples % spb or self.context_samples > MAX_CROP:
            raise ValueError(f"context_samples must be a multiple of the samples per bin ({spb}) "
                             f"up to {MAX_CROP:,}; received {context_samples}.")
        self.time_scale_s = check_positive_number(time_scale_s, "time_scale_s")
        if window_samples is not None:
            window_samples = check_positive_int(window_samples, "window_samples")
            if window_samples % spb:
                raise ValueError(f"window_samples must be a multiple of the samples per bin "
                                 f"({spb}); received {window_samples}.")
        self.window_samples = window_samples
        self._build(n_classes, time_input)
        self._check_lengths()

    # ------------------------------------------------------------ building
    def _build(self, n_classes, time_input):
        plan = self.plan
        channels = {plan["audio"]: 1}
        self.encoder = nn.ModuleList()
        for op in plan["encoder"]:
            self.encoder.append(_parameters(op, channels[op["inputs"][0]] if op["inputs"] else 1))
            channels[op["name"]] = _check_op(op, channels, channels)
        self.embedding_channels = channels[plan["embedding"]]
        # the encoder is what the embedding reads (the plan lists nothing else)
        self._encoder_ops = plan["encoder"]
        decoders = plan.get("decoders")
        self.graph_decoders = decoders is not None
        if self.graph_decoders:
            classes = decoders[0]["ops"][-1]["classes"]
            units = tuple(d["ops"][-1]["units"] for d in decoders)
            if units != self.neurons_per_decoder:
                raise ValueError(f"out_neurons must be the graph's units per decoder {list(units)}"
                                 f"; received {list(self.neurons_per_decoder)}.")
            if n_classes is not None and n_classes != classes:
                raise ValueError(f"n_classes must be the graph's {classes}; received "
                                 f"{n_classes!r}.")
            self.n_classes = classes
            has_time = [any(op["op"] == "time" for op in d["ops"]) for d in decoders]
            if len(set(has_time)) != 1:
                raise ValueError("module__plan: some decoders have a time input and others not.")
            if time_input is not None and bool(time_input) != has_time[0]:
                raise ValueError(f"time_input={time_input!r} disagrees with the graph, whose "
                                 f"decoders {'have' if has_time[0] else 'have no'} time input.")
            self.time_input = has_time[0]
            self.decoders = nn.ModuleList()
            for d in decoders:
                known = {plan["embedding"]: self.embedding_channels}
                layers = nn.ModuleList()
                for op in d["ops"]:
                    layers.append(_parameters(op, known[op["inputs"][0]] if op["inputs"] else 1))
                    known[op["name"]] = _check_op(op, known, known)
                self.decoders.append(layers)
            return
        if n_classes is not None:
            check_positive_int(n_classes, "n_classes", minimum=2)
        self.n_classes = None if n_classes is None else int(n_classes)
        if time_input is not None and not isinstance(time_input, (bool, np.bool_)):
            raise TypeError(f"time_input must be a bool or None; received {time_input!r}.")
        self.time_input = bool(time_input)
        self.decoder = nn.Linear(self.embedding_channels, self.out_neurons * (self.n_classes or 1))
        if self.time_input:
            self.time_gain = nn.Parameter(torch.zeros(len(self.neurons_per_decoder),
                                                      self.embedding_channels))

    def _decoder_ops(self):
        decoders = self.plan.get("decoders") or []
        return [d["ops"] for d in decoders]

    def _lengths(self, n_samples):
        """Frames of every tensor for an input of ``n_samples`` (context included) and the
        Keras left padding of every convolution; raises when a layer has too few frames."""
        plan = self.plan
        length, pads = {plan["audio"]: n_samples}, {}
        for ops in [plan["encoder"], *self._decoder_ops()]:
            for op in ops:
                if op["op"] == "time":
                    length[op["name"]] = length[op["join"]]
                    continue
                ins = [length[i] for i in op["inputs"]]
                if len(set(ins)) != 1:
                    raise ValueError(f"operation {op['name']!r} joins tensors of {ins} frames; "
                                     "Keras needs equal lengths.")
                if op["op"] in ("sinc", "conv"):
                    kernel = op["taps"] if op["op"] == "sinc" else op["kernel"]
                    pads[op["name"]] = keras_padding(op["padding"], kernel, op["stride"], ins[0])[0]
                out = _frames(op, ins[0])
                if out < 1:
                    raise ValueError(f"the sound is too short for operation {op['name']!r}: it "
                                     f"receives {ins[0]} frames and gives none.")
                length[op["name"]] = out
        return length, pads

    def _check_lengths(self):
        """One output bin per bin of sound; Keras' padding alike for every length (else one
        pass only: ``chunk_multiple_bins`` then covers any sound); the context the streamed
        predict needs, from every output's reach."""
        spb, ctx = self.samples_per_bin, self.context_samples
        geometry = _geometry(self.plan["encoder"], {self.plan["audio"]: (1, 0, 0)}, spb, ctx)
        for ops in self._decoder_ops():
            geometry = _geometry(ops, geometry, spb, ctx)
        self._hops = {name: hop for name, (hop, _, _) in geometry.items()}
        embedding = self.plan["embedding"]
        crop = self.plan.get("embedding_crop") or [0, 0]
        outputs = [ops[-1]["name"] for ops in self._decoder_ops()]
        hop, lo, hi = geometry[embedding]
        reach = [geometry[name] for name in outputs] or [(hop, lo + crop[0] * hop,
                                                         hi + crop[0] * hop)]
        if any(hop != spb for hop, _, _ in reach):
            hops = sorted({hop for hop, _, _ in reach})
            raise ValueError(f"module__plan: the outputs have one frame per {hops} samples, "
                             f"but the rates give {spb} samples per bin.")
        left = max(ctx - lo for _, lo, _ in reach)
        right = max(hi - ctx - spb + 1 for _, _, hi in reach)
        k = math.ceil((max(left, 0) + max(right, 0) + ctx) / spb) + 2
        cases = [self.window_samples // spb] if self.window_samples else \
            [k, k + 1, k + 2, k + 3, k + 5, k + 8]
        pads, crops = [], set()
        for n in cases:
            try:
                length, pad = self._lengths(ctx + n * spb)
            except ValueError as exc:
                raise ValueError(f"module__plan: {exc}") from None
            if outputs:  # the embedding's frames beyond the bins: the decoders' crops
                extra = length[embedding] - n
                ends = sum(op["end"] for op in self._decoder_ops()[0] if op["op"] == "crop")
                crop = [max(extra - ends, 0), extra - max(extra - ends, 0)]
            got = {name: length[name] for name in outputs} or {
                embedding: length[embedding] - crop[0] - crop[1]}
            for name, frames in got.items():
                if frames != n or min(crop) < 0:
                    raise ValueError(
                        f"module__plan: {name!r} gives {frames} output bins for {n} bins of "
                        f"sound (with {ctx} samples of context); a model must give one bin per "
                        "bin of sound (check the crop and the paddings).")
            pads.append(pad)
            crops.add(tuple(crop))
        self.streamable = all(p == pads[0] for p in pads) and len(crops) == 1
        self.embedding_crop = list(crops.pop())
        self.left_extent, self.right_extent = left, right
        edge_left, edge_right = self._edge_reach(outputs or [embedding], spb)
        self._ctx_bins = max(math.ceil(max(left, 0) / spb),
                             ctx // spb + math.ceil(edge_left / spb))
        self._right_bins = max(math.ceil(max(right, 0) / spb), math.ceil(edge_right / spb))

    def _edge_reach(self, outputs, spb):
        """Samples before and after its own that an output frame reads of a cropped tensor: a
        crop makes an edge (zero padding after it) wherever a chunk starts, so a streamed chunk
        keeps that many bins more on each side (the estimator drops them)."""
        lists = [self.plan["encoder"], *self._decoder_ops()]
        crops = [op["name"] for ops in lists for op in ops if op["op"] == "crop"]
        if self.plan.get("embedding_crop") and any(self.plan["embedding_crop"]):
            crops.append(self.plan["embedding"])
        left = right = 0
        for crop in crops:
            reach = {}
            for ops in lists:
                for op in ops:
                    if op["name"] == crop:
                        hop = self._hops[crop]
                        reach[crop] = (hop, 0, hop - 1)
                    elif op["op"] == "time":
                        if op["join"] in reach:
                            reach[op["name"]] = reach[op["join"]]
                    elif any(i in reach for i in op["inputs"]):
                        reach.update(_geometry([{**op, "inputs": [i for i in op["inputs"]
                                                                  if i in reach]}], reach, spb, 0))
            if crop == self.plan["embedding"] and not self._decoder_ops():
                reach = {crop: reach.get(crop, (spb, 0, spb - 1))}
            for name in outputs:
                if name in reach:
                    _, lo, hi = reach[name]
                    left, right = max(left, -lo), max(right, hi - spb + 1)
        return left, right

    def __repr__(self):
        """One line (an estimator holding it in ``encoder_from`` prints it in its ``repr``)."""
        decoders = self.plan.get("decoders")
        head = f"{len(decoders)} graph decoders" if decoders is not None else \
            f"sk_icnet head of {list(self.neurons_per_decoder)} neurons"
        return (f"PublishedICNet({len(self._encoder_ops)} encoder ops, {head}, "
                f"{self.audio_fs:g} Hz, {self.samples_per_bin} samples per bin)")

    # ------------------------------------------------------------ protocol attributes
    @property
    def context_bins(self):
        """Bins of sound before a chunk that its first bin reads (at least the context)."""
        if self.window_samples is not None:
            return self.context_samples // self.samples_per_bin
        return self._ctx_bins

    @property
    def right_context_bins(self):
        """Bins after a chunk that its last bin reads (0 for causal graphs)."""
        return 0 if self.window_samples is not None else self._right_bins

    @property
    def chunk_multiple_bins(self):
        """Chunks start on multiples of this: whole windows; a graph whose Keras padding
        depends on the length runs in one pass (a chunk longer than any sound)."""
        if self.window_samples is not None:
            return self.window_samples // self.samples_per_bin
        return 1 if self.streamable else 1 << 40

    def encoder_config(self):
        """Everything that must match for the encoder's weights to be copied (JSON-able):
        rates, input scale, context, and every field of every encoder operation."""
        config = {"audio_fs": self.audio_fs, "samples_per_bin": self.samples_per_bin,
                  "input_scale": self.input_scale, "context_samples": self.context_samples,
                  "encoder_ops": len(self._encoder_ops),
                  "embedding": [op["name"] for op in self._encoder_ops].index(
                      self.plan["embedding"])}
        index = {self.plan["audio"]: "audio"}
        for i, op in enumerate(self._encoder_ops):
            index[op["name"]] = i
            for key, value in sorted(op.items()):
                if key == "inputs":
                    value = [index[v] for v in value]
                if key != "name":
                    config[f"encoder.{i}.{key}"] = value
        return config

    # ------------------------------------------------------------ execution
    def _execute(self, op, params, ins, time_s, lengths):
        kind = op["op"]
        x = ins[0] if ins else None
        if kind == "sinc":
            with _float32(x):
                weight = sinc_filters(params["filt_b1"], params["filt_band"], op["taps"],
                                      op["fs"]).to(torch.float32)
                x = self._pad(x.float(), op, op["taps"])
                return _activate(F.conv1d(x, weight, stride=op["stride"]), op["activation"])
        if kind == "conv":
            x = self._pad(x, op, op["kernel"])
            kernel = params["kernel"]
            bias = params["bias"] if "bias" in params else None
            out = F.conv1d(x.to(kernel.dtype) if not torch.is_autocast_enabled(x.device.type)
                           else x, kernel, bias, stride=op["stride"])
            return _activate(out, op["activation"], params["alpha"] if "alpha" in params else None)
        if kind == "act":
            return _activate(x, op["activation"], params["alpha"] if "alpha" in params else None)
        if kind == "crop":
            return x[..., op["start"]: x.shape[-1] - op["end"]]
        if kind in ("multiply", "add"):
            dtype = torch.promote_types(*[t.dtype for t in ins[:2]])
            out = ins[0].to(dtype)
            for other in ins[1:]:
                out = out * other.to(dtype) if kind == "multiply" else out + other.to(dtype)
            return out
        if kind == "time":
            return self._tau(time_s, lengths, op["shift"]).unsqueeze(1)
        return x.reshape(x.shape[0], op["units"], op["classes"], x.shape[-1])  # class logits

    @staticmethod
    def _pad(x, op, kernel):
        left, right = keras_padding(op["padding"], kernel, op["stride"], x.shape[-1])
        if x.shape[-1] + left + right < kernel:
            raise ValueError(f"the sound is too short for layer {op['name']!r} (kernel {kernel}, "
                             f"{x.shape[-1]} frames).")
        return F.pad(x, (left, right)) if left or right else x

    def _tau(self, time_s, length, shift=0):
        """``(t0 + (j - shift) * dt) / time_scale_s`` per window and frame, float32 ``(B, T)``."""
        bins = (torch.arange(length, dtype=torch.float64, device=time_s.device) - shift)
        return ((time_s[:, None] + bins[None] * self._dt_s) / self.time_scale_s).float()

    def _run_encoder(self, x):
        values = {self.plan["audio"]: x}
        for op, params in zip(self._encoder_ops, self.encoder, strict=True):
            values[op["name"]] = self._execute(op, params, [values[i] for i in op["inputs"]],
                                             None, None)
        return values[self.plan["embedding"]]

    def _prepare(self, x, prepend_context):
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"PublishedICNet expects a waveform batch of shape (B, T) or "
                             f"(B, 1, T); received {tuple(x.shape)}.")
        spb, ctx = self.samples_per_bin, self.context_samples
        if x.shape[-1] % spb:
            raise ValueError(f"the waveform length must be a multiple of samples_per_bin={spb}; "
                             f"received {x.shape[-1]} samples.")
        if ctx and prepend_context:
            x = F.pad(x, (ctx, 0))
        elif x.shape[-1] < ctx:
            raise ValueError(f"with prepend_context=False the waveform must hold the {ctx} "
                             f"samples of context; received {x.shape[-1]} samples.")
        x = x.float() * self.input_scale
        n = (x.shape[-1] - ctx) // spb
        if self.window_samples is None:
            return x, n, 1
        W, B = self.window_samples, x.shape[0]
        n_win = max(-(-(n * spb) // W), 1)
        x = F.pad(x, (0, n_win * W - n * spb))
        windows = x.unfold(-1, ctx + W, W).permute(0, 2, 1, 3).reshape(B * n_win, 1, ctx + W)
        return windows, n, n_win

    def _unwindow(self, out, n, n_win):
        if n_win == 1 and self.window_samples is None:
            return out
        B = out.shape[0] // n_win
        out = out.reshape(B, n_win, *out.shape[1:]).movedim(1, -2)
        return out.reshape(*out.shape[:-2], -1)[..., :n]

    def encode(self, x, prepend_context=True):
        """The embedding ``(B, C, T // samples_per_bin)`` (the graph's ``cropped_output``).

        ``prepend_context=False``: ``x`` begins with ``context_samples`` of sound before the
        chunk; the output then has that many samples' bins fewer.
        """
        x, n, n_win = self._prepare(x, prepend_context)
        z = self._run_encoder(x)
        return self._unwindow(self._cropped(z).float(), n, n_win)

    def _cropped(self, z):
        """The embedding's frames of the sound's bins (a graph that crops after its time join
        has more)."""
        start, end = self.embedding_crop
        return z[..., start: z.shape[-1] - end] if start or end else z

    def _decoders(self, decoder, batch):
        """Decoder index of every window (host list), or ``"all"``."""
        return decoder_indices(decoder, batch, len(self.neurons_per_decoder))

    def _times(self, time_s, batch, device):
        if not self.time_input:
            return None
        if time_s is None:
            raise ValueError("this model has a recording-time input: forward needs time_s, the "
                             "recording time (s) of each window's first bin.")
        times = torch.as_tensor(time_s, dtype=torch.float64).to(device).reshape(-1)
        if times.numel() not in (1, batch):
            raise ValueError(f"time_s must have one value per window ({batch}) or one for all; "
                             f"received {times.numel()}.")
        return times.expand(batch)

    def _decode(self, d, z, time_s):
        """Decoder ``d`` on the embedding ``z`` (B, C, T): rates (B, N, T) or logits (B, N, C, T)."""
        with _float32(z):
            z = z.float()
            if self.graph_decoders:
                values = {self.plan["embedding"]: z}
                for op, params in zip(self.plan["decoders"][d]["ops"], self.decoders[d],
                                      strict=True):
                    length = values[op["join"]].shape[-1] if op["op"] == "time" else None
                    values[op["name"]] = self._execute(op, params, [values[i] for i in op["inputs"]],
                                                     time_s, length)
                return values[op["name"]]
            z = self._cropped(z)
            if self.time_input:
                z = z * (1.0 + self.time_gain[d][None, :, None] *
                         self._tau(time_s, z.shape[-1])[:, None, :])
            C = self.n_classes or 1
            first, last = self._offsets[d], self._offsets[d + 1]
            out = F.linear(z.transpose(1, 2), self.decoder.weight[first * C: last * C],
                           self.decoder.bias[first * C: last * C])
            if self.n_classes is None:
                return F.softplus(out).transpose(1, 2)
            B, T = out.shape[:2]
            return out.reshape(B, T, last - first, C).permute(0, 2, 3, 1)

    def forward(self, x, decoder=None, time_s=None, prepend_context=True, recording=None):
        """Rates ``(B, N, T // samples_per_bin)`` or class logits ``(B, N, C, T // ...)``.

        Parameters
        ----------
        x : Tensor of shape (B, T) or (B, 1, T)
            Sound in pascals (scaled by ``input_scale`` inside).
        decoder : int, sequence, host tensor of shape (B,), or "all", optional
            Decoder of each window (needed with several); ``"all"``: every decoder on every
            window in one encoder pass, their neurons concatenated in decoder order.
            ``recording=`` is the same argument under its former name.
        time_s : float or Tensor of shape (B,), optional
            Recording time (s) of each window's first bin (a model with a time input).
        prepend_context : bool, default=True
            See :meth:`encode`.
        """
        if decoder is None:
            decoder = recording
        x, n, n_win = self._prepare(x, prepend_context)
        batch = x.shape[0] // n_win
        decoders = self._decoders(decoder, batch)
        times = self._times(time_s, batch, x.device)
        if n_win > 1 or self.window_samples is not None:  # each window with its own time
            if times is not None:
                offsets = torch.arange(n_win, dtype=torch.float64, device=x.device) * (
                    self.window_samples // self.samples_per_bin) * self._dt_s
                times = (times[:, None] + offsets[None]).reshape(-1)
            if decoders != "all":
                decoders = [d for d in decoders for _ in range(n_win)]
        z = self._run_encoder(x)
        if decoders == "all":
            outs = [self._decode(d, z, times) for d in range(len(self.neurons_per_decoder))]
            return self._unwindow(torch.cat(outs, dim=1), n, n_win)
        used = sorted(set(decoders))
        if len(used) == 1:
            return self._unwindow(self._decode(used[0], z, times), n, n_win)
        n_max = max(self.neurons_per_decoder[d] for d in used)
        rows = torch.as_tensor(decoders)
        out = None
        for d in used:
            sel = torch.nonzero(rows == d).reshape(-1).to(z.device)
            part = self._decode(d, z[sel], None if times is None else times[sel])
            if out is None:
                out = part.new_zeros((z.shape[0], n_max, *part.shape[2:]))
            out[sel, : part.shape[1]] = part
        return self._unwindow(out, n, n_win)
