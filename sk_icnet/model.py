"""Deprecated since 0.5 and removed in 0.6: this 0.3 module moved to :mod:`sk_icnet.icnet` in 0.4.

``hz_to_mel`` and ``mel_to_hz`` are public in :mod:`sk_icnet.spectral`; ``conv_padding``,
``factor_strides`` and ``symlog`` are internal from 0.5 on.
"""

from . import icnet as _icnet
from . import spectral as _spectral
from ._core.deprecation import moved_module
from .icnet import _layers

#: each name this module served -> the module it is taken from now
_HOMES = {
    "ICNet": _icnet, "SincFilterbank": _icnet, "cpu_supports_bf16": _icnet,
    "hz_to_mel": _spectral, "mel_to_hz": _spectral,
    "conv_padding": _layers, "factor_strides": _layers, "symlog": _layers,
}

__all__ = list(_HOMES)
__getattr__, __dir__ = moved_module(__name__, _HOMES)
