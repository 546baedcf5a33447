"""This module moved to :mod:`sk_icnet.icnet` in 0.4; this import path keeps working."""

from ._core.signal import hz_to_mel, mel_to_hz
from .icnet._layers import (
    SincFilterbank,
    conv_padding,
    cpu_supports_bf16,
    factor_strides,
    symlog,
)
from .icnet._module import ICNet

__all__ = ["ICNet", "SincFilterbank", "conv_padding", "cpu_supports_bf16", "factor_strides",
           "hz_to_mel", "mel_to_hz", "symlog"]
