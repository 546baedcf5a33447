"""Deprecated since 0.5 and removed in 0.6: this 0.3 module moved to :mod:`sk_icnet.icnet` in 0.4."""

from . import icnet as _icnet
from ._core.deprecation import moved_module

#: each name this module served -> the module it is taken from now
_HOMES = {
    "ICNetRegressor": _icnet,
}

__all__ = list(_HOMES)
__getattr__, __dir__ = moved_module(__name__, _HOMES)
