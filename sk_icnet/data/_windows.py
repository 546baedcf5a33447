"""Training windows cut on demand from recordings, and the same windows in memory.

Windows follow the paper: ``window_samples`` (10,240) samples of which the first
``context_samples`` (2,048) are left context; consecutive windows overlap by the
context so the scored bins tile each recording exactly once. A window's context
bins, bins before the start or past the end of its recording, and missing bins
are marked unobserved in the mask that comes with its counts; the loss and the
scores use observed bins only.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import pandas as pd
import torch
from sklearn.utils import Bunch

from .._core.timebase import RATE_RTOL
from .._core.validation import _describe, check_positive_int, check_positive_number
from ._recording import Recording
from ._routing import decoder_indices

__all__ = ["WindowDataset", "make_windows"]

def _as_recording(value, i):
    if isinstance(value, Recording):
        return value
    if isinstance(value, (str, os.PathLike)):
        return Recording.open(value)
    raise TypeError(f"recordings[{i}] must be a Recording or the path of a saved one; received "
                    f"{_describe(value)}.")



def _check_same_rates(recordings):
    """Refuse recordings whose rates differ (the one rule: :meth:`Timebase.agrees`)."""
    first = recordings[0]
    for other in recordings[1:]:
        if not first.timebase.agrees(other.timebase):
            raise ValueError(
                f"all recordings must share audio_fs and dt_ms (within {RATE_RTOL:g} relative); "
                f"recording {first.name!r} has audio_fs={first.audio_fs!r} Hz and dt_ms="
                f"{first.dt_ms!r} ms, recording {other.name!r} has audio_fs={other.audio_fs!r} Hz "
                f"and dt_ms={other.dt_ms!r} ms (resample the audio first).")


class WindowDataset(torch.utils.data.Dataset):
    """Training windows cut on demand from one or several :class:`Recording`.

    Item ``i`` is ``(X, y)`` with ``X`` a dict (``"x"``: the waveform of the
    window with its left context, ``(1, window_samples)`` float32;
    ``"decoder"``: the index of its recording's decoder; ``"time_s"``: the experiment
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
        _check_same_rates(recs)
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
    def timebase(self):
        """The rates of the recordings (:class:`~sk_icnet._core.timebase.Timebase`)."""
        return self.recordings[0].timebase

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
        dt_s = self.timebase.dt_s
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
        dt_s = self.timebase.dt_s
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
                    items[pos[j]] = ({"x": x, "decoder": int(self._decoder[r]), "time_s": time_s},
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
