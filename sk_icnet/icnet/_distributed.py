"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``).

:class:`~sk_icnet.ICNetRegressor` trains data-parallel when its process is one
of several started by ``torchrun`` (``WORLD_SIZE > 1``): the module is wrapped
in :class:`~torch.nn.parallel.DistributedDataParallel`, every rank reads its
own shard of the training (and validation) batches, the epoch losses in
``history_`` are gathered over all ranks, and only rank 0 prints and writes
checkpoints. Every rank must be given the same data: at the start of a fit the
ranks compare their numbers of training and validation trials (or windows, and
the windows' layout) and, if they differ, all raise a ``ValueError`` naming
each rank's counts (:func:`check_same_data`) rather than waiting for each other
until the timeout. Nothing else in a user's script
changes::

    torchrun --nproc_per_node=2 train.py                  # CPU (gloo) or GPUs (NCCL)

This module holds the launch-level helpers; the estimator uses them through
short hooks.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "setup_distributed", "teardown_distributed", "gather_objects",
           "broadcast_object", "check_ranks_agree", "check_same_data"]

#: seconds a collective may wait for a peer before the fit fails (env SK_ICNET_DIST_TIMEOUT_S)
DEFAULT_TIMEOUT_S = 600.0
_created_here = False  # whether sk_icnet started the process group (and so may end it)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a data-parallel fit."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self):
        return self.rank == 0


def _env_int(name):
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"the environment variable {name} must be an integer (torchrun sets it); "
                         f"received {value!r}.") from None


def launched_world_size():
    """``WORLD_SIZE`` as torchrun set it (1 when not launched by torchrun)."""
    return _env_int("WORLD_SIZE") or 1


def setup_distributed(mode, device_type):
    """Join (or start) the process group when ``mode`` asks for data-parallel training.

    Parameters
    ----------
    mode : {"auto", True, False}
        ``"auto"``: data-parallel when launched with ``WORLD_SIZE > 1`` (or when
        the user already initialised a process group of several processes).
    device_type : str
        ``"cpu"`` (gloo) or ``"cuda"`` (NCCL, one GPU per process: ``LOCAL_RANK``).

    Returns
    -------
    DistributedContext or None
    """
    if mode is False:
        return None
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
    else:
        world = launched_world_size()
    if world <= 1:
        if mode is True:
            raise ValueError("distributed=True needs several processes: launch the script with "
                             "torchrun --nproc_per_node=N (WORLD_SIZE was "
                             f"{os.environ.get('WORLD_SIZE')!r}).")
        return None
    local_rank = _env_int("LOCAL_RANK") or 0
    if device_type == "cuda":
        n_gpus = torch.cuda.device_count()
        if local_rank >= n_gpus:
            raise ValueError(f"LOCAL_RANK={local_rank} has no GPU of its own: this node has "
                             f"{n_gpus} GPU(s); start at most {n_gpus} processes per node.")
        torch.cuda.set_device(local_rank)
    global _created_here
    if not dist.is_initialized():
        timeout = float(os.environ.get("SK_ICNET_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S))
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=timeout))
        _created_here = True
    ctx = DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank)
    types = gather_objects(device_type)
    if len(set(types)) > 1:
        teardown_distributed()
        raise ValueError(f"every process of a distributed fit must use the same device type; "
                         f"received {types} (one per rank): set the same device on every rank.")
    return ctx


def teardown_distributed():
    """End the process group if sk_icnet started it (after a failed fit: a group left open
    makes the process abort at exit); a group the user started is left alone."""
    global _created_here
    if _created_here and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _created_here = False


def gather_objects(obj):
    """``obj`` of every rank, in rank order (a list)."""
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src=0):
    """Rank ``src``'s ``obj`` on every rank."""
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def check_ranks_agree(what, **counts):
    """Raise on every rank unless all ranks report the same ``counts``.

    Every rank of a data-parallel fit draws its share of the same batches, so
    the ranks must hold the same data: with different numbers of trials they
    would run different numbers of steps and wait for each other until the
    timeout. Called at the start of a fit, before any training step.

    Parameters
    ----------
    what : str
        What the data are, for the message (e.g. ``"training data"``).
    **counts : int
        This rank's counts (e.g. ``trials=96``).

    Raises
    ------
    ValueError
        On every rank, naming each rank's counts, when they differ.
    """
    gathered = gather_objects(counts)
    if all(other == gathered[0] for other in gathered[1:]):
        return
    ranks = "; ".join(f"rank {rank}: " + ", ".join(f"{key}={value}" for key, value in c.items())
                      for rank, c in enumerate(gathered))
    raise ValueError(f"the processes of a distributed fit hold different {what} ({ranks}): every "
                     "rank draws its share of the same batches, so each must be given the same "
                     "data (the same X and y, or the same recordings).")


def check_same_data(train, valid, windows=None):
    """Raise on every rank unless all ranks hold the same amount of training and validation
    data (:func:`check_ranks_agree`), and for windows the same layout of runs.

    Parameters
    ----------
    train, valid : dataset
        This rank's training and validation sets (``valid`` may be None).
    windows : WindowDataset, optional
        ``train`` as windows, if it is: their recording and start bin decide how the batches
        are drawn, so a digest of them is compared too.
    """
    kind = "windows" if windows is not None else "trials"
    counts = {f"training_{kind}": len(train),
              f"validation_{kind}": 0 if valid is None else len(valid)}
    if windows is not None:  # the same count laid out in other runs would batch differently
        digest = hashlib.sha256()
        for array in (windows._rec, windows._start):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        counts["window_layout"] = digest.hexdigest()[:12]
    check_ranks_agree("data", **counts)
