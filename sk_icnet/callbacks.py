"""This module moved to :mod:`sk_icnet.icnet` in 0.4; this import path keeps working."""

from .icnet._callbacks import (
    METADATA_FILE,
    AtomicCheckpoint,
    BestWeights,
    CheckpointMetadata,
    GatherDistributedLosses,
    PendingLoss,
    ResolvePendingLosses,
    TrainingDiverged,
    TrimHeap,
)

__all__ = ["AtomicCheckpoint", "BestWeights", "CheckpointMetadata", "GatherDistributedLosses",
           "METADATA_FILE", "PendingLoss", "ResolvePendingLosses", "TrainingDiverged", "TrimHeap"]
