"""Recording stores on disk: the zarr layout, no-clobber saves, recovery, and opening.

:meth:`~sk_icnet.data.Recording.save` writes a zarr (v3) group, chunked along time
(``chunk_bins`` bins of every neuron per chunk, the matching audio samples per audio
chunk), counts raw or Blosc-LZ4-compressed (``compression``), the waveform uncompressed
(sound compresses poorly and the codec would cost read time). The store is written under a
temporary name and renamed into place, so a failed or interrupted save never leaves a
half-written store under ``path``; only a store is ever replaced, and never one that
appeared while the new one was written. :meth:`~sk_icnet.data.Recording.open` reads
metadata only, checks it, and refuses reads once the store has been saved over.

This room knows files, not recordings: :func:`save_store` writes through the recording's
``_write`` (which calls :func:`write_arrays`) and :func:`open_store` returns the attributes
of the recording it opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import uuid
import warnings
from io import StringIO

import numpy as np
import pandas as pd

from .._core.files import directory_lock, rename_noreplace, require
from .._core.timebase import Timebase
from .._core.validation import (
    _describe,
    check_positive_int,
    is_json_int,
    is_json_real,
    recording_time_ok,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "save_store", "write_arrays", "open_store",
           "store_identity", "local_dir"]

#: name written into every store, and the newest layout version this package reads
FORMAT = "sk_icnet.recording"
FORMAT_VERSION = 1
COUNT_DTYPES = (np.uint8, np.uint16, np.uint32)
#: the most spikes one bin may hold: batches carry wide counts as int32
MAX_BATCH_COUNT = int(np.iinfo(np.int32).max)


def _require_zarr():
    return require("zarr", "zarr", "Recording.save and Recording.open (zarr >= 3)")


# ------------------------------------------------------------ store files
#: the metadata file of a zarr v3 group: what makes a directory an sk_icnet store
_GROUP_FILE = "zarr.json"
_MAX_GROUP_FILE = 64 << 20  # bytes read from a directory's zarr.json to recognise a store
_MAX_CHUNK_BYTES = 1 << 30  # a chunk is decoded whole on every read that touches it


def _wait_for_zarr_writes(timeout=60.0):
    """Let the writes zarr still has in flight finish.

    A zarr write that fails (a full disk) or is interrupted (Ctrl-C) returns at
    once while its other chunk writes go on in zarr's I/O thread; removing the
    temporary store before they end lets them create its directories again.
    """
    try:
        from zarr.core.sync import loop as zarr_loop
    except ImportError:  # pragma: no cover - another zarr layout: nothing to wait for
        return
    io_loop = zarr_loop[0]
    if io_loop is None or io_loop.is_closed() or not io_loop.is_running():
        return

    async def others_done():
        deadline = io_loop.time() + timeout
        while io_loop.time() < deadline:
            me = asyncio.current_task()
            others = [t for t in asyncio.all_tasks() if t is not me]
            if not others:
                return
            await asyncio.wait(others, timeout=deadline - io_loop.time())

    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(others_done(), io_loop).result(timeout + 1)


def _read_group_attrs(dirname):
    """The attributes in ``dirname``'s zarr.json, or None when it is not a readable zarr group."""
    meta = os.path.join(dirname, _GROUP_FILE)
    try:
        if os.path.islink(dirname) or not os.path.isfile(meta) \
                or os.path.getsize(meta) > _MAX_GROUP_FILE:
            return None
        with open(meta, "rb") as f:
            doc = json.loads(f.read(_MAX_GROUP_FILE))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("node_type") != "group":
        return None
    attrs = doc.get("attributes")
    return attrs if isinstance(attrs, dict) else None


def _is_store(dirname):
    """Whether ``dirname`` is a directory written by :meth:`Recording.save` (its own metadata)."""
    attrs = _read_group_attrs(dirname)
    return attrs is not None and attrs.get("format") == FORMAT


def _is_complete_store(dirname):
    """A store whose save got to its end: ``_write`` writes the metadata after the data."""
    attrs = _read_group_attrs(dirname)
    return attrs is not None and attrs.get("format") == FORMAT and "n_bins" in attrs


def _describe_path(path):
    if os.path.islink(path):
        return "a symbolic link"
    if os.path.isdir(path):
        return "a directory without sk_icnet store metadata"
    if os.path.isfile(path):
        return "a file"
    return "not a directory"


def _check_replaceable(path, overwrite, *, appeared=False):
    """Refuse to save over ``path`` unless ``overwrite`` and it is an sk_icnet store."""
    if not os.path.lexists(path):
        return
    if not overwrite:
        if appeared:
            raise ValueError(f"path {path!r} appeared while the recording was being saved "
                             "(another process?); it was left as it is and nothing was saved. "
                             "Pass overwrite=True to replace it, or choose another path.")
        raise ValueError(f"path {path!r} exists; pass overwrite=True to replace it.")
    if os.path.islink(path) or not _is_store(path):
        raise ValueError(f"path {path!r} is {_describe_path(path)}, not an sk_icnet recording "
                         "store: save(overwrite=True) replaces only a store written by "
                         "Recording.save. Choose another path, or move it away yourself.")


def local_dir(where):
    """The absolute local path of a store given as a path or a ``file://`` URL (else None)."""
    if where.startswith("file://"):
        where = where[len("file://"):]
    elif "://" in where:
        return None
    return os.path.abspath(where)


def _hold_lock(dirname):
    """An open descriptor of ``dirname`` holding an exclusive ``flock`` on it, or None where
    locks are unavailable. A save holds its temporary store so: it dies with the process,
    which is how a leftover of a killed save is told from a store being written."""
    try:
        import fcntl
        fd = os.open(dirname, os.O_RDONLY)
    except (ImportError, OSError):  # pragma: no cover - Windows
        return None
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _siblings(path, kind):
    """Names of the ``path.<kind>-<tag>`` entries next to ``path`` (tag: 8 hex digits)."""
    parent, base = os.path.split(path)
    pattern = re.escape(base) + rf"\.{kind}-[0-9a-f]{{8}}"
    return sorted(name for name in os.listdir(parent) if re.fullmatch(pattern, name))


def _dead_temporaries(path, exclude=None):
    """The temporary stores next to ``path`` whose save is dead (their lock is free).

    Empty where locks are unavailable: then no temporary store can be told from
    one that a live save is writing, and none is touched.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return []
    parent = os.path.dirname(path)
    dead = []
    for name in _siblings(path, "tmp"):
        where = os.path.join(parent, name)
        if name == exclude or os.path.islink(where) or not os.path.isdir(where):
            continue
        try:
            fd = os.open(where, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live save, or no locks on this file system
            continue
        finally:
            os.close(fd)
        dead.append(name)
    return dead


def _remove_leftovers(path, exclude):
    """Remove what killed saves left next to ``path`` (their temporary stores, and stores
    they were deleting); the caller holds the directory lock. Returns their names."""
    parent = os.path.dirname(path)
    names = _dead_temporaries(path, exclude)
    names += [name for kind in ("old", "tmp") for name in os.listdir(parent)
              if re.fullmatch(re.escape(os.path.basename(path)) + rf"\.{kind}-[0-9a-f]{{8}}"
                              r"\.trash-[0-9a-f]{8}", name)]
    for name in names:
        shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    return names


def _recover_interrupted_save(path):
    """Finish or roll back a save to ``path`` that was killed before moving its store in.

    :meth:`Recording.save` writes its new store as ``path.tmp-<tag>``, moves the
    previous store (if any) aside as ``path.old-<tag>``, and then moves the new
    one to ``path``. A process killed between the two renames leaves no store
    at ``path``: the swap is finished when the new store is complete, rolled back
    otherwise. One killed after writing its store but before moving it in
    (no previous store) is finished. A warning says what was done.
    """
    parent, base = os.path.split(path)
    if not os.path.isdir(parent):
        return
    with directory_lock(parent):
        if os.path.lexists(path):
            return  # another process finished it meanwhile
        olds = [name for name in _siblings(path, "old") if _is_store(os.path.join(parent, name))]
        if len(olds) > 1:
            raise ValueError(f"the store at {path!r} is missing and interrupted saves left "
                             f"{len(olds)} previous stores next to it ({olds}); rename the one to "
                             f"keep to {base!r}.")
        if olds:
            old = os.path.join(parent, olds[0])
            new = f"{path}.tmp-{olds[0][len(base) + 5:]}"
            finish = _is_complete_store(new)
            source = new if finish else old
            when = "between moving the previous store aside and moving the new one in"
        else:
            complete = [name for name in _dead_temporaries(path)
                        if _is_complete_store(os.path.join(parent, name))]
            if not complete:
                return
            if len(complete) > 1:
                raise ValueError(f"the store at {path!r} is missing and interrupted saves left "
                                 f"{len(complete)} complete stores next to it ({complete}); "
                                 f"rename the one to keep to {base!r}.")
            old, new, finish = None, os.path.join(parent, complete[0]), True
            source = new
            when = "after writing its new store and before moving it in"
        try:
            rename_noreplace(source, path)
        except OSError as exc:
            raise ValueError(
                f"the store at {path!r} is missing: a save was interrupted {when}, and moving "
                f"{os.path.basename(source)!r} to {base!r} failed ({type(exc).__name__}: {exc}); "
                "rename it by hand.") from exc
        if finish:
            if old is not None:
                _remove_store(old)
            what = (f"finished it: its new store {os.path.basename(new)!r} is now at {path!r}"
                    + (f" and the previous store ({olds[0]!r}) was removed" if old else ""))
        else:
            if os.path.lexists(new):
                _remove_store(new)
            what = (f"rolled it back: the previous store ({olds[0]!r}) is back at {path!r}, "
                    "as the new one was incomplete")
    warnings.warn(f"Recording.open: a save to {path!r} was interrupted {when}; {what}.",
                  RuntimeWarning, stacklevel=4)


def _to_trash(dirname):
    """Rename a store that is no longer needed out of the way (``.trash-``) and return the new
    name, so a kill during its deletion never leaves a half-deleted store under a name that
    recovery would use."""
    trash = f"{dirname}.trash-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(dirname, trash)
    except OSError:
        trash = dirname
    return trash


def _remove_store(dirname):
    """Delete a store that is no longer needed (see :func:`_to_trash`)."""
    shutil.rmtree(_to_trash(dirname), ignore_errors=True)


#: the dtype every array of a store must have (what Recording.save writes): test, description
_STORED_DTYPES = {
    "audio": (lambda d: d == np.float32, "float32 (pascals)"),
    "counts": (lambda d: d in COUNT_DTYPES, "uint8, uint16 or uint32"),
    "missing": (lambda d: d == np.bool_, "bool"),
    "blocks": (lambda d: d.kind in "iu", "integers"),
}


def _chunks_present(arr):
    """``(found, expected)``: how many of the chunks of zarr array ``arr`` its store holds.

    Counts the keys of the array's chunk grid that the store lists (a local
    directory, ``memory://``, any fsspec store); stray files, and chunk keys
    outside the grid, do not count. Bounded by the number of keys listed.
    """
    grid = tuple(int(n) for n in arr.cdata_shape)
    expected = 1
    for n in grid:
        expected *= n  # a Python int: no overflow for a hostile shape
    prefix = arr.store_path.path
    prefix = f"{prefix}/" if prefix else ""
    encode = arr.metadata.chunk_key_encoding.encode_chunk_key
    found = set()
    for key in _list_keys(arr.store_path.store, prefix):
        coords = tuple(int(c) for c in re.findall(r"\d+", key))
        if (len(coords) == len(grid) and all(c < n for c, n in zip(coords, grid, strict=True))
                and encode(coords) == key):
            found.add(coords)
    return len(found), expected


def _list_keys(store, prefix):
    """The keys under ``prefix`` in a zarr store, relative to it (a local directory is walked
    directly: several times faster than zarr's asynchronous listing)."""
    from zarr.core.sync import collect_aiterator
    from zarr.storage import LocalStore

    if isinstance(store, LocalStore):
        base = os.path.join(os.fspath(store.root), *prefix.split("/"))
        for dirpath, _, files in os.walk(base):
            rel = dirpath[len(base):].strip(os.sep).replace(os.sep, "/")
            yield from (f"{rel}/{f}" if rel else f for f in files)
        return
    for key in collect_aiterator(store.list_prefix(prefix)):
        yield key[len(prefix):]


def _check_metadata_sizes(dirname):
    """Refuse a local store whose metadata files are too large to be read (before zarr reads
    them): a store's metadata (the neuron table included) is kilobytes."""
    for name in ("", "audio", "counts", "missing", "blocks"):
        meta = os.path.join(dirname, name, _GROUP_FILE)
        with contextlib.suppress(OSError):
            size = os.path.getsize(meta)
            if size > _MAX_GROUP_FILE:
                raise ValueError(f"the store at {dirname!r} has a metadata file {meta!r} of "
                                 f"{size} bytes; sk_icnet reads at most {_MAX_GROUP_FILE} bytes "
                                 "of metadata (it is not a store written by Recording.save).")


def store_identity(dirname):
    """What tells a local store directory from another saved at the same path later
    (its inode and its metadata file's inode, size and modification time), or None."""
    try:
        d = os.stat(dirname)
        m = os.stat(os.path.join(dirname, _GROUP_FILE))
    except OSError:
        return None
    return (d.st_dev, d.st_ino, m.st_ino, m.st_size, m.st_mtime_ns)


_MISSING = object()


class _StoreMetadata:
    """The attributes of a store, each checked for type and range.

    ``values`` holds the :class:`Recording` attributes they give. Every refusal
    is a ``ValueError`` naming the metadata file, the key, the rule and the
    value received.
    """

    def __init__(self, where, attrs):
        self.where = where
        self.file = (os.path.join(where, _GROUP_FILE) if "://" not in where
                     else f"{where.rstrip('/')}/{_GROUP_FILE}")
        self.attrs = attrs
        fmt = attrs.get("format", _MISSING)
        if fmt != FORMAT:
            raise ValueError(f"path {where!r} is not an sk_icnet recording store: its format is "
                             f"{None if fmt is _MISSING else fmt!r}, expected {FORMAT!r}.")
        version = self.get("format_version", is_json_int,
                           f"an integer from 1 to {FORMAT_VERSION}")
        if version > FORMAT_VERSION:
            raise ValueError(f"the store at {where!r} has format_version={version!r}, newer than "
                             f"this sk_icnet reads ({FORMAT_VERSION}); upgrade sk_icnet.")
        if version < 1:
            self.refuse("format_version", f"an integer from 1 to {FORMAT_VERSION}", version)
        rate = "a finite number > 0"
        audio_fs = float(self.get("audio_fs", _is_positive_real, rate))
        dt_ms = float(self.get("dt_ms", _is_positive_real, rate))
        try:
            spb = Timebase(audio_fs, dt_ms).samples_per_bin
        except ValueError:
            self.refuse("dt_ms", f"a whole number of audio samples at audio_fs={audio_fs!r} Hz",
                        dt_ms)
        name = self.get("name", lambda v: isinstance(v, str) and v != "", "a non-empty string")
        start_s = float(self.get("start_s", lambda v: is_json_real(v) and recording_time_ok(v),
                                 "a finite number of seconds within 1e9 s"))
        n_samples = self.get("n_samples", lambda v: is_json_int(v) and v >= spb,
                             f"an integer >= samples_per_bin ({spb}: one bin of audio)")
        n_bins = self.get("n_bins", lambda v: is_json_int(v) and v == n_samples // spb,
                          f"n_samples // samples_per_bin = {n_samples // spb}")
        n_neurons = self.get("n_neurons", lambda v: is_json_int(v) and v >= 1,
                             "an integer >= 1")
        self.get("chunk_bins", lambda v: is_json_int(v) and v >= 1, "an integer >= 1")
        self.store_id = self.get("store_id", lambda v: isinstance(v, str) and v != "",
                                 "a non-empty string", optional=True)
        neurons = self.get("neurons", lambda v: isinstance(v, str),
                           "a table in JSON (pandas orient='table')")
        try:
            table = pd.read_json(StringIO(neurons), orient="table")
        except Exception as exc:  # pandas raises many kinds for malformed JSON
            self.refuse("neurons", "a table in JSON (pandas orient='table')", neurons,
                        f" ({type(exc).__name__}: {exc})")
        if len(table) != n_neurons:
            raise ValueError(f"the store at {where!r} has invalid metadata in {self.file!r}: "
                             f"neurons must have one row per neuron (n_neurons={n_neurons}); "
                             f"received a table of {len(table)} rows.")
        self.values = dict(audio_fs=audio_fs, dt_ms=dt_ms, samples_per_bin=spb, name=name,
                           start_s=start_s, n_samples=n_samples, n_bins=n_bins,
                           n_neurons=n_neurons, neurons=table)

    def get(self, key, valid, rule, *, optional=False):
        value = self.attrs.get(key, _MISSING)
        if value is _MISSING and optional:
            return None
        if value is _MISSING or not valid(value):
            self.refuse(key, rule, value)
        return value

    def refuse(self, key, rule, value, why=""):
        received = "nothing (the key is missing)" if value is _MISSING else _describe(value)
        if len(received) > 200:
            received = received[:160] + " ... " + received[-30:]
        raise ValueError(f"the store at {self.where!r} has invalid metadata in {self.file!r}: "
                         f"{key} must be {rule}; received {received}{why}.")


def _is_positive_real(value):
    return is_json_real(value) and value > 0


# ------------------------------------------------------------ saving
def _check_chunking(rec, chunk_bins, compression):
    """``chunk_bins`` checked against the chunk size limit, and ``compression`` against the codecs."""
    chunk_bins = check_positive_int(chunk_bins, "chunk_bins")
    chunk_bytes = chunk_bins * max(rec.samples_per_bin * 4, rec.n_neurons * rec.counts.dtype.itemsize)
    if chunk_bytes > _MAX_CHUNK_BYTES:
        raise ValueError(f"chunk_bins={chunk_bins} makes chunks of {chunk_bytes} bytes; a chunk "
                         f"may hold at most {_MAX_CHUNK_BYTES} bytes (every read decodes "
                         "whole chunks): choose a smaller chunk_bins.")
    if compression not in ("lz4", None):
        raise ValueError(f"compression must be 'lz4' or None; received {compression!r}.")
    return chunk_bins


def save_store(rec, path, *, overwrite=False, chunk_bins=4096, compression=None):
    """Write recording ``rec`` to a store at ``path`` (see :meth:`Recording.save`).

    The store is written by ``rec._write`` into ``path.tmp-<tag>``, held locked while
    it is written, and published by :func:`_publish`; on any failure the temporary store
    is removed. Returns the absolute path of the store.
    """
    zarr = _require_zarr()
    chunk_bins = _check_chunking(rec, chunk_bins, compression)
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ValueError(f"path must be in an existing directory; {parent!r} does not exist.")
    _check_replaceable(path, overwrite)
    tag = uuid.uuid4().hex[:8]
    tmp = f"{path}.tmp-{tag}"
    with directory_lock(parent):  # made and locked at once: never taken for a leftover
        os.mkdir(tmp)
        tmp_lock = _hold_lock(tmp)
    try:
        rec._write(zarr, tmp, chunk_bins, compression)
        leftovers = _publish(tmp, path, overwrite, tag)
    except BaseException:
        _wait_for_zarr_writes()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if tmp_lock is not None:
            os.close(tmp_lock)
    if leftovers:
        warnings.warn(f"Recording.save: removed what interrupted saves had left next to "
                      f"{path!r}: {leftovers}.", RuntimeWarning, stacklevel=3)
    return path


def _publish(tmp, path, overwrite, tag):
    """Move the complete store ``tmp`` to ``path``, never over anything but a store.

    Under the directory lock: what killed saves left is removed, a store at ``path``
    (``overwrite``) is moved aside as ``path.old-<tag>``, ``tmp`` is renamed to ``path``
    only if nothing is there, and the previous store goes to the trash (deleted outside
    the lock, so other saves need not wait for it). On any failure the previous store is
    put back. Returns the names of the leftovers removed.
    """
    old = f"{path}.old-{tag}"
    moved_aside = False
    try:
        with directory_lock(os.path.dirname(path)):
            leftovers = _remove_leftovers(path, exclude=os.path.basename(tmp))
            if os.path.lexists(path):
                _check_replaceable(path, overwrite, appeared=True)
                os.rename(path, old)
                moved_aside = True
            try:
                rename_noreplace(tmp, path)
            except FileExistsError:
                aside = ""
                if moved_aside:  # kept under a name that recovery never brings back
                    kept = f"{path}.previous-{tag}"
                    os.rename(old, kept)
                    aside = f" The previous store was moved to {kept!r}."
                moved_aside = False  # what now is at path is not ours to replace
                raise ValueError(f"path {path!r} appeared while the recording was being "
                                 "saved (another process?); it was left as it is and nothing "
                                 f"was saved.{aside}") from None
            except BaseException:  # put the previous store back while still holding the lock
                if moved_aside and not os.path.lexists(path):
                    with contextlib.suppress(OSError):
                        rename_noreplace(old, path)
                        moved_aside = False
                raise
            trash = _to_trash(old) if moved_aside else None
            moved_aside = False
    except BaseException:
        if moved_aside and not os.path.lexists(path):  # put the previous store back
            with contextlib.suppress(OSError):
                rename_noreplace(old, path)
        raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return leftovers


def write_arrays(rec, zarr, where, chunk_bins, compression):
    """Write the arrays of recording ``rec`` into a new zarr group at ``where``, then its
    metadata (last: a store without ``n_bins`` is one whose save did not finish)."""
    from zarr.codecs import BloscCodec

    spb = rec.samples_per_bin
    group = zarr.open_group(where, mode="w-")
    lz4 = BloscCodec(cname="lz4", clevel=1, shuffle="noshuffle") if compression else None
    cfg = {"write_empty_chunks": True}  # every chunk on disk: a missing one is corruption
    audio = group.create_array("audio", shape=(rec.n_samples,), dtype="float32",
                               chunks=(chunk_bins * spb,), compressors=None, config=cfg)
    counts = group.create_array("counts", shape=rec.counts.shape, dtype=rec.counts.dtype,
                                chunks=(rec.n_neurons, chunk_bins), compressors=lz4, config=cfg)
    step = chunk_bins * 64  # copy lazily stored sources a slab at a time
    for lo in range(0, max(rec.n_bins, 1), step):
        hi = min(lo + step, rec.n_bins)
        counts[:, lo:hi] = np.asarray(rec.counts[:, lo:hi])
        audio[lo * spb: hi * spb] = np.asarray(rec.audio[lo * spb: hi * spb], np.float32)
    if rec.n_samples > rec.n_bins * spb:  # trailing partial bin
        audio[rec.n_bins * spb:] = np.asarray(rec.audio[rec.n_bins * spb:], np.float32)
    if rec.missing is not None:
        group.create_array("missing", data=np.asarray(rec.missing[:]),
                           chunks=(rec.missing.shape[0], chunk_bins), compressors=lz4, config=cfg)
    if rec.blocks is not None:
        group.create_array("blocks", data=np.asarray(rec.blocks[:]), chunks=(chunk_bins,),
                           compressors=lz4, config=cfg)
    group.attrs.update({
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": rec.name,
        "audio_fs": rec.audio_fs, "dt_ms": rec.dt_ms, "start_s": rec.start_s,
        "n_samples": rec.n_samples, "n_bins": rec.n_bins, "n_neurons": rec.n_neurons,
        "chunk_bins": chunk_bins, "neurons": rec.neurons.to_json(orient="table"),
        "store_id": uuid.uuid4().hex,  # tells this store from one saved over it later
    })


# ------------------------------------------------------------ opening
def open_store(path):
    """The attributes of the :class:`Recording` stored at ``path`` (see :meth:`Recording.open`):
    its metadata, checked, and its arrays, left in the store."""
    zarr = _require_zarr()
    where = os.fspath(path)
    local = local_dir(where)
    if local is not None and not os.path.lexists(local):
        _recover_interrupted_save(local)
    identity = store_identity(local) if local is not None else None
    if local is not None:
        from .._core.files import check_tree

        check_tree(local, "the recording store")  # no FIFO, device or link out of the store
        _check_metadata_sizes(local)
    try:
        group = zarr.open_group(where, mode="r")
        attrs = dict(group.attrs)
    except Exception as exc:
        raise ValueError(f"path {where!r} is not a readable sk_icnet recording store "
                         f"({type(exc).__name__}: {exc}).") from exc
    meta = _StoreMetadata(where, attrs)
    try:
        arrays = {key: group[key] for key in ("audio", "counts", "missing", "blocks")
                  if key in group}
    except Exception as exc:
        raise ValueError(f"the store at {where!r} is incomplete or corrupt ({type(exc).__name__}:"
                         f" {exc}).") from exc
    for key in ("audio", "counts"):
        if key not in arrays:
            raise ValueError(f"the store at {where!r} is incomplete or corrupt: it has no "
                             f"{key!r} array.")
    values = dict(meta.values, audio=arrays["audio"], counts=arrays["counts"],
                  missing=arrays.get("missing"), blocks=arrays.get("blocks"), path=where)
    _verify_arrays(where, values)
    values.update(_store_id=meta.store_id, _local=local, _identity=identity)
    return values


def _verify_arrays(where, values):
    """Refuse arrays of the wrong shape, dtype, sharding or chunk size, or with chunks missing
    (``values``: the attributes of the recording opened from the store at ``where``)."""
    n_neurons, n_bins = values["n_neurons"], values["n_bins"]
    expected = {"audio": (values["n_samples"],), "counts": (n_neurons, n_bins)}
    if values["missing"] is not None:
        expected["missing"] = (values["missing"].shape[0], n_bins)
    if values["blocks"] is not None:
        expected["blocks"] = (n_bins,)
    for key, shape in expected.items():
        arr = values[key]
        if tuple(arr.shape) != shape or (key == "missing" and shape[0] not in (1, n_neurons)):
            raise ValueError(f"the store at {where!r} is corrupt: {key} has shape "
                             f"{tuple(arr.shape)}, expected {shape}.")
        dtype = np.dtype(arr.dtype)
        if not _STORED_DTYPES[key][0](dtype):
            raise ValueError(f"the store at {where!r} is corrupt: {key} has dtype {dtype}, but "
                             f"{key} must be stored as {_STORED_DTYPES[key][1]} (as "
                             "Recording.save writes it); write the store again with "
                             "Recording(...).save.")
        if getattr(arr, "shards", None) is not None:
            raise ValueError(f"the store at {where!r} is corrupt: {key} is stored in shards "
                             f"{tuple(arr.shards)}, which Recording.save never writes.")
        chunk_bytes = int(np.prod(arr.chunks, dtype=object)) * dtype.itemsize
        if chunk_bytes > _MAX_CHUNK_BYTES:
            raise ValueError(f"the store at {where!r} is corrupt: {key} has chunks of shape "
                             f"{tuple(arr.chunks)} ({chunk_bytes} bytes each), but a chunk "
                             f"may hold at most {_MAX_CHUNK_BYTES} bytes (every read decodes "
                             "whole chunks); save it again with a smaller chunk_bins.")
        found, n_chunks = _chunks_present(arr)
        if found != n_chunks:
            raise ValueError(f"the store at {where!r} is truncated: {key} has {found} of "
                             f"its {n_chunks} chunks.")
