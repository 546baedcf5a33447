"""Batches of windows: the collate function and the sampler that keeps reads contiguous."""

from __future__ import annotations

import numpy as np
import torch

from .._core.validation import check_positive_int
from ._store import MAX_BATCH_COUNT

__all__ = ["collate_windows", "WindowBatchSampler"]

def _batch_buffers(specs):
    """Tensors of the given (shape, dtype) laid out in one storage, shared memory in a worker.

    A DataLoader worker sends each storage to the main process through shared
    memory; one storage per batch, allocated there from the start (as torch's
    ``default_collate`` does), is one segment and no extra copy.
    """
    sizes = [int(np.prod(shape)) * torch.empty(0, dtype=dtype).element_size()
             for shape, dtype in specs]
    offsets = np.concatenate([[0], np.cumsum([-(-n // 8) * 8 for n in sizes])]).astype(int)
    nbytes = int(offsets[-1])
    if torch.utils.data.get_worker_info() is not None:
        storage = torch.UntypedStorage._new_shared(nbytes)
    else:
        storage = torch.UntypedStorage(nbytes)
    buf = torch.empty(0, dtype=torch.uint8).set_(storage)
    return [buf[o: o + n].view(dtype).view(shape)
            for (shape, dtype), o, n in zip(specs, offsets[:-1], sizes, strict=True)]


def _check_batch_counts(counts):
    """Refuse counts that the batch's int32 cannot hold (before the batch is allocated)."""
    for c in counts:
        if c.dtype in (np.uint8, np.uint16):  # always fit
            continue
        if c.dtype.kind not in "iu":
            raise ValueError(f"collate_windows: counts must be integers; received dtype {c.dtype} "
                             "(items of a WindowDataset hold the counts as stored).")
        if c.size and (int(c.max()) > MAX_BATCH_COUNT or int(c.min()) < 0):
            raise ValueError(f"collate_windows: counts must be in [0, {MAX_BATCH_COUNT}] to fit the "
                             f"batch's int32 counts; received values in [{int(c.min())}, "
                             f"{int(c.max())}] (dtype {c.dtype}).")


def collate_windows(items):
    """Batch :class:`WindowDataset` items into tensors; counts stay unsigned integers.

    Items from recordings with different neuron counts are padded to the
    largest, the padding marked unobserved.

    Returns
    -------
    X : dict
        ``"x"`` float32 ``(B, 1, window_samples)``, ``"decoder"`` int64 ``(B,)`` (each
        window's decoder index), ``"time_s"`` float64 ``(B,)``.
    y : tuple
        counts ``(B, N, window_bins)`` (uint8, or int32 when wider), observed
        bool ``(B, 1 or N, window_bins)``.
    """
    B = len(items)
    counts = [item[1][0] for item in items]
    masks = [item[1][1] for item in items]
    n_max, T = max(c.shape[0] for c in counts), counts[0].shape[1]
    uint8 = all(c.dtype == np.uint8 for c in counts)
    if not uint8:
        _check_batch_counts(counts)
    uniform = all(c.shape[0] == n_max for c in counts) and len({m.shape[0] for m in masks}) == 1
    n_mask = masks[0].shape[0] if uniform else n_max
    x, y, observed, decoder, time_s = _batch_buffers([
        ((B,) + items[0][0]["x"].shape, torch.float32),
        ((B, n_max, T), torch.uint8 if uint8 else torch.int32),
        ((B, n_mask, T), torch.bool), ((B,), torch.int64), ((B,), torch.float64)])
    np.stack([item[0]["x"] for item in items], out=x.numpy())
    if uniform:
        np.stack(counts, out=y.numpy(), casting="unsafe")
        np.stack(masks, out=observed.numpy())
    else:
        y.zero_()
        observed.zero_()
        for k, (c, m) in enumerate(zip(counts, masks, strict=True)):
            y.numpy()[k, : c.shape[0]] = c
            observed.numpy()[k, : c.shape[0]] = m
    decoder.numpy()[:] = [item[0]["decoder"] for item in items]
    time_s.numpy()[:] = [item[0]["time_s"] for item in items]
    return {"x": x, "decoder": decoder, "time_s": time_s}, (y, observed)


class WindowBatchSampler(torch.utils.data.Sampler):
    """Batches of neighbouring windows, so each batch is one read per recording.

    A :class:`WindowDataset`'s windows are split into runs of consecutive
    windows of one recording. With ``shuffle``, each run is cut into pieces of
    ``batch_size`` windows at a random phase and the pieces are shuffled: a
    full piece is a batch (one contiguous read); the shorter pieces (run ends)
    are shuffled and packed together into the remaining batches. Without
    ``shuffle`` batches follow the windows' order within each recording.

    Parameters
    ----------
    dataset : WindowDataset
    batch_size : int
    shuffle : bool, default=False
    generator : torch.Generator, optional
        Source of randomness (the estimator passes a seeded one).
    drop_last : bool, default=False
    num_replicas, rank : int, default=1, 0
        Data-parallel training: every process draws the same batches (the same
        seeded ``generator``) and keeps every ``num_replicas``-th one from
        ``rank``; the last ``len % num_replicas`` batches of an epoch are left
        out so that every process runs the same number of steps.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None, drop_last=False,
                 num_replicas=1, rank=0):
        self.dataset = dataset
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last
        self.num_replicas = check_positive_int(num_replicas, "num_replicas")
        self.rank = rank
        self._next = None

    def _runs(self):
        order = np.lexsort((self.dataset._start, self.dataset._rec))
        rec, start = self.dataset._rec[order], self.dataset._start[order]
        breaks = np.flatnonzero((np.diff(rec) != 0) | (np.diff(start) > self.dataset.hop_bins)) + 1
        return np.split(order, breaks)

    def _draw(self):
        b = self.batch_size
        runs = [run for run in self._runs() if len(run)]
        if not self.shuffle:
            flat = np.concatenate(runs) if runs else np.zeros(0, np.int64)
            batches = [flat[i: i + b] for i in range(0, len(flat), b)]
        else:
            g = self.generator
            full, partial = [], []
            for run in runs:
                phase = int(torch.randint(b, (1,), generator=g)) if len(run) > b else 0
                pieces = np.split(run, [c for c in range(phase, len(run), b) if c > 0])
                for piece in pieces:
                    (full if len(piece) == b else partial).append(piece)
            if partial:
                perm = torch.randperm(len(partial), generator=g).tolist()
                rest = np.concatenate([partial[i] for i in perm])
                full.extend(rest[i: i + b] for i in range(0, len(rest), b))
            perm = torch.randperm(len(full), generator=g).tolist()
            batches = [full[i] for i in perm]
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == b]
        if self.num_replicas > 1:
            per_rank = len(batches) // self.num_replicas
            batches = batches[self.rank::self.num_replicas][:per_rank]
        return [batch.tolist() for batch in batches]

    def __iter__(self):
        batches = self._next if self._next is not None else self._draw()
        self._next = None
        yield from batches

    def __len__(self):
        if self._next is None:
            self._next = self._draw()
        return len(self._next)

