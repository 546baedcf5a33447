"""Recordings as NWB files: :func:`read_nwb` and :func:`write_nwb`.

An NWB file is untrusted input: every attribute, table and series read is checked for kind,
shape and range, sizes are bounded before anything is allocated, and a sound file that a
trials table names is read only from inside ``sound_dir``.
"""

from __future__ import annotations

import os

import numpy as np

from .._core.files import atomic_path, require
from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS

__all__ = ["read_nwb", "write_nwb", "MAX_NWB_DURATION_S", "MAX_NWB_CELLS", "MAX_SPIKE_RATE_HZ"]

_PASCAL_UNITS = {"pa", "pascal", "pascals"}

#: longest sound (s) that read_nwb assembles unless told otherwise: 4 hours, 1.4 GB of float32
#: samples at the paper's 24,414 Hz (pass max_duration_s= for longer sessions)
MAX_NWB_DURATION_S = 4 * 3600.0
#: largest |start time| (s) of a recording: beyond about 32 years it is no recording time
MAX_START_S = 1e9
#: most bins x units read_nwb builds (one count per unit and bin): 2**33, 8 GiB of uint8 counts
MAX_NWB_CELLS = 2**33
#: spike rate (spikes/s per unit) above which write_nwb refuses a bin's count as implausible
MAX_SPIKE_RATE_HZ = 10_000.0
#: the first bytes of every HDF5 (so NWB) file
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_optional_str(value, name):
    from .._core.validation import _describe

    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None; received {_describe(value)}.")
    return value


def _check_stored(data, where, what):
    """Refuse an HDF5 dataset whose declared size the file does not hold (chunks never written,
    a contiguous dataset never allocated) or whose data lives outside the file (external or
    virtual storage): checked before anything is read, so a small file cannot declare
    gigabytes of fill values, nor make read_nwb read other files."""
    import h5py

    if not isinstance(data, h5py.Dataset):  # in-memory data (a file being written, or tests)
        return
    dsid = data.id
    plist = dsid.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL or plist.get_external_count() > 0:
        raise ValueError(f"{what} of {where!r} is stored outside the file (HDF5 external or virtual "
                         "storage); read_nwb reads only data held in the NWB file itself.")
    if data.size == 0:
        return
    if layout == h5py.h5d.CHUNKED:
        expected = int(np.prod([-(-n // c) for n, c in zip(data.shape, data.chunks, strict=True)]))
        written = dsid.get_num_chunks()
        if written < expected:
            raise ValueError(f"{what} of {where!r} declares shape {data.shape} but the file holds "
                             f"only {written} of its {expected} chunks: the rest was never written "
                             "(a damaged or crafted file).")
    elif layout == h5py.h5d.CONTIGUOUS:
        needed = data.size * data.dtype.itemsize
        if dsid.get_storage_size() < needed:
            raise ValueError(f"{what} of {where!r} declares shape {data.shape} ({needed} bytes) but "
                             f"the file holds {dsid.get_storage_size()} bytes of it (a damaged or "
                             "crafted file).")


def _check_table(table, where, what):
    """:func:`_check_stored` for every column (and the ids) of an NWB DynamicTable."""
    for column in (table.id, *table.columns):
        _check_stored(getattr(column, "data", None), where, f"the {what} column {column.name!r}")


def _short(exc, limit=400):
    """``Type: message`` of an exception from pynwb/hdmf/h5py, long middles cut (hdmf puts whole
    builders in its messages, the reason at the end)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else f"{text[:limit // 3]} ... {text[-(2 * limit) // 3:]}"


def _table_frame(table, where, what):
    """An NWB table as a DataFrame, its columns' storage checked first; hdmf's errors on a
    damaged table (columns of different lengths, indexes past the data) become ValueErrors."""
    _check_table(table, where, what)
    try:
        return table.to_dataframe()
    except Exception as exc:  # hdmf raises many kinds on damaged tables
        raise ValueError(f"the {what} table of {where!r} is damaged ({_short(exc)}).") from None


def _finite_attribute(value, where, what, *, positive=False, nonzero=False):
    """An NWB attribute as a float, refused unless it is a finite (and positive / nonzero)
    number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not np.isfinite(number) or (positive and number <= 0) \
            or (nonzero and number == 0):
        rule = "a finite number > 0" if positive else "a finite nonzero number" if nonzero \
            else "a finite number"
        shown = number if number is not None and not isinstance(value, str) else value
        raise ValueError(f"{what} of {where!r} must be {rule}; received {shown!r}.")
    return number


def _check_start(t0, where, what):
    if abs(t0) > MAX_START_S:
        raise ValueError(f"{what} of {where!r} is {t0!r} s: recording times must lie within "
                         f"{MAX_START_S:g} s (about 32 years) of the session start.")
    return t0


def _nwb_sound(nwb, stimulus, where):
    """The acoustic waveform TimeSeries (by name, or the only one), or None."""
    series = {name: ts for name, ts in nwb.stimulus.items() if hasattr(ts, "rate")}
    if stimulus is not None:
        if stimulus not in series:
            raise ValueError(f"{where!r} has no stimulus TimeSeries named {stimulus!r}; it has "
                             f"{sorted(series)}.")
        return series[stimulus]
    if len(series) > 1:
        raise ValueError(f"{where!r} has several stimulus TimeSeries {sorted(series)}: pass "
                         "stimulus=<name>.")
    return next(iter(series.values()), None)


def _sound_from_series(sound, where, audio_fs, max_duration_s):
    """``(waveform in pascals at the rate, rate, start time)`` of a stimulus TimeSeries, every
    attribute checked and its size bounded before its samples are read."""
    from ..audio import resample

    what = f"the stimulus {sound.name!r}"
    if str(sound.unit).lower() not in _PASCAL_UNITS:
        raise ValueError(f"{what} of {where!r} is in {sound.unit!r}; ICNet needs pascals (unit "
                         "'Pa').")
    if sound.rate is None:
        raise ValueError(f"{what} of {where!r} has timestamps, not a sampling rate: read_nwb needs "
                         "a waveform sampled at a constant rate.")
    rate = _finite_attribute(sound.rate, where, f"the rate of {what}", positive=True)
    conversion = _finite_attribute(sound.conversion, where, f"the conversion of {what}",
                                   nonzero=True)
    offset = _finite_attribute(getattr(sound, "offset", 0.0) or 0.0, where, f"the offset of {what}")
    t0 = _check_start(_finite_attribute(sound.starting_time or 0.0, where,
                                        f"the starting_time of {what}"), where,
                      f"the starting_time of {what}")
    data = sound.data
    shape, dtype = tuple(np.shape(data)), np.dtype(getattr(data, "dtype", np.float64))
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] == 0:
        raise ValueError(f"{what} of {where!r} must be one non-empty waveform; received shape "
                         f"{shape}.")
    if dtype.kind not in "iuf":
        raise ValueError(f"{what} of {where!r} must hold numbers; its dtype is {dtype}.")
    if shape[0] > max_duration_s * rate:
        raise ValueError(f"{what} of {where!r} declares {shape[0]} samples at {rate:g} Hz "
                         f"({shape[0] / rate:.6g} s), more than max_duration_s={max_duration_s!r} "
                         "s: pass a larger max_duration_s to read a longer session.")
    _check_stored(data, where, what)
    raw = np.asarray(data[:]).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(raw)) if dtype.kind == "f" else ()
    if len(bad):
        raise ValueError(f"{what} of {where!r} holds {len(bad)} NaN or inf sample(s) (the first at "
                         f"sample {bad[0]}); a waveform must be finite.")
    with np.errstate(over="ignore"):
        pascals = raw.astype(np.float64) * conversion + offset
    if not np.isfinite(pascals).all():
        raise ValueError(f"{what} of {where!r} times its conversion {conversion!r} exceeds the range "
                         "of numbers: check its conversion.")
    fs = audio_fs if audio_fs is not None else rate
    return resample(pascals, rate, fs).astype(np.float32), fs, t0


def _sound_path(name, root, where, i):
    """The file a trial's ``sound_file`` names, refused unless it resolves inside ``root``."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"trial {i} of {where!r} names its sound file {name!r}; it must be a "
                         "non-empty file name relative to sound_dir.")
    if os.path.isabs(name) or os.path.splitdrive(name)[0]:
        raise ValueError(f"trial {i} of {where!r} names the absolute path {name!r}: sound files must "
                         f"be named relative to sound_dir ({root!r}).")
    from .._core.files import resolve_inside

    full, inside = resolve_inside(os.path.join(root, name), root)  # symlinks resolved
    if not inside:
        raise ValueError(f"trial {i} of {where!r} names {name!r}, which resolves to {full!r}, "
                         f"outside sound_dir ({root!r}): only files inside sound_dir are read.")
    return full


def _sound_from_trials(nwb, where, audio_fs, sound_column, sound_dir, level_column, scale,
                       max_duration_s):
    """A continuous waveform at ``audio_fs`` with each trial's sound file at its onset.

    Each trial's file must resolve (symlinks included) inside ``sound_dir`` and be a regular
    file; the session's length is checked against ``max_duration_s`` before the waveform is
    allocated, and every distinct file is read once.
    """
    from ..audio import load_audio, set_level

    if nwb.trials is None or sound_column not in nwb.trials.colnames:
        raise ValueError(f"{where!r} has neither a stimulus TimeSeries nor a trials table with a "
                         f"{sound_column!r} column naming the sound file of each trial.")
    if audio_fs is None:
        raise ValueError("audio_fs is needed to assemble sounds from files (their rates differ).")
    root = os.path.realpath(sound_dir)
    if not os.path.isdir(root):
        raise ValueError(f"sound_dir must be a directory holding the trials' sound files; received "
                         f"{sound_dir!r}.")
    trials = _table_frame(nwb.trials, where, "trials")
    if len(trials) == 0:
        raise ValueError(f"the trials table of {where!r} is empty: there is no sound to read.")
    starts = _float_column(trials["start_time"])
    for i, t in zip(trials.index, starts.tolist(), strict=True):  # before any file is read
        if not np.isfinite(t) or t < 0 or t > max_duration_s:
            raise ValueError(f"trial {i} of {where!r} starts at start_time={t!r} s; trials must "
                             f"start at a finite time from 0 to max_duration_s={max_duration_s!r} "
                             "s (pass a larger max_duration_s to read a longer session).")
    use_levels = level_column is not None and level_column in trials.columns
    levels = _float_column(trials[level_column]).tolist() if use_levels else None
    limit = max_duration_s * audio_fs  # a float: no overflow for any max_duration_s
    sounds, pieces = {}, []
    for k, (i, row) in enumerate(trials.iterrows()):
        path = _sound_path(row[sound_column], root, where, i)
        if path not in sounds:  # a stimulus repeated over trials is read once
            try:
                sounds[path] = load_audio(path, audio_fs, scale=scale,
                                          max_duration_s=max_duration_s)
            except ValueError as exc:
                raise ValueError(f"trial {i} of {where!r}: {exc}") from None
        start = int(round(starts[k] * audio_fs))
        if start + len(sounds[path]) > limit:
            raise ValueError(f"trial {i} of {where!r} ends at {(start + len(sounds[path])) / audio_fs:.6g}"
                             f" s, after max_duration_s={max_duration_s!r} s: pass a larger "
                             "max_duration_s to read a longer session.")
        pieces.append((i, start, path, None if levels is None else levels[k]))
    audio = np.zeros(max(start + len(sounds[path]) for _, start, path, _ in pieces), np.float32)
    for i, start, path, level in pieces:
        x = sounds[path]
        if level is not None:
            try:
                x = set_level(x, level)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"trial {i} of {where!r} ({level_column}={level!r}, sound file "
                                 f"{path!r}): {exc}") from None
        audio[start: start + len(x)] += x
    return audio, 0.0


def _float_column(column):
    """A table column as float64, non-numbers as NaN (refused by the callers' checks)."""
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _observed_mask(units, centres, where):
    """``missing`` (n_units, n_bins) from each unit's obs_intervals: bins whose centre no interval
    covers. One pass over the bins per unit, whatever the number of intervals."""
    missing = np.ones((len(units), len(centres)), bool)
    for i, intervals in enumerate(units["obs_intervals"]):
        arr = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(arr).all() or (arr[:, 1] < arr[:, 0]).any():
            raise ValueError(f"unit {units.index[i]} of {where!r} has obs_intervals that are not "
                             "finite (start, stop) pairs with start <= stop.")
        first = np.searchsorted(centres, arr[:, 0], side="left")
        stop = np.searchsorted(centres, arr[:, 1], side="left")
        cover = np.zeros(len(centres) + 1, np.int64)
        np.add.at(cover, first, 1)
        np.add.at(cover, stop, -1)
        missing[i] = np.cumsum(cover[:-1]) <= 0
    return missing


def _open_nwb(pynwb, where):
    """An open ``NWBHDF5IO`` reading the regular file ``where``, refused first (the core's
    reader rule) when it is not a regular file or links outside itself (external links,
    external or virtual storage), which pynwb would follow while it reads the file."""
    import h5py

    from .._core.files import check_hdf5_links, regular_file

    where, _ = regular_file(where, "an NWB file")  # a FIFO would block the open, a device never end
    try:
        f = h5py.File(where, "r")
    except Exception as exc:
        raise ValueError(f"path {where!r} is not a readable NWB file ({_short(exc)}).") from None
    with f:
        try:
            check_hdf5_links(f, f"the NWB file {where!r}", soft_links=True, references=True)
        except OSError as exc:
            raise ValueError(f"path {where!r} is not a readable NWB file ({_short(exc)}).") \
                from None
    try:
        return pynwb.NWBHDF5IO(where, mode="r")
    except Exception as exc:
        raise ValueError(f"path {where!r} is not a readable NWB file ({_short(exc)}).") from None


def _spike_trains(units, t0, duration, where):
    """Each unit's spike times relative to the sound's start ``t0``, those outside
    ``[0, duration)`` dropped with a warning that counts them."""
    import warnings

    trains, dropped = [], 0
    for unit, times in zip(units.index, units["spike_times"], strict=True):
        times = np.asarray(times, dtype=np.float64)
        if not np.isfinite(times).all():
            raise ValueError(f"unit {unit} of {where!r} has NaN or inf spike times.")
        rel = times - t0
        keep = (rel >= 0) & (rel < duration)
        dropped += int((~keep).sum())
        trains.append(rel[keep])
    if dropped:
        warnings.warn(f"{dropped} spike(s) of {where!r} fall outside the sound (0 to "
                      f"{duration:.6g} s from its start) and were dropped.", UserWarning,
                      stacklevel=3)
    return trains


def read_nwb(path, *, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS, stimulus=None, name=None,
             sound_column="sound_file", sound_dir=None, level_column="level_db_spl", scale=1.0,
             max_duration_s=MAX_NWB_DURATION_S):
    """Read one NWB session as a :class:`~sk_icnet.data.Recording`.

    The sound comes from either layout:

    * an acoustic waveform ``TimeSeries`` in the file's stimulus group, in
      pascals (``unit`` "Pa"; its ``conversion`` and ``offset`` are applied),
      at its own rate;
    * a trials table whose ``sound_column`` names the sound file played at each
      trial's ``start_time`` (relative to ``sound_dir``, by default the NWB
      file's folder); the optional ``level_column`` sets each sound's level in
      dB SPL, otherwise ``scale`` (pascals per full-scale unit) calibrates it.

    The waveform is resampled to ``audio_fs``. Spike times come from the Units
    table, relative to the sound's first sample; spikes outside the sound are
    dropped with a warning that counts them. The other Units columns (e.g.
    characteristic frequency, electrode) become the recording's ``neurons``.

    Files are untrusted: sizes are checked before anything is allocated (a
    dataset must hold the samples it declares, the sound must last at most
    ``max_duration_s``), a trial's sound file must resolve (symlinks included)
    inside ``sound_dir`` and be a regular file (a FIFO or device is refused,
    not read), data in HDF5 external or virtual storage is refused, and rates,
    conversions and times must be finite (rates and conversions nonzero).

    Parameters
    ----------
    path : str or path-like
        A regular file.
    audio_fs, dt_ms : float
        The recording's rates (the paper's by default); ``audio_fs=None`` keeps
        the stimulus TimeSeries' rate.
    stimulus : str, optional
        Name of the waveform TimeSeries when the file has several.
    name : str, optional
        The recording's name (default: the file's ``identifier``).
    sound_column : str, default="sound_file"
        Trials column naming each trial's sound file (the trials layout).
    sound_dir : str or path-like, optional
        Folder the sound files are named in (default: the NWB file's); a file
        resolving outside it is refused.
    level_column : str or None, default="level_db_spl"
        Trials column of presentation levels in dB SPL, if present.
    scale : float, default=1.0
        Pascals per full-scale unit of sound files played without a level.
    max_duration_s : float, default=MAX_NWB_DURATION_S (4 hours)
        Longest sound accepted: a file declaring a longer stimulus, or a trial
        that starts or ends later, is refused before its samples are read.

    Returns
    -------
    Recording

    Raises
    ------
    ValueError
        The file is not a readable NWB file, or holds data that breaks the
        rules above; the message names the file, the item and the value.
    """
    from .._core.timebase import samples_per_bin
    from .._core.validation import _describe, check_positive_number
    from ._recording import Recording

    pynwb = require("pynwb", "nwb", "read_nwb")
    if audio_fs is not None:
        audio_fs = check_positive_number(audio_fs, "audio_fs")
    dt_ms = check_positive_number(dt_ms, "dt_ms")
    if audio_fs is not None:
        samples_per_bin(audio_fs, dt_ms)
    max_duration_s = check_positive_number(max_duration_s, "max_duration_s")
    scale = check_positive_number(scale, "scale")
    for value, label in ((stimulus, "stimulus"), (name, "name"), (level_column, "level_column")):
        _check_optional_str(value, label)
    if not isinstance(sound_column, str):
        raise TypeError(f"sound_column must be a str; received {_describe(sound_column)}.")
    if sound_dir is not None and not isinstance(sound_dir, (str, os.PathLike)):
        raise TypeError(f"sound_dir must be a str or path-like; received {_describe(sound_dir)}.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like naming an NWB file; received "
                        f"{_describe(path)}.")
    where = os.fspath(path)
    io = _open_nwb(pynwb, where)
    try:
        try:
            nwb = io.read()
        except Exception as exc:
            raise ValueError(f"path {where!r} is not a readable NWB file ({_short(exc)}).") from None
        sound = _nwb_sound(nwb, stimulus, where)
        if sound is not None:
            audio, fs, t0 = _sound_from_series(sound, where, audio_fs, max_duration_s)
        else:
            audio, t0 = _sound_from_trials(nwb, where, audio_fs, sound_column,
                                           sound_dir or os.path.dirname(os.path.abspath(where)),
                                           level_column, scale, max_duration_s)
            fs = audio_fs
        if nwb.units is None or len(nwb.units) == 0:
            raise ValueError(f"{where!r} has no units (spike times) to model.")
        spb = samples_per_bin(fs, dt_ms)
        n_bins = len(audio) // spb
        if len(nwb.units) * n_bins > MAX_NWB_CELLS:
            raise ValueError(f"{where!r} has {len(nwb.units)} units and {n_bins} bins: more than "
                             f"{MAX_NWB_CELLS} counts to hold in memory (a damaged or crafted file, "
                             "or a session to split).")
        units = _table_frame(nwb.units, where, "units")
        trains = _spike_trains(units, t0, n_bins * dt_ms / 1000.0, where)
        columns = [c for c in units.columns if c not in ("spike_times", "obs_intervals")
                   and not c.endswith("_index")]
        neurons = units[columns].reset_index().rename(columns={"id": "unit_id"})
        missing = None
        if "obs_intervals" in units.columns:  # bins whose centre no interval covers
            centres = t0 + (np.arange(n_bins) + 0.5) * dt_ms / 1000.0
            missing = _observed_mask(units, centres, where)
            missing = missing if missing.any() else None
        return Recording(audio, spike_times=trains, audio_fs=fs, dt_ms=dt_ms,
                         name=name or str(nwb.identifier), start_s=t0, neurons=neurons,
                         missing=missing)
    finally:
        io.close()


def _check_replaceable_nwb(path, overwrite):
    """An existing ``path`` is replaced only with ``overwrite=True`` and only if it is an NWB
    (HDF5) file: never a directory, a device or a file of another kind."""
    import stat

    from .._core.validation import _describe

    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False; received {_describe(overwrite)}.")
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise ValueError(f"path {path!r} exists; pass overwrite=True to replace it.")
    mode = os.lstat(path).st_mode
    signature = b""
    if stat.S_ISREG(mode):
        with open(path, "rb") as f:
            signature = f.read(len(_HDF5_SIGNATURE))
    if signature != _HDF5_SIGNATURE:
        raise ValueError(f"path {path!r} exists and is not an NWB (HDF5) file; write_nwb replaces "
                         "only NWB files, even with overwrite=True: choose another path.")


def _checked_predictions(predictions, rec):
    """``predictions`` as float32 (n_neurons, n_bins) expected counts, all finite."""
    from .._core.validation import _as_numeric_array

    pred = _as_numeric_array(predictions, "predictions").astype(np.float32)
    if pred.shape != (rec.n_neurons, rec.n_bins):
        raise ValueError(f"predictions must have shape (n_neurons, n_bins) = "
                         f"({rec.n_neurons}, {rec.n_bins}); received {pred.shape}.")
    if not np.isfinite(pred).all():
        raise ValueError("predictions must be finite expected counts; received NaN or inf "
                         "(or values beyond float32's range).")
    return pred


def _check_plausible_counts(counts, rec, max_rate_hz):
    """Refuse negative counts and counts above ``max_rate_hz`` in a bin, before any count is
    expanded into spike times."""
    if not counts.size:
        return
    dt_s = rec.dt_ms / 1000.0
    per_bin = float(np.ceil(max_rate_hz * dt_s))  # a float: any max_rate_hz compares
    low, high = np.unravel_index(counts.argmin(), counts.shape), \
        np.unravel_index(counts.argmax(), counts.shape)
    if counts[low] < 0:
        raise ValueError(f"the counts of recording {rec.name!r} must be >= 0; unit {low[0]} has "
                         f"{counts[low]} in bin {low[1]}.")
    if counts[high] > per_bin:
        raise ValueError(f"unit {high[0]} of recording {rec.name!r} has {counts[high]} spikes in "
                         f"bin {high[1]}, more than {per_bin:.0f} ({max_rate_hz:g} spikes/s in "
                         f"{rec.dt_ms:g} ms bins): not a plausible count. Check the counts, or "
                         "pass a larger max_rate_hz.")


def _add_units(nwb, rec, counts):
    """One Units row per neuron: spikes at the centres of its bins, its neurons columns, and
    its observed intervals when the recording has missing bins."""
    dt_s = rec.dt_ms / 1000.0
    columns = [c for c in rec.neurons.columns if c != "unit_id"]  # unit_id: the table's ids
    missing = None if rec.missing is None else np.asarray(rec.missing[:])
    centres = rec.start_s + (np.arange(rec.n_bins) + 0.5) * dt_s
    try:
        for column in columns:
            nwb.add_unit_column(name=str(column), description=f"neuron metadata: {column}")
        for i in range(rec.n_neurons):
            extra = {str(c): rec.neurons[c].iloc[i] for c in columns}  # per column: dtypes kept
            extra = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in extra.items()}
            if "unit_id" in rec.neurons.columns:
                extra["id"] = int(rec.neurons["unit_id"].iloc[i])
            if missing is not None:
                observed = ~missing[min(i, missing.shape[0] - 1)]
                edges = np.flatnonzero(np.diff(np.concatenate([[0], observed.astype(int), [0]])))
                extra["obs_intervals"] = [[rec.start_s + a * dt_s, rec.start_s + b * dt_s]
                                          for a, b in zip(edges[::2], edges[1::2], strict=True)]
            nwb.add_unit(spike_times=np.repeat(centres, counts[i]), **extra)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # hdmf's messages
        raise ValueError(f"recording {rec.name!r} cannot be written to NWB: a neurons column does "
                         f"not fit the Units table ({type(exc).__name__}: {exc}).") from None


def write_nwb(recording, path, *, predictions=None, identifier=None, session_start_time=None,
              overwrite=False, max_rate_hz=MAX_SPIKE_RATE_HZ):
    """Write a :class:`~sk_icnet.data.Recording` (and optionally predictions) to an NWB file.

    The waveform becomes the stimulus TimeSeries ``"sound"`` (pascals), the
    counts become spike times in the Units table (a bin's spikes at its
    centre: the exact times within a bin are not kept), missing bins become
    each unit's ``obs_intervals``, and the ``neurons`` columns become Units
    columns. ``predictions`` (``(n_neurons, n_bins)`` rates, e.g.
    ``est.predict(recording)``) are stored as the TimeSeries
    ``"predicted_rates"`` in the processing module ``"sk_icnet"``. The file is
    written under a temporary name and renamed into place.

    Parameters
    ----------
    recording : Recording
    path : str or path-like
    predictions : array-like of shape (n_neurons, n_bins), optional
        Finite expected counts per bin.
    identifier : str, optional
        The NWB identifier (default: the recording's name).
    session_start_time : datetime.datetime, optional
        Timezone-aware (default: now, in UTC).
    overwrite : bool, default=False
        Replace an existing NWB file at ``path`` (anything else at ``path`` is
        never replaced).
    max_rate_hz : float, default=MAX_SPIKE_RATE_HZ (10,000)
        Spikes per second of one unit above which a bin's count is refused
        before it is expanded into spike times: a bin may hold at most
        ``ceil(max_rate_hz * dt_ms / 1000)`` spikes (40 in 4 ms bins). A store
        with an absurd count would otherwise expand into gigabytes of times.
    """
    import datetime

    from .._core.validation import _describe, check_positive_number
    from ._recording import Recording

    pynwb = require("pynwb", "nwb", "write_nwb")
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be an sk_icnet Recording; received "
                        f"{_describe(recording)}.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like; received {_describe(path)}.")
    path = os.path.abspath(os.fspath(path))
    _check_replaceable_nwb(path, overwrite)
    _check_optional_str(identifier, "identifier")
    if session_start_time is not None and (not isinstance(session_start_time, datetime.datetime)
                                           or session_start_time.tzinfo is None):
        raise TypeError(f"session_start_time must be a timezone-aware datetime.datetime; received "
                        f"{_describe(session_start_time)}.")
    max_rate_hz = check_positive_number(max_rate_hz, "max_rate_hz")
    rec = recording
    dt_s = rec.dt_ms / 1000.0
    pred = None if predictions is None else _checked_predictions(predictions, rec)
    counts = np.asarray(rec.counts[:])
    _check_plausible_counts(counts, rec, max_rate_hz)
    nwb = pynwb.NWBFile(
        session_description=f"sk_icnet recording {rec.name!r}",
        identifier=identifier or rec.name,
        session_start_time=session_start_time or datetime.datetime.now(datetime.timezone.utc))
    audio = np.asarray(rec.audio[:], dtype=np.float32)
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=audio, unit="Pa", rate=rec.audio_fs,
                                      starting_time=rec.start_s,
                                      description="sound pressure waveform"))
    _add_units(nwb, rec, counts)
    if pred is not None:
        module = nwb.create_processing_module("sk_icnet", "ICNet predictions")
        module.add(pynwb.TimeSeries(name="predicted_rates", data=pred.T, unit="spikes per bin",
                                    rate=1.0 / dt_s, starting_time=rec.start_s,
                                    description="expected spike counts per bin, one column per "
                                                "unit, from sk_icnet"))
    try:
        with atomic_path(path, ".nwb", overwrite=bool(overwrite),
                         replaceable=lambda p: _check_replaceable_nwb(p, True)) as tmp, \
                pynwb.NWBHDF5IO(tmp, mode="w") as io:
            io.write(nwb)
    except FileExistsError:
        raise ValueError(f"path {path!r} appeared while the NWB file was being written (another "
                         "process?); it was left as it is and nothing was written. Pass "
                         "overwrite=True to replace it.") from None
    except OSError:
        raise
    except Exception as exc:  # hdmf raises bare Exceptions for data HDF5 cannot store
        raise ValueError(f"recording {rec.name!r} could not be written to NWB ({type(exc).__name__}:"
                         f" {exc}); its neurons columns must hold numbers, strings or bools."
                         ) from None
