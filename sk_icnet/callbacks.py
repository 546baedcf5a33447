"""Deprecated since 0.5 and removed in 0.6: this 0.3 module moved to :mod:`sk_icnet.icnet` in 0.4.

Its name ``METADATA_FILE`` is internal from 0.5 on.
"""

from . import icnet as _icnet
from ._core.deprecation import moved_module
from .icnet import _callbacks

#: each name this module served -> the module it is taken from now
_HOMES = {
    "AtomicCheckpoint": _icnet, "BestWeights": _icnet, "CheckpointMetadata": _icnet,
    "GatherDistributedLosses": _icnet, "PendingLoss": _icnet, "ResolvePendingLosses": _icnet,
    "TrainingDiverged": _icnet, "TrimHeap": _icnet,
    "METADATA_FILE": _callbacks,
}

__all__ = list(_HOMES)
__getattr__, __dir__ = moved_module(__name__, _HOMES)
