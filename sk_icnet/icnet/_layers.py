"""The layers of ICNet: the SincNet filter bank, the strided convolution block, and the padding
arithmetic they share (how many zeros a convolution pads, how many frames it gives, how far
its frames read), with the precision rules of the front end.

:class:`~sk_icnet.icnet.ICNet` is built from these; the published model's Keras paddings
(``"same"``, ``"keras_causal"``, ``"valid"``) are modes of the same arithmetic.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .._core.signal import hz_to_mel, mel_to_hz
from .._core.validation import check_positive_int

__all__ = ["SincFilterbank", "CausalConvBlock", "conv_padding", "factor_strides", "symlog",
           "cpu_supports_bf16", "autocast", "PADDINGS", "SINCNET_STYLES"]


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


def symlog(x):
    """Sign-preserving log compression ``sign(x) * log1p(|x|)``."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def cpu_supports_bf16():
    """Whether this CPU has native bfloat16 arithmetic (x86 AVX-512 BF16 or AMX, Arm BF16).

    Read from ``/proc/cpuinfo``; None where that cannot be known (other systems).
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = set()
            for line in f:
                if line.lower().startswith(("flags", "features")):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        return None
    if not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


#: padding modes of the convolutions: sk_icnet's causal blocks and Keras' three modes
PADDINGS = ("causal", "same", "keras_causal", "valid")
#: SincNet parametrisations: sk_icnet's (unit pass-band gain) and the authors' Keras layer
SINCNET_STYLES = ("sk_icnet", "keras")


def _check_choice(value, name, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}; received {value!r}.")
    return value


def conv_padding(mode, kernel_size, stride, length):
    """Zeros ``(left, right)`` that a convolution pads its input of ``length`` samples with.

    ``"causal"`` is sk_icnet's causal block: ``kernel_size - stride`` zeros on the
    left (a negative number: that many leading samples are skipped), so an input
    of ``L`` samples gives ``L // stride`` frames. The Keras modes follow Keras:
    ``"keras_causal"`` pads ``kernel_size - 1`` on the left; ``"same"`` gives
    ``ceil(L / stride)`` frames with a total padding of
    ``max((ceil(L / stride) - 1) * stride + kernel_size - L, 0)``, its half
    (rounded down) on the left; ``"valid"`` pads nothing.
    """
    if mode == "causal":
        return kernel_size - stride, 0
    if mode == "keras_causal":
        return kernel_size - 1, 0
    if mode == "valid":
        return 0, 0
    if mode == "same":
        total = max((-(-length // stride) - 1) * stride + kernel_size - length, 0)
        return total // 2, total - total // 2
    raise ValueError(f"padding must be one of {list(PADDINGS)}; received {mode!r}.")


def _pad(x, mode, kernel_size, stride):
    left, right = conv_padding(mode, kernel_size, stride, x.shape[-1])
    if left < 0:  # kernel shorter than the stride: skip the first samples (sk_icnet's causal)
        x, left = x[..., -left:], 0
    if left or right:
        x = F.pad(x, (left, right))
    return x


def _frames(mode, kernel_size, stride, length):
    """Frames out of a convolution over ``length`` samples (0 when it is too short)."""
    left, right = conv_padding(mode, kernel_size, stride, length)
    padded = length + left + right
    return max((padded - kernel_size) // stride + 1, 0) if padded >= kernel_size else 0


def _extent(mode, kernel_size, stride):
    """Input samples that output frame ``j`` reads before ``j * stride`` and after
    ``(j + 1) * stride - 1``, for an input whose length is a multiple of the stride."""
    left = {"causal": kernel_size - stride, "keras_causal": kernel_size - 1, "valid": 0,
            "same": max(kernel_size - stride, 0) // 2}[mode]
    return left, kernel_size - stride - left


def autocast(precision, device):
    """``torch.autocast`` to bfloat16 on ``device`` (None: the CPU) for ``precision="bfloat16"``;
    a no-op for ``"float32"``. The estimator's training steps and streamed prediction use it."""
    if precision != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device if device else "cpu").type,
                          dtype=torch.bfloat16)


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

    ``style="keras"`` computes the filters as the authors' Keras layer does:
    no clamp at Nyquist, each band-pass divided by its largest tap, then a
    Hamming window ``0.54 - 0.46 cos(2 pi n / kernel_size)`` (``kernel_size``
    odd: the authors' ``Filt_dim``, their block's ``kernel_size + 1``). The
    stored parameters are the same (Hz above the floors).

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
    style : {"sk_icnet", "keras"}, default="sk_icnet"
    stride : int, default=1
    padding : {"causal", "same", "keras_causal", "valid"}, default="causal"
        See :func:`conv_padding`.
    """

    def __init__(self, audio_fs, n_filters, kernel_size, min_low_hz=50.0, min_band_hz=50.0,
                 style="sk_icnet", stride=1, padding="causal"):
        super().__init__()
        self.style = _check_choice(style, "sincnet_style", SINCNET_STYLES)
        self.padding = _check_choice(padding, "padding", PADDINGS)
        self.stride = check_positive_int(stride, "sincnet_stride")
        if self.style == "keras" and int(kernel_size) % 2 == 0:
            raise ValueError("sincnet_kernel_size must be odd with sincnet_style='keras' (the "
                             "authors' Filt_dim = kernel_size + 1 of their block); received "
                             f"{kernel_size!r}.")
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
        if self.style == "keras":
            window = 0.54 - 0.46 * torch.cos(2 * math.pi * n.double() / self.kernel_size)
        elif self.kernel_size > 1:
            window = 0.54 - 0.46 * torch.cos(2 * math.pi * n / (self.kernel_size - 1))
        else:
            window = torch.ones(1)
        self.register_buffer("_window", window, persistent=False)

    def cutoffs_hz(self):
        """Return the effective (low, high) cut-off frequencies in Hz."""
        low = self.min_low_hz + torch.abs(self.low_hz)
        high = low + self.min_band_hz + torch.abs(self.band_hz)
        if self.style == "keras":  # the authors' layer does not clamp at Nyquist
            return low, high
        return low, torch.clamp(high, self.min_low_hz, self.audio_fs / 2.0)

    def filters(self):
        """Return the filter bank as a ``(n_filters, 1, kernel_size)`` tensor."""
        if self.style == "keras":
            return self._keras_filters()
        low, high = self.cutoffs_hz()
        f_low = (low / self.audio_fs)[:, None]
        f_high = (high / self.audio_fs)[:, None]
        n = self._n[None, :]
        band = 2 * f_high * torch.sinc(2 * f_high * n) - 2 * f_low * torch.sinc(2 * f_low * n)
        return (band * self._window[None, :]).unsqueeze(1)

    def _keras_filters(self):
        """The authors' filters (float64, then the parameters' dtype): band-pass / max tap x window."""
        low, high = self.cutoffs_hz()
        f_low = (low.double() / self.audio_fs)[:, None]
        f_high = (high.double() / self.audio_fs)[:, None]
        n = self._n.double()[None, :]
        band = 2 * f_high * torch.sinc(2 * f_high * n) - 2 * f_low * torch.sinc(2 * f_low * n)
        band = band / band.max(dim=1, keepdim=True).values
        return (band * self._window.double()[None, :]).unsqueeze(1).to(self.low_hz.dtype)

    def forward(self, x):
        x = _pad(x, self.padding, self.kernel_size, self.stride)
        weight = self.filters().to(x.dtype)
        return symlog(F.conv1d(x, weight, stride=self.stride))

    def extra_repr(self):
        extra = "" if (self.style, self.stride, self.padding) == ("sk_icnet", 1, "causal") else \
            f", style={self.style!r}, stride={self.stride}, padding={self.padding!r}"
        return (f"audio_fs={self.audio_fs}, n_filters={self.n_filters}, "
                f"kernel_size={self.kernel_size}, min_low_hz={self.min_low_hz}, "
                f"min_band_hz={self.min_band_hz}{extra}")


class CausalConvBlock(nn.Module):
    """Strided Conv1d, followed by PReLU; padded on the left only by default.

    With ``padding="causal"`` and ``kernel_size >= stride`` the left padding is
    ``kernel_size - stride``, so output frame ``j`` sees input samples
    ``j*stride - (kernel_size - stride) .. (j + 1)*stride - 1`` and the output
    length is ``T // stride``. The Keras modes (``"same"``, ``"keras_causal"``,
    ``"valid"``) pad as Keras does (see :func:`conv_padding`).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding="causal"):
        super().__init__()
        self.stride = int(stride)
        self.kernel_size = int(kernel_size)
        self.padding = _check_choice(padding, "padding", PADDINGS)
        # negative when the kernel is shorter than the stride (see forward)
        self.left_pad = self.kernel_size - self.stride
        self.conv = nn.Conv1d(in_channels, out_channels, self.kernel_size, stride=self.stride)
        self.act = nn.PReLU(out_channels)

    def forward(self, x):
        # "causal" with a kernel shorter than the stride skips the first stride - kernel
        # samples, so each kernel ends on its frame's last sample (T // stride frames)
        return self.act(self.conv(_pad(x, self.padding, self.kernel_size, self.stride)))
