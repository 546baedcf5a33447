"""The ICNet PyTorch module (Drakopoulos et al. 2025).

Architecture, from the raw waveform to non-negative spike rates::

    waveform (B, 1, T)
      -> SincNet: n_filters learnable band-pass filters (mel-initialised,
         Hamming window, stride 1, causal) and sign(x) * log1p(|x|)
      -> n_encoder_layers x [causal strided Conv1d -> PReLU]; strides multiply
         to the number of audio samples per neural bin
      -> bottleneck: causal stride-1 Conv1d -> PReLU (bottleneck_channels)
      -> per-bin Linear decoder to the neurons -> softplus
    rates (B, N, T // samples_per_bin)

All convolutions are padded on the left only, so output bin ``t`` (audio
samples ``t*S .. (t+1)*S - 1``, ``S`` samples per bin) depends on no audio
sample after ``(t+1)*S - 1``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, Timebase
from .._core.validation import check_positive_int, check_positive_number
from ._layers import (
    PADDINGS,
    SINCNET_STYLES,
    CausalConvBlock,
    SincFilterbank,
    _check_choice,
    _extent,
    _float32,
    _frames,
    factor_strides,
)

__all__ = ["ICNet"]


#: marks a keyword argument that was not passed
_NOT_GIVEN = object()

#: how the recording time enters each decoder (see ICNet's ``time_layer``)
TIME_LAYERS = ("gain", "prelu", "linear")
TIME_COMBINES = ("multiply", "add")


def _check_paddings(padding, n_encoder_layers):
    """One padding mode per convolution: SincNet, each encoder layer, the bottleneck."""
    n = n_encoder_layers + 2
    if isinstance(padding, str):
        return [_check_choice(padding, "padding", PADDINGS)] * n
    if not isinstance(padding, (list, tuple)) or len(padding) != n:
        raise ValueError(f"padding must be one of {list(PADDINGS)} or a list of {n} of them "
                         f"(SincNet, {n_encoder_layers} encoder layers, bottleneck); received "
                         f"{padding!r}.")
    return [_check_choice(p, "padding[i]", PADDINGS) for p in padding]


def _check_sizes(audio_fs, dt_ms, out_neurons, time_input, time_scale_s, sizes):
    """The neurons per decoder, the time scale and the timebase; ``sizes`` (name, value) pairs
    of layer sizes, each a positive integer."""
    check_positive_number(audio_fs, "audio_fs")
    check_positive_number(dt_ms, "dt_ms")
    if isinstance(out_neurons, (list, tuple)):
        if not out_neurons:
            raise ValueError("out_neurons must be an int or a non-empty sequence of ints; "
                             "received an empty sequence.")
        groups = tuple(check_positive_int(n, "out_neurons[i]") for n in out_neurons)
    else:
        groups = (check_positive_int(out_neurons, "out_neurons"),)
    if not isinstance(time_input, (bool, np.bool_)):
        raise TypeError(f"time_input must be a bool; received {time_input!r}.")
    time_scale_s = check_positive_number(time_scale_s, "time_scale_s")
    for name, value in sizes:
        check_positive_int(value, name)
    return groups, time_scale_s, Timebase(audio_fs, dt_ms)  # the package's one rate rule


def _check_options(spb, sincnet_stride, padding, n_encoder_layers, sincnet_style, time_layer,
                   time_combine):
    """The SincNet stride, the paddings and the SincNet and time-layer choices, checked."""
    sincnet_stride = check_positive_int(sincnet_stride, "sincnet_stride")
    if spb % sincnet_stride:
        raise ValueError(f"sincnet_stride must divide the samples per bin, audio_fs * dt_ms / "
                         f"1000 = {spb}; received sincnet_stride={sincnet_stride}.")
    paddings = _check_paddings(padding, n_encoder_layers)
    sincnet_style = _check_choice(sincnet_style, "sincnet_style", SINCNET_STYLES)
    time_layer = _check_choice(time_layer, "time_layer", TIME_LAYERS)
    time_combine = _check_choice(time_combine, "time_combine", TIME_COMBINES)
    if time_layer == "gain" and time_combine != "multiply":
        raise ValueError("time_combine='add' needs time_layer 'prelu' or 'linear'; the 'gain' "
                         "time layer multiplies.")
    return sincnet_stride, paddings, sincnet_style, time_layer, time_combine


def _check_context(spb, input_scale, context_samples, crop_bins, window_samples):
    """The input scale, the context, the crop and the window, checked against the bins."""
    input_scale = check_positive_number(input_scale, "input_scale")
    context_samples = check_positive_int(context_samples, "context_samples", minimum=0)
    if context_samples % spb:
        raise ValueError(f"context_samples must be a multiple of the samples per bin ({spb}); "
                         f"received {context_samples}.")
    crop_bins = context_samples // spb if crop_bins is None else \
        check_positive_int(crop_bins, "crop_bins", minimum=0)
    if window_samples is not None:
        window_samples = check_positive_int(window_samples, "window_samples")
        if window_samples % spb:
            raise ValueError(f"window_samples must be a multiple of the samples per bin ({spb}); "
                             f"received {window_samples}.")
    return input_scale, context_samples, crop_bins, window_samples


def _check_strides(encoder_strides, spb, sincnet_stride, n_encoder_layers):
    """The encoder's strides: factored from the samples per bin, or checked to multiply to it."""
    if encoder_strides is None:
        return factor_strides(spb // sincnet_stride, n_encoder_layers)
    if isinstance(encoder_strides, (str, bytes)) or not hasattr(encoder_strides, "__len__"):
        raise TypeError("encoder_strides must be a sequence of integers or None; "
                        f"received {encoder_strides!r}.")
    strides = [check_positive_int(s, "encoder_strides[i]") for s in encoder_strides]
    if len(strides) != n_encoder_layers:
        raise ValueError(
            f"encoder_strides must have n_encoder_layers={n_encoder_layers} entries; "
            f"received {list(encoder_strides)!r} ({len(strides)} entries).")
    if math.prod(strides) * sincnet_stride != spb:
        raise ValueError(
            f"encoder_strides must multiply to the samples per bin, audio_fs * dt_ms "
            f"/ 1000 = {spb} (divided by sincnet_stride={sincnet_stride}); received "
            f"{strides!r}, whose product is {math.prod(strides)}.")
    return strides


class ICNet(nn.Module):
    """ICNet: SincNet front end, causal strided convolutional encoder, linear decoder.

    Parameters
    ----------
    audio_fs : float, default=24414.0625
        Audio sampling rate in Hz.
    out_neurons : int or sequence of int, default=1
        Number of output neurons ``N``; a sequence gives one decoder per
        recording (routed decoders: ``forward`` sends each window through its
        ``decoder`` only), sharing one encoder.
    dt_ms : float, default=1.31072
        Neural bin width in ms; ``audio_fs * dt_ms / 1000`` must be an integer,
        the samples per bin (32 at the paper configuration).
    n_filters : int, default=48
        Number of SincNet band-pass filters.
    sincnet_kernel_size : int, default=64
        SincNet filter length in samples.
    encoder_channels : int, default=128
        Channels of each strided encoder layer.
    encoder_kernel_size : int, default=64
        Kernel length of the encoder and bottleneck convolutions.
    n_encoder_layers : int, default=5
        Number of strided encoder layers.
    bottleneck_channels : int, default=64
        Channels of the bottleneck (the shared latent representation).
    encoder_strides : sequence of int or None, default=None
        Per-layer strides; their product must equal the samples per bin. By
        default they are factored automatically (see :func:`factor_strides`).
    sincnet_min_low_hz, sincnet_min_band_hz : float, default=50.0
        Frequency floors of the SincNet filters.
    n_classes : int or None, default=None
        ``None``: Poisson head, non-negative rates ``(B, N, T)``. An int ``C``:
        the paper's categorical head, logits over spike counts ``0 .. C - 1``
        (the last class meaning ``>= C - 1``) of shape ``(B, N, C, T)``.
    time_input : bool, default=False
        The paper's treatment of non-stationarity: each recording's decoder
        receives the recording time of every output bin, ``tau = t / time_scale_s``,
        through a learned gain on the bottleneck, ``z * (1 + w_r * tau)`` with one
        weight per bottleneck channel and recording (initialised to 0, so the
        network starts time-invariant). ``forward`` then needs ``time_s``.
    time_scale_s : float, default=36000.0
        Seconds that map to ``tau = 1`` (the authors' 10 h scale; use about the
        length of the recordings to keep ``tau`` of order 1).
    Other Parameters
    ----------------
    padding : str or sequence of str, default="causal"
        Padding of the convolutions: ``"causal"`` (sk_icnet's causal blocks),
        or Keras' ``"same"``, ``"keras_causal"`` or ``"valid"`` (see
        :func:`conv_padding`); a sequence gives one mode per layer, SincNet
        first, then the ``n_encoder_layers`` strided layers, then the bottleneck.
    sincnet_style : {"sk_icnet", "keras"}, default="sk_icnet"
        ``"keras"``: the authors' SincNet filters (see :class:`SincFilterbank`;
        ``sincnet_kernel_size`` odd).
    sincnet_stride : int, default=1
        Stride of the SincNet convolution (part of the samples per bin).
    input_scale : float, default=1.0
        The waveform (pascals) is multiplied by this before SincNet (the
        authors' ``audio_normalisation``, 0.04).
    context_samples : int, default=0
        Zeros put in front of the waveform inside the network (the authors'
        ``context_size``), a multiple of the samples per bin; ``crop_bins``
        bottleneck frames are then dropped, so the output keeps one bin per
        input bin.
    crop_bins : int or None, default=None
        Bottleneck frames dropped at the start (the authors' ``cropped_output``);
        None: ``context_samples // samples_per_bin``.
    time_layer : {"gain", "prelu", "linear"}, default="gain"
        With ``time_input``: ``"gain"`` multiplies the bottleneck by
        ``1 + w_r * tau``; ``"prelu"`` and ``"linear"`` are the authors' layer,
        ``g = PReLU(w_r * tau + b_r)`` (or without the PReLU) per bottleneck
        channel, combined with the bottleneck by ``time_combine``.
    time_combine : {"multiply", "add"}, default="multiply"
        ``z * g`` or ``z + g`` (``time_layer`` "prelu" or "linear" only).
    window_samples : int or None, default=None
        The authors' windowed mode: the sound is cut into independent windows of
        this many samples, each with its own ``context_samples`` of left context
        (the sound before it, zeros before the start) and zeros after the end.
        None: one pass over the whole sound.

    Attributes
    ----------
    samples_per_bin : int
    encoder_strides : list of int
    neurons_per_decoder : tuple of int
        Neurons of each recording's decoder (one entry for an int ``out_neurons``).
    receptive_field : int
        Number of audio samples that output bin ``t`` depends on, ending at the
        last sample of bin ``t`` (4,033 at the paper configuration); for
        non-causal padding, ``right_extent`` samples after that bin's last sample.
    left_extent, right_extent : int
        Samples before the first and after the last sample of bin ``t`` that it
        depends on (``right_extent`` is 0 for causal padding).

    Notes
    -----
    The Other Parameters (keyword-only) describe the authors' Keras model, so that
    :func:`~sk_icnet.icnet.load_published_icnet` can rebuild it and model files of
    such a model (0.4.0's included) read back; an ICNet of sk_icnet's own leaves
    them at their defaults.

    At the paper configuration the module has 5,113,312 + 65 * N parameters.
    ``forward`` takes ``(B, T)`` or ``(B, 1, T)`` with ``T`` a multiple of
    ``samples_per_bin`` and returns rates of shape ``(B, N, T // samples_per_bin)``.
    """

    def __init__(self, audio_fs=PAPER_AUDIO_FS, out_neurons=1, dt_ms=PAPER_DT_MS, n_filters=48,
                 sincnet_kernel_size=64, encoder_channels=128, encoder_kernel_size=64,
                 n_encoder_layers=5, bottleneck_channels=64, encoder_strides=None,
                 sincnet_min_low_hz=50.0, sincnet_min_band_hz=50.0, n_classes=None,
                 time_input=False, time_scale_s=36000.0, *, padding="causal",
                 sincnet_style="sk_icnet", sincnet_stride=1, input_scale=1.0, context_samples=0,
                 crop_bins=None, time_layer="gain", time_combine="multiply", window_samples=None):
        super().__init__()
        groups, time_scale_s, timebase = _check_sizes(
            audio_fs, dt_ms, out_neurons, time_input, time_scale_s,
            [("n_filters", n_filters), ("sincnet_kernel_size", sincnet_kernel_size),
             ("encoder_channels", encoder_channels), ("encoder_kernel_size", encoder_kernel_size),
             ("n_encoder_layers", n_encoder_layers), ("bottleneck_channels", bottleneck_channels)])
        spb = timebase.samples_per_bin
        sincnet_stride, paddings, sincnet_style, time_layer, time_combine = _check_options(
            spb, sincnet_stride, padding, n_encoder_layers, sincnet_style, time_layer,
            time_combine)
        input_scale, context_samples, crop_bins, window_samples = _check_context(
            spb, input_scale, context_samples, crop_bins, window_samples)
        strides = _check_strides(encoder_strides, spb, sincnet_stride, n_encoder_layers)
        self.audio_fs = timebase.audio_fs
        self.dt_ms = timebase.dt_ms
        self.samples_per_bin = spb
        self.encoder_strides = strides
        self.neurons_per_decoder = groups
        self.out_neurons = sum(groups)
        self._offsets = [0, *np.cumsum(groups).tolist()]
        self.time_input = bool(time_input)
        self.time_scale_s = time_scale_s
        self.padding = paddings
        self.input_scale = input_scale
        self.context_samples = context_samples
        self.crop_bins = crop_bins
        self.time_layer = time_layer
        self.time_combine = time_combine
        self.window_samples = window_samples

        self.sincnet = SincFilterbank(audio_fs, n_filters, sincnet_kernel_size,
                                      sincnet_min_low_hz, sincnet_min_band_hz,
                                      style=sincnet_style, stride=sincnet_stride,
                                      padding=paddings[0])
        self._build_convolutions(n_filters, encoder_channels, encoder_kernel_size,
                                 bottleneck_channels)
        self._build_decoders(n_classes, bottleneck_channels)
        self._measure_extent(encoder_kernel_size, sincnet_stride)
        self._check_lengths()

    def _build_convolutions(self, n_filters, encoder_channels, encoder_kernel_size,
                            bottleneck_channels):
        """The encoder's strided convolution blocks and the bottleneck, after the SincNet."""
        layers = []
        in_ch = n_filters
        for stride, mode in zip(self.encoder_strides, self.padding[1:-1], strict=True):
            layers.append(CausalConvBlock(in_ch, encoder_channels, encoder_kernel_size, stride,
                                          mode))
            in_ch = encoder_channels
        self.encoder = nn.Sequential(*layers)
        self.bottleneck = CausalConvBlock(encoder_channels, bottleneck_channels,
                                          encoder_kernel_size, 1, self.padding[-1])

    def _build_decoders(self, n_classes, bottleneck_channels):
        """Every recording's decoder rows in one Linear, and the per-decoder time layer."""
        groups = self.neurons_per_decoder
        if n_classes is not None:
            check_positive_int(n_classes, "n_classes", minimum=2)
        self.n_classes = None if n_classes is None else int(n_classes)
        # one Linear holds every recording's decoder rows; routing slices it
        self.decoder = nn.Linear(bottleneck_channels, self.out_neurons * (self.n_classes or 1))
        if self.time_input:
            self.time_gain = nn.Parameter(torch.zeros(len(groups), bottleneck_channels))
            if self.time_layer != "gain":  # starts as the identity: w = 0, g = b = 1 (or 0)
                start = 1.0 if self.time_combine == "multiply" else 0.0
                self.time_bias = nn.Parameter(torch.full((len(groups), bottleneck_channels), start))
            if self.time_layer == "prelu":
                self.time_alpha = nn.Parameter(torch.full((len(groups), bottleneck_channels), 0.25))

    def _measure_extent(self, encoder_kernel_size, sincnet_stride):
        """The input samples each output bin reads, before and after its own samples."""
        strides = self.encoder_strides
        left = right = 0
        hop = 1
        for kernel, stride, mode in zip([self.sincnet.kernel_size, *[encoder_kernel_size] * len(strides),
                                         encoder_kernel_size],
                                        [sincnet_stride, *strides, 1], self.padding, strict=True):
            a, b = _extent(mode, kernel, stride)
            left, right, hop = left + a * hop, right + b * hop, hop * stride
        self.left_extent, self.right_extent = left, right
        self.receptive_field = left + self.samples_per_bin + right

    @classmethod
    def from_deepstrf(cls, state_dict, *, audio_fs, dt_ms, encoder_strides=None, **kwargs):
        """Build an ICNet holding the weights of a deepSTRF ``ICNet`` checkpoint.

        The architecture (filters, channels, kernel sizes, layers, neurons) is read
        from the tensor shapes; the strides are factored from the samples per
        bin as deepSTRF does (or pass ``encoder_strides``). deepSTRF's SincNet
        stores each filter's low cut-off and bandwidth in Hz with no floor;
        sk_icnet stores them above its 50 Hz floors (``sincnet_min_low_hz``,
        ``sincnet_min_band_hz``), so a filter below a floor cannot be
        represented and raises. deepSTRF builds its filters at ``int(audio_fs)``
        and this model at ``audio_fs`` itself: at 24,414.0625 Hz the filters
        differ by that rounding (2.6e-6 relative).

        Parameters
        ----------
        state_dict : mapping of str to Tensor
            ``deepstrf_model.state_dict()`` (keys ``wav2spec.sincnet.low_hz_``,
            ``wav2spec.encoder.<i>.conv.weight``, ..., ``decoder.weight``).
        audio_fs, dt_ms : float
        **kwargs
            Other :class:`ICNet` parameters (e.g. ``sincnet_min_low_hz``).
        """
        from ._deepstrf import from_deepstrf

        return from_deepstrf(cls, state_dict, audio_fs=audio_fs, dt_ms=dt_ms,
                             encoder_strides=encoder_strides, **kwargs)

    #: the state-dict key prefixes of the encoder: what ``encoder_from`` transfers
    encoder_prefixes = ("sincnet.", "encoder.", "bottleneck.")

    def encoder_config(self):
        """Everything that must match for this encoder's weights to be copied into another
        module (rates, sizes, strides, paddings, input scaling, context), as a JSON-able dict."""
        first = self.encoder[0]
        bank = self.sincnet
        return {"audio_fs": float(self.audio_fs), "dt_ms": float(self.dt_ms),
                "samples_per_bin": int(self.samples_per_bin), "n_filters": bank.n_filters,
                "sincnet_kernel_size": bank.kernel_size, "sincnet_stride": bank.stride,
                "sincnet_style": bank.style, "sincnet_min_low_hz": bank.min_low_hz,
                "sincnet_min_band_hz": bank.min_band_hz,
                "encoder_channels": int(first.conv.out_channels),
                "encoder_kernel_size": first.kernel_size,
                "encoder_strides": [int(v) for v in self.encoder_strides],
                "bottleneck_channels": int(self.bottleneck.conv.out_channels),
                "padding": list(self.padding), "input_scale": float(self.input_scale),
                "context_samples": self.context_samples, "crop_bins": self.crop_bins,
                "window_samples": self.window_samples}

    def n_frames(self, n_samples):
        """Bottleneck frames (before the crop) out of ``n_samples`` input samples."""
        length = _frames(self.padding[0], self.sincnet.kernel_size, self.sincnet.stride, n_samples)
        for block in [*self.encoder, self.bottleneck]:
            length = _frames(block.padding, block.kernel_size, block.stride, length)
        return length

    def _check_lengths(self):
        """Every whole bin of sound must give one output bin (after context and crop)."""
        spb, ctx = self.samples_per_bin, self.context_samples
        if self.window_samples is not None:
            cases = [self.window_samples]
        else:
            k = math.ceil((self.receptive_field + ctx) / spb) + 2
            cases = [k * spb, (k + 1) * spb]
        for n in cases:
            got = self.n_frames(ctx + n) - self.crop_bins
            if got != n // spb:
                raise ValueError(
                    f"padding={self.padding!r} with context_samples={ctx} and crop_bins="
                    f"{self.crop_bins} gives {got} output bins for {n // spb} bins of sound; "
                    "choose a padding, context and crop that keep one output bin per input bin.")

    @property
    def context_bins(self):
        """Whole bins of history that a chunk of a long sound needs in front of it: those the
        receptive field spans before the chunk, and at least the ``context_samples``."""
        ctx = self.context_samples // self.samples_per_bin
        if self.window_samples is not None:
            return ctx
        return max(math.ceil(max(self.left_extent, 0) / self.samples_per_bin), ctx)

    @property
    def right_context_bins(self):
        """Whole bins after a chunk that its last bin reads (0 for causal padding)."""
        if self.window_samples is not None:
            return 0
        return math.ceil(max(self.right_extent, 0) / self.samples_per_bin)

    @property
    def chunk_multiple_bins(self):
        """Chunks of a long sound start on multiples of this many bins (whole windows)."""
        return 1 if self.window_samples is None else self.window_samples // self.samples_per_bin

    def _bottleneck_frames(self, x):
        with _float32(x):  # the waveform and the filter bank keep full precision
            x = x.to(self.sincnet.low_hz.dtype)
            if self.input_scale != 1.0:
                x = x * self.input_scale
            sinc = self.sincnet(x)
        z = self.bottleneck(self.encoder(sinc))
        return z[..., self.crop_bins:] if self.crop_bins else z

    def encode(self, x, prepend_context=True):
        """Return the bottleneck latent ``(B, bottleneck_channels, T // samples_per_bin)``.

        With ``context_samples``, ``prepend_context=False`` means that ``x``
        already begins with that many samples of context (sound before the
        chunk): the output then has ``context_samples // samples_per_bin`` bins
        fewer, the bins of the samples after the context.
        """
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"ICNet expects a waveform batch of shape (B, T) or (B, 1, T); "
                             f"received {tuple(x.shape)}.")
        if x.shape[-1] % self.samples_per_bin:
            raise ValueError(f"the waveform length must be a multiple of samples_per_bin="
                             f"{self.samples_per_bin}; received {x.shape[-1]} samples.")
        ctx = self.context_samples
        if ctx and prepend_context:
            x = F.pad(x, (ctx, 0))
        elif x.shape[-1] < ctx:
            raise ValueError(f"with prepend_context=False the waveform must hold the "
                             f"{ctx} samples of context; received {x.shape[-1]} samples.")
        if self.window_samples is None:
            return self._bottleneck_frames(x)
        W, spb, B = self.window_samples, self.samples_per_bin, x.shape[0]
        n = x.shape[-1] - ctx
        n_win = max(-(-n // W), 1)
        x = F.pad(x, (0, n_win * W - n))
        windows = x.unfold(-1, ctx + W, W).permute(0, 2, 1, 3).reshape(B * n_win, 1, ctx + W)
        z = self._bottleneck_frames(windows)  # (B * n_win, C, W // spb)
        z = z.reshape(B, n_win, z.shape[1], W // spb).permute(0, 2, 1, 3)
        return z.reshape(B, z.shape[1], n_win * (W // spb))[..., : n // spb]

    def _time_gain(self, z, decoders, time_s):
        """Combine the bottleneck with each window's recording time (see ``time_layer``)."""
        if time_s is None:
            raise ValueError("this ICNet has a recording-time input (time_input=True): forward "
                             "needs time_s, the recording time (s) of each window's first bin.")
        time_s = torch.as_tensor(time_s, dtype=torch.float64).to(z.device).reshape(-1)
        if time_s.numel() == 1:
            time_s = time_s.expand(z.shape[0])
        if time_s.shape[0] != z.shape[0]:
            raise ValueError(f"time_s must have one value per window ({z.shape[0]}); received "
                             f"{time_s.shape[0]}.")
        bins = torch.arange(z.shape[-1], dtype=torch.float64, device=z.device) * (self.dt_ms / 1e3)
        tau = ((time_s[:, None] + bins[None]) / self.time_scale_s).to(torch.float32)  # (B, T)
        index = torch.as_tensor(decoders, dtype=torch.long).to(z.device, non_blocking=True)
        weight = self.time_gain[index]  # (B, C)
        if self.time_layer == "gain":
            return z.float() * (1.0 + weight[:, :, None] * tau[:, None, :])
        g = weight[:, :, None] * tau[:, None, :] + self.time_bias[index][:, :, None]
        if self.time_layer == "prelu":
            g = torch.where(g > 0, g, self.time_alpha[index][:, :, None] * g)
        return z.float() * g if self.time_combine == "multiply" else z.float() + g

    def _decoders(self, decoder, batch):
        """Decoder index of every window as a host list, checked against the decoders."""
        n_dec = len(self.neurons_per_decoder)
        if decoder is None:
            if n_dec > 1:
                raise ValueError(f"this ICNet has {n_dec} decoders (one per recording): pass "
                                 "decoder, the decoder index of each window, or 'all'.")
            return [0] * batch
        if isinstance(decoder, torch.Tensor):
            decoder = decoder.reshape(-1).tolist()  # a host tensor: no device sync
        decoder = [int(r) for r in np.asarray(decoder).reshape(-1)]
        if len(decoder) == 1:
            decoder = decoder * batch
        if len(decoder) != batch:
            raise ValueError(f"decoder must have one entry per window ({batch}); received "
                             f"{len(decoder)}.")
        bad = [r for r in decoder if not 0 <= r < n_dec]
        if bad:
            raise ValueError(f"decoder indices must be in [0, {n_dec}); received {bad[0]}.")
        return decoder

    def _decode(self, z, first, last):
        """Decoder rows of neurons ``first .. last - 1`` applied to ``z``: rates or logits."""
        C = self.n_classes or 1
        weight, bias = self.decoder.weight[first * C: last * C], self.decoder.bias[first * C: last * C]
        with _float32(z):
            out = F.linear(z.to(weight.dtype).transpose(1, 2), weight, bias)  # (B, T, n*C)
        return self._head(out)

    def _head(self, out):
        """Decoder outputs ``(B, T, n * C)`` as rates ``(B, n, T)`` or logits ``(B, n, C, T)``."""
        if self.n_classes is None:
            return F.softplus(out).transpose(1, 2)
        B, T = out.shape[:2]
        return out.reshape(B, T, -1, self.n_classes).permute(0, 2, 3, 1)

    def _decode_all(self, z, time_s):
        """Every decoder on every window (``"all"``): ``(B, out_neurons, [C,] T)``, the neurons of
        decoder 0 first, then decoder 1, ...; one encoder pass serves them all. With the time
        input, each window's ``time_s`` applies to every decoder (each its own time layer):
        the time layer runs once on ``D`` copies of the latents, and decoders of equal size
        run as one batched product (the published model's nine: a handful of operations per
        batch instead of nine times as many)."""
        if not self.time_input:
            return self._decode(z, 0, self.out_neurons)
        sizes, (B, Cz, T) = self.neurons_per_decoder, z.shape
        D = len(sizes)
        if time_s is not None:  # one time per window, the same for each of its D copies
            time_s = torch.as_tensor(time_s, dtype=torch.float64).reshape(-1).expand(B)
            time_s = time_s.repeat_interleave(D)
        with _float32(z):
            zg = self._time_gain(z.repeat_interleave(D, dim=0), list(range(D)) * B, time_s)
        zg = zg.view(B, D, Cz, T)
        if len(set(sizes)) > 1:
            return torch.cat([self._decode(zg[:, d], self._offsets[d], self._offsets[d + 1])
                              for d in range(D)], dim=1)
        C, n = self.n_classes or 1, sizes[0]
        with _float32(zg):
            weight = self.decoder.weight.view(D, n * C, Cz).transpose(1, 2)  # (D, Cz, n*C)
            out = torch.matmul(zg.permute(1, 0, 3, 2).reshape(D, B * T, Cz), weight)
            out = out + self.decoder.bias.view(D, 1, n * C)
        return self._head(out.view(D, B, T, n * C).permute(1, 2, 0, 3).reshape(B, T, D * n * C))

    def forward(self, x, decoder=None, time_s=None, prepend_context=True, *,
                recording=_NOT_GIVEN):
        """Rates ``(B, N, T // samples_per_bin)``, or logits ``(B, N, C, T // samples_per_bin)``.

        Parameters
        ----------
        x : Tensor of shape (B, T) or (B, 1, T)
        decoder : int, sequence or host tensor of shape (B,), or "all", optional
            The decoder index of each window (one decoder per recording); needed
            with several decoders. ``N`` is then that decoder's neuron count; a
            batch that mixes decoders is padded to the largest count (padding
            rates are 0). ``"all"``: every decoder applied to every window in one
            encoder pass, ``N = out_neurons`` (decoder 0's neurons first).
        time_s : float or Tensor of shape (B,), optional
            Recording time (s) of each window's first bin; needed with
            ``time_input=True`` (with ``"all"``, each window's time applies to
            every decoder).
        prepend_context : bool, default=True
            See :meth:`encode` (only matters with ``context_samples``).
        recording : deprecated
            The former name of ``decoder`` (0.4); it warns and will be removed in 0.6.

        Under ``torch.autocast`` the encoder runs in the reduced precision, while the
        SincNet front end, the time gain and the decoder (about 1.5 % of the
        FLOPs) stay float32.
        """
        if recording is not _NOT_GIVEN:
            if decoder is not None:
                raise TypeError("pass the decoder index as decoder= only; received both "
                                "decoder= and its former name recording=.")
            warnings.warn("ICNet.forward(recording=...) is now decoder=...: the index of each "
                          "window's decoder; recording= will be removed in 0.6.",
                          FutureWarning, stacklevel=2)
            decoder = recording
        z = self.encode(x, prepend_context)
        if isinstance(decoder, str):
            if decoder != "all":
                raise ValueError(f"decoder must be an index, one per window, or 'all'; "
                                 f"received {decoder!r}.")
            return self._decode_all(z, time_s)
        decoders = self._decoders(decoder, z.shape[0])
        used = sorted(set(decoders))
        if len(used) == 1:
            return self._decoded(z, decoders, time_s)
        if self.time_input:
            with _float32(z):
                z = self._time_gain(z, decoders, time_s)
        n_max = max(self.neurons_per_decoder[d] for d in used)
        C = self.n_classes or 1
        shape = (z.shape[0], n_max, z.shape[-1]) if C == 1 else (z.shape[0], n_max, C, z.shape[-1])
        out = z.new_zeros(shape, dtype=torch.float32)
        rows = torch.as_tensor(decoders)
        for d in used:
            sel = torch.nonzero(rows == d).reshape(-1).to(z.device)
            out[sel, : self.neurons_per_decoder[d]] = self._decode(
                z[sel], self._offsets[d], self._offsets[d + 1])
        return out

    def _decoded(self, z, decoders, time_s):
        """The output of one decoder, ``decoders[0]``, for every window of ``z``."""
        if self.time_input:
            with _float32(z):
                z = self._time_gain(z, decoders, time_s)
        d = decoders[0]
        return self._decode(z, self._offsets[d], self._offsets[d + 1])
