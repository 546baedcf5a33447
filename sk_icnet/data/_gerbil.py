"""Gerbil A1 (Happel, Meyer, Ohl, Anemueller; diracproject.org "SRTF dataset"): WAV stimuli
and ``.spikes`` text files, tied together by one mapping file per unit.

The format, as the dataset's page documents it (http://diracproject.org/52019.html):

- one folder per stimulus class (``DMR_Run_01``: dynamic moving ripples,
  ``FMBanks_Run_01``: banks of frequency-modulated tones);
- a mapping file per channel/unit, one line per stimulus: the stimulus file and the
  response file, separated by a semicolon (``Stimuli/DMR_Run_01_01.wav;
  Responses/chan01_unit01/DMR_Run_01_01_chan01_unit01.spikes``);
- stimuli: WAV files, 44,100 Hz, 16 bits;
- a response file: line 1 the AD sampling frequency in Hz, line 2 the number of trials,
  then one line of spike times per trial.

The page does not state the unit of the spike times; its example (``0.08274999...``) reads
as seconds, the default ``time_unit`` here. It publishes no split and no calibration of
the WAV files (give ``scale`` or ``level_db_spl``), and it does not state a licence.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pandas as pd

from .._core.validation import _describe
from ._public import BenchmarkTrials, _read_bounded
from ._trials import load_trials

__all__ = ["load_gerbil_a1"]

#: largest mapping or response file read (the dataset's are a few kB)
MAX_TEXT_BYTES = 64 << 20
#: most trials one response file may declare
MAX_TRIALS = 100_000
_UNIT = re.compile(r"chan(\d+)_unit(\d+)")
_SOURCE = ("Gerbil A1 SRTF dataset (Happel et al. 2008; Meyer et al. 2009), "
           "http://diracproject.org/52019.html")


def _text(path, what):
    data, where = _read_bounded(path, what, MAX_TEXT_BYTES)
    try:
        return data.decode("utf-8"), where
    except UnicodeDecodeError:
        raise ValueError(f"the {what} {where!r} is not text (not UTF-8).") from None


def _inside(base, relative, where, line_no):
    parts = relative.replace("\\", "/").split("/")
    if os.path.isabs(relative) or relative.startswith(("/", "\\")) or ".." in parts or not relative:
        raise ValueError(f"{where!r} line {line_no} names {relative!r}; the mapping's paths are "
                         "relative to its folder and stay inside it.")
    return os.path.join(base, *parts)


def _read_mapping(path):
    """``[(stimulus file, response file), ...]`` of a mapping file."""
    text, where = _text(path, "mapping file")
    base = os.path.dirname(os.path.abspath(where))
    pairs = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(";")]
        if len(fields) != 2 or not all(fields):
            raise ValueError(f"{where!r} line {line_no} is {line!r}; each line of a mapping file "
                             "is '<stimulus file>; <response file>'.")
        pairs.append((_inside(base, fields[0], where, line_no),
                      _inside(base, fields[1], where, line_no)))
    if not pairs:
        raise ValueError(f"the mapping file {where!r} lists no stimulus.")
    return pairs


def _read_spikes(path):
    """``(AD rate in Hz, [spike times per trial])`` of a ``.spikes`` file."""
    text, where = _text(path, "response file")
    lines = text.splitlines()
    if len(lines) < 2:
        raise ValueError(f"the response file {where!r} has {len(lines)} line(s); it starts with "
                         "the AD sampling frequency (line 1) and the number of trials (line 2).")
    try:
        rate = float(lines[0].strip())
        n_trials = float(lines[1].strip())
    except ValueError:
        raise ValueError(f"the response file {where!r} starts with {lines[0][:40]!r} and "
                         f"{lines[1][:40]!r}; expected the AD sampling frequency in Hz and the "
                         "number of trials.") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"the response file {where!r} gives AD sampling frequency {rate!r}; "
                         "expected a rate in Hz > 0.")
    if n_trials != int(n_trials) or not 1 <= n_trials <= MAX_TRIALS:
        raise ValueError(f"the response file {where!r} declares {lines[1].strip()!r} trials; "
                         f"expected a whole number from 1 to {MAX_TRIALS}.")
    n_trials = int(n_trials)
    body = lines[2:]
    if len(body) < n_trials or any(line.strip() for line in body[n_trials:]):
        raise ValueError(f"the response file {where!r} declares {n_trials} trials but holds "
                         f"{sum(1 for line in body if line.strip()) if len(body) > n_trials else len(body)}"
                         " lines of spike times; one line per trial (empty for no spike).")
    trials = []
    for k, line in enumerate(body[:n_trials]):
        try:
            times = np.array([float(v) for v in line.replace(",", " ").split()], dtype=np.float64)
        except ValueError:
            raise ValueError(f"the response file {where!r} line {k + 3} holds {line[:60]!r}; "
                             "expected spike times separated by spaces.") from None
        if not np.isfinite(times).all():
            raise ValueError(f"the response file {where!r} line {k + 3} holds NaN or inf.")
        trials.append(times)
    return rate, trials


def load_gerbil_a1(mappings, *, audio_fs=24414.0625, dt_ms=1.31072, time_unit="s", scale=1.0,
                   level_db_spl=None):
    """Read units of the gerbil A1 SRTF dataset (diracproject.org) into trials.

    Parameters
    ----------
    mappings : str, path-like, or list of them
        Mapping files, one per channel/unit; all list the same stimuli in the same order,
        and the stimuli lie in one folder.
    audio_fs, dt_ms : float
        Rates of the trials (the WAVs are resampled; the spikes binned at ``dt_ms``).
    time_unit : {"s", "ms"}, default="s"
        Unit of the spike times (the dataset's page does not state it; its example reads
        as seconds).
    scale : float, default=1.0
        Pascals per full-scale unit of the WAVs (the dataset gives no calibration).
    level_db_spl : float or dict, optional
        Instead of ``scale``: set each sound to this level (see
        :func:`~sk_icnet.data.load_trials`).

    Returns
    -------
    BenchmarkTrials
        One trial per stimulus in the mappings' order, one neuron per mapping file, the
        repeats as the response files' trials; ``neurons`` has ``name`` (the mapping file's
        name without extension), ``mapping``, ``channel``, ``unit`` (from the responses'
        ``chanNN_unitNN`` folder, when it is there) and ``ad_rate_hz``; ``stimuli`` has
        ``name`` and ``file``. ``split`` is empty: the dataset publishes none.

    Raises
    ------
    ValueError
        Naming the file and line: a mapping line that is not two paths, a path leaving the
        mapping's folder, a response file whose header or trial count is not as documented,
        mappings that list different stimuli, units with different numbers of trials of a
        stimulus, or stimuli in more than one folder.
    """
    if isinstance(mappings, (str, os.PathLike)):
        mappings = [mappings]
    if not hasattr(mappings, "__iter__") or not mappings:
        raise TypeError(f"mappings must be a mapping file or a list of them; received "
                        f"{_describe(mappings)}.")
    mappings = [os.fspath(m) for m in mappings]
    pairs = [_read_mapping(m) for m in mappings]
    stimulus_files = [stim for stim, _ in pairs[0]]
    for m, p in zip(mappings[1:], pairs[1:], strict=True):
        if [stim for stim, _ in p] != stimulus_files:
            raise ValueError(f"the mapping file {m!r} lists other stimuli (or another order) than "
                             f"{mappings[0]!r}; every unit's mapping lists the same stimuli.")
    folders = {os.path.dirname(f) for f in stimulus_files}
    if len(folders) != 1:
        raise ValueError(f"the stimuli lie in {len(folders)} folders ({sorted(folders)[:3]}); the "
                         "dataset keeps a class's stimuli in one Stimuli/ folder.")
    names = [os.path.splitext(os.path.basename(f))[0] for f in stimulus_files]
    extension = os.path.splitext(stimulus_files[0])[1] or ".wav"
    units, rows, counts = [], [], {}
    for m, p in zip(mappings, pairs, strict=True):
        unit = os.path.splitext(os.path.basename(m))[0]
        match = _UNIT.search(p[0][1])
        rates = set()
        for (_, response), name in zip(p, names, strict=True):
            rate, trials = _read_spikes(response)
            rates.add(rate)
            if counts.setdefault(name, len(trials)) != len(trials):
                raise ValueError(f"{response!r} has {len(trials)} trials of {name!r}, another unit "
                                 f"{counts[name]}; the units of a mapping set are recorded "
                                 "together.")
            rows.extend({"stimulus": name, "repeat": k, "neuron": unit, "time": t}
                        for k, times in enumerate(trials) for t in times)
        units.append({"name": unit, "mapping": m,
                      "channel": int(match.group(1)) if match else None,
                      "unit": int(match.group(2)) if match else None,
                      "ad_rate_hz": rates.pop() if len(rates) == 1 else None})
    if len({u["name"] for u in units}) != len(units):
        raise ValueError("two mapping files have the same name; each names one unit.")
    table = pd.DataFrame(rows, columns=["stimulus", "repeat", "neuron", "time"])
    trials = load_trials(folders.pop(), table, audio_fs=audio_fs, dt_ms=dt_ms,
                         time_unit=time_unit, stimuli=names, neurons=[u["name"] for u in units],
                         n_repeats=counts, extension=extension, scale=scale,
                         level_db_spl=level_db_spl)
    return BenchmarkTrials(**vars(trials), neurons=pd.DataFrame(units),
                           stimuli=pd.DataFrame({"name": names, "file": stimulus_files}),
                           split={}, dataset=_SOURCE)
