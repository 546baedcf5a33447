"""Recording stores on disk: save, open, lazy reads, errors (sk_icnet.data)."""

import os

import numpy as np
import pandas as pd
import pytest

from sk_icnet.data import FORMAT_VERSION, Recording
from tests.data.conftest import make_recording

pytest.importorskip("zarr")


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
