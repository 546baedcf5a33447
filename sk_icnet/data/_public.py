"""What the readers of public datasets share: trials with the dataset's neurons table,
stimuli table and published split, bounded reading of MATLAB v5 files and WAV files, and
the binning of per-repeat spike times into trials.

The binning is :func:`~sk_icnet.data.load_trials`' own (same grid, same bin-edge rule,
same packing of repeats), so a dataset read here and the same spikes given to
``load_trials`` as a table give the same counts.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .._core.timebase import Timebase
from ..audio import _open_regular_file, resample
from ._trials import TrialData, _bin_trial_spikes, _trial_grid

__all__ = ["BenchmarkTrials"]

_MAT_V5_HEADER = b"MATLAB 5.0 MAT-file"
_MI_MATRIX, _MI_COMPRESSED = 14, 15


@dataclass(frozen=True, repr=False, eq=False)
class BenchmarkTrials(TrialData):
    """Trials of a public dataset, with its neurons, its stimuli and its published split.

    A :class:`~sk_icnet.data.TrialData` (``X``, ``y``, ``y_repeats``, ``mask``, ``rates``,
    ...: everything ``fit``, ``compare`` and the metrics take), one trial per stimulus,
    plus:

    Attributes
    ----------
    neurons : DataFrame
        One row per neuron, in the order of ``y``'s neuron axis: ``name`` and the
        dataset's own unit metadata (see each reader).
    stimuli : DataFrame
        One row per trial: ``name``, the dataset's stimulus parameters, and ``split``.
    split : dict of str to ndarray of int
        The dataset's published split: trial indices of ``"train"``, ``"validation"``
        and ``"test"`` (empty dict where the dataset publishes none).
    dataset : str
        Which dataset and where it comes from.

    Examples
    --------
    >>> data = load_ns1("NS1/")                                       # doctest: +SKIP
    >>> train, test = data.subset("train"), data.subset("test")       # doctest: +SKIP
    >>> ICNetRegressor(**data.rates).fit(train.X, train.y)           # doctest: +SKIP
    """

    neurons: pd.DataFrame = field(default_factory=pd.DataFrame)
    stimuli: pd.DataFrame = field(default_factory=pd.DataFrame)
    split: dict = field(default_factory=dict)
    dataset: str = ""

    def subset(self, part):
        """The trials of one part of the split (``"train"``, ``"validation"``, ``"test"``)
        or of an array of trial indices, as a :class:`~sk_icnet.data.TrialData`."""
        if isinstance(part, str):
            if part not in self.split:
                raise ValueError(f"part must be one of {sorted(self.split)} (the split of "
                                 f"{self.dataset or 'this dataset'}) or trial indices; received "
                                 f"{part!r}.")
            index = np.asarray(self.split[part], dtype=np.int64)
        else:
            index = np.asarray(part)
            if index.dtype.kind not in "iu" or index.ndim != 1 or (
                    index.size and (index.min() < 0 or index.max() >= len(self.X))):
                raise ValueError(f"part must name a split part or be a 1-D array of trial indices "
                                 f"in 0 .. {len(self.X) - 1}; received {part!r}.")
        dropped = self.dropped.iloc[index].reset_index(drop=True) if len(self.dropped) \
            else self.dropped
        return TrialData(
            X=self.X[index], y=self.y[index], y_repeats=self.y_repeats[index],
            mask=self.mask[index], n_repeats=self.n_repeats[index], groups=self.groups[index],
            stimulus_names=[self.stimulus_names[i] for i in index],
            neuron_names=list(self.neuron_names), audio_fs=self.audio_fs, dt_ms=self.dt_ms,
            durations_s=self.durations_s[index], source_fs=self.source_fs[index],
            pre_s=self.pre_s, post_s=self.post_s, dropped=dropped)

    def __repr__(self):
        parts = ", ".join(f"{k} {len(v)}" for k, v in self.split.items())
        return f"{super().__repr__()[:-1]}; {self.dataset}; split: {parts or 'none published'})"


# ------------------------------------------------------------------ bounded file reading
def _read_bounded(path, what, max_bytes):
    """The bytes of the regular file ``path`` (at most ``max_bytes``, checked first)."""
    try:
        handle, where = _open_regular_file(path, what)
    except ValueError as exc:
        raise ValueError(f"{exc} Give the folder as the dataset publishes it.") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise ValueError(f"the {what} {where!r} is {size} bytes, more than the {max_bytes} "
                             "such a file of this dataset ever has; it is not read.")
        return handle.read(max_bytes + 1), where


def _check_mat_v5(data, where, max_unpacked):
    """Refuse what is not a MATLAB v5 file, and compressed variables that unpack to more
    than ``max_unpacked`` bytes, before scipy allocates anything."""
    if data[:10] == b"MATLAB 7.3":
        raise ValueError(f"{where!r} is a MATLAB v7.3 (HDF5) file; this dataset publishes MATLAB "
                         "v5 files: is it the right file?")
    if len(data) < 128 or not data.startswith(_MAT_V5_HEADER) or data[126:128] not in (b"IM", b"MI"):
        raise ValueError(f"{where!r} is not a MATLAB v5 .mat file (its header does not start with "
                         f"{_MAT_V5_HEADER.decode()!r}).")
    order = "<" if data[126:128] == b"IM" else ">"
    offset, unpacked = 128, 0
    while offset + 8 <= len(data):
        kind, nbytes = struct.unpack(order + "II", data[offset: offset + 8])
        offset += 8
        if nbytes > len(data) - offset:
            raise ValueError(f"{where!r} declares a variable of {nbytes} bytes past the end of "
                             "the file; the file is cut short or damaged.")
        if kind == _MI_COMPRESSED:
            inflate = zlib.decompressobj()
            try:
                chunk = inflate.decompress(data[offset: offset + nbytes], max_unpacked - unpacked + 1)
            except zlib.error as exc:
                raise ValueError(f"{where!r} holds a damaged compressed variable ({exc}).") from None
            unpacked += len(chunk)
            offset += nbytes
        elif kind == _MI_MATRIX:
            unpacked += nbytes
            offset += nbytes + (-nbytes % 8)
        else:
            raise ValueError(f"{where!r} holds a top-level element of type {kind}, which MATLAB v5 "
                             "files do not have at the top level; the file is damaged.")
        if unpacked > max_unpacked:
            raise ValueError(f"{where!r} unpacks to more than {max_unpacked} bytes, more than "
                             "such a file of this dataset ever holds; it is not read.")


def read_mat(path, what, *, max_bytes, max_unpacked):
    """The variables of a MATLAB v5 file (``scipy.io.loadmat``), read as untrusted input:
    a regular file, its size and its unpacked size bounded before loading, any failure a
    ``ValueError`` naming the file."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    data, where = _read_bounded(path, what, max_bytes)
    _check_mat_v5(data, where, max_unpacked)
    try:
        return loadmat(io.BytesIO(data), squeeze_me=False, struct_as_record=True,
                       chars_as_strings=True, verify_compressed_data_integrity=True)
    except (MatReadError, ValueError, TypeError, KeyError, IndexError, EOFError, OSError,
            zlib.error, struct.error, UnicodeDecodeError, NotImplementedError, MemoryError) as exc:
        raise ValueError(f"{where!r} is not a readable MATLAB v5 file ({type(exc).__name__}: "
                         f"{exc}).") from None


def read_wav(path, *, max_bytes):
    """``(waveform as float64, rate in Hz)`` of a mono WAV file (any sample format scipy
    reads), read as untrusted input; integer samples are scaled to full scale 1."""
    from scipy.io import wavfile

    data, where = _read_bounded(path, "sound file", max_bytes)
    try:
        fs, x = wavfile.read(io.BytesIO(data))
    except (ValueError, TypeError, EOFError, OSError, struct.error, MemoryError) as exc:
        raise ValueError(f"{where!r} is not a readable WAV file ({exc}).") from None
    if x.ndim != 1:
        raise ValueError(f"{where!r} has {x.shape[1]} channels; the dataset's sounds are mono.")
    if x.size == 0 or fs <= 0:
        raise ValueError(f"{where!r} holds no audio ({x.size} samples at {fs} Hz).")
    if x.dtype.kind in "iu":  # full scale 1 (8-bit WAV is unsigned, centred on 128)
        half = 2.0 ** (8 * x.dtype.itemsize - 1)
        x = (x.astype(np.float64) - (half if x.dtype.kind == "u" else 0.0)) / half
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{where!r} holds NaN or inf samples.")
    return x, float(fs)


# ------------------------------------------------------------------ trials from spike times
def _resample_all(waves, source_fs, audio_fs):
    """Each waveform at ``audio_fs`` (float32); waveforms of one rate and length are
    resampled together, so the anti-aliasing filter is designed once per group."""
    out = [None] * len(waves)
    groups = {}
    for i, (w, fs) in enumerate(zip(waves, source_fs, strict=True)):
        groups.setdefault((float(fs), len(w)), []).append(i)
    for (fs, _), index in groups.items():
        stacked = resample(np.stack([waves[i] for i in index]), fs, audio_fs)
        for row, i in zip(stacked, index, strict=True):
            out[i] = row.astype(np.float32)
    return out


def bin_repeats(waves, source_fs, spikes, neuron_names, stimulus_names, *, audio_fs, dt_ms):
    """Trials from sounds and per-repeat spike times, binned as :func:`load_trials` bins.

    Parameters
    ----------
    waves : list of ndarray
        One waveform per stimulus at its ``source_fs``.
    spikes : list (stimuli) of list (neurons) of list (repeats) of ndarray
        Spike times in seconds from the stimulus onset; every neuron of a stimulus has
        the same number of repeats.

    Returns
    -------
    SimpleNamespace
        The fields of :class:`TrialData`, with ``dropped`` (spikes before the onset or
        after the sound's last whole bin, per stimulus).
    """
    timebase = Timebase(audio_fs, dt_ms)
    resampled = _resample_all(waves, source_fs, timebase.audio_fs)
    n_neurons = len(neuron_names)
    counts = np.array([len(per_neuron[0]) if per_neuron else 0 for per_neuron in spikes], np.int64)
    times, s_idx, n_idx, slot = [], [], [], []
    for s, per_neuron in enumerate(spikes):
        for n, per_repeat in enumerate(per_neuron):
            for r, t in enumerate(per_repeat):
                times.append(np.asarray(t, np.float64))
                s_idx.append(np.full(len(t), s))
                n_idx.append(np.full(len(t), n))
                slot.append(np.full(len(t), r))
    flat = [np.concatenate(a) if a else np.zeros(0) for a in (times, s_idx, n_idx, slot)]
    times, (s_idx, n_idx, slot) = flat[0], (a.astype(np.int64) for a in flat[1:])
    grid = _trial_grid(resampled, stimulus_names, timebase, 0.0, 0.0, counts, n_neurons)
    y_repeats, y, mask, before, after = _bin_trial_spikes(times, s_idx, n_idx, slot, grid, counts,
                                                          n_neurons, timebase)
    n_trials = len(stimulus_names)
    dropped = pd.DataFrame({"stimulus": list(stimulus_names),
                            "before": np.bincount(s_idx[before], minlength=n_trials),
                            "after": np.bincount(s_idx[after], minlength=n_trials)})
    return SimpleNamespace(
        X=grid.X, y=y, y_repeats=y_repeats, mask=mask, n_repeats=counts,
        groups=np.array(stimulus_names, dtype=object), stimulus_names=list(stimulus_names),
        neuron_names=list(neuron_names), audio_fs=timebase.audio_fs, dt_ms=timebase.dt_ms,
        durations_s=np.array([len(w) / fs for w, fs in zip(waves, source_fs, strict=True)]),
        source_fs=np.asarray(source_fs, dtype=np.float64), dropped=dropped)
