"""Deprecated since 0.5 and removed in 0.6: this 0.3 module moved to :mod:`sk_icnet.icnet` in 0.4.

Its names are internal from 0.5 on: none has a public replacement.
"""

from ._core.deprecation import moved_module
from .icnet import _distributed

#: each name this module served -> the module it is taken from now
_HOMES = {
    "DistributedContext": _distributed, "setup_distributed": _distributed,
    "teardown_distributed": _distributed, "gather_objects": _distributed,
    "broadcast_object": _distributed, "check_ranks_agree": _distributed, "check_same_data": _distributed,
}

__all__ = list(_HOMES)
__getattr__, __dir__ = moved_module(__name__, _HOMES)
