"""This module moved to :mod:`sk_icnet.icnet` in 0.4; this import path keeps working."""

from .icnet._distributed import (
    DistributedContext,
    broadcast_object,
    check_ranks_agree,
    check_same_data,
    gather_objects,
    setup_distributed,
    teardown_distributed,
)

__all__ = ["DistributedContext", "setup_distributed", "teardown_distributed", "gather_objects",
           "broadcast_object", "check_ranks_agree", "check_same_data"]
