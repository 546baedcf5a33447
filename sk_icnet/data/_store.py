"""The data layer: continuous recordings on disk and lazily cut training windows.

Paper-scale data (hours of sound, hundreds of channels, several animals) do not
fit in memory as dense float windows. This module keeps each session as a
:class:`Recording` (waveform in pascals, spike counts in the smallest unsigned
integer type that holds them, a mask of missing bins) and cuts windows only when
they are read:

>>> rec = Recording(audio, counts, audio_fs=24414.0625, dt_ms=1.31072,
...                 name="gerbil1")                                    # doctest: +SKIP
>>> rec.save("gerbil1.zarr")                                           # doctest: +SKIP
>>> ds = WindowDataset([Recording.open("gerbil1.zarr"), ...])          # doctest: +SKIP
>>> ICNetRegressor().fit(ds)                                           # doctest: +SKIP

Storage: :meth:`Recording.save` writes a zarr (v3) group, chunked along time
(``chunk_bins`` bins of every neuron per chunk, the matching audio samples per
audio chunk), counts raw or Blosc-LZ4-compressed (``compression``), the waveform
uncompressed (sound compresses poorly and the codec would cost read time). The store is
written under a temporary name and renamed into place, so a failed or
interrupted save never leaves a half-written store under ``path``; only a store
is ever replaced, and never one that appeared while the new one was written.
:meth:`Recording.open` reads metadata only, checks it, and refuses reads once
the store has been saved over.

Windows follow the paper: ``window_samples`` (10,240) samples of which the first
``context_samples`` (2,048) are left context; consecutive windows overlap by the
context so the scored bins tile each recording exactly once. A window's context
bins, bins before the start or past the end of its recording, and missing bins
are marked unobserved in the mask that comes with its counts; the loss and the
scores use observed bins only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import numbers
import os
import re
import shutil
import uuid
import warnings
from io import StringIO

import numpy as np
import pandas as pd
import torch
from sklearn.utils import Bunch

from .._core.files import directory_lock, rename_noreplace
from .._core.validation import (
    MAX_WAVEFORM,
    _as_numeric_array,
    _describe,
    check_positive_int,
    check_positive_number,
    is_json_int,
    is_json_real,
    recording_time_ok,
    samples_per_bin,
)
from ._spikes import bin_spike_times, spike_trains

__all__ = ["Recording", "WindowDataset", "WindowBatchSampler", "collate_windows",
           "decoder_indices", "make_windows", "FORMAT", "FORMAT_VERSION"]

#: name written into every store, and the newest layout version this package reads
FORMAT = "sk_icnet.recording"
FORMAT_VERSION = 1
_COUNT_DTYPES = (np.uint8, np.uint16, np.uint32)


def _require_zarr():
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("Recording.save/open need zarr >= 3: pip install 'sk_icnet[zarr]'.") from exc
    return zarr


def _finite_number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite number; received {_describe(value)}.")
    return float(value)


#: the most spikes one bin may hold: batches carry wide counts as int32
_MAX_BATCH_COUNT = int(np.iinfo(np.int32).max)


def _count_dtype(max_count):
    if max_count > _MAX_BATCH_COUNT:
        raise ValueError(f"counts must be at most {_MAX_BATCH_COUNT} per bin (batches carry them as "
                         f"int32); received a maximum of {max_count}.")
    for dtype in _COUNT_DTYPES:
        if max_count <= np.iinfo(dtype).max:
            return dtype


def _check_audio_values(audio, what):
    """Finite and of plausible magnitude (pascals); ``what`` names the data for the message."""
    if audio.size == 0:
        return
    peak = max(float(audio.max()), -float(audio.min()))  # NaN propagates; no |x| copy
    if not np.isfinite(peak):
        raise ValueError(f"{what} contains NaN or inf; waveforms must be finite.")
    if peak > MAX_WAVEFORM:
        raise ValueError(f"{what} has values up to {peak:.3g}; waveforms are expected in pascals "
                         f"and |x| > {MAX_WAVEFORM:.0e} would overflow float32 arithmetic.")


def _bin_spikes(spike_times, n_bins, dt_ms, name):
    """:func:`~sk_icnet.recordings.bin_spike_times`, except that a spike outside the recording
    raises instead of being dropped (times in s from the first audio sample)."""

    trains = spike_trains(spike_times)
    if not trains:
        raise ValueError("spike_times must hold at least one neuron; received an empty sequence.")
    duration = n_bins * dt_ms / 1000.0
    for i, times in enumerate(trains):
        outside = (times < 0) | (times >= duration)
        if outside.any():
            raise ValueError(
                f"spike_times[{i}] of recording {name!r} has {int(outside.sum())} spike(s) outside "
                f"the recording, [0, {duration:.6g}) s from its first audio sample (e.g. "
                f"{float(times[outside][0])!r} s); crop the spike trains to the sound.")
    return bin_spike_times(trains, n_bins, dt_ms)


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


def _local_dir(where):
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
                  RuntimeWarning, stacklevel=3)


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
    "counts": (lambda d: d in _COUNT_DTYPES, "uint8, uint16 or uint32"),
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


def _store_identity(dirname):
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
            spb = samples_per_bin(audio_fs, dt_ms)
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


class Recording:
    """One continuous recording session: a waveform and the responses it evoked.

    Parameters
    ----------
    audio : array-like of shape (n_samples,)
        The waveform in pascals: a numpy array, an ``np.memmap`` or a zarr array
        (left where it is; a memmap pickles as its file name).
    counts : array-like of shape (n_neurons, n_bins) or (n_bins,), optional
        Spike counts per bin (non-negative integers; NaN marks a missing bin).
        Stored as uint8 when they fit, uint16/uint32 otherwise. Give either
        ``counts`` or ``spike_times``.
    audio_fs : float
        Sampling rate of ``audio`` in Hz.
    dt_ms : float
        Bin width in ms; ``audio_fs * dt_ms / 1000`` must be a whole number of
        samples. ``n_bins == n_samples // samples_per_bin``.
    spike_times : sequence of array-like, optional
        One array of spike times per neuron, in seconds from the first audio
        sample; binned at ``dt_ms``. A spike outside the recording raises.
    name : str, default="recording"
        Identifies the recording (and its decoder) in a model; unique within a
        :class:`WindowDataset`.
    start_s : float, default=0.0
        Time of the first audio sample since the start of the experiment, in s
        (the recording-time input of ICNet uses it).
    neurons : pandas.DataFrame, optional
        One row per neuron (e.g. characteristic frequency, electrode).
    missing : array-like of bool of shape (n_bins,) or (n_neurons, n_bins), optional
        True where a bin was not recorded (all neurons, or per neuron).
    blocks : array-like of int of shape (n_bins,), optional
        Stimulus block (e.g. sound file) of every bin. Windows take the label of
        their first scored bin as their cross-validation group, so the same
        stimulus heard by several animals stays in one fold.

    Attributes
    ----------
    n_samples, n_bins, n_neurons, samples_per_bin : int
    duration_s : float
    path : str or None
        The store this recording was opened from.
    """

    def __init__(self, audio, counts=None, *, audio_fs, dt_ms, spike_times=None,
                 name="recording", start_s=0.0, neurons=None, missing=None, blocks=None):
        self.audio_fs = check_positive_number(audio_fs, "audio_fs")
        self.dt_ms = check_positive_number(dt_ms, "dt_ms")
        self.samples_per_bin = samples_per_bin(self.audio_fs, self.dt_ms)
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str; received {_describe(name)}.")
        self.name = name
        self.start_s = _finite_number(start_s, "start_s")
        if not recording_time_ok(self.start_s):
            raise ValueError(f"start_s must be a recording time within 1e9 s (about 32 years) of "
                             f"the session start; received {start_s!r}.")
        self.path = None
        self.audio = self._check_audio(audio)
        self.n_samples = int(self.audio.shape[0])
        self.n_bins = self.n_samples // self.samples_per_bin
        if (counts is None) == (spike_times is None):
            raise TypeError("Recording needs exactly one of counts and spike_times; received "
                            f"{'both' if counts is not None else 'neither'}.")
        nan_missing = None
        if spike_times is not None:
            counts = _bin_spikes(spike_times, self.n_bins, self.dt_ms, name)
        else:
            counts, nan_missing = self._check_counts(counts)
        max_count = int(counts.max()) if counts.size else 0
        self.counts = np.ascontiguousarray(counts, dtype=_count_dtype(max_count))
        self.n_neurons = int(self.counts.shape[0])
        self.missing = self._check_missing(missing, nan_missing)
        self.blocks = self._check_blocks(blocks)
        self.neurons = self._check_neurons(neurons)

    # --------------------------------------------------------------- checks
    def _check_audio(self, audio):
        if _is_lazy(audio):
            if len(audio.shape) != 1:
                raise ValueError(f"audio must be one waveform of shape (n_samples,); received "
                                 f"shape {tuple(audio.shape)}.")
            return audio
        arr = audio if isinstance(audio, np.memmap) else _as_numeric_array(audio, "audio")
        if arr.ndim != 1:
            raise ValueError(f"audio must be one waveform of shape (n_samples,); received shape "
                             f"{arr.shape}. Stereo or stacked trials: choose one channel.")
        if arr.shape[0] < self.samples_per_bin:
            raise ValueError(f"audio must hold at least one bin ({self.samples_per_bin} samples); "
                             f"received {arr.shape[0]} samples.")
        if isinstance(arr, np.memmap):
            if arr.dtype != np.float32:
                raise TypeError(f"a memory-mapped audio must be float32 (it is read as it is); "
                                f"received dtype {arr.dtype}.")
            return arr
        with np.errstate(over="ignore"):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        _check_audio_values(arr, "audio")
        return arr

    def _check_counts(self, counts):
        arr = _as_numeric_array(counts, "counts")
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2:
            raise ValueError(f"counts must be (n_neurons, n_bins) or (n_bins,); received shape "
                             f"{arr.shape}.")
        if arr.shape[1] != self.n_bins:
            raise ValueError(
                f"counts has {arr.shape[1]} bins, but audio holds {self.n_bins} bins of "
                f"{self.samples_per_bin} samples ({self.n_samples} samples at audio_fs="
                f"{self.audio_fs!r} Hz, dt_ms={self.dt_ms!r}): n_bins must equal "
                "n_samples // samples_per_bin.")
        if arr.shape[0] == 0:
            raise ValueError("counts must hold at least one neuron; received shape "
                             f"{arr.shape}.")
        nan = None
        if arr.dtype.kind == "f":
            if np.isinf(arr).any():
                raise ValueError("counts contains inf; counts must be finite (NaN marks a "
                                 "missing bin).")
            nan = np.isnan(arr)
            if nan.all():
                raise ValueError("counts contains only NaN: there is no observed bin.")
            arr = np.where(nan, 0, arr)
            if not np.array_equal(arr, np.round(arr)):
                raise ValueError("counts must be whole numbers of spikes; received non-integer "
                                 "values (rates cannot be stored in a Recording).")
            if not nan.any():
                nan = None
        if arr.size and arr.min() < 0:
            raise ValueError(f"counts must be non-negative; received a minimum of {arr.min()!r}.")
        return arr, nan

    def _check_missing(self, missing, nan_missing):
        if missing is None:
            return nan_missing
        if _is_lazy(missing):
            return missing
        arr = np.asarray(missing)
        if arr.dtype != bool:
            raise TypeError(f"missing must be a boolean array; received dtype {arr.dtype}.")
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != self.n_bins or arr.shape[0] not in (1, self.n_neurons):
            raise ValueError(f"missing must have shape (n_bins,) = ({self.n_bins},) or (n_neurons, "
                             f"n_bins) = ({self.n_neurons}, {self.n_bins}); received "
                             f"{np.shape(missing)}.")
        if nan_missing is not None:
            arr = arr | nan_missing
        return np.ascontiguousarray(arr) if arr.any() else None

    def _check_blocks(self, blocks):
        if blocks is None or _is_lazy(blocks):
            return blocks
        arr = _as_numeric_array(blocks, "blocks")
        if arr.shape != (self.n_bins,) or arr.dtype.kind not in "iu":
            raise ValueError(f"blocks must be integers of shape (n_bins,) = ({self.n_bins},); "
                             f"received {_describe(arr)}.")
        return arr.astype(np.int64)

    def _check_neurons(self, neurons):
        if neurons is None:
            return pd.DataFrame(index=pd.RangeIndex(self.n_neurons, name="neuron"))
        if not isinstance(neurons, pd.DataFrame):
            raise TypeError(f"neurons must be a pandas DataFrame; received {_describe(neurons)}.")
        if len(neurons) != self.n_neurons:
            raise ValueError(f"neurons must have one row per neuron ({self.n_neurons}); received "
                             f"{len(neurons)} rows.")
        return neurons

    # ------------------------------------------------------------- reading
    @property
    def duration_s(self):
        """Duration of the binned part of the recording, in s."""
        return self.n_bins * self.dt_ms / 1000.0

    def read(self, start_bin, stop_bin):
        """Audio, counts and observed mask of bins ``start_bin .. stop_bin - 1``.

        Bins outside the recording (negative ``start_bin``, ``stop_bin`` past
        the end) come back as zero audio, zero counts and unobserved.

        Returns
        -------
        audio : ndarray of shape ((stop_bin - start_bin) * samples_per_bin,), float32
        counts : ndarray of shape (n_neurons, stop_bin - start_bin), unsigned int
        observed : ndarray of bool, shape (1 or n_neurons, stop_bin - start_bin)
        """
        spb, n = self.samples_per_bin, stop_bin - start_bin
        lo = max(start_bin, 0)
        hi = max(min(stop_bin, self.n_bins), lo)
        inside = self._read_inside(lo, hi)
        if lo == start_bin and hi == stop_bin:  # inside the recording: no padding, no extra copy
            return inside
        audio = np.zeros(n * spb, np.float32)
        counts = np.zeros((self.n_neurons, n), self.counts.dtype)
        observed = np.zeros((inside[2].shape[0], n), bool)
        a, b = lo - start_bin, hi - start_bin
        audio[a * spb: b * spb], counts[:, a:b], observed[:, a:b] = inside
        return audio, counts, observed

    def _read_inside(self, lo, hi):
        """:meth:`read` of bins ``lo .. hi - 1``, all inside the recording."""
        spb = self.samples_per_bin
        try:
            audio = np.asarray(self.audio[lo * spb: hi * spb], dtype=np.float32)
            counts = np.asarray(self.counts[:, lo:hi])
            observed = (np.ones((1, hi - lo), bool) if self.missing is None
                        else ~np.asarray(self.missing[:, lo:hi]))
        except Exception as exc:
            self._check_unchanged()
            raise self._read_error(lo, hi, exc) from exc
        self._check_unchanged()
        _check_audio_values(audio, f"audio of recording {self.name!r} (bins {lo}:{hi})")
        return audio, counts, observed

    def _check_unchanged(self):
        """Refuse data read from a store that was replaced since :meth:`open` (checked after
        reading, so a swap during the read is caught too)."""
        identity = getattr(self, "_identity", None)
        if identity is None:
            return
        if _store_identity(self._local) != identity:
            raise ValueError(
                f"the store at {self.path!r} was replaced or removed after recording "
                f"{self.name!r} was opened from it (saved over by another process?), so its data "
                "are no longer the ones opened; open it again with Recording.open.")

    def _read_error(self, lo, hi, exc):
        where = f"store {self.path!r}" if self.path else "its arrays"
        return ValueError(f"could not read bins {lo}:{hi} of recording {self.name!r} from {where} "
                          f"({type(exc).__name__}: {exc}); the store may be corrupt or truncated.")

    def read_audio(self, start_bin, stop_bin):
        """The waveform of bins ``start_bin .. stop_bin - 1`` (inside the recording), float32."""
        spb = self.samples_per_bin
        audio = np.asarray(self.audio[start_bin * spb: stop_bin * spb], dtype=np.float32)
        self._check_unchanged()
        _check_audio_values(audio, f"audio of recording {self.name!r}")
        return audio

    def block_of(self, bins):
        """Stimulus block of the given bins (None without ``blocks``)."""
        if self.blocks is None:
            return None
        blocks = np.asarray(self.blocks[:])
        self._check_unchanged()
        return blocks[bins]

    # ------------------------------------------------------------- storage
    def save(self, path, *, overwrite=False, chunk_bins=4096, compression=None):
        """Write the recording to a zarr store at ``path`` (a local directory).

        The store is written under a temporary name next to ``path`` and renamed
        into place when complete; with ``overwrite=True`` an existing store is
        replaced only after the new one is complete, so a failure leaves the old
        one intact. Nothing but a store is ever replaced: any other file or
        directory at ``path`` is refused, even with ``overwrite=True``, and so is
        anything that appears at ``path`` while the store is being written (it is
        left as it is). A save interrupted by an exception or Ctrl-C removes its
        temporary store; one killed while swapping stores is finished or rolled
        back by the next :meth:`open` of ``path``, and what a killed save left
        next to ``path`` is removed by the next save there (a ``RuntimeWarning``
        names it; the temporary store of a save still running is left alone).

        Parameters
        ----------
        path : str or path-like
        overwrite : bool, default=False
            Replace an existing store at ``path`` (a directory written by
            :meth:`save`; anything else raises ``ValueError``).
        chunk_bins : int, default=4096
            Bins per chunk along time (all neurons in one chunk). Readers fetch
            whole chunks: 4,096 bins of 512 neurons is 2 MiB of counts.
        compression : {None, "lz4"}, default=None
            Codec of the counts. ``None`` stores them raw, the fastest to read;
            ``"lz4"`` (Blosc-LZ4) about halves their size on disk at about half
            the read speed (measured in the user guide's paper-scale data page):
            for stores on slow disks or object storage. The waveform is never
            compressed (sound compresses poorly; the codec would cost read time).
        """
        zarr = _require_zarr()
        chunk_bins = check_positive_int(chunk_bins, "chunk_bins")
        chunk_bytes = chunk_bins * max(self.samples_per_bin * 4,
                                       self.n_neurons * self.counts.dtype.itemsize)
        if chunk_bytes > _MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bins={chunk_bins} makes chunks of {chunk_bytes} bytes; a chunk "
                             f"may hold at most {_MAX_CHUNK_BYTES} bytes (every read decodes "
                             "whole chunks): choose a smaller chunk_bins.")
        if compression not in ("lz4", None):
            raise ValueError(f"compression must be 'lz4' or None; received {compression!r}.")
        path = os.path.abspath(os.fspath(path))
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            raise ValueError(f"path must be in an existing directory; {parent!r} does not exist.")
        _check_replaceable(path, overwrite)
        tag = uuid.uuid4().hex[:8]
        tmp, old = f"{path}.tmp-{tag}", f"{path}.old-{tag}"
        with directory_lock(parent):  # made and locked at once: never taken for a leftover
            os.mkdir(tmp)
            tmp_lock = _hold_lock(tmp)
        moved_aside, leftovers = False, []
        try:
            self._write(zarr, tmp, chunk_bins, compression)
            with directory_lock(parent):
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
            if trash is not None:  # deleted outside the lock: other saves need not wait for it
                shutil.rmtree(trash, ignore_errors=True)
        except BaseException:
            if moved_aside and not os.path.lexists(path):  # put the previous store back
                with contextlib.suppress(OSError):
                    rename_noreplace(old, path)
            _wait_for_zarr_writes()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            if tmp_lock is not None:
                os.close(tmp_lock)
        if leftovers:
            warnings.warn(f"Recording.save: removed what interrupted saves had left next to "
                          f"{path!r}: {leftovers}.", RuntimeWarning, stacklevel=2)
        if self.path is not None and _local_dir(os.fspath(self.path)) == path:
            # saved over the store this recording reads from (e.g. to re-chunk it)
            self.__dict__.update(type(self).open(path).__dict__)

    def _write(self, zarr, where, chunk_bins, compression):
        from zarr.codecs import BloscCodec

        spb = self.samples_per_bin
        group = zarr.open_group(where, mode="w-")
        lz4 = BloscCodec(cname="lz4", clevel=1, shuffle="noshuffle") if compression else None
        cfg = {"write_empty_chunks": True}  # every chunk on disk: a missing one is corruption
        audio = group.create_array("audio", shape=(self.n_samples,), dtype="float32",
                                   chunks=(chunk_bins * spb,), compressors=None, config=cfg)
        counts = group.create_array("counts", shape=self.counts.shape, dtype=self.counts.dtype,
                                    chunks=(self.n_neurons, chunk_bins), compressors=lz4, config=cfg)
        step = chunk_bins * 64  # copy lazily stored sources a slab at a time
        for lo in range(0, max(self.n_bins, 1), step):
            hi = min(lo + step, self.n_bins)
            counts[:, lo:hi] = np.asarray(self.counts[:, lo:hi])
            audio[lo * spb: hi * spb] = np.asarray(self.audio[lo * spb: hi * spb], np.float32)
        if self.n_samples > self.n_bins * spb:  # trailing partial bin
            audio[self.n_bins * spb:] = np.asarray(self.audio[self.n_bins * spb:], np.float32)
        if self.missing is not None:
            group.create_array("missing", data=np.asarray(self.missing[:]),
                               chunks=(self.missing.shape[0], chunk_bins), compressors=lz4,
                               config=cfg)
        if self.blocks is not None:
            group.create_array("blocks", data=np.asarray(self.blocks[:]), chunks=(chunk_bins,),
                               compressors=lz4, config=cfg)
        group.attrs.update({
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
            "audio_fs": self.audio_fs, "dt_ms": self.dt_ms, "start_s": self.start_s,
            "n_samples": self.n_samples, "n_bins": self.n_bins, "n_neurons": self.n_neurons,
            "chunk_bins": chunk_bins, "neurons": self.neurons.to_json(orient="table"),
            "store_id": uuid.uuid4().hex,  # tells this store from one saved over it later
        })

    @classmethod
    def open(cls, path):
        """Open a store written by :meth:`save`; only metadata is read.

        A local ``path`` left without a store by a save killed while swapping
        stores is repaired first (the swap is finished or rolled back, with a
        ``RuntimeWarning`` that says which). Reads raise ``ValueError`` once the
        store has been replaced or removed (e.g. saved over by another process):
        open it again.

        Raises
        ------
        ValueError
            If ``path`` is not such a store, was written by a newer format
            version, has metadata of the wrong type or range, or is incomplete
            (arrays of the wrong shape or type, chunks missing).
        """
        zarr = _require_zarr()
        where = os.fspath(path)
        local = _local_dir(where)
        if local is not None and not os.path.lexists(local):
            _recover_interrupted_save(local)
        identity = _store_identity(local) if local is not None else None
        if local is not None:
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
        rec = cls.__new__(cls)
        rec.__dict__.update(meta.values)
        rec.audio, rec.counts = arrays["audio"], arrays["counts"]
        rec.missing, rec.blocks = arrays.get("missing"), arrays.get("blocks")
        rec.path = where
        rec._verify_store(where)
        rec._store_id = meta.store_id
        rec._local, rec._identity = local, identity
        return rec

    def _verify_store(self, where):
        expected = {"audio": (self.n_samples,), "counts": (self.n_neurons, self.n_bins)}
        if self.missing is not None:
            expected["missing"] = (self.missing.shape[0], self.n_bins)
        if self.blocks is not None:
            expected["blocks"] = (self.n_bins,)
        for key, shape in expected.items():
            arr = getattr(self, key)
            if tuple(arr.shape) != shape or (key == "missing" and shape[0] not in (1, self.n_neurons)):
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

    # ------------------------------------------------------------ pickling
    def __getstate__(self):
        if self.path is not None:  # workers reopen the store instead of copying data
            return {"_path": self.path, "_store_id": getattr(self, "_store_id", None)}
        state = self.__dict__.copy()
        for key in ("audio", "counts", "missing", "blocks"):
            value = state[key]
            if isinstance(value, np.memmap) and value.filename is not None:
                state[key] = ("__memmap__", value.filename, str(value.dtype), value.shape,
                              value.offset)
        return state

    def __setstate__(self, state):
        if "_path" in state:
            opened = type(self).open(state["_path"])
            expected = state.get("_store_id")
            if expected is not None and opened._store_id != expected:
                raise ValueError(f"the store at {state['_path']!r} is not the one this recording "
                                 "was pickled from (it was saved over since); open it again "
                                 "with Recording.open.")
            self.__dict__.update(opened.__dict__)
            return
        for key in ("audio", "counts", "missing", "blocks"):
            value = state[key]
            if isinstance(value, tuple) and value and value[0] == "__memmap__":
                _, filename, dtype, shape, offset = value
                state[key] = np.memmap(filename, dtype=dtype, mode="r", shape=shape, offset=offset)
        self.__dict__.update(state)

    def __repr__(self):
        where = f", path={self.path!r}" if self.path else ""
        return (f"Recording(name={self.name!r}, n_neurons={self.n_neurons}, n_bins={self.n_bins}, "
                f"duration_s={self.duration_s:.6g}, audio_fs={self.audio_fs!r}, "
                f"dt_ms={self.dt_ms!r}{where})")


def _is_lazy(value):
    """A zarr array (read on demand), left as it is."""
    return type(value).__module__.startswith("zarr")


def _as_recording(value, i):
    if isinstance(value, Recording):
        return value
    if isinstance(value, (str, os.PathLike)):
        return Recording.open(value)
    raise TypeError(f"recordings[{i}] must be a Recording or the path of a saved one; received "
                    f"{_describe(value)}.")


def decoder_indices(recordings, names, n_neurons=None):
    """Index of each recording's decoder among ``names`` (a model's recordings).

    ``names=None`` (a model fitted on arrays, one decoder) maps every recording
    to decoder 0. Raises ``ValueError`` for a recording not in ``names`` or whose
    neuron count differs from its decoder's (``n_neurons``).
    """
    decoder = np.zeros(len(recordings), np.int64)
    for i, r in enumerate(recordings):
        if names is not None:
            if r.name not in names:
                raise ValueError(f"recording {r.name!r} is unknown to this model, which was fitted "
                                 f"on recordings {list(names)}.")
            decoder[i] = list(names).index(r.name)
        if n_neurons is not None and n_neurons[decoder[i]] != r.n_neurons:
            raise ValueError(f"recording {r.name!r} has {r.n_neurons} neuron(s), but the model's "
                             f"decoder for it has {n_neurons[decoder[i]]}.")
    return decoder


class WindowDataset(torch.utils.data.Dataset):
    """Training windows cut on demand from one or several :class:`Recording`.

    Item ``i`` is ``(X, y)`` with ``X`` a dict (``"x"``: the waveform of the
    window with its left context, ``(1, window_samples)`` float32;
    ``"recording"``: the index of its recording; ``"time_s"``: the experiment
    time of its first bin, ``start_s + start_bin * dt``) and ``y`` a pair
    (counts ``(n_neurons, window_bins)`` as stored, unsigned; observed mask
    ``(1 or n_neurons, window_bins)``, False on the context bins, outside the
    recording and on missing bins). :func:`collate_windows` batches items.

    Indexing with an int gives an item; with a slice, an integer or boolean
    array (or ``(array, ...)``, as scikit-learn's splitters do) gives a
    ``WindowDataset`` over those windows that shares the recordings, so
    ``GridSearchCV`` and ``cross_val_score`` split it without reading data.
    Pickles hold the recordings' store paths, not their data.

    Parameters
    ----------
    recordings : Recording, path, or sequence of those
        Recordings with the same ``audio_fs`` and ``dt_ms`` and unique names.
    window_samples : int, default=10240
        Samples per window, context included (the paper's).
    context_samples : int, default=2048
        Left context of each window (the paper's), excluded from loss and scores.
    group_s : float, default=60.0
        Windows of a recording without ``blocks`` are grouped for
        cross-validation into consecutive ``group_s``-second stretches.

    Attributes
    ----------
    recordings : list of Recording
    groups : ndarray of str, shape (n_windows,)
        Group label of every window: its stimulus block (recordings with
        ``blocks``) or ``"<name>:<stretch>"``. Pass to ``GroupKFold``.
    windows : pandas.DataFrame
        One row per window: recording, start_bin (of the context), start_s, group.
    """

    def __init__(self, recordings, window_samples=10240, context_samples=2048, *, group_s=60.0):
        if isinstance(recordings, (Recording, str, os.PathLike)):
            recordings = [recordings]
        if not isinstance(recordings, (list, tuple)) or not recordings:
            raise TypeError("recordings must be a Recording, a path, or a non-empty sequence of "
                            f"those; received {_describe(recordings)}.")
        recs = [_as_recording(r, i) for i, r in enumerate(recordings)]
        names = [r.name for r in recs]
        if len(set(names)) != len(names):
            raise ValueError(f"recording names must be unique; received {names}.")
        rates = {(r.audio_fs, r.dt_ms) for r in recs}
        if len(rates) > 1:
            raise ValueError("all recordings must share audio_fs and dt_ms; received "
                             f"{sorted(rates)} (resample the audio first).")
        self.recordings = recs
        self.audio_fs, self.dt_ms = recs[0].audio_fs, recs[0].dt_ms
        spb = self.samples_per_bin = recs[0].samples_per_bin
        window_samples = check_positive_int(window_samples, "window_samples")
        context_samples = check_positive_int(context_samples, "context_samples", minimum=0)
        for name, value in [("window_samples", window_samples), ("context_samples", context_samples)]:
            if value % spb:
                raise ValueError(f"{name} must be a whole number of bins ({spb} samples each at "
                                 f"audio_fs={self.audio_fs!r} Hz, dt_ms={self.dt_ms!r}); received "
                                 f"{value}.")
        if context_samples >= window_samples:
            raise ValueError(f"context_samples must be smaller than window_samples; received "
                             f"{context_samples} and {window_samples}.")
        self.window_samples, self.context_samples = window_samples, context_samples
        self.window_bins, self.context_bins = window_samples // spb, context_samples // spb
        self.hop_bins = self.window_bins - self.context_bins
        self.group_s = check_positive_number(group_s, "group_s")
        rec_idx, starts = [], []
        for i, r in enumerate(recs):
            n = -(-r.n_bins // self.hop_bins)
            rec_idx.append(np.full(n, i, np.int64))
            starts.append(np.arange(n, dtype=np.int64) * self.hop_bins - self.context_bins)
        self._rec = np.concatenate(rec_idx)
        self._start = np.concatenate(starts)
        self._decoder = np.arange(len(recs), dtype=np.int64)
        self._groups = None

    # ------------------------------------------------------------ metadata
    def __len__(self):
        return len(self._rec)

    @property
    def shape(self):
        """``(n_windows,)``, so that scikit-learn indexes this dataset like an array."""
        return (len(self),)

    @property
    def recording_names(self):
        return [r.name for r in self.recordings]

    @property
    def neurons_per_recording(self):
        return [r.n_neurons for r in self.recordings]

    def _group_labels(self):
        labels = np.empty(len(self), dtype=object)
        first = self._start + self.context_bins
        for i, r in enumerate(self.recordings):
            sel = np.flatnonzero(self._rec == i)
            if not len(sel):
                continue
            blocks = r.block_of(np.clip(first[sel], 0, r.n_bins - 1))
            if blocks is not None:
                labels[sel] = [f"block:{b}" for b in blocks]
            else:
                stretch = (first[sel] * r.dt_ms / 1000.0 // self.group_s).astype(np.int64)
                labels[sel] = [f"{r.name}:{s}" for s in stretch]
        return labels

    @property
    def groups(self):
        if self._groups is None:
            self._groups = self._group_labels()
        return self._groups

    @property
    def windows(self):
        names = np.array(self.recording_names, dtype=object)
        dt_s = self.dt_ms / 1000.0
        starts_s = np.array([r.start_s for r in self.recordings])[self._rec]
        return pd.DataFrame({"recording": names[self._rec], "start_bin": self._start,
                             "start_s": starts_s + self._start * dt_s, "group": self.groups})

    def __repr__(self):
        return (f"WindowDataset({len(self)} windows of {self.window_samples} samples "
                f"({self.context_samples} context) from {len(self.recordings)} recording(s): "
                f"{self.recording_names})")

    # ------------------------------------------------------------- views
    def _view(self, rows):
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._rec, view._start = self._rec[rows], self._start[rows]
        view._groups = None if self._groups is None else self._groups[rows]
        return view

    def __getitem__(self, index):
        if isinstance(index, tuple):  # scikit-learn's _safe_indexing: array[key, ...]
            if len(index) == 2 and index[1] is Ellipsis:
                index = index[0]
            else:
                raise IndexError(f"WindowDataset takes one index; received {index!r}.")
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"window {i} out of range for {len(self)} windows.")
            return self.__getitems__([i % len(self)])[0]
        if isinstance(index, slice):
            return self._view(np.arange(len(self))[index])
        rows = np.asarray(index)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise IndexError(f"a boolean index must have shape ({len(self)},); received "
                                 f"{rows.shape}.")
            rows = np.flatnonzero(rows)
        elif rows.dtype.kind not in "iu":
            raise IndexError(f"WindowDataset indices must be integers, slices or booleans; received "
                             f"{_describe(rows)}.")
        return self._view(rows)

    def route(self, names, n_neurons=None):
        """A view whose items carry the index of their recording's decoder.

        See :func:`decoder_indices`; :class:`~sk_icnet.ICNetRegressor` uses it to
        send every window through the decoder of its recording.
        """
        view = self._view(slice(None))
        view._decoder = decoder_indices(self.recordings, names, n_neurons)
        return view

    def split_valid(self, fraction):
        """Hold out the first ``fraction`` of every recording's windows: ``(train, valid)``."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1); received {fraction!r}.")
        valid = np.zeros(len(self), bool)
        for i in np.unique(self._rec):
            sel = np.flatnonzero(self._rec == i)
            sel = sel[np.argsort(self._start[sel], kind="stable")]
            valid[sel[: int(np.ceil(fraction * len(sel)))]] = True
        if valid.all():
            raise ValueError(f"the validation split (fraction {fraction!r}) leaves no training "
                             f"window of the {len(self)}; set train_split=None or add data.")
        return self._view(np.flatnonzero(~valid)), self._view(np.flatnonzero(valid))

    # ------------------------------------------------------------ reading
    def __getitems__(self, indices):
        """Read several windows; each run of neighbouring windows is one read of its recording."""
        return self._items(indices, mask_context=True)

    def _items(self, indices, mask_context):
        indices = np.asarray(indices, dtype=np.int64)
        items = [None] * len(indices)
        rec, start = self._rec[indices], self._start[indices]
        spb, win, ctx = self.samples_per_bin, self.window_bins, self.context_bins
        dt_s = self.dt_ms / 1000.0
        for r in np.unique(rec):
            recording = self.recordings[r]
            pos = np.flatnonzero(rec == r)
            pos = pos[np.argsort(start[pos], kind="stable")]
            s = start[pos]
            breaks = np.flatnonzero(np.diff(s) > self.hop_bins) + 1
            for run in np.split(np.arange(len(pos)), breaks):
                lo, hi = int(s[run[0]]), int(s[run[-1]]) + win
                audio, counts, observed = recording.read(lo, hi)
                for j in run:
                    off = int(s[j]) - lo
                    mask = observed[:, off: off + win].copy()
                    if mask_context:
                        mask[:, :ctx] = False
                    x = audio[off * spb: (off + win) * spb][None]
                    time_s = recording.start_s + float(s[j]) * dt_s
                    items[pos[j]] = ({"x": x, "recording": int(self._decoder[r]), "time_s": time_s},
                                     (counts[:, off: off + win], mask))
        return items

    def materialize(self, *, mask_context=True):
        """All windows as arrays (small data only): ``Bunch(X, y, recording, starts, ...)``.

        ``y`` is float32 ``(n_windows, max_neurons, window_bins)`` with NaN on
        unobserved bins (and on the neurons other recordings lack); with
        ``mask_context=False`` the context bins keep their counts (then pass
        ``skip_bins=context_bins`` to the estimator).
        """
        items = self._items(np.arange(len(self)), mask_context=mask_context)
        n_max = max((item[1][0].shape[0] for item in items), default=0)
        X = np.stack([item[0]["x"][0] for item in items]) if items else np.zeros((0, 0), np.float32)
        y = np.full((len(items), n_max, self.window_bins), np.nan, np.float32)
        for k, (_, (counts, mask)) in enumerate(items):
            n = counts.shape[0]
            y[k, :n] = np.where(np.broadcast_to(mask, counts.shape), counts, np.nan)
        return Bunch(X=X, y=y, recording=self._rec.copy(), context_bins=self.context_bins,
                     window_bins=self.window_bins,
                     starts=self._start * self.samples_per_bin)


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
        if c.size and (int(c.max()) > _MAX_BATCH_COUNT or int(c.min()) < 0):
            raise ValueError(f"collate_windows: counts must be in [0, {_MAX_BATCH_COUNT}] to fit the "
                             f"batch's int32 counts; received values in [{int(c.min())}, "
                             f"{int(c.max())}] (dtype {c.dtype}).")


def collate_windows(items):
    """Batch :class:`WindowDataset` items into tensors; counts stay unsigned integers.

    Items from recordings with different neuron counts are padded to the
    largest, the padding marked unobserved.

    Returns
    -------
    X : dict
        ``"x"`` float32 ``(B, 1, window_samples)``, ``"recording"`` int64 ``(B,)``,
        ``"time_s"`` float64 ``(B,)``.
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
    x, y, observed, recording, time_s = _batch_buffers([
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
    recording.numpy()[:] = [item[0]["recording"] for item in items]
    time_s.numpy()[:] = [item[0]["time_s"] for item in items]
    return {"x": x, "recording": recording, "time_s": time_s}, (y, observed)


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


def make_windows(audio, counts, audio_fs, dt_ms, *, window_samples=10240, context_samples=2048):
    """Cut a continuous recording into training windows with left context, in memory.

    The windows of a :class:`~sk_icnet.data.WindowDataset` of one
    :class:`~sk_icnet.data.Recording`, materialised as arrays (for recordings
    that fit in memory; fit a ``WindowDataset`` directly otherwise). Window
    ``k`` starts at sample ``k * hop - context_samples`` with ``hop =
    window_samples - context_samples``, so its first ``context_bins`` bins repeat
    the end of the previous window (zeros and NaN before the start of the
    recording) and the remaining bins tile the recording once. The last window
    is padded with zero audio and NaN counts (missing bins).

    Parameters
    ----------
    audio : array-like of shape (n_samples,)
        Continuous waveform.
    counts : array-like of shape (n_bins,) or (n_neurons, n_bins)
        Spike counts (whole numbers) aligned to the audio (``n_samples //
        samples_per_bin`` bins; see :func:`bin_spike_times`); NaN marks missing bins.
    audio_fs : float
    dt_ms : float
    window_samples : int, default=10240
        Window length (the paper's); a whole number of bins.
    context_samples : int, default=2048
        Left context of each window (the paper's); a whole number of bins smaller
        than ``window_samples``.

    Returns
    -------
    windows : Bunch
        ``X`` (n_windows, window_samples) float32; ``y`` (n_windows, n_neurons,
        window_bins) float32; ``context_bins`` (pass it as ``skip_bins`` to the
        estimator); ``starts`` the first sample of each window in the recording
        (negative for the first); ``window_bins``.
    """
    arr = np.asarray(audio) if not hasattr(audio, "shape") else audio
    if np.ndim(arr) == 2 and np.shape(arr)[0] == 1:
        arr = np.asarray(arr)[0]
    if np.ndim(arr) != 1:
        raise ValueError(f"audio must be one continuous waveform of shape (n_samples,); "
                         f"received shape {np.shape(audio)}.")
    rec = Recording(arr, counts, audio_fs=audio_fs, dt_ms=dt_ms)
    windows = WindowDataset(rec, window_samples, context_samples).materialize(mask_context=False)
    del windows["recording"]
    return windows
