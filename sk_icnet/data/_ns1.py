"""NS1: ferret primary auditory cortex, 20 natural sound clips x 20 repeats
(Harper et al. 2016; Rahman et al. 2019), from OSF project ayw2p.

The layout read here, and where each fact comes from (see the user guide,
``public_datasets.md``, for the full list):

- ``MetadataSHEnCneurons.mat`` (MATLAB v5): a 1 x 119 struct array ``neuron`` with fields
  ``path`` (the neuron's file under ``spikesandwav/``), ``depth``, ``NoiseRatio``,
  ``singleT`` (``'Yes'``/``'Maybe'``/``'No'``), ``singleN``, ``NrOfElectrodes``,
  ``ElectrodeNumber``.
- ``spikesandwav/<path>`` (MATLAB v5), one per neuron: ``data.set`` is a 1 x 32 struct
  array, one element per stimulus, with ``repeats`` (1 x n_repeats struct array; field ``t``:
  that repeat's spike times in ms from the stimulus onset) and ``stim_params``
  (``Source``, ``Set``, ``Token``, ``StimID``, ``NominalLevel``, ``Level``, ...). The first
  20 are the natural clips (20 repeats), the last 12 dynamic random chords (5 repeats).
- ``spikesandwav/SH.En.C/source.<Source>.sound.0.snr.0.token.<Token>.fw.<Set>.frozen.<StimID>``:
  the natural clips, mono float32 WAV files at 48,828 Hz (header), 5.0 s, in pascals
  (``20 log10(rms / 20 uPa)`` equals ``NominalLevel``). The release has no waveforms of the
  dynamic random chords, so they are left out.
- The published split (deepSTRF's, the leaderboard's): natural clips 0-13 train, 14-16
  validation, 17-19 test, in the order of ``data.set``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings

import numpy as np
import pandas as pd

from .._core.files import rename_noreplace
from .._core.validation import _describe
from ..audio import P_REF
from ._download import download_file, extract_zip, get_data_home, osf_file_info
from ._public import BenchmarkTrials, bin_repeats, read_mat, read_wav

__all__ = ["load_ns1", "fetch_ns1", "NS1_SPLIT", "NS1_OSF_FILES"]

#: the published split of the 20 natural clips (deepSTRF's NS1 benchmark)
NS1_SPLIT = {"train": tuple(range(14)), "validation": (14, 15, 16), "test": (17, 18, 19)}
#: OSF file ids of the release (https://osf.io/ayw2p/), as deepSTRF's loader lists them
NS1_OSF_FILES = {"MetadataSHEnCneurons.mat": "gdwyd", "spikesandwav.zip": "5nxga",
                 "ReadMe.rtf": "f3rtm"}
METADATA = "MetadataSHEnCneurons.mat"
SOUND_DIR = os.path.join("spikesandwav", "SH.En.C")
N_NATURAL = 20
_SOURCE = ("NS1 (Harper et al. 2016; Rahman et al. 2019), OSF project ayw2p, "
           "https://osf.io/ayw2p/")
_SOUND_NAME = re.compile(r"^source\.(\d+)\.sound\.\d+\.snr\.\d+\.token\.(\d+)\.fw\.(\d+)"
                         r"\.frozen\.(\d+)$")
#: bounds of the files read (the release's largest: metadata 5 kB, neuron files 1 MB,
#: sounds 1 MB); far above them, far below what a damaged file could make us allocate
MAX_MAT_BYTES = 64 << 20
MAX_MAT_UNPACKED = 256 << 20
MAX_SOUND_BYTES = 64 << 20
#: largest difference (dB) between a clip's level and its NominalLevel before a warning
LEVEL_TOLERANCE_DB = 1.0
_NEURON_FIELDS = {"depth": "depth_um", "NoiseRatio": "noise_ratio", "singleT": "single_t",
                  "singleN": "single_n", "NrOfElectrodes": "n_electrodes",
                  "ElectrodeNumber": "electrode_number"}
_STIM_FIELDS = ("Source", "Set", "Token", "StimID", "NominalLevel", "Level")


def _field(record, name, where):
    names = record.dtype.names or ()
    if name not in names:
        raise ValueError(f"{where} has no field {name!r} (it has {list(names)}); is this the NS1 "
                         "release?")
    return record[name]


def _cell_value(value):
    """The one value of a MATLAB scalar, string or 1 x 1 cell (None when empty)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.ravel()[0]
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return None
        if value.size != 1:
            raise ValueError(f"expected one value, found an array of shape {value.shape}")
        value = value.ravel()[0]
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value


def _struct_array(value, where):
    """The elements of a MATLAB struct array (unwrapping 1 x 1 cells around it)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.ravel()[0]
    if not isinstance(value, np.ndarray) or value.dtype.names is None:
        raise ValueError(f"{where} is not a MATLAB struct array (found {_describe(value)}); is "
                         "this the NS1 release?")
    return value.ravel()


def _read_metadata(folder):
    where = os.path.join(folder, METADATA)
    if not os.path.lexists(where):
        raise ValueError(f"path {folder!r} has no {METADATA}; give the folder that holds it and "
                         "spikesandwav/ (the NS1 release unpacked), or use fetch_ns1(download=True).")
    variables = read_mat(where, "NS1 metadata file", max_bytes=MAX_MAT_BYTES,
                         max_unpacked=MAX_MAT_UNPACKED)
    if "neuron" not in variables:
        raise ValueError(f"{where!r} has no variable 'neuron' (it has "
                         f"{sorted(k for k in variables if not k.startswith('__'))}).")
    rows = []
    for i, rec in enumerate(_struct_array(variables["neuron"], f"{where!r} variable 'neuron'")):
        at = f"{where!r} neuron({i + 1})"
        try:
            path = _cell_value(_field(rec, "path", at))
            row = {"name": None, "path": path}
            for key, column in _NEURON_FIELDS.items():
                row[column] = _cell_value(rec[key]) if key in rec.dtype.names else None
        except ValueError as exc:
            raise ValueError(f"{at}: {exc}") from None
        if not isinstance(path, str) or not path.endswith(".mat") or path.startswith(("/", "\\")) \
                or ".." in re.split(r"[/\\]", path):
            raise ValueError(f"{at}.path is {path!r}; expected a relative path of a .mat file under "
                             "spikesandwav/.")
        row["name"] = path[:-len(".data.mat")] if path.endswith(".data.mat") else path[:-4]
        rows.append(row)
    if not rows:
        raise ValueError(f"{where!r} lists no neuron.")
    table = pd.DataFrame(rows)
    depth = pd.to_numeric(table["depth_um"], errors="coerce")
    table["valid"] = table["single_t"].isin(["Yes", "Maybe"]) & (depth >= 0)
    return table


def _neuron_file(folder, path):
    """The neuron's file; deepSTRF's loader notes that a few files of the OSF release carry a
    ``_1`` suffix that the metadata's path lacks."""
    main = os.path.join(folder, "spikesandwav", path)
    if os.path.lexists(main):
        return main
    fallback = main[:-4] + "_1.mat"
    if os.path.lexists(fallback):
        return fallback
    raise ValueError(f"the NS1 metadata lists neuron file {path!r}, which is not in "
                     f"{os.path.join(folder, 'spikesandwav')!r} (nor with a _1 suffix); is the "
                     "release completely unpacked?")


def _read_neuron(file):
    """``[(stim_params dict, [spike times in ms per repeat]), ...]`` per stimulus of ``data.set``."""
    variables = read_mat(file, "NS1 neuron file", max_bytes=MAX_MAT_BYTES,
                         max_unpacked=MAX_MAT_UNPACKED)
    if "data" not in variables:
        raise ValueError(f"{file!r} has no variable 'data' (it has "
                         f"{sorted(k for k in variables if not k.startswith('__'))}).")
    data = _struct_array(variables["data"], f"{file!r} variable 'data'")
    if data.size != 1:
        raise ValueError(f"{file!r} variable 'data' has {data.size} elements; NS1 has one.")
    sets = _struct_array(_field(data[0], "set", f"{file!r} data"), f"{file!r} data.set")
    stimuli = []
    for j, element in enumerate(sets):
        at = f"{file!r} data.set({j + 1})"
        params = _struct_array(_field(element, "stim_params", at), f"{at}.stim_params")[0]
        repeats = _struct_array(_field(element, "repeats", at), f"{at}.repeats")
        try:
            info = {k: _cell_value(params[k]) if k in params.dtype.names else None
                    for k in _STIM_FIELDS}
        except ValueError as exc:
            raise ValueError(f"{at}.stim_params: {exc}") from None
        for key in ("Source", "Set", "Token", "StimID"):
            if not isinstance(info[key], (int, float)) or info[key] != int(info[key]):
                raise ValueError(f"{at}.stim_params.{key} is {info[key]!r}; expected an integer.")
            info[key] = int(info[key])
        times = []
        for k, rep in enumerate(repeats):
            t = np.asarray(_field(rep, "t", f"{at}.repeats({k + 1})"))
            if t.dtype == object or t.dtype.kind not in "iuf" or (t.ndim == 2 and min(t.shape) > 1):
                raise ValueError(f"{at}.repeats({k + 1}).t is {_describe(t)}; expected a vector "
                                 "of spike times in ms.")
            t = t.astype(np.float64).ravel()
            if not np.isfinite(t).all():
                raise ValueError(f"{at}.repeats({k + 1}).t holds NaN or inf spike times.")
            times.append(t)
        stimuli.append((info, times))
    return stimuli


def _sound_files(folder):
    """``{(Source, Set, Token, StimID): file name}`` of the clips in spikesandwav/SH.En.C."""
    where = os.path.join(folder, SOUND_DIR)
    if not os.path.isdir(where):
        raise ValueError(f"path {folder!r} has no {SOUND_DIR} folder (the natural clips); is the "
                         "release completely unpacked?")
    found = {}
    for name in sorted(os.listdir(where)):
        match = _SOUND_NAME.match(name)
        if match:
            source, token, fw, frozen = (int(g) for g in match.groups())
            found[(source, fw, token, frozen)] = name
    return found


def _select_neurons(table, neurons):
    if isinstance(neurons, str):
        if neurons == "all":
            return table.index.to_numpy()
        if neurons == "valid":
            return table.index[table["valid"]].to_numpy()
        raise ValueError(f"neurons must be 'all', 'valid' or a list of neuron names; received "
                         f"{neurons!r}.")
    if not hasattr(neurons, "__iter__"):
        raise TypeError(f"neurons must be 'all', 'valid' or a list of neuron names; received "
                        f"{_describe(neurons)}.")
    names = [str(n) for n in neurons]
    index = {name: i for i, name in enumerate(table["name"])}
    unknown = [n for n in names if n not in index]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"neurons must list distinct names of the metadata's neurons (e.g. "
                         f"{table['name'].iloc[0]!r}); unknown {unknown[:5]}, received "
                         f"{len(names)} names.")
    return np.array([index[n] for n in names])


def _unpack_spikes(folder):
    """Unpack spikesandwav.zip into ``folder/spikesandwav`` (a staging folder, then a rename)."""
    staging = tempfile.mkdtemp(dir=folder, prefix=".unzip-")
    try:
        unpacked = extract_zip(os.path.join(folder, "spikesandwav.zip"),
                               os.path.join(staging, "zip"))
        inner = os.path.join(unpacked, "spikesandwav")
        if not os.path.isdir(inner):
            raise ValueError(f"spikesandwav.zip holds {sorted(os.listdir(unpacked))[:5]}, not a "
                             "spikesandwav/ folder; the release changed.")
        rename_noreplace(inner, os.path.join(folder, "spikesandwav"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_ns1(path, *, dt_ms=5.0, audio_fs=24000.0, neurons="all"):
    """Read the NS1 release (ferret A1, natural sounds) into trials with its published split.

    Parameters
    ----------
    path : str or path-like
        The release unpacked: the folder holding ``MetadataSHEnCneurons.mat`` and
        ``spikesandwav/`` (with ``spikesandwav/SH.En.C/``, the clips).
    dt_ms : float, default=5.0
        Bin width in ms (the leaderboard's is 5 ms).
    audio_fs : float, default=24000.0
        Rate the clips are resampled to (they are 48,828 Hz); ``audio_fs * dt_ms / 1000``
        must be a whole number. 24 kHz is the rate nearest ICNet's 24,414.0625 Hz with
        5 ms bins of whole samples (120).
    neurons : {"all", "valid"} or list of str, default="all"
        ``"all"``: the 119 units (the leaderboard's population); ``"valid"``: the 73 that
        ``singleT`` marks ``'Yes'``/``'Maybe'`` at ``depth >= 0`` (Harper et al.'s and
        deepSTRF's selection); or names from ``neurons.name``.

    Returns
    -------
    BenchmarkTrials
        The 20 natural clips in the files' order, one trial each (``X`` in pascals, as the
        WAV files hold them; ``y_repeats`` with the 20 repeats; each clip's whole bins,
        about 5 s), with:

        - ``neurons``: ``name`` (the file path without ``.data.mat``), ``path``,
          ``depth_um``, ``noise_ratio``, ``single_t``, ``single_n``, ``n_electrodes``,
          ``electrode_number``, ``valid``;
        - ``stimuli``: ``name``, ``file``, ``Source``, ``Set``, ``Token``, ``StimID``,
          ``nominal_level_db_spl`` (``NominalLevel``), ``Level``, ``level_db_spl`` (measured
          from the file) and ``split``;
        - ``split``: clips 0-13 ``"train"``, 14-16 ``"validation"``, 17-19 ``"test"``.

        Spikes after a clip's last whole bin (recordings run to 5.2 s) are counted per clip
        in ``dropped``, without a warning.

    Raises
    ------
    ValueError
        Naming the file: a missing or unreadable file, one that is not MATLAB v5 or is
        larger than this dataset's files ever are, a structure other than the documented
        one, neurons whose files list different stimuli, or a folder without the 20 clips.

    Warns
    -----
    UserWarning
        When a clip's level differs from its ``NominalLevel`` by more than 1 dB (the
        calibration then is not the release's).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be the NS1 folder; received {_describe(path)}.")
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise ValueError(f"path {folder!r} is not a folder; give the folder of the NS1 release "
                         f"({METADATA} and spikesandwav/).")
    table = _read_metadata(folder)
    chosen = _select_neurons(table, neurons)
    if not len(chosen):
        raise ValueError("neurons='valid' selects no neuron in this release's metadata.")
    table = table.iloc[chosen].reset_index(drop=True)
    sounds = _sound_files(folder)
    stimuli, natural, per_neuron, files = _read_neuron_files(folder, table["path"], sounds)
    table.insert(2, "file", [os.path.relpath(f, os.path.join(folder, "spikesandwav"))
                             for f in files])
    rows, waves, rates = _read_clips(folder, sounds, [stimuli[j] for j in natural])
    spikes = [[[t / 1000.0 for t in per_neuron[n][i]] for n in range(len(table))]
              for i in range(N_NATURAL)]  # ms to s
    trials = bin_repeats(waves, rates, spikes, list(table["name"]), [r["name"] for r in rows],
                         audio_fs=audio_fs, dt_ms=dt_ms)
    return BenchmarkTrials(**vars(trials), neurons=table, stimuli=pd.DataFrame(rows),
                           split={k: np.array(v) for k, v in NS1_SPLIT.items()},
                           dataset=_SOURCE)


def _stimulus_key(info):
    return tuple(info[k] for k in ("Source", "Set", "Token", "StimID"))


def _read_neuron_files(folder, paths, sounds):
    """Every neuron's file, checked to list the same stimuli with the same repeats.

    Returns the first file's stimulus parameters, the indices of the natural clips (the
    stimuli with a clip in ``SH.En.C``), each neuron's spike times (ms) per natural clip and
    repeat, and the files read.
    """
    reference, per_neuron, files = None, [], []
    for path_in_release in paths:
        file = _neuron_file(folder, path_in_release)
        stimuli = _read_neuron(file)
        layout = [(_stimulus_key(info), len(times)) for info, times in stimuli]
        if reference is None:
            reference = (layout, stimuli)
        elif layout != reference[0]:
            raise ValueError(f"{file!r} lists its stimuli or their repeats differently from "
                             f"{files[0]!r}; every NS1 neuron file lists the same 32 stimuli, in "
                             "the same order, with the same repeats.")
        per_neuron.append(stimuli)
        files.append(file)
    layout, first = reference
    natural = [j for j, (key, _) in enumerate(layout) if key in sounds]
    if len(natural) != N_NATURAL:
        raise ValueError(f"{len(natural)} stimuli of the neuron files have a clip in "
                         f"{os.path.join(folder, SOUND_DIR)!r}; NS1 has {N_NATURAL} natural clips "
                         "(the published split needs all of them).")
    spikes = [[stimuli[j][1] for j in natural] for stimuli in per_neuron]
    return [info for info, _ in first], natural, spikes, files


def _read_clips(folder, sounds, infos):
    """The natural clips (pascals) and their rates, and the stimuli table's rows; warns when
    a clip's level is off its NominalLevel."""
    rows, waves, rates = [], [], []
    for i, info in enumerate(infos):
        name = sounds[_stimulus_key(info)]
        x, fs = read_wav(os.path.join(folder, SOUND_DIR, name), max_bytes=MAX_SOUND_BYTES)
        rms = float(np.sqrt(np.mean(x ** 2)))
        level = 20 * np.log10(rms / P_REF) if rms > 0 else -np.inf
        nominal = info["NominalLevel"]
        if isinstance(nominal, (int, float)) and abs(level - nominal) > LEVEL_TOLERANCE_DB:
            warnings.warn(f"NS1 clip {name!r} is at {level:.1f} dB SPL (read as pascals), but its "
                          f"stim_params give NominalLevel {nominal}: the release's clips are in "
                          "pascals at their NominalLevel; check the file.", UserWarning,
                          stacklevel=3)
        rows.append({"name": f"nat{i:02d}", "file": name,
                     **{k: info[k] for k in ("Source", "Set", "Token", "StimID")},
                     "nominal_level_db_spl": nominal, "Level": info["Level"],
                     "level_db_spl": level,
                     "split": next(part for part, idx in NS1_SPLIT.items() if i in idx)})
        waves.append(x)
        rates.append(fs)
    return rows, waves, rates


def fetch_ns1(data_home=None, *, download=False, dt_ms=5.0, audio_fs=24000.0, neurons="all",
              progress=True, osf_api_url=None):
    """Read NS1 from the cache folder, downloading it from OSF first if asked.

    Parameters
    ----------
    data_home : str or path-like, optional
        The cache folder (default ``$SK_ICNET_DATA`` or ``~/sk_icnet_data``); NS1 lives in
        its ``NS1/`` sub-folder.
    download : bool, default=False
        Download what is missing from OSF (no account needed; about 155 MB). Each file's
        size and md5/sha256 come from OSF's API at download time and are checked; a
        broken-off download resumes where it stopped.
    dt_ms, audio_fs, neurons
        As :func:`load_ns1`.
    progress : bool, default=True
        Show a progress bar per file.
    osf_api_url : str, optional
        Root of OSF's API (default ``https://api.osf.io/v2``; the tests use a local server).

    Returns
    -------
    BenchmarkTrials
        As :func:`load_ns1`.
    """
    folder = os.path.join(get_data_home(data_home), "NS1")
    complete = os.path.isfile(os.path.join(folder, METADATA)) and \
        os.path.isdir(os.path.join(folder, "spikesandwav"))
    if not complete:
        if not download:
            raise FileNotFoundError(
                f"NS1 is not in {folder!r}. Pass download=True to download it from OSF "
                "(https://osf.io/ayw2p/, about 155 MB, no account), or put the release there "
                f"({METADATA} and the unpacked spikesandwav/).")
        os.makedirs(folder, exist_ok=True)
        for name, guid in NS1_OSF_FILES.items():
            info = osf_file_info(guid, api_url=osf_api_url)
            if info["name"] != name:
                raise ValueError(f"OSF file {guid} is named {info['name']!r}, not {name!r}: the NS1 "
                                 "release changed; download it by hand (see the user guide).")
            download_file(info["url"], os.path.join(folder, name), size=info["size"],
                          md5=info["md5"], sha256=info["sha256"], progress=progress)
        if not os.path.isdir(os.path.join(folder, "spikesandwav")):
            _unpack_spikes(folder)
    return load_ns1(folder, dt_ms=dt_ms, audio_fs=audio_fs, neurons=neurons)
