"""Fault injection and hostile stores for the data layer (sk_icnet.data).

Each test breaks a store, races a save or interrupts one on purpose, and checks
that no data is lost or silently replaced, that nothing is left behind, and
that a damaged store is refused with an error naming the file, the key, the
rule and the value received. The user guide's reliability page counts these
cases.
"""

import asyncio
import errno
import json
import os
import pickle
import re
import signal
import threading

import numpy as np
import pandas as pd
import pytest
import torch

from sk_icnet._core import files as files_module
from sk_icnet.data import FORMAT_VERSION, Recording, WindowDataset, collate_windows
from sk_icnet.data import _batches as batches_module
from sk_icnet.data import _store as store_module
from tests._fifo import refusal

zarr = pytest.importorskip("zarr")

FS, DT = 8000.0, 4.0  # 32 samples per bin


def make_recording(n_bins=64, n_neurons=2, *, seed=0, name="rec", **kwargs):
    rng = np.random.default_rng(seed)
    audio = (0.01 * rng.standard_normal(n_bins * 32)).astype(np.float32)
    counts = rng.poisson(0.5, (n_neurons, n_bins))
    return Recording(audio, counts, audio_fs=FS, dt_ms=DT, name=name, **kwargs)


def counts_at(path):
    rec = Recording.open(path)
    return rec.read(0, rec.n_bins)[1]


def replace_array(path, key, values, chunks):
    """Write ``values`` over the array ``key`` of the store at ``path`` (a tampered store)."""
    group = zarr.open_group(path, mode="r+")
    del group[key]
    group.create_array(key, data=values, chunks=chunks, config={"write_empty_chunks": True})


def edit_metadata(path, **changes):
    """Change (or, with a value of ``...``, delete) attributes in a store's zarr.json."""
    meta = os.path.join(path, "zarr.json")
    with open(meta) as f:
        doc = json.load(f)
    for key, value in changes.items():
        if value is ...:
            del doc["attributes"][key]
        else:
            doc["attributes"][key] = value
    with open(meta, "w") as f:
        json.dump(doc, f)
    return meta


# ------------------------------------------------------------- no data loss
def test_save_refuses_to_replace_a_directory_that_is_not_a_store(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("four years of work")
    with pytest.raises(ValueError, match=r"thesis' is a directory without sk_icnet store metadata, "
                                         r"not an sk_icnet recording store.*overwrite=True\) "
                                         "replaces only a store"):
        make_recording().save(thesis, overwrite=True)
    assert (thesis / "chapter1.tex").read_text() == "four years of work"
    assert sorted(os.listdir(tmp_path)) == ["thesis"]


def test_save_refuses_to_replace_a_file_a_link_or_a_foreign_zarr_group(tmp_path):
    a_file = tmp_path / "notes.nwb"
    a_file.write_bytes(b"an NWB file")
    with pytest.raises(ValueError, match="is a file, not an sk_icnet recording store"):
        make_recording().save(a_file, overwrite=True)
    assert a_file.read_bytes() == b"an NWB file"
    store = tmp_path / "rec.zarr"
    make_recording(seed=1).save(store)
    link = tmp_path / "link.zarr"
    link.symlink_to(store)
    with pytest.raises(ValueError, match="is a symbolic link, not an sk_icnet recording store"):
        make_recording(seed=2).save(link, overwrite=True)
    assert link.is_symlink()
    foreign = tmp_path / "foreign.zarr"
    zarr.open_group(foreign, mode="w").attrs["format"] = "someone.else"
    with pytest.raises(ValueError, match="not an sk_icnet recording store"):
        make_recording().save(foreign, overwrite=True)
    assert zarr.open_group(foreign, mode="r").attrs["format"] == "someone.else"
    np.testing.assert_array_equal(counts_at(store), make_recording(seed=1).counts)


def _appear_while_writing(monkeypatch, path, make):
    """Let ``make(path)`` run after the store's data are written, before its rename."""
    original = Recording._write
    raced = []

    def write_then_race(self, zarr, where, chunk_bins, compression):
        original(self, zarr, where, chunk_bins, compression)
        if not raced:  # once: ``make`` may save a store itself
            raced.append(path)
            make(path)

    monkeypatch.setattr(Recording, "_write", write_then_race)


@pytest.mark.parametrize("what", ["store", "empty directory", "file"])
def test_save_never_clobbers_what_another_process_created_meanwhile(tmp_path, monkeypatch, what):
    path = tmp_path / "rec.zarr"
    theirs = make_recording(seed=1, name="theirs")
    make = {"store": lambda p: Recording.save(theirs, p),
            "empty directory": lambda p: os.mkdir(p),
            "file": lambda p: open(p, "w").close()}[what]
    _appear_while_writing(monkeypatch, path, make)
    with pytest.raises(ValueError, match="appeared while the recording was being saved .*left as "
                                         "it is and nothing was saved"):
        make_recording(seed=2).save(path)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]  # ours is gone, theirs is intact
    if what == "store":
        monkeypatch.undo()
        np.testing.assert_array_equal(counts_at(path), theirs.counts)
        assert Recording.open(path).name == "theirs"
    elif what == "empty directory":
        assert path.is_dir() and not os.listdir(path)
    else:
        assert path.is_file() and path.stat().st_size == 0


def test_save_with_overwrite_refuses_a_directory_that_replaced_the_store_meanwhile(tmp_path,
                                                                                   monkeypatch):
    path = tmp_path / "rec.zarr"
    make_recording(seed=1).save(path)

    def swap_for_a_thesis(p):
        os.rename(p, tmp_path / "moved.zarr")
        os.mkdir(p)
        (p / "chapter1.tex").write_text("keep me")

    _appear_while_writing(monkeypatch, path, swap_for_a_thesis)
    with pytest.raises(ValueError, match="a directory without sk_icnet store metadata"):
        make_recording(seed=2).save(path, overwrite=True)
    assert (path / "chapter1.tex").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["moved.zarr", "rec.zarr"]


@pytest.mark.parametrize("native", [True, False], ids=["renameat2", "fallback"])
def test_rename_noreplace_refuses_every_kind_of_existing_target(tmp_path, monkeypatch, native):
    if not native:
        monkeypatch.setattr(files_module, "_NOREPLACE", None)
    elif files_module._NOREPLACE is None:
        pytest.skip("no renameat2/renamex_np on this system")
    src_dir, src_file = tmp_path / "src_dir", tmp_path / "src_file"
    src_dir.mkdir()
    (src_dir / "inside").write_text("x")
    src_file.write_text("file")
    targets = {"file": tmp_path / "t_file", "dir": tmp_path / "t_dir",
               "link": tmp_path / "t_link"}
    targets["file"].write_text("theirs")
    targets["dir"].mkdir()  # empty: os.rename would replace it
    targets["link"].symlink_to(tmp_path / "nowhere")
    for src in (src_dir, src_file):
        for target in targets.values():
            with pytest.raises(FileExistsError):
                files_module.rename_noreplace(src, target)
    assert targets["file"].read_text() == "theirs" and not os.listdir(targets["dir"])
    assert os.readlink(targets["link"]) == str(tmp_path / "nowhere")
    files_module.rename_noreplace(src_dir, tmp_path / "free_dir")
    files_module.rename_noreplace(src_file, tmp_path / "free_file")
    assert (tmp_path / "free_dir" / "inside").read_text() == "x"
    assert (tmp_path / "free_file").read_text() == "file"
    assert not src_dir.exists() and not src_file.exists()


# ------------------------------------------------------------------ leftovers
def _slow_chunk_writes(monkeypatch, first):
    """Make zarr's chunk writes slow and call ``first()`` in the first one, as a full disk or
    a Ctrl-C does while other writes are still in flight. Returns a function that waits
    until no patched write is running."""
    from zarr.storage import LocalStore

    original = LocalStore.set
    lock = threading.Lock()
    state = {"calls": 0, "running": 0}
    idle = threading.Event()
    idle.set()

    async def slow_set(self, key, value, *args, **kwargs):
        if "/c/" not in key:
            return await original(self, key, value, *args, **kwargs)
        with lock:
            n = state["calls"]
            state["calls"] += 1
            state["running"] += 1
            idle.clear()
        try:
            if n == 0:
                first()
            await asyncio.sleep(0.05)
            return await original(self, key, value, *args, **kwargs)
        finally:
            with lock:
                state["running"] -= 1
                if not state["running"]:
                    idle.set()

    monkeypatch.setattr(LocalStore, "set", slow_set)

    def wait_idle():
        assert idle.wait(10), "zarr's writes did not end"
        assert state["calls"] > 1  # other writes were in flight

    return wait_idle


def _raise_enospc():
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_during_save_leaves_no_temporary_store(tmp_path, monkeypatch):
    path = tmp_path / "rec.zarr"
    make_recording(seed=1).save(path)
    wait_idle = _slow_chunk_writes(monkeypatch, _raise_enospc)
    with pytest.raises(OSError, match="No space left"):
        make_recording(seed=2).save(path, overwrite=True, chunk_bins=8)
    wait_idle()  # the writes zarr still had in flight are over
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]
    np.testing.assert_array_equal(counts_at(path), make_recording(seed=1).counts)


def test_ctrl_c_during_save_leaves_no_temporary_store(tmp_path, monkeypatch):
    path = tmp_path / "rec.zarr"
    wait_idle = _slow_chunk_writes(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGINT))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            make_recording().save(path, chunk_bins=8)
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_idle()
    assert os.listdir(tmp_path) == []


def test_failure_between_the_two_renames_puts_the_previous_store_back(tmp_path, monkeypatch):
    path = tmp_path / "rec.zarr"
    make_recording(seed=1).save(path)
    calls = []

    def fail_second(rename):
        def wrapped(src, dst):
            calls.append((os.path.basename(src), os.path.basename(dst)))
            if len(calls) == 2:
                raise OSError(errno.EIO, "Input/output error")
            return rename(src, dst)
        return wrapped

    monkeypatch.setattr(store_module.os, "rename", fail_second(os.rename))
    monkeypatch.setattr(store_module, "rename_noreplace",
                        fail_second(getattr(store_module, "rename_noreplace", os.rename)),
                        raising=False)
    with pytest.raises(OSError, match="Input/output error"):
        make_recording(seed=2).save(path, overwrite=True)
    monkeypatch.undo()
    assert calls[0][0] == "rec.zarr" and calls[1][1] == "rec.zarr"  # aside, then the new one in
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]
    np.testing.assert_array_equal(counts_at(path), make_recording(seed=1).counts)


def _killed_between_renames(tmp_path, complete):
    """The directory a save leaves when killed after moving the previous store aside."""
    path = tmp_path / "rec.zarr"
    make_recording(seed=1).save(path)
    make_recording(seed=2).save(tmp_path / "new.zarr")
    if not complete:  # killed before the new store's metadata were written
        edit_metadata(tmp_path / "new.zarr", n_bins=...)
    os.rename(path, tmp_path / "rec.zarr.old-0123abcd")
    os.rename(tmp_path / "new.zarr", tmp_path / "rec.zarr.tmp-0123abcd")
    return path


def test_open_finishes_a_save_killed_between_the_two_renames(tmp_path):
    path = _killed_between_renames(tmp_path, complete=True)
    with pytest.warns(RuntimeWarning, match=r"interrupted between moving the previous store aside "
                                            r"and moving the new one in; finished it: its new "
                                            r"store 'rec.zarr.tmp-0123abcd' is now at"):
        rec = Recording.open(path)
    np.testing.assert_array_equal(rec.read(0, 64)[1], make_recording(seed=2).counts)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]


def test_open_rolls_back_a_save_killed_before_its_new_store_was_complete(tmp_path):
    path = _killed_between_renames(tmp_path, complete=False)
    with pytest.warns(RuntimeWarning, match=r"rolled it back: the previous store "
                                            r"\('rec.zarr.old-0123abcd'\) is back"):
        rec = Recording.open(path)
    np.testing.assert_array_equal(rec.read(0, 64)[1], make_recording(seed=1).counts)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]
    # killed before the new store was even created: only the previous one, moved aside
    os.rename(path, tmp_path / "rec.zarr.old-0123abcd")
    with pytest.warns(RuntimeWarning, match="rolled it back"):
        rec = Recording.open(path)
    np.testing.assert_array_equal(rec.read(0, 64)[1], make_recording(seed=1).counts)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]


# ------------------------------------------------------- silently wrong numbers
@pytest.mark.parametrize("key, values, match", [
    ("counts", np.full((2, 64), -1, np.int8), "counts has dtype int8, but counts must be stored "
                                              "as uint8, uint16 or uint32"),
    ("counts", np.where(np.eye(2, 64) > 0, np.nan, 1.0), "counts has dtype float64"),
    ("counts", np.ones((2, 64), np.int64), "counts has dtype int64"),
    ("audio", np.zeros(64 * 32, np.int16), r"audio has dtype int16, but audio must be stored as "
                                           r"float32 \(pascals\)"),
])
def test_open_refuses_arrays_of_a_type_save_never_writes(tmp_path, key, values, match):
    path = tmp_path / "rec.zarr"
    make_recording().save(path, chunk_bins=16)
    replace_array(path, key, values, chunks=values.shape[:-1] + (16 * (1 if key == "counts" else 32),))
    with pytest.raises(ValueError, match=f"rec.zarr' is corrupt: {match}.*save"):
        Recording.open(path)


def test_counts_beyond_int32_are_refused_before_a_batch_is_allocated(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="counts must be at most 2147483647 per bin"):
        Recording(np.zeros(64, np.float32), [[3e9, 0]], audio_fs=FS, dt_ms=DT)
    path = tmp_path / "rec.zarr"
    make_recording().save(path, chunk_bins=16)
    huge = np.zeros((2, 64), np.uint32)
    huge[1, 40] = 3_000_000_000  # a valid uint32 store: 3e9 would wrap to a negative int32
    replace_array(path, "counts", huge, chunks=(2, 16))
    ds = WindowDataset(Recording.open(path), 32 * 32, 8 * 32)
    items = [ds[i] for i in range(len(ds))]

    def no_allocation(specs):
        raise AssertionError("the batch was allocated before the counts were checked")

    monkeypatch.setattr(batches_module, "_batch_buffers", no_allocation)
    with pytest.raises(ValueError, match=r"counts must be in \[0, 2147483647\] to fit the batch's "
                                         r"int32 counts; received values in \[0, 3000000000\]"):
        collate_windows(items)
    monkeypatch.undo()
    x, (c, m) = ds[0]  # bins -8 .. 23: not the huge one
    small = c.astype(np.uint32) + 7  # uint32 counts that fit are batched as int32, unchanged
    batch = collate_windows([(x, (small, m))])[1][0]
    assert batch.dtype == torch.int32 and (batch.numpy()[0] == small).all()


def test_a_missing_chunk_is_found_in_a_memory_store(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    path = tmp_path / "rec.zarr"
    make_recording().save(path, chunk_bins=16)
    memory = fsspec.filesystem("memory")
    memory.put(str(path), "/faults-data-rec.zarr", recursive=True)
    try:
        assert Recording.open("memory://faults-data-rec.zarr").n_bins == 64
        memory.rm("/faults-data-rec.zarr/counts/c/0/2")
        with pytest.raises(ValueError, match="truncated: counts has 3 of its 4 chunks"):
            Recording.open("memory://faults-data-rec.zarr")
    finally:
        memory.rm("/faults-data-rec.zarr", recursive=True)


def test_a_stray_file_does_not_hide_a_missing_chunk(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording().save(path, chunk_bins=16)
    os.remove(path / "counts" / "c" / "0" / "2")
    (path / "counts" / "c" / "0" / "notes.txt").write_text("a stray file keeps the file count")
    with pytest.raises(ValueError, match="truncated: counts has 3 of its 4 chunks"):
        Recording.open(path)


def test_reads_from_a_store_saved_over_since_it_was_opened_raise(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording(n_bins=64, seed=1).save(path)
    opened = Recording.open(path)
    blob = pickle.dumps(opened)
    make_recording(n_bins=32, seed=2).save(path, overwrite=True)  # another process, say
    for read in (lambda: opened.read(0, 64), lambda: opened.read_audio(0, 8),
                 lambda: WindowDataset(opened, 16 * 32, 4 * 32)[0]):
        with pytest.raises(ValueError, match="rec.zarr' was replaced or removed after recording "
                                             "'rec' was opened from it.*open it again"):
            read()
    with pytest.raises(ValueError, match="is not the one this recording was pickled from"):
        pickle.loads(blob)
    np.testing.assert_array_equal(counts_at(path), make_recording(n_bins=32, seed=2).counts)


def test_saving_an_opened_recording_over_its_own_store_keeps_it_readable(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording(seed=1).save(path, chunk_bins=64)
    rec = Recording.open(path)
    rec.save(path, overwrite=True, chunk_bins=16, compression="lz4")  # re-chunk in place
    np.testing.assert_array_equal(rec.read(0, 64)[1], make_recording(seed=1).counts)
    assert rec.counts.chunks == (2, 16) and sorted(os.listdir(tmp_path)) == ["rec.zarr"]


# ------------------------------------------------------------- unclear errors
@pytest.mark.parametrize("key, value, rule, received", [
    ("format_version", True, "an integer from 1 to 1", "True (bool)"),
    ("format_version", -7, "an integer from 1 to 1", "-7 (int)"),
    ("format_version", "1", "an integer from 1 to 1", "'1' (str)"),
    ("format_version", ..., "an integer from 1 to 1", "nothing (the key is missing)"),
    ("name", "", "a non-empty string", "'' (str)"),
    ("name", 7, "a non-empty string", "7 (int)"),
    ("audio_fs", "8000", "a finite number > 0", "'8000' (str)"),
    ("audio_fs", -8000.0, "a finite number > 0", "-8000.0 (float)"),
    ("dt_ms", 4.01, "a whole number of audio samples at audio_fs=8000.0 Hz", "4.01 (float)"),
    ("start_s", None, "a finite number of seconds", "None (NoneType)"),
    ("start_s", 10**400, "a finite number of seconds", "1000000"),
    ("start_s", 1e300, "a finite number of seconds within 1e9 s", "1e+300 (float)"),
    ("n_samples", 16, r"an integer >= samples_per_bin \(32", "16 (int)"),
    ("n_bins", 65, "n_samples // samples_per_bin = 64", "65 (int)"),
    ("n_neurons", 0, "an integer >= 1", "0 (int)"),
    ("n_neurons", 2.0, "an integer >= 1", "2.0 (float)"),
    ("chunk_bins", -1, "an integer >= 1", "-1 (int)"),
    ("store_id", 42, "a non-empty string", "42 (int)"),
    ("neurons", 5, "a table in JSON", "5 (int)"),
    ("neurons", "{not json", "a table in JSON", "'{not json' (str) (ValueError"),
])
def test_bad_store_metadata_names_the_file_the_key_the_rule_and_the_value(tmp_path, key, value,
                                                                         rule, received):
    path = tmp_path / "rec.zarr"
    make_recording().save(path, chunk_bins=16)
    meta = edit_metadata(path, **{key: value})
    with pytest.raises(ValueError) as info:
        Recording.open(path)
    message = str(info.value)
    assert f"invalid metadata in {str(meta)!r}: {key} must be " in message
    assert re.search(f"must be {rule}", message), message
    assert f"received {received}" in message, message


def test_neuron_rows_must_match_the_neuron_count(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording(n_neurons=2).save(path)
    three = pd.DataFrame({"cf_hz": [500.0, 1000.0, 2000.0]}).to_json(orient="table")
    meta = edit_metadata(path, neurons=three)
    with pytest.raises(ValueError, match=f"invalid metadata in {str(meta)!r}: neurons must have one "
                                         r"row per neuron \(n_neurons=2\); received a table of 3 "
                                         "rows"):
        Recording.open(path)


def test_a_newer_format_version_is_still_called_newer(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording().save(path)
    edit_metadata(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(ValueError, match=f"format_version={FORMAT_VERSION + 1}, newer than .*"
                                         "upgrade sk_icnet"):
        Recording.open(path)


def test_oversized_chunks_and_metadata_are_refused_before_they_are_read(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"chunk_bins=10000000 makes chunks of 1280000000 bytes; a "
                                         r"chunk may hold at most 1073741824 bytes"):
        make_recording().save(tmp_path / "never.zarr", chunk_bins=10_000_000)
    assert os.listdir(tmp_path) == []
    path = tmp_path / "rec.zarr"
    make_recording().save(path, chunk_bins=16)
    # a counts chunk that decodes to 4 GiB, however small its file (a compressed bomb)
    meta = path / "counts" / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["chunk_grid"]["configuration"]["chunk_shape"] = [2, 2**31]
    meta.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"counts has chunks of shape \(2, 2147483648\) "
                                         r"\(4294967296 bytes each\), but a chunk may hold at most"):
        Recording.open(path)
    # a metadata file of 65 MiB is refused before zarr (or pandas) reads it
    meta = path / "zarr.json"
    with open(meta, "a") as f:
        f.write(" " * (65 << 20))

    def no_reading(*args, **kwargs):
        raise AssertionError("the metadata were read")

    monkeypatch.setattr(zarr, "open_group", no_reading)
    with pytest.raises(ValueError, match=r"has a metadata file .*zarr.json' of 68157\d+ bytes; "
                                         r"sk_icnet reads at most 67108864 bytes"):
        Recording.open(path)


def test_open_waits_for_a_save_that_is_swapping_stores(tmp_path):
    path = _killed_between_renames(tmp_path, complete=True)
    opened = []
    reader = threading.Thread(target=lambda: opened.append(Recording.open(path)))
    with pytest.warns(RuntimeWarning, match="finished it"):
        with files_module.directory_lock(str(tmp_path)):  # as a live save holds it while swapping
            reader.start()
            reader.join(0.3)
            assert reader.is_alive() and not path.exists()  # it did not touch the swap
        reader.join(10)
    assert not reader.is_alive() and opened[0].n_bins == 64
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]


def hold_lock(dirname):
    """Hold ``dirname`` as a live save holds its temporary store (an exclusive flock)."""
    fcntl = pytest.importorskip("fcntl")
    fd = os.open(dirname, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_the_next_save_removes_what_killed_saves_left_but_not_a_live_save(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording(seed=1).save(path)
    (tmp_path / "rec.zarr.tmp-deadbeef" / "counts").mkdir(parents=True)  # killed while writing
    (tmp_path / "rec.zarr.old-0badf00d.trash-12345678").mkdir()  # killed while deleting
    live = tmp_path / "rec.zarr.tmp-11111111"
    live.mkdir()
    held = hold_lock(live)  # another process writing its store right now
    try:
        with pytest.warns(RuntimeWarning, match=r"removed what interrupted saves had left next to "
                                                r".*\['rec.zarr.tmp-deadbeef', "
                                                r"'rec.zarr.old-0badf00d.trash-12345678'\]"):
            make_recording(seed=2).save(path, overwrite=True)
        assert sorted(os.listdir(tmp_path)) == ["rec.zarr", "rec.zarr.tmp-11111111"]
    finally:
        os.close(held)
    np.testing.assert_array_equal(counts_at(path), make_recording(seed=2).counts)


def test_open_finishes_a_save_killed_after_writing_its_store_but_not_one_still_running(tmp_path):
    path = tmp_path / "rec.zarr"
    make_recording(seed=2).save(tmp_path / "new.zarr")
    running = tmp_path / "rec.zarr.tmp-11111111"
    os.rename(tmp_path / "new.zarr", running)
    held = hold_lock(running)  # its save is alive: not ours to move
    try:
        with pytest.raises(ValueError, match="not a readable sk_icnet recording store"):
            Recording.open(path)
        assert sorted(os.listdir(tmp_path)) == ["rec.zarr.tmp-11111111"]
    finally:
        os.close(held)
    # now its process is gone (killed after writing the store, before moving it in)
    with pytest.warns(RuntimeWarning, match=r"interrupted after writing its new store and before "
                                            r"moving it in; finished it: its new store "
                                            r"'rec.zarr.tmp-11111111' is now at"):
        rec = Recording.open(path)
    np.testing.assert_array_equal(rec.read(0, 64)[1], make_recording(seed=2).counts)
    assert sorted(os.listdir(tmp_path)) == ["rec.zarr"]


# ------------------------------------------------------------ files that are not files
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("entry", ["counts/c/0/0", "audio/zarr.json"])
def test_a_store_holding_a_fifo_is_refused_at_open_without_waiting(tmp_path, entry):
    path = str(tmp_path / "r.zarr")
    make_recording().save(path)
    os.remove(os.path.join(path, entry))
    os.mkfifo(os.path.join(path, entry))
    raised, elapsed = refusal(Recording.open, path, fifos=[os.path.join(path, entry)])
    assert isinstance(raised, ValueError), raised
    assert f"{entry}' of the recording store" in str(raised)
    assert "is a FIFO (named pipe): only regular files and folders are read" in str(raised)
    assert elapsed < 5


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_store_chunk_linked_to_a_device_or_outside_the_store_is_refused_at_open(tmp_path):
    path = str(tmp_path / "r.zarr")
    make_recording().save(path)
    chunk = os.path.join(path, "counts", "c", "0", "0")
    os.replace(chunk, tmp_path / "elsewhere")
    os.symlink("/dev/zero", chunk)  # read whole, /dev/zero never ends
    with pytest.raises(ValueError, match="0/0' is a link that resolves to '/dev/zero', outside "
                                         "its folder"):
        Recording.open(path)
    os.remove(chunk)
    os.symlink(tmp_path / "elsewhere", chunk)  # a store's file read from outside the store
    with pytest.raises(ValueError, match="elsewhere', outside its folder"):
        Recording.open(path)
    os.remove(chunk)
    os.replace(tmp_path / "elsewhere", chunk + ".kept")
    os.symlink("0.kept", chunk)  # a link that stays inside the store is followed
    np.testing.assert_array_equal(counts_at(path), make_recording().counts)
