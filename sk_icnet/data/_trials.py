"""Trial-based lab data in one call: a folder of WAV files and a table of spike times.

The most common auditory experiment presents a set of sounds, each several
times, and records spike times relative to each sound's onset. Give the folder
of sounds and the spike table (a pandas DataFrame or a CSV file with a row per
spike: stimulus, repeat, neuron, time) to :func:`load_trials`; it returns the
arrays that :meth:`~sk_icnet.ICNetRegressor.fit`, :func:`~sk_icnet.compare` and
the noise ceilings of :mod:`sk_icnet.metrics` take, one trial per stimulus:

>>> data = load_trials("sounds/", "spikes.csv", audio_fs=24414.0625,
...                    dt_ms=1.31072)                                   # doctest: +SKIP
>>> est = ICNetRegressor(**data.rates).fit(data.X, data.y)             # doctest: +SKIP

How the arrays are made:

- Every sound is read with :func:`sk_icnet.audio.load_audio` (any sampling rate,
  resampled to ``audio_fs`` exactly as that function does; mono, or one
  ``channel`` of every file).
- Sounds of different lengths are zero-padded at the end to a common length
  that is a whole number of bins. Bins past a sound's last whole bin are
  padding: NaN in ``y`` and ``y_repeats`` and False in ``mask``. The
  estimators' losses and every metric of :mod:`sk_icnet.metrics` leave NaN bins
  out, so padding is never trained on or scored; and since ICNet and the STRFs
  are causal, the silence appended after a sound does not change the
  predictions of its real bins.
- Spike ``t`` (relative to onset) falls in bin ``k`` when
  ``k * dt <= t + pre_s < (k + 1) * dt``, with ``dt`` the bin width on the
  audio grid (``samples_per_bin / audio_fs``); a spike on an edge (times in whole
  ms, say) is in the bin that starts there, whatever the float rounding. Spikes before ``-pre_s`` or after
  the last whole bin of ``duration + post_s`` are dropped, counted per stimulus in
  ``dropped`` and reported in one warning.
- ``y`` is the mean count over each stimulus' repeats; ``y_repeats`` holds each
  repeat, packed: the repeats of a stimulus fill slots ``0 .. n_repeats - 1`` in
  the order of their numbers, and missing slots (a stimulus presented fewer times
  than the most presented one) are NaN. ``y_repeats[:, :data.n_repeats.min()]``
  is then complete, as :func:`~sk_icnet.metrics.ccnorm`,
  :func:`~sk_icnet.metrics.signal_power` and :func:`~sk_icnet.metrics.feve` need
  (they use only the bins where every repeat is observed).
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import stat
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .._core.files import open_regular, require
from .._core.timebase import Timebase
from .._core.validation import _describe, check_positive_number
from ..audio import load_audio, set_level

__all__ = ["TrialData", "load_trials"]

#: the four columns of a spike table, under these names unless ``columns=`` renames them
DEFAULT_COLUMNS = {"stimulus": "stimulus", "repeat": "repeat", "neuron": "neuron", "time": "time"}
#: largest ``y_repeats`` (bytes, float32) that :func:`load_trials` allocates
MAX_BYTES = 8 * 2**30
_TIME_UNITS = {"s": 1.0, "ms": 1e-3}
#: fraction of a bin within which a spike before a bin edge counts as on it (float rounding)
_EDGE_TOLERANCE = 1e-6
#: largest repeat number: integers beyond it are not all distinct as float64
_MAX_REPEAT = 2**53


@dataclass(frozen=True, repr=False, eq=False)
class TrialData:
    """Trials of a stimulus set, ready for ``fit``, ``compare`` and the noise ceilings.

    Made by :func:`load_trials`; one trial per stimulus, in the order of
    ``stimulus_names``.

    Attributes
    ----------
    X : ndarray of shape (n_trials, n_samples), float32
        Waveforms at ``audio_fs`` (pascals if the files are calibrated or
        ``scale``/``level_db_spl`` was given), zero-padded at the end; ``n_samples``
        is a whole number of bins.
    y : ndarray of shape (n_trials, n_neurons, n_bins), float32
        Mean spike count per bin over each stimulus' repeats; NaN on padding.
    y_repeats : ndarray of shape (n_trials, n_repeats, n_neurons, n_bins), float32
        Spike counts of each repeat (packed; NaN on padding and on the slots of
        repeats a stimulus does not have).
    mask : ndarray of shape (n_trials, n_bins), bool
        True on the bins that hold stimulus (the ``pre_s``/``post_s`` silence
        included), False on padding.
    n_repeats : ndarray of shape (n_trials,), int
        Repeats of each stimulus.
    groups : ndarray of shape (n_trials,), object
        The stimulus of each trial, for grouped splitters.
    stimulus_names, neuron_names : list of str
    audio_fs : float
        Rate of ``X`` in Hz.
    dt_ms : float
        Bin width in ms.
    durations_s : ndarray of shape (n_trials,)
        Duration of each sound file (its frames over its own rate).
    source_fs : ndarray of shape (n_trials,)
        Sampling rate of each file before resampling.
    pre_s, post_s : float
        Silence before onset and after the end of every sound included in its
        trial (``pre_s`` rounded to whole bins).
    dropped : DataFrame
        Per stimulus, spikes left out ``before`` the trial's start and ``after``
        its last whole bin.
    """

    X: np.ndarray
    y: np.ndarray
    y_repeats: np.ndarray
    mask: np.ndarray
    n_repeats: np.ndarray
    groups: np.ndarray
    stimulus_names: list
    neuron_names: list
    audio_fs: float
    dt_ms: float
    durations_s: np.ndarray
    source_fs: np.ndarray
    pre_s: float = 0.0
    post_s: float = 0.0
    dropped: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def rates(self):
        """``{"audio_fs": ..., "dt_ms": ...}``, to pass to an estimator: ``ICNetRegressor(**data.rates)``."""
        return {"audio_fs": self.audio_fs, "dt_ms": self.dt_ms}

    @property
    def n_bins(self):
        """Bins of stimulus in each trial (the rest is padding), shape (n_trials,)."""
        return self.mask.sum(axis=1)

    def __repr__(self):
        n_trials, n_rep, n_neurons, n_bins = self.y_repeats.shape
        return (f"TrialData({n_trials} stimuli, {n_neurons} neurons, up to {n_rep} repeats, "
                f"{n_bins} bins of {self.dt_ms:g} ms at {self.audio_fs:g} Hz; "
                f"{int(self.mask.sum())} stimulus bins, {int((~self.mask).sum())} padding; "
                f"{int(self.dropped[['before', 'after']].to_numpy().sum()) if len(self.dropped) else 0}"
                f" spikes dropped)")


def _check_sound_dir(sound_dir):
    if not isinstance(sound_dir, (str, os.PathLike)):
        raise TypeError(f"sound_dir must be a folder path; received {_describe(sound_dir)}.")
    path = os.fspath(sound_dir)
    if not os.path.isdir(path):
        raise ValueError(f"sound_dir {path!r} is not a folder; give the folder that holds the "
                         "stimulus sound files.")
    return path


def _list_sounds(folder, extension):
    """``{stem: (name, is_regular_file)}`` of the files in ``folder`` ending with ``extension``."""
    ext = extension.lower()
    found = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.lower().endswith(ext) or len(name) == len(ext):
                continue  # hidden files (e.g. macOS "._x.wav") and other files are not sounds
            stem = name[: -len(ext)]
            if stem in found:
                raise ValueError(f"sound_dir {folder!r} holds two files for stimulus {stem!r}: "
                                 f"{found[stem][0]!r} and {name!r}; keep one.")
            try:
                mode = os.lstat(entry.path).st_mode
            except OSError:
                mode = 0
            found[stem] = (name, stat.S_ISREG(mode))
    if not found:
        raise ValueError(f"sound_dir {folder!r} holds no {extension} file; give the folder of the "
                         f"stimuli, or extension= for another file type (e.g. '.flac').")
    return found


def _read_table(spikes):
    if isinstance(spikes, pd.DataFrame):
        return spikes
    if isinstance(spikes, (str, os.PathLike)):
        path = os.fspath(spikes)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise FileNotFoundError(f"spikes {path!r} does not exist; give a CSV file of spike "
                                    "times or a pandas DataFrame.") from None
        except OSError as exc:
            raise ValueError(f"spikes {path!r} cannot be read ({exc.strerror or exc}); give a CSV "
                             "file of spike times or a pandas DataFrame.") from None
        if not stat.S_ISREG(mode):
            raise ValueError(f"spikes {path!r} is not a regular file (a folder, link or device); "
                             "give a CSV file of spike times.")
        f, _ = open_regular(path, "a CSV file of spike times", argument="spikes")
        try:
            with f:
                return pd.read_csv(f)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise ValueError(f"spikes {path!r} is not a readable CSV file ({exc}).") from None
    raise TypeError("spikes must be a pandas DataFrame or the path of a CSV file with columns "
                    f"stimulus, repeat, neuron, time; received {_describe(spikes)}.")


def _resolve_columns(columns, table):
    cols = dict(DEFAULT_COLUMNS)
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise TypeError("columns must be a dict mapping 'stimulus', 'repeat', 'neuron' and "
                            f"'time' to column names; received {_describe(columns)}.")
        unknown = sorted(set(columns) - set(DEFAULT_COLUMNS))
        if unknown:
            raise ValueError(f"columns has unknown key(s) {unknown}; the keys are "
                             f"{sorted(DEFAULT_COLUMNS)}.")
        cols.update(columns)
    for role in ("stimulus", "time"):
        if cols[role] is None:
            raise ValueError(f"columns[{role!r}] cannot be None: every spike needs a {role}.")
    missing = {role: name for role, name in cols.items()
               if name is not None and name not in table.columns}
    if missing:
        raise ValueError(_missing_columns_message(missing, cols, list(table.columns)))
    return cols


def _missing_columns_message(missing, cols, columns):
    """What the table lacks (each name once, with its roles) and a ``columns=`` built from the
    table's own columns: for each role, its closest column that no other role uses."""
    roles_of = {}
    for role, name in sorted(missing.items()):
        roles_of.setdefault(name, []).append(role)
    lacking = " or ".join(f"{name!r} (for {' and '.join(roles)})"
                          for name, roles in roles_of.items())
    free = [c for c in columns if c not in cols.values()]
    proposal = {}
    for role, name in sorted(missing.items()):
        match = _closest_column(name, role, [c for c in free if c not in proposal.values()])
        if match is not None:
            proposal[role] = match
    unmatched = sorted(set(missing) - set(proposal))
    remedy = f" Pass columns={proposal!r} (the closest of its columns)" if proposal else \
        " Name the table's columns in columns={'<role>': '<column>'}"
    if unmatched:
        remedy += f"; none of its columns resembles {' or '.join(map(repr, unmatched))}"
    optional = [role for role in unmatched if role in ("repeat", "neuron")]
    if optional:
        remedy += (f"; columns={{{optional[0]!r}: None}} means one "
                   f"{'presentation' if optional[0] == 'repeat' else 'neuron'}")
    return (f"the spike table has no column {lacking}; its columns are {_short_list(columns)}."
            f"{remedy}.")


def _closest_column(name, role, columns):
    """The column most like ``name`` or ``role`` (case-insensitive; containment counts), or
    None when none is close."""
    def score(column):
        text = str(column).lower()
        ratios = [difflib.SequenceMatcher(None, word.lower(), text).ratio()
                  for word in (str(name), role)]
        contained = any(word.lower() in text or text in word.lower()
                        for word in (str(name), role) if word and text)
        return max(ratios + [0.8 if contained else 0.0])

    scored = sorted(((score(c), i) for i, c in enumerate(columns)), key=lambda p: (-p[0], p[1]))
    return columns[scored[0][1]] if scored and scored[0][0] >= 0.6 else None


def _short_list(values, limit=20):
    values = list(values)
    return repr(values) if len(values) <= limit else f"{values[:limit]!r} ... ({len(values)})"


def _check_no_nan(values, column):
    bad = pd.isna(values)
    if bad.any():
        raise ValueError(f"column {column!r} of the spike table has {int(bad.sum())} missing "
                         f"value(s) (first at row {int(np.flatnonzero(bad)[0])}); every spike needs "
                         "one.")


def _numeric_column(series, column, what):
    if pd.api.types.is_complex_dtype(series):
        raise TypeError(f"column {column!r} of the spike table must hold real numbers ({what}); "
                        f"received dtype {series.dtype} (first value {series.iloc[0]!r}): the "
                        "imaginary part would be dropped. Give the real values (.real) if they "
                        "are right.")
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        raise TypeError(f"column {column!r} of the spike table must hold numbers ({what}); "
                        f"received dtype {series.dtype} (first value {series.iloc[0]!r}).")
    values = series.to_numpy(dtype=np.float64)
    _check_no_nan(values, column)
    if not np.isfinite(values).all():
        raise ValueError(f"column {column!r} of the spike table contains inf; {what} must be "
                         "finite.")
    return values


def _labels(series, column, what):
    """Labels as strings; refuses missing values, distinct values that print alike, equal
    values that print differently (1.0 and 1, True and 1 in an object column) and text that
    differs only in Unicode normalisation."""
    _check_no_nan(series.to_numpy(), column)
    raw = pd.unique(series)
    text = [str(v) for v in raw]
    if len(set(text)) != len(text):
        seen = {}
        for value, name in zip(raw, text, strict=True):
            if name in seen:
                raise ValueError(f"column {column!r} of the spike table has two {what} labels that "
                                 f"are both {name!r} as text ({seen[name]!r} and {value!r}); give "
                                 "each one name.")
            seen[name] = value
    labels = series.map(str).to_numpy(dtype=object)
    firsts = np.flatnonzero(~pd.Series(labels).duplicated().to_numpy())  # a row per label
    _check_label_values(series.iloc[firsts], labels[firsts], column, what)
    _check_normalisation(labels[firsts], column, what)
    return labels


def _check_label_values(values, names, column, what):
    """Distinct labels must be distinct values (a column of objects can hold 1.0 and 1, or
    True and 1, which are one value to pandas and two names as text)."""
    seen = {}
    for value, name in zip(values, names, strict=True):
        try:
            other = seen.setdefault(value, name)
        except TypeError:
            raise TypeError(f"column {column!r} of the spike table must hold text or numbers as "
                            f"{what} labels; received {_describe(value)}.") from None
        if other != name:
            raise ValueError(f"column {column!r} of the spike table has two {what} labels that are "
                             f"equal as values but not as text ({other!r} and {name!r}): pandas "
                             "takes them for one, their names are two. Give each one type, e.g. "
                             f"table[{column!r}] = table[{column!r}].astype(str) (two labels) or "
                             ".astype(int) (one).")


def _plain(value):
    """A numpy scalar as the Python number it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _nfc(name):
    return unicodedata.normalize("NFC", name)


def _normal_form(name):
    return next((form for form in ("NFC", "NFD") if unicodedata.is_normalized(form, name)),
                "neither NFC nor NFD")


def _same_text_message(first, second):
    return (f"{first!r} and {second!r} look the same but differ only in Unicode normalisation "
            f"({_normal_form(first)}: {ascii(first)}; {_normal_form(second)}: {ascii(second)})")


def _check_normalisation(names, column, what):
    seen = {}
    for name in names:
        other = seen.setdefault(_nfc(name), name)
        if other != name:
            raise ValueError(f"column {column!r} of the spike table has two {what} labels that "
                             f"differ only in Unicode normalisation: {_same_text_message(other, name)}"
                             f". Normalise the column: table[{column!r}] = table[{column!r}].map("
                             "lambda s: unicodedata.normalize('NFC', s)).")


def _check_names(names, what):
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise TypeError(f"{what} must be a list of names; received {_describe(names)}.")
    out = [str(n) for n in names]
    if not out:
        raise ValueError(f"{what} is empty; give at least one name, or None for all.")
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise ValueError(f"{what} has duplicate name(s) {dup}; each must appear once.")
    return out


def _per_stimulus(value, names, what, check):
    """A value per stimulus from a scalar or a mapping (keys: stimulus names)."""
    if isinstance(value, Mapping):
        keys = {str(k) for k in value}
        missing = [n for n in names if n not in keys]
        extra = sorted(keys - set(names))
        if missing or extra:
            raise ValueError(f"{what} must give a value for each stimulus; missing {missing[:5]}, "
                             f"unknown {extra[:5]}.")
        by_name = {str(k): v for k, v in value.items()}
        return [check(by_name[n], f"{what}[{n!r}]") for n in names]
    return [check(value, what)] * len(names)


def _check_repeat_count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; received {value!r}.")
    return int(value)


def _check_level(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite level in dB SPL; received {value!r}.")
    return float(value)


def _read_sound(folder, name, is_regular, audio_fs, channel, scale, max_duration_s):
    path = os.path.join(folder, name)
    if not is_regular:
        raise ValueError(f"{path!r} is not a regular file (a link, folder or device): only regular "
                         "files inside sound_dir are read; copy the sound into sound_dir.")
    soundfile = require("soundfile", "audio", "load_trials")
    f, _ = open_regular(path, "a sound file", within=folder)  # still regular, still inside
    try:
        with f:
            info = soundfile.info(f)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise ValueError(f"{path!r} is not a readable sound file ({exc}).") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise ValueError(f"{path!r} holds no audio ({info.frames} frames at {info.samplerate} Hz).")
    duration = info.frames / info.samplerate
    if duration > max_duration_s:
        raise ValueError(f"{path!r} lasts {duration:.1f} s, more than max_duration_s="
                         f"{max_duration_s:g} s for one stimulus; raise max_duration_s if it is "
                         "right (long continuous recordings belong in sk_icnet.Recording).")
    x = load_audio(path, audio_fs, channel=channel, scale=scale)
    return x, duration, float(info.samplerate)


def load_trials(sound_dir, spikes, *, audio_fs=24414.0625, dt_ms=1.31072, time_unit="s",
                columns=None, stimuli=None, neurons=None, n_repeats=None, pre_s=0.0, post_s=0.0,
                extension=".wav", channel=None, scale=1.0, level_db_spl=None,
                max_duration_s=600.0):
    """Read a folder of stimulus sounds and a spike-time table into trials.

    Parameters
    ----------
    sound_dir : str or path-like
        Folder of the stimulus files, one per stimulus, named after it
        (``tone_1k.wav`` for stimulus ``tone_1k``). Only regular files directly
        inside are read; hidden files (names starting with ``.``) are ignored.
    spikes : DataFrame, str or path-like
        One row per spike, with columns ``stimulus`` (the file name with or
        without its extension), ``repeat`` (integer presentation number),
        ``neuron`` (any label) and ``time`` (from the stimulus onset). A CSV path
        is read with :func:`pandas.read_csv`.
    audio_fs : float, default=24414.0625
        Rate to resample every sound to, in Hz (the paper's ICNet rate).
    dt_ms : float, default=1.31072
        Bin width in ms; ``audio_fs * dt_ms / 1000`` must be a whole number of
        samples.
    time_unit : {"s", "ms"}, default="s"
        Unit of the time column.
    columns : dict, optional
        Column names of the table, e.g. ``{"time": "spike_time_ms", "neuron":
        "unit"}``; ``{"repeat": None}`` for a single presentation of each
        stimulus, ``{"neuron": None}`` for one neuron.
    stimuli : list of str, optional
        Stimuli to read, in this order (default: all the files of ``sound_dir``,
        sorted by name). Every sound file must be in the table unless this is
        given; a listed stimulus without spikes has zero counts (give
        ``n_repeats``).
    neurons : list of str, optional
        Neurons, in this order (default: the table's, sorted); a listed neuron
        without spikes has zero counts.
    n_repeats : int or dict of str to int, optional
        Presentations of each stimulus. Default: the distinct repeat numbers of
        each stimulus in the table, which misses presentations where no neuron
        fired; give the protocol's numbers when that can happen.
    pre_s, post_s : float, default=0.0
        Include ``pre_s`` seconds of silence before each onset (rounded to whole
        bins) and ``post_s`` seconds after each sound's end in its trial, with the
        spikes they hold (offset responses).
    extension : str, default=".wav"
        File name ending of the sounds (case-insensitive), any format soundfile reads.
    channel : int, optional
        Channel of multi-channel files (see :func:`~sk_icnet.audio.load_audio`).
    scale : float, default=1.0
        Pascals per full-scale unit of the files (their calibration).
    level_db_spl : float or dict of str to float, optional
        Instead of ``scale``'s levels: set every sound (or each, by stimulus name)
        to this level in dB SPL with :func:`~sk_icnet.audio.set_level`.
    max_duration_s : float, default=600.0
        Longest accepted sound, checked from the file header before reading.

    Returns
    -------
    TrialData
        ``X``, ``y``, ``y_repeats``, ``mask``, ``n_repeats``, ``groups``,
        ``stimulus_names``, ``neuron_names``, ``audio_fs``, ``dt_ms``,
        ``durations_s``, ``source_fs``, ``pre_s``, ``post_s``, ``dropped``.

    Raises
    ------
    ValueError or TypeError
        Naming the file, column or argument: a stimulus of the table without a
        sound file, a sound file not in the table (unless ``stimuli`` is given),
        a link or other non-regular file, an unreadable sound, a missing or
        non-numeric column, missing values, non-integer repeat numbers, two labels
        that are the same name, duplicate names in ``stimuli``/``neurons``, a
        neuron of the table not in ``neurons``, more repeats than ``n_repeats``,
        bins that are not whole samples, or a table whose spikes all fall outside
        the trials.

    Warns
    -----
    UserWarning
        When spikes fall outside the trials (before ``-pre_s`` or after the last
        whole bin of the sound plus ``post_s``): how many, with ``dropped``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, soundfile, tempfile, os
    >>> from sk_icnet import load_trials
    >>> table = pd.DataFrame({"stimulus": ["a", "b", "b"], "repeat": [1, 1, 2],
    ...                       "neuron": ["n1", "n1", "n1"], "time": [0.005, 0.15, 0.001]})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     soundfile.write(os.path.join(folder, "a.wav"), np.zeros(1600), 16000)  # 0.1 s
    ...     soundfile.write(os.path.join(folder, "b.wav"), np.zeros(3200), 16000)  # 0.2 s
    ...     data = load_trials(folder, table, audio_fs=16000, dt_ms=2.0)
    >>> data.X.shape, data.y.shape, data.y_repeats.shape, data.mask.sum(axis=1)
    ((2, 3200), (2, 1, 100), (2, 2, 1, 100), array([ 50, 100]))
    >>> float(data.y[0, 0, 2]), np.isnan(data.y[0, 0, 50])   # padding of the shorter sound
    (1.0, np.True_)
    """
    folder = _check_sound_dir(sound_dir)
    timebase = Timebase(audio_fs, dt_ms)
    max_duration_s = _check_options(time_unit, pre_s, post_s, max_duration_s, extension)
    stimuli = _check_names(stimuli, "stimuli")
    neurons = _check_names(neurons, "neurons")

    table = _read_table(spikes)
    cols = _resolve_columns(columns, table)
    sounds = _list_sounds(folder, extension)
    rows = _spike_rows(table, cols, extension, time_unit, neurons)
    stimuli = _resolve_stimuli(stimuli, set(rows.stimulus), sounds, folder, extension)
    neurons = _resolve_neurons(neurons, cols, table, rows.neuron)
    s_idx, n_idx, slot, counts = _repeat_slots(rows, stimuli, neurons, n_repeats)
    sounds_read = _read_sounds(folder, sounds, stimuli, timebase.audio_fs, channel, scale,
                               max_duration_s, level_db_spl)
    grid = _trial_grid(sounds_read.waves, stimuli, timebase, pre_s, post_s, counts, len(neurons))
    y_repeats, y, mask, before, after = _bin_trial_spikes(
        rows.time, s_idx, n_idx, slot, grid, counts, len(neurons), timebase)
    dropped = _report_dropped(stimuli, s_idx, before, after, rows.time, time_unit,
                              sounds_read.durations, grid)
    return TrialData(
        X=grid.X, y=y, y_repeats=y_repeats, mask=mask, n_repeats=counts,
        groups=np.array(stimuli, dtype=object), stimulus_names=list(stimuli),
        neuron_names=list(neurons), audio_fs=timebase.audio_fs, dt_ms=timebase.dt_ms,
        durations_s=np.array(sounds_read.durations), source_fs=np.array(sounds_read.source_fs),
        pre_s=grid.pre_bins * grid.dt_s, post_s=float(post_s), dropped=dropped)


def _check_options(time_unit, pre_s, post_s, max_duration_s, extension):
    """Check the reading options; return ``max_duration_s`` as a float."""
    if time_unit not in _TIME_UNITS:
        raise ValueError(f"time_unit must be 's' or 'ms'; received {time_unit!r}.")
    for name, value in (("pre_s", pre_s), ("post_s", post_s)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number of seconds >= 0; received {value!r}.")
    max_duration_s = check_positive_number(max_duration_s, "max_duration_s")
    if not isinstance(extension, str) or not extension:
        raise TypeError(f"extension must be a file name ending such as '.wav'; received "
                        f"{_describe(extension)}.")
    return max_duration_s


def _spike_rows(table, cols, extension, time_unit, neurons):
    """The stimulus, repeat, neuron and time (s) of every spike of the table."""
    n_rows = len(table)
    if not n_rows:
        empty = np.array([], dtype=object)
        return SimpleNamespace(stimulus=empty, neuron=empty, time=np.array([], dtype=np.float64),
                               repeat=np.array([], dtype=np.int64))
    stim_col = _labels(table[cols["stimulus"]], cols["stimulus"], "stimulus")
    ext = extension.lower()
    stim_col = np.array([s[: -len(ext)] if s.lower().endswith(ext) and len(s) > len(ext) else s
                         for s in stim_col], dtype=object)
    times = _numeric_column(table[cols["time"]], cols["time"], "spike times") \
        * _TIME_UNITS[time_unit]
    if cols["repeat"] is None:
        reps = np.zeros(n_rows, dtype=np.int64)
    else:
        rep_values = _numeric_column(table[cols["repeat"]], cols["repeat"],
                                     "integer repeat numbers")
        if (rep_values != np.round(rep_values)).any():
            bad = rep_values[rep_values != np.round(rep_values)][0]
            raise ValueError(f"column {cols['repeat']!r} of the spike table must hold integer "
                             f"repeat numbers; received {float(bad)!r}.")
        huge = np.flatnonzero(np.abs(rep_values) >= _MAX_REPEAT)
        if huge.size:  # as float64 (or int64) such numbers merge into one repeat
            raise ValueError(f"column {cols['repeat']!r} of the spike table must hold integer "
                             "repeat numbers from -2**53 to 2**53; received "
                             f"{_plain(table[cols['repeat']].iloc[huge[0]])!r} (row "
                             f"{int(huge[0])}), "
                             "beyond which numbers can no longer be told apart. Number the "
                             "presentations 1, 2, ...")
        reps = rep_values.astype(np.int64)
    if cols["neuron"] is None:
        neuron_col = np.full(n_rows, "0" if neurons is None else neurons[0], dtype=object)
        if neurons is not None and len(neurons) != 1:
            raise ValueError("columns={'neuron': None} means one neuron, but neurons lists "
                             f"{len(neurons)}.")
    else:
        neuron_col = _labels(table[cols["neuron"]], cols["neuron"], "neuron")
    return SimpleNamespace(stimulus=stim_col, neuron=neuron_col, time=times, repeat=reps)


def _resolve_stimuli(stimuli, table_stimuli, sounds, folder, extension):
    """The stimuli to read: every sound file, or those listed; each with a file, and every
    stimulus of the table among them."""
    unknown = sorted(table_stimuli - set(sounds))
    by_form = {_nfc(name): name for name in sounds}
    twins = [(name, by_form[_nfc(name)]) for name in unknown if _nfc(name) in by_form]
    if twins:
        name, twin = twins[0]
        raise ValueError(f"stimulus {name!r} of the spike table has no {extension} file in "
                         f"{folder!r}, but the file {sounds[twin][0]!r} has its name: "
                         f"{_same_text_message(name, twin)}. Normalise the table's names "
                         "(unicodedata.normalize('NFC', name)) or rename the file.")
    if unknown:
        raise ValueError(f"stimuli {unknown[:5]}{' ...' if len(unknown) > 5 else ''} of the spike "
                         f"table have no {extension} file in {folder!r} (it holds "
                         f"{sorted(sounds)[:5]}{' ...' if len(sounds) > 5 else ''}); "
                         "name each file after its stimulus.")
    if stimuli is None:
        unused = sorted(set(sounds) - table_stimuli)
        if unused:
            raise ValueError(f"sound files {[sounds[s][0] for s in unused][:5]} in {folder!r} "
                             "have no spike in the table: check the stimulus names, or pass "
                             "stimuli=[...] with the stimuli to read (and n_repeats=, since a "
                             "stimulus without spikes shows no presentation).")
        return sorted(sounds)
    no_file = [s for s in stimuli if s not in sounds]
    if no_file:
        raise ValueError(f"stimuli {no_file[:5]} have no {extension} file in {folder!r}.")
    extra = sorted(table_stimuli - set(stimuli))
    if extra:
        raise ValueError(f"the spike table has spikes for stimuli {extra[:5]} that are not in "
                         "stimuli=; leave them out of the table first (table[table.stimulus."
                         "isin(stimuli)]) or list them.")
    return stimuli


def _resolve_neurons(neurons, cols, table, neuron_col):
    """The neurons: those listed (every neuron of the table among them), or the table's."""
    if neurons is not None:
        unknown_neurons = sorted(set(neuron_col) - set(neurons))
        if unknown_neurons:
            raise ValueError(f"the spike table has neurons {unknown_neurons[:5]} that are not in "
                             "neurons=; list them or leave their rows out.")
        return neurons
    if cols["neuron"] is None:
        return ["0"]
    neurons = _sorted_labels(table[cols["neuron"]]) if len(table) else []
    if not neurons:
        raise ValueError("the spike table is empty: pass neurons=[...] (and stimuli=, "
                         "n_repeats=) to make trials without spikes.")
    return neurons


def _repeat_slots(spikes, stimuli, neurons, n_repeats):
    """Each spike's stimulus, neuron and repeat slot (its repeat number packed into slots
    0 .. n - 1 of its stimulus), and the presentations of every stimulus."""
    stim_index = {s: i for i, s in enumerate(stimuli)}
    neuron_index = {n: i for i, n in enumerate(neurons)}
    s_idx = np.array([stim_index[s] for s in spikes.stimulus], dtype=np.int64)
    n_idx = np.array([neuron_index[n] for n in spikes.neuron], dtype=np.int64)
    # rank of each row's repeat number among its stimulus' distinct numbers
    slot = (pd.Series(spikes.repeat).groupby(s_idx).rank(method="dense").to_numpy(np.int64) - 1
            if len(s_idx) else np.zeros(0, np.int64))
    seen = np.zeros(len(stimuli), dtype=np.int64)  # distinct repeat numbers per stimulus
    np.maximum.at(seen, s_idx, slot + 1)
    if n_repeats is None:
        counts = seen
        empty = [stimuli[i] for i in np.flatnonzero(counts == 0)]
        if empty:
            raise ValueError(f"stimuli {empty[:5]} have no spike in the table, so their number of "
                             "presentations is unknown: pass n_repeats= (an int, or a dict by "
                             "stimulus).")
    else:
        counts = np.array(_per_stimulus(n_repeats, stimuli, "n_repeats", _check_repeat_count))
        over = np.flatnonzero(seen > counts)
        if over.size:
            i = over[0]
            raise ValueError(f"stimulus {stimuli[i]!r} has {seen[i]} distinct repeat numbers in the "
                             f"spike table, more than n_repeats={counts[i]}.")
    return s_idx, n_idx, slot, counts.astype(np.int64)


def _read_sounds(folder, sounds, stimuli, audio_fs, channel, scale, max_duration_s, level_db_spl):
    """Every stimulus' waveform at ``audio_fs`` (set to its level), duration and source rate."""
    levels = None if level_db_spl is None else \
        _per_stimulus(level_db_spl, stimuli, "level_db_spl", _check_level)
    waves, durations, source_fs = [], [], []
    for i, name in enumerate(stimuli):
        x, duration, fs = _read_sound(folder, *sounds[name], audio_fs, channel, scale,
                                      max_duration_s)
        if levels is not None:
            if not np.any(x):
                raise ValueError(f"{sounds[name][0]!r} in {folder!r} is silent (all zeros): it has "
                                 f"no level to set to level_db_spl={levels[i]!r}.")
            x = set_level(x, levels[i])
        waves.append(x)
        durations.append(duration)
        source_fs.append(fs)
    return SimpleNamespace(waves=waves, durations=durations, source_fs=source_fs)


def _trial_grid(waves, stimuli, timebase, pre_s, post_s, counts, n_neurons):
    """The trials' bins: ``pre_bins`` of silence, each sound and ``post_s``, padded to one length
    (``n_bins``; ``real_bins`` each), and the padded waveforms ``X``."""
    spb = timebase.samples_per_bin
    dt_s = spb / timebase.audio_fs  # the bin width on the audio grid
    pre_bins = int(round(pre_s / dt_s))
    pre_samples = pre_bins * spb
    post_samples = int(round(post_s * timebase.audio_fs))
    real_bins = np.array([(pre_samples + len(x) + post_samples) // spb for x in waves], np.int64)
    short = [stimuli[i] for i in np.flatnonzero(real_bins == 0)]
    if short:
        raise ValueError(f"stimuli {short[:5]} are shorter than one bin ({timebase.dt_ms:g} ms).")
    n_bins = int(max(-(-(pre_samples + len(x) + post_samples) // spb) for x in waves))
    n_trials, n_rep = len(stimuli), int(counts.max())
    n_bytes = 4 * n_trials * n_rep * n_neurons * n_bins + 4 * n_trials * n_bins * spb
    if n_bytes > MAX_BYTES:
        raise ValueError(f"the trials would take {n_bytes / 2**30:.1f} GiB ({n_trials} stimuli, "
                         f"{n_rep} repeats, {n_neurons} neurons, {n_bins} bins), more than "
                         f"{MAX_BYTES / 2**30:.0f} GiB: read fewer stimuli or neurons at a time, or "
                         "use sk_icnet.Recording for long recordings.")
    X = np.zeros((n_trials, n_bins * spb), dtype=np.float32)
    for i, x in enumerate(waves):
        X[i, pre_samples: pre_samples + len(x)] = x
    return SimpleNamespace(X=X, dt_s=dt_s, pre_bins=pre_bins, post_samples=post_samples,
                           real_bins=real_bins, n_bins=n_bins)


def _bin_trial_spikes(times, s_idx, n_idx, slot, grid, counts, n_neurons, timebase):
    """Counts of every repeat (``y_repeats``), their mean (``y``), the mask of real bins, and
    which spikes fell before or after their trial."""
    n_trials, n_rep, n_bins, real_bins = len(counts), int(counts.max()), grid.n_bins, grid.real_bins
    # bin of each spike on the audio grid; a spike on a bin edge (times in whole ms, say) is in
    # the bin that starts there, whatever the rounding of t * audio_fs / spb
    position = (times * (timebase.audio_fs / timebase.samples_per_bin) + grid.pre_bins
                + _EDGE_TOLERANCE)  # in bins from the start
    before = position < 0
    after = ~before & (position >= real_bins[s_idx])
    keep = ~(before | after)
    k = np.floor(position[keep]).astype(np.int64)
    y_repeats = np.zeros((n_trials, n_rep, n_neurons, n_bins), dtype=np.float32)
    np.add.at(y_repeats, (s_idx[keep], slot[keep], n_idx[keep], k), 1.0)
    mask = np.arange(n_bins)[None, :] < real_bins[:, None]
    y = np.empty((n_trials, n_neurons, n_bins), dtype=np.float32)
    for i in range(n_trials):  # padding and missing repeats are NaN; y averages the real ones
        y_repeats[i, counts[i]:] = np.nan
        y_repeats[i, :, :, real_bins[i]:] = np.nan
        y[i] = y_repeats[i, : counts[i]].mean(axis=0)
    return y_repeats, y, mask, before, after


def _report_dropped(stimuli, s_idx, before, after, times, time_unit, durations, grid):
    """The spikes dropped per stimulus (a table); refuses a table whose spikes all fell
    outside their trials, and warns when some did."""
    n_trials, n_rows = len(stimuli), len(times)
    dropped = pd.DataFrame({
        "stimulus": stimuli,
        "before": np.bincount(s_idx[before], minlength=n_trials),
        "after": np.bincount(s_idx[after], minlength=n_trials),
    })
    n_before, n_after = int(before.sum()), int(after.sum())
    if n_rows and n_before + n_after == n_rows:
        raise ValueError(f"none of the {n_rows} spikes falls inside its trial ({n_before} before "
                         f"the start, {n_after} after the end): check time_unit={time_unit!r} "
                         "(times are from each stimulus onset) and the stimulus names.")
    _refuse_most_outside_every_trial(times, before, time_unit, grid)
    if n_before or n_after:
        hint = ""
        if time_unit == "s" and n_after > 0.5 * n_rows and np.nanmax(times) > 10 * max(durations):
            hint = " Most times lie far past the sounds' ends: are they in ms (time_unit='ms')?"
        pre_bins = grid.pre_bins
        warnings.warn(
            f"{n_before + n_after} of {n_rows} spikes ({100 * (n_before + n_after) / n_rows:.1f} %) "
            f"fall outside their trials and were dropped: {n_before} before the onset"
            f"{f' - pre_s ({pre_bins * grid.dt_s:g} s)' if pre_bins else ''}, {n_after} after the "
            f"last whole bin of the sound{' + post_s' if grid.post_samples else ''}. Per stimulus: "
            f"the result's .dropped; include them with pre_s=/post_s=.{hint}",
            UserWarning, stacklevel=3)
    return dropped


def _refuse_most_outside_every_trial(times, before, time_unit, grid):
    """Refuse a table most of whose spikes fall before the onset or past the end of the longest
    trial: times in another unit than ``time_unit`` (ms read as s), not a few stray spikes."""
    n_rows = len(times)
    longest_s = (int(grid.real_bins.max()) - grid.pre_bins) * grid.dt_s
    past = ~before & (times >= longest_s)
    n_before, n_past = int(before.sum()), int(past.sum())
    if 2 * (n_before + n_past) <= n_rows:
        return
    if n_past >= n_before:
        hint = (" Are the times in ms? Pass time_unit='ms'." if time_unit == "s" else
                " Check that the times are in ms (time_unit='ms') from each stimulus onset.")
    else:
        hint = " Times are from each stimulus onset: pre_s= includes spikes before it."
    raise ValueError(
        f"{n_before + n_past} of {n_rows} spikes ({100 * (n_before + n_past) / n_rows:.1f} %) fall "
        f"outside every stimulus: {n_before} before the onset, {n_past} past the end of every "
        f"stimulus (the longest trial lasts {longest_s:g} s with time_unit={time_unit!r}). "
        f"Most of the table does not fit these sounds.{hint} If it is right, leave those spikes "
        "out of the table (or widen the trials with pre_s=/post_s=).")


def _sorted_labels(series):
    """The distinct labels of a column as strings, in numeric order when they are numbers."""
    values = pd.unique(series)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = np.sort(values)
        return [str(v) for v in values]
    return sorted(str(v) for v in values)
