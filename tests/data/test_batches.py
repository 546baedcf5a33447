"""Batches of windows: the sampler, collate, and loader workers (sk_icnet.data)."""

import numpy as np
import pytest
import torch

from sk_icnet.data import WindowBatchSampler, WindowDataset, collate_windows
from tests.data.conftest import make_recording

pytest.importorskip("zarr")


def test_loader_workers_read_the_same_windows(tmp_path):
    make_recording(n_bins=3000, name="a").save(tmp_path / "a.zarr")
    ds = WindowDataset(tmp_path / "a.zarr", window_samples=1280, context_samples=256)
    sampler = WindowBatchSampler(ds, 8)
    batches = [list(b) for b in sampler]
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_windows,
                                         num_workers=2)
    for (X, (counts, observed)), idx in zip(loader, batches, strict=True):
        assert counts.dtype == torch.uint8 and observed.dtype == torch.bool
        ref_X, (ref_c, ref_o) = collate_windows(ds.__getitems__(idx))
        assert torch.equal(X["x"], ref_X["x"]) and torch.equal(counts, ref_c)
        assert torch.equal(observed, ref_o)


def test_batch_sampler_reads_neighbours_and_covers_every_window():
    ds = WindowDataset([make_recording(name="a", n_bins=3000), make_recording(name="b")],
                       window_samples=1280, context_samples=256)
    sub = ds[np.setdiff1d(np.arange(len(ds)), [10, 11, 50])]  # holes, as after a CV split
    g = torch.Generator().manual_seed(0)
    sampler = WindowBatchSampler(sub, 8, shuffle=True, generator=g)
    n = len(sampler)
    batches = list(sampler)
    assert len(batches) == n
    assert sorted(i for b in batches for i in b) == list(range(len(sub)))
    full = [b for b in batches if len(set(sub._rec[b])) == 1
            and np.all(np.diff(sub._start[b]) == ds.hop_bins)]
    assert len(full) >= len(batches) - 4  # most batches are one contiguous read
    again = list(WindowBatchSampler(sub, 8, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert again == batches
    other = list(WindowBatchSampler(sub, 8, shuffle=True, generator=torch.Generator().manual_seed(1)))
    assert other != batches
    ordered = list(WindowBatchSampler(sub, 8))
    assert [i for b in ordered for i in b] == list(range(len(sub)))


def test_collate_pads_recordings_with_fewer_neurons():
    ds = WindowDataset([make_recording(name="a", n_neurons=3), make_recording(name="b",
                                                                               n_neurons=1)],
                       window_samples=1280, context_samples=256)
    X, (counts, observed) = collate_windows(ds.__getitems__([0, len(ds) - 1]))
    assert counts.shape == observed.shape == (2, 3, 40)
    assert X["decoder"].tolist() == [0, 1]
    assert not observed[1, 1:].any() and observed[1, 0, 8:].any()
