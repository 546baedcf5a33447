"""Recordings on disk and lazily cut windows (sk_icnet.data)."""

import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils import _safe_indexing

from sk_icnet.data import (
    FORMAT_VERSION,
    Recording,
    WindowBatchSampler,
    WindowDataset,
    bin_spike_times,
    collate_windows,
    decoder_indices,
    make_windows,
)

pytest.importorskip("zarr")

FS, DT = 8000.0, 4.0  # 32 samples per bin


def make_recording(n_bins=1000, n_neurons=3, *, seed=0, name="rec", rate=0.5, **kwargs):
    rng = np.random.default_rng(seed)
    audio = (0.01 * rng.standard_normal(n_bins * 32)).astype(np.float32)
    counts = rng.poisson(rate, (n_neurons, n_bins))
    return Recording(audio, counts, audio_fs=FS, dt_ms=DT, name=name, **kwargs)


# ------------------------------------------------------------------ Recording
def test_counts_are_stored_compactly():
    rec = make_recording()
    assert rec.counts.dtype == np.uint8 and rec.missing is None
    wide = Recording(np.zeros(64, np.float32), [[300, 0]], audio_fs=FS, dt_ms=DT)
    assert wide.counts.dtype == np.uint16
    # NaN counts become a mask of missing bins, never NaN floats
    nan = Recording(np.zeros(96, np.float32), [[1.0, np.nan, 2.0]], audio_fs=FS, dt_ms=DT)
    assert nan.counts.dtype == np.uint8 and nan.missing.tolist() == [[False, True, False]]


def test_spike_times_are_binned_like_bin_spike_times():
    times = [np.array([0.0, 0.0039, 0.004, 0.0101]), np.array([0.019])]
    rec = Recording(np.zeros(5 * 32, np.float32), spike_times=times, audio_fs=FS, dt_ms=DT)
    np.testing.assert_array_equal(rec.counts, bin_spike_times(times, 5, DT))
    flat = Recording(np.zeros(5 * 32, np.float32), spike_times=[0.001, 0.005], audio_fs=FS, dt_ms=DT)
    assert flat.counts.tolist() == [[1, 1, 0, 0, 0]]  # one neuron, as bin_spike_times reads it
    with pytest.raises(ValueError, match=r"spike_times\[1\] of recording 'recording' has 1 spike"):
        Recording(np.zeros(160, np.float32), spike_times=[[0.001], [0.02]], audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="outside"):
        Recording(np.zeros(160, np.float32), spike_times=[[-0.001]], audio_fs=FS, dt_ms=DT)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(counts=np.zeros((2, 99))), ValueError, "counts has 99 bins, but audio holds 100 bins"),
    (dict(counts=np.full((1, 100), 0.5)), ValueError, "whole numbers of spikes"),
    (dict(counts=-np.ones((1, 100))), ValueError, "non-negative"),
    (dict(counts=np.zeros((1, 100)), missing=np.zeros(99, bool)), ValueError,
     r"missing must have shape \(n_bins,\)"),
    (dict(counts=np.zeros((1, 100)), missing=np.zeros(100)), TypeError, "boolean"),
    (dict(counts=np.zeros((1, 100)), name=""), TypeError, "name must be a non-empty str"),
    (dict(counts=np.zeros((1, 100)), start_s=float("nan")), TypeError, "start_s"),
    (dict(counts=np.zeros((1, 100)), neurons=pd.DataFrame({"cf": [1, 2]})), ValueError,
     "one row per neuron"),
    (dict(), TypeError, "exactly one of counts and spike_times"),
])
def test_recording_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        Recording(np.zeros(3200, np.float32), audio_fs=FS, dt_ms=DT, **kwargs)


def test_recording_bad_audio_and_rates():
    with pytest.raises(ValueError, match="audio must be one waveform"):
        Recording(np.zeros((2, 3200)), np.zeros(100), audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="NaN or inf"):
        Recording(np.full(3200, np.nan), np.zeros(100), audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="whole number of audio samples"):
        Recording(np.zeros(3200), np.zeros(100), audio_fs=FS, dt_ms=4.01)


def test_save_open_round_trip_is_lazy(tmp_path):
    neurons = pd.DataFrame({"cf_hz": [500.0, 1000.0, 2000.0], "electrode": [3, 7, 9]})
    missing = np.zeros(1000, bool)
    missing[100:150] = True
    blocks = np.repeat(np.arange(10), 100)
    rec = make_recording(neurons=neurons, missing=missing, blocks=blocks, start_s=12.5)
    rec.save(tmp_path / "rec.zarr", chunk_bins=128)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]  # no temporary left behind
    back = Recording.open(tmp_path / "rec.zarr")
    assert not isinstance(back.audio, np.ndarray) and not isinstance(back.counts, np.ndarray)
    assert (back.name, back.start_s, back.n_bins, back.n_neurons) == ("rec", 12.5, 1000, 3)
    for lo, hi in [(-40, 60), (90, 400), (950, 1100)]:
        for a, b in zip(rec.read(lo, hi), back.read(lo, hi), strict=True):
            np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(back.neurons.reset_index(drop=True), neurons)
    np.testing.assert_array_equal(back.block_of(np.arange(1000)), blocks)
    # the padding outside the recording is zero and unobserved
    audio, counts, observed = back.read(-10, 5)
    assert not observed[:, :10].any() and observed[:, 10:].all()
    assert not audio[:320].any() and not counts[:, :10].any()


def test_memmap_audio_pickles_as_its_file(tmp_path):
    path = tmp_path / "audio.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(3200,))
    mm[:] = np.linspace(-1, 1, 3200)
    mm.flush()
    ro = np.memmap(path, dtype=np.float32, mode="r", shape=(3200,))
    rec = Recording(ro, np.ones((1, 100)), audio_fs=FS, dt_ms=DT)
    blob = pickle.dumps(rec)
    assert len(blob) < 3200 * 4  # the waveform is not in the pickle
    np.testing.assert_array_equal(pickle.loads(blob).read(0, 100)[0], mm[:])


def test_store_errors(tmp_path):
    rec = make_recording(n_bins=600)
    path = tmp_path / "rec.zarr"
    rec.save(path, chunk_bins=128)
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        rec.save(path)
    with pytest.raises(ValueError, match="not a readable sk_icnet recording store"):
        Recording.open(tmp_path / "nothing-here")
    with pytest.raises(ValueError, match="existing directory"):
        rec.save(tmp_path / "no" / "such" / "dir.zarr")
    # a store written by a newer format
    import zarr

    newer = tmp_path / "newer.zarr"
    rec.save(newer)
    zarr.open_group(newer, mode="r+").attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError, match=f"format_version={FORMAT_VERSION + 1}.*upgrade"):
        Recording.open(newer)
    # a truncated store: a chunk file is gone
    chunk_dir = path / "counts" / "c"
    victim = next(os.path.join(d, f) for d, _, files in os.walk(chunk_dir) for f in files)
    os.remove(victim)
    with pytest.raises(ValueError, match="truncated: counts has 4 of its 5 chunks"):
        Recording.open(path)


def test_corrupt_chunk_raises_on_read(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording(n_bins=600).save(path, chunk_bins=128)
    victim = next(os.path.join(d, f) for d, _, files in os.walk(path / "counts" / "c")
                  for f in files)
    with open(victim, "r+b") as f:
        f.truncate(10)
    rec = Recording.open(path)
    with pytest.raises(ValueError, match="could not read bins .* corrupt or truncated"):
        for lo in range(0, 600, 128):
            rec.read(lo, lo + 128)


def test_failed_overwrite_keeps_the_old_store(tmp_path, monkeypatch):
    path = tmp_path / "rec.zarr"
    old = make_recording(n_bins=300, seed=1)
    old.save(path)
    new = make_recording(n_bins=300, seed=2)

    def broken(self, zarr, where, chunk_bins, compression):
        zarr.open_group(where, mode="w-").create_array("audio", shape=(10,), dtype="float32")
        raise OSError("disk full")

    monkeypatch.setattr(Recording, "_write", broken)
    with pytest.raises(OSError, match="disk full"):
        new.save(path, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]
    np.testing.assert_array_equal(Recording.open(path).read(0, 300)[1], old.counts)
    monkeypatch.undo()
    new.save(path, overwrite=True)
    np.testing.assert_array_equal(Recording.open(path).read(0, 300)[1], new.counts)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]


# ---------------------------------------------------------------- WindowDataset
def test_windows_match_make_windows_and_mask_the_context():
    rec = make_recording(n_bins=1000)
    ds = WindowDataset(rec, window_samples=320 * 32, context_samples=64 * 32)
    ref = make_windows(rec.audio, rec.counts, FS, DT, window_samples=320 * 32,
                       context_samples=64 * 32)
    assert len(ds) == len(ref.X) == 4 and ds.window_bins == 320 and ds.context_bins == 64
    for k in range(len(ds)):
        X, (counts, observed) = ds[k]
        np.testing.assert_array_equal(X["x"][0], ref.X[k])
        np.testing.assert_array_equal(np.where(observed[:, 64:], counts[:, 64:], np.nan),
                                      ref.y[k][:, 64:])
        assert not observed[:, :64].any()  # the context is never scored
        assert X["time_s"] == pytest.approx((k * 256 - 64) * DT / 1000)
    # materialised with the context visible, the windows equal make_windows exactly
    full = ds.materialize(mask_context=False)
    np.testing.assert_array_equal(full.X, ref.X)
    np.testing.assert_array_equal(full.y, ref.y)
    np.testing.assert_array_equal(full.starts, ref.starts)


def test_batched_reads_equal_single_reads():
    ds = WindowDataset([make_recording(seed=0, name="a"), make_recording(seed=1, name="b",
                                                                          n_neurons=2)],
                       window_samples=1280, context_samples=256)
    order = np.random.default_rng(0).permutation(len(ds))[:20]
    batch = ds.__getitems__(order)
    for i, (X, (counts, observed)) in zip(order, batch, strict=True):
        X1, (c1, o1) = ds[int(i)]
        np.testing.assert_array_equal(X["x"], X1["x"])
        np.testing.assert_array_equal(counts, c1)
        np.testing.assert_array_equal(observed, o1)
        assert X["recording"] == X1["recording"]


def test_views_for_scikit_learn_splitters():
    ds = WindowDataset([make_recording(name="a"), make_recording(name="b")],
                       window_samples=1280, context_samples=256, group_s=0.5)
    assert ds.shape == (len(ds),) == (64,)
    idx = np.array([3, 40, 41])
    view = _safe_indexing(ds, idx)
    assert isinstance(view, WindowDataset) and len(view) == 3
    np.testing.assert_array_equal(view[1][0]["x"], ds[40][0]["x"])
    np.testing.assert_array_equal(view.groups, ds.groups[idx])
    assert len(ds[ds.groups == ds.groups[0]]) == 4 and len(ds[5:9]) == 4
    assert list(ds.windows.columns) == ["recording", "start_bin", "start_s", "group"]
    assert ds.groups[0] == "a:0" and ds.groups[-1].startswith("b:")
    with pytest.raises(IndexError, match="out of range"):
        ds[64]
    with pytest.raises(IndexError, match="integers, slices or booleans"):
        ds[np.array([0.5])]


def test_blocks_group_the_same_stimulus_across_recordings():
    blocks = np.repeat([0, 1, 2, 3], 250)
    ds = WindowDataset([make_recording(name="a", blocks=blocks), make_recording(name="b",
                                                                                 blocks=blocks)],
                       window_samples=1280, context_samples=256)
    groups = ds.groups
    assert set(groups) == {"block:0", "block:1", "block:2", "block:3"}
    first_scored = ds.windows.start_bin + ds.context_bins
    np.testing.assert_array_equal(groups[ds.windows.recording == "a"],
                                  groups[ds.windows.recording == "b"])
    assert all(g == f"block:{min(b // 250, 3)}" for g, b in zip(groups, first_scored, strict=True))


def test_window_dataset_bad_input(tmp_path):
    a = make_recording(name="a")
    with pytest.raises(ValueError, match="names must be unique"):
        WindowDataset([a, make_recording(name="a")])
    other = Recording(np.zeros(3200, np.float32), np.zeros((1, 100)), audio_fs=16000.0, dt_ms=2.0)
    with pytest.raises(ValueError, match="share audio_fs and dt_ms"):
        WindowDataset([a, other])
    with pytest.raises(ValueError, match="window_samples must be a whole number of bins"):
        WindowDataset(a, window_samples=1000, context_samples=0)
    with pytest.raises(ValueError, match="context_samples must be smaller"):
        WindowDataset(a, window_samples=320, context_samples=320)
    with pytest.raises(TypeError, match=r"recordings\[1\] must be a Recording"):
        WindowDataset([a, 3])
    with pytest.raises(ValueError, match="not a readable"):
        WindowDataset(str(tmp_path / "missing.zarr"))


def test_store_backed_dataset_pickles_as_paths(tmp_path):
    make_recording(n_bins=20000, name="big").save(tmp_path / "big.zarr")
    ds = WindowDataset(tmp_path / "big.zarr", window_samples=1280, context_samples=256)
    blob = pickle.dumps(ds[10:20])
    assert len(blob) < 20_000  # paths and the window table, not 2.5 MB of audio
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back[0][0]["x"], ds[10][0]["x"])


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
    assert X["recording"].tolist() == [0, 1]
    assert not observed[1, 1:].any() and observed[1, 0, 8:].any()


def test_decoder_indices():
    a, b = make_recording(name="a"), make_recording(name="b", n_neurons=2)
    np.testing.assert_array_equal(decoder_indices([b, a], ["a", "b"], [3, 2]), [1, 0])
    with pytest.raises(ValueError, match="recording 'b' is unknown to this model"):
        decoder_indices([b], ["a"])
    with pytest.raises(ValueError, match="'b' has 2 neuron.*decoder for it has 3"):
        decoder_indices([b], None, [3])


def test_split_valid_holds_out_every_recording():
    ds = WindowDataset([make_recording(name="a"), make_recording(name="b")],
                       window_samples=1280, context_samples=256)
    train, valid = ds.split_valid(0.2)
    assert len(train) + len(valid) == len(ds)
    assert set(valid.windows.recording) == {"a", "b"} == set(train.windows.recording)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        ds.split_valid(1.5)
