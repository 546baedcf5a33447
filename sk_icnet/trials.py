"""Deprecated since 0.5 and removed in 0.6: this 0.3 module moved to :mod:`sk_icnet.data` in 0.4."""

from . import data as _data
from ._core.deprecation import moved_module

#: each name this module served -> the module it is taken from now
_HOMES = {
    "TrialData": _data, "load_trials": _data,
}

__all__ = list(_HOMES)
__getattr__, __dir__ = moved_module(__name__, _HOMES)
