"""A continuous recording session: a waveform, the spike counts it evoked, and their checks.

A :class:`Recording` holds the waveform in pascals, the spike counts in the smallest
unsigned integer type that holds them and a mask of missing bins, in memory (numpy arrays
or memory maps) or lazily in a zarr store (:meth:`Recording.open`); it reads any stretch of
bins with padding outside the recording. Saving and opening stores live in
:mod:`sk_icnet.data._store`; the recording's methods delegate to it.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import pandas as pd

from .._core.timebase import Timebase
from .._core.validation import (
    MAX_WAVEFORM,
    _as_numeric_array,
    _describe,
    recording_time_ok,
)
from ._spikes import bin_spike_times, spike_trains
from ._store import (
    COUNT_DTYPES,
    MAX_BATCH_COUNT,
    local_dir,
    open_store,
    save_store,
    store_identity,
    write_arrays,
)

__all__ = ["Recording"]

def _finite_number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite number; received {_describe(value)}.")
    return float(value)




def _count_dtype(max_count):
    if max_count > MAX_BATCH_COUNT:
        raise ValueError(f"counts must be at most {MAX_BATCH_COUNT} per bin (batches carry them as "
                         f"int32); received a maximum of {max_count}.")
    for dtype in COUNT_DTYPES:
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
    """:func:`~sk_icnet.data.bin_spike_times`, except that a spike outside the recording
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
        timebase = Timebase(audio_fs, dt_ms)
        self.audio_fs, self.dt_ms = timebase.audio_fs, timebase.dt_ms
        self.samples_per_bin = timebase.samples_per_bin
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
    def timebase(self):
        """The recording's :class:`~sk_icnet._core.timebase.Timebase` (``audio_fs``, ``dt_ms``):
        what rates are compared through."""
        return Timebase(self.audio_fs, self.dt_ms)

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
        if store_identity(self._local) != identity:
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
        path = save_store(self, path, overwrite=overwrite, chunk_bins=chunk_bins,
                          compression=compression)
        if self.path is not None and local_dir(os.fspath(self.path)) == path:
            # saved over the store this recording reads from (e.g. to re-chunk it)
            self.__dict__.update(type(self).open(path).__dict__)

    def _write(self, zarr, where, chunk_bins, compression):
        """Write the arrays and metadata into the new zarr group at ``where`` (the hook that
        :meth:`save` calls; see :func:`~sk_icnet.data._store.write_arrays`)."""
        write_arrays(self, zarr, where, chunk_bins, compression)

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
        rec = cls.__new__(cls)
        rec.__dict__.update(open_store(path))
        return rec

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
