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

import contextlib
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import check_positive_int, check_positive_number, samples_per_bin

__all__ = ["ICNet", "SincFilterbank", "factor_strides", "hz_to_mel", "mel_to_hz", "symlog"]


def factor_strides(total, n_layers):
    """Split ``total`` downsampling into ``n_layers`` integer strides.

    As many leading strides of 2 as divide ``total`` evenly (up to
    ``n_layers - 1``), the remaining factor in the last layer; unused layers
    keep stride 1. ``factor_strides(32, 5) == [2, 2, 2, 2, 2]``,
    ``factor_strides(240, 5) == [2, 2, 2, 2, 15]``,
    ``factor_strides(13, 3) == [1, 1, 13]``.

    Parameters
    ----------
    total : int
        Audio samples per neural bin (the product of the strides).
    n_layers : int
        Number of strided layers.

    Returns
    -------
    list of int
    """
    total = check_positive_int(total, "samples per bin")
    n_layers = check_positive_int(n_layers, "n_encoder_layers")
    twos = 0
    remaining = total
    while twos < n_layers - 1 and remaining % 2 == 0 and remaining > 1:
        remaining //= 2
        twos += 1
    return [2] * twos + [1] * (n_layers - 1 - twos) + [remaining]


def hz_to_mel(hz):
    """Frequency in Hz to the (HTK) mel scale, ``2595 log10(1 + f / 700)``; arrays accepted."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def symlog(x):
    """Sign-preserving log compression ``sign(x) * log1p(|x|)``."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def _float32(x):
    """A context that turns autocast off for ``x``'s device (a no-op where it cannot be on)."""
    device_type = x.device.type
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


class SincFilterbank(nn.Module):
    """Learnable band-pass filters parametrised by their cut-off frequencies.

    Each filter is the difference of two windowed ideal low-pass sinc filters
    (Ravanelli & Bengio 2018), so it has two parameters: its lower cut-off
    and its bandwidth. Cut-offs are initialised evenly on the mel scale from
    ``min_low_hz`` to ``audio_fs / 2``; the effective lower cut-off is
    ``min_low_hz + |low|`` and the bandwidth ``min_band_hz + |band|``, the
    upper cut-off clamped at Nyquist. The pass-band gain is one. Filtering
    is causal (left padding of ``kernel_size - 1``) with stride 1, followed
    by ``sign(x) * log1p(|x|)``.

    Parameters
    ----------
    audio_fs : float
        Audio sampling rate in Hz.
    n_filters : int
        Number of band-pass filters.
    kernel_size : int
        Filter length in samples.
    min_low_hz, min_band_hz : float, default=50.0
        Lower bounds of the lower cut-off and of the bandwidth in Hz.
    """

    def __init__(self, audio_fs, n_filters, kernel_size, min_low_hz=50.0, min_band_hz=50.0):
        super().__init__()
        self.audio_fs = float(audio_fs)
        self.n_filters = int(n_filters)
        self.kernel_size = int(kernel_size)
        self.min_low_hz = float(min_low_hz)
        self.min_band_hz = float(min_band_hz)
        nyquist = self.audio_fs / 2.0
        high = nyquist - (self.min_low_hz + self.min_band_hz)
        if high <= self.min_low_hz:
            raise ValueError(
                "audio_fs is too low for the SincNet frequency floor: audio_fs / 2 must "
                f"exceed 2 * min_low_hz + min_band_hz = {2 * self.min_low_hz + self.min_band_hz} Hz; "
                f"received audio_fs={self.audio_fs!r}."
            )
        edges = torch.from_numpy(
            mel_to_hz(np.linspace(hz_to_mel(self.min_low_hz), hz_to_mel(high), self.n_filters + 1)))
        # stored as offsets above the floors, as in SincNet
        self.low_hz = nn.Parameter((edges[:-1] - self.min_low_hz).float())
        self.band_hz = nn.Parameter(torch.diff(edges).float())
        n = torch.arange(self.kernel_size, dtype=torch.float32)
        self.register_buffer("_n", n - (self.kernel_size - 1) / 2.0, persistent=False)
        if self.kernel_size > 1:
            window = 0.54 - 0.46 * torch.cos(2 * math.pi * n / (self.kernel_size - 1))
        else:
            window = torch.ones(1)
        self.register_buffer("_window", window, persistent=False)

    def cutoffs_hz(self):
        """Return the effective (low, high) cut-off frequencies in Hz."""
        low = self.min_low_hz + torch.abs(self.low_hz)
        high = torch.clamp(low + self.min_band_hz + torch.abs(self.band_hz),
                           self.min_low_hz, self.audio_fs / 2.0)
        return low, high

    def filters(self):
        """Return the filter bank as a ``(n_filters, 1, kernel_size)`` tensor."""
        low, high = self.cutoffs_hz()
        f_low = (low / self.audio_fs)[:, None]
        f_high = (high / self.audio_fs)[:, None]
        n = self._n[None, :]
        band = 2 * f_high * torch.sinc(2 * f_high * n) - 2 * f_low * torch.sinc(2 * f_low * n)
        return (band * self._window[None, :]).unsqueeze(1)

    def forward(self, x):
        x = F.pad(x, (self.kernel_size - 1, 0))
        weight = self.filters().to(x.dtype)
        return symlog(F.conv1d(x, weight))

    def extra_repr(self):
        return (f"audio_fs={self.audio_fs}, n_filters={self.n_filters}, "
                f"kernel_size={self.kernel_size}, min_low_hz={self.min_low_hz}, "
                f"min_band_hz={self.min_band_hz}")


class CausalConvBlock(nn.Module):
    """Strided Conv1d padded on the left only, followed by PReLU.

    With ``kernel_size >= stride`` the left padding is ``kernel_size - stride``,
    so output frame ``j`` sees input samples ``j*stride - (kernel_size - stride)
    .. (j + 1)*stride - 1`` and the output length is ``T // stride``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.stride = int(stride)
        self.kernel_size = int(kernel_size)
        # negative when the kernel is shorter than the stride (see forward)
        self.left_pad = self.kernel_size - self.stride
        self.conv = nn.Conv1d(in_channels, out_channels, self.kernel_size, stride=self.stride)
        self.act = nn.PReLU(out_channels)

    def forward(self, x):
        if self.left_pad > 0:
            x = F.pad(x, (self.left_pad, 0))
        elif self.left_pad < 0:
            # kernel shorter than the stride: skip the first stride - kernel samples
            # so each kernel ends on its frame's last sample (causal, T // stride frames)
            x = x[..., -self.left_pad:]
        return self.act(self.conv(x))


class ICNet(nn.Module):
    """ICNet: SincNet front end, causal strided convolutional encoder, linear decoder.

    Parameters
    ----------
    audio_fs : float, default=24414.0625
        Audio sampling rate in Hz.
    out_neurons : int, default=1
        Number of output neurons ``N``.
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

    Attributes
    ----------
    samples_per_bin : int
    encoder_strides : list of int
    receptive_field : int
        Number of audio samples that output bin ``t`` depends on, ending at the
        last sample of bin ``t`` (4,033 at the paper configuration).

    Notes
    -----
    At the paper configuration the module has 5,113,312 + 65 * N parameters.
    ``forward`` takes ``(B, T)`` or ``(B, 1, T)`` with ``T`` a multiple of
    ``samples_per_bin`` and returns rates of shape ``(B, N, T // samples_per_bin)``.
    """

    def __init__(self, audio_fs=24414.0625, out_neurons=1, dt_ms=1.31072, n_filters=48,
                 sincnet_kernel_size=64, encoder_channels=128, encoder_kernel_size=64,
                 n_encoder_layers=5, bottleneck_channels=64, encoder_strides=None,
                 sincnet_min_low_hz=50.0, sincnet_min_band_hz=50.0, n_classes=None):
        super().__init__()
        check_positive_number(audio_fs, "audio_fs")
        check_positive_number(dt_ms, "dt_ms")
        for name, value in [("out_neurons", out_neurons), ("n_filters", n_filters),
                            ("sincnet_kernel_size", sincnet_kernel_size),
                            ("encoder_channels", encoder_channels),
                            ("encoder_kernel_size", encoder_kernel_size),
                            ("n_encoder_layers", n_encoder_layers),
                            ("bottleneck_channels", bottleneck_channels)]:
            check_positive_int(value, name)
        spb = samples_per_bin(audio_fs, dt_ms)
        if encoder_strides is None:
            strides = factor_strides(spb, n_encoder_layers)
        else:
            if isinstance(encoder_strides, (str, bytes)) or not hasattr(encoder_strides, "__len__"):
                raise TypeError("encoder_strides must be a sequence of integers or None; "
                                f"received {encoder_strides!r}.")
            strides = [check_positive_int(s, "encoder_strides[i]") for s in encoder_strides]
            if len(strides) != n_encoder_layers:
                raise ValueError(
                    f"encoder_strides must have n_encoder_layers={n_encoder_layers} entries; "
                    f"received {list(encoder_strides)!r} ({len(strides)} entries).")
            if math.prod(strides) != spb:
                raise ValueError(
                    f"encoder_strides must multiply to the samples per bin, audio_fs * dt_ms "
                    f"/ 1000 = {spb}; received {strides!r}, whose product is {math.prod(strides)}.")
        self.audio_fs = float(audio_fs)
        self.dt_ms = float(dt_ms)
        self.samples_per_bin = spb
        self.encoder_strides = strides
        self.out_neurons = int(out_neurons)

        self.sincnet = SincFilterbank(audio_fs, n_filters, sincnet_kernel_size,
                                      sincnet_min_low_hz, sincnet_min_band_hz)
        layers = []
        in_ch = n_filters
        for stride in strides:
            layers.append(CausalConvBlock(in_ch, encoder_channels, encoder_kernel_size, stride))
            in_ch = encoder_channels
        self.encoder = nn.Sequential(*layers)
        self.bottleneck = CausalConvBlock(encoder_channels, bottleneck_channels,
                                          encoder_kernel_size, 1)
        if n_classes is not None:
            check_positive_int(n_classes, "n_classes", minimum=2)
        self.n_classes = None if n_classes is None else int(n_classes)
        self.decoder = nn.Linear(bottleneck_channels, out_neurons * (self.n_classes or 1))

        # receptive field: 1 + sum over layers of (kernel - 1) * (input hop)
        rf = 1 + (sincnet_kernel_size - 1)
        hop = 1
        for stride in strides:
            rf += (encoder_kernel_size - 1) * hop
            hop *= stride
        rf += (encoder_kernel_size - 1) * hop
        self.receptive_field = rf

    @property
    def context_bins(self):
        """Whole bins of history (beyond the current bin) that the receptive field spans."""
        return math.ceil(max(self.receptive_field - self.samples_per_bin, 0) / self.samples_per_bin)

    def encode(self, x):
        """Return the bottleneck latent ``(B, bottleneck_channels, T // samples_per_bin)``."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"ICNet expects a waveform batch of shape (B, T) or (B, 1, T); "
                             f"received {tuple(x.shape)}.")
        if x.shape[-1] % self.samples_per_bin:
            raise ValueError(f"the waveform length must be a multiple of samples_per_bin="
                             f"{self.samples_per_bin}; received {x.shape[-1]} samples.")
        with _float32(x):  # the waveform and the filter bank keep full precision
            sinc = self.sincnet(x.to(self.sincnet.low_hz.dtype))
        return self.bottleneck(self.encoder(sinc))

    def forward(self, x):
        """Rates ``(B, N, T // samples_per_bin)``, or logits ``(B, N, C, T // samples_per_bin)``.

        Under ``torch.autocast`` the encoder runs in the reduced precision, while the
        SincNet front end and the decoder (about 1.5 % of the FLOPs) stay float32.
        """
        z = self.encode(x)
        with _float32(z):
            out = self.decoder(z.to(self.decoder.weight.dtype).transpose(1, 2))  # (B, T, N*C)
        if self.n_classes is None:
            return F.softplus(out).transpose(1, 2)
        B, T = out.shape[:2]
        return out.reshape(B, T, self.out_neurons, self.n_classes).permute(0, 2, 3, 1)
