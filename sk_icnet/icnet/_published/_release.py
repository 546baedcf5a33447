"""The release's other files: ``config.yaml`` (read with ``yaml.safe_load``) and ``channel_CFs.mat``."""

from __future__ import annotations

import math
import os

import numpy as np

from ..._core.files import check_hdf5_links, open_regular, quote
from ._hdf5 import HDF5_SIGNATURE, MAX_MAT_BYTES, MAX_YAML_BYTES, _require

#: the config keys the loader reads as numbers (each must be one YAML number)
CHECKED_KEYS = ("context_size", "fs_audio", "fs_MUA", "ds_factor", "audio_normalisation",
                "time_normalisation", "decoder_channels", "n_decoders", "bottleneck_channels",
                "n_classes")
#: deepest nesting of lists and mappings in config.yaml (the release's is 1 level)
MAX_YAML_DEPTH = 32
#: largest whole number a config key may hold (beyond it, a float cannot tell neighbours apart)
MAX_CONFIG_INT = 2**53
#: MATLAB classes of a numeric CF array (complex ones are refused after reading the header)
_MATLAB_NUMERIC = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                   "int64", "uint64"}


def _check_events(yaml, events, where):
    """Refuse anchors and aliases (an alias bomb expands a small file into gigabytes) and deep
    nesting, from the parser's events: before any value is built."""
    depth = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ValueError(f"{where} uses YAML anchors or aliases ('&name' / '*name'), which a "
                             "config of numbers never needs; they are refused before anything "
                             "is expanded (nested aliases turn a 700-byte file into gigabytes). "
                             "Write each value out.")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise ValueError(f"{where} nests lists or mappings more than {MAX_YAML_DEPTH} "
                                 "levels deep; a config file is a flat mapping of numbers.")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _read_yaml(path):
    yaml = _require("yaml", "reading config.yaml")
    f, name = open_regular(path, "a config file", argument="config", max_bytes=MAX_YAML_BYTES)
    where = f"the config file {name!r}"
    with f:
        data = f.read(MAX_YAML_BYTES + 1)
    try:
        text = data.decode("utf-8")
        _check_events(yaml, yaml.parse(text, Loader=getattr(yaml, "CSafeLoader",
                                                             yaml.SafeLoader)), where)
        config = yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{where} is not valid YAML (read with yaml.safe_load: no tags, no "
                         f"objects; {quote(str(exc))}).") from None
    except ValueError as exc:
        if str(exc).startswith(where):  # refused by _check_events
            raise
        raise ValueError(f"{where} holds a value YAML cannot build ({quote(str(exc))}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a mapping of keys to values; received "
                         f"{type(config).__name__}.")
    for key in CHECKED_KEYS:  # checked before any value is formatted into a message
        value = config.get(key)
        if key not in config:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: {key} must be a number (one YAML scalar, such as 512 or "
                             f"0.04); received {type(value).__name__} {quote(value)}.")
        if isinstance(value, int) and abs(value) > MAX_CONFIG_INT:
            raise ValueError(f"{where}: {key} must be a number of at most 2**53 in magnitude; "
                             f"received int {quote(value)}.")
    return config, where


def _number(config, key, where, integer=False, required=True):
    if key not in config:
        if required:
            raise ValueError(f"{where} lacks {key!r}, which the model needs.")
        return None
    value = config[key]
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and (value >= 0 if key == "context_size" else value > 0)
    if not ok:
        raise ValueError(f"{where}: {key} must be a {'whole' if integer else 'finite'} number "
                         f"{'>= 0' if key == 'context_size' else '> 0'}; received {quote(value)}.")
    return value


def _is_hdf5(f, size):
    """Whether the open file ``f`` is HDF5: the signature at offset 0, 512, 1024, ... (MATLAB
    v7.3 puts a 512-byte header first)."""
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= size:
        f.seek(offset)
        if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            f.seek(0)
            return True
        offset = 512 if offset == 0 else offset * 2
    f.seek(0)
    return False


def _check_cf_shape(shape, n_units, where):
    count = math.prod(shape)
    if count != n_units:
        raise ValueError(f"{where}: channel_CFs has shape {tuple(shape)} ({count} CFs), but the "
                         f"model has {n_units} units (decoders x units per decoder).")
    if max(shape, default=0) != n_units:
        raise ValueError(f"{where}: channel_CFs has shape {tuple(shape)}, a matrix; it must be "
                         f"one row or one column of {n_units} CFs (decoders x units per decoder, "
                         "decoder-major).")


def _cfs_v73(f, n_units, where):
    """channel_CFs of a MATLAB v7.3 (HDF5) file, open as ``f``."""
    h5py = _require("h5py", "reading a MATLAB v7.3 CF file")
    try:
        h5 = h5py.File(f, "r")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where} is not a readable MATLAB v7.3 file ({quote(str(exc))}).") \
            from None
    with h5:
        try:
            check_hdf5_links(h5, where, references=True)  # MATLAB keeps cells as references
            link = h5.get("channel_CFs", getlink=True)
            ds = h5.get("channel_CFs") if isinstance(link, h5py.HardLink) else None
            if not isinstance(ds, h5py.Dataset):
                raise ValueError(f"{where} holds no numeric variable 'channel_CFs'.")
            if ds.dtype.names is not None and set(ds.dtype.names) == {"real", "imag"}:
                raise ValueError(f"{where}: channel_CFs is complex; CFs are real frequencies in "
                                 "Hz.")
            if ds.dtype.kind not in "iuf":
                raise ValueError(f"{where}: channel_CFs has dtype {ds.dtype}, not a numeric "
                                 "array of CFs in Hz.")
            _check_cf_shape(tuple(ds.shape), n_units, where)
            return np.asarray(ds[()], dtype=np.float64).reshape(-1)
        except OSError as exc:
            raise ValueError(f"{where} is not a readable MATLAB v7.3 file ({quote(str(exc))})."
                             ) from None


def _cfs_mat(f, n_units, where):
    """channel_CFs of a MATLAB v5 file, open as ``f``: its header checked, then read."""
    from scipy.io import loadmat, whosmat

    try:
        listing = {name: (shape, kind) for name, shape, kind in whosmat(f)}
    except Exception as exc:  # scipy raises several types for a damaged file
        raise ValueError(f"{where} is not a readable MATLAB file ({type(exc).__name__}: "
                         f"{quote(str(exc))}).") from None
    if "channel_CFs" not in listing:
        raise ValueError(f"{where} holds no variable 'channel_CFs' (it holds "
                         f"{quote(sorted(listing))}).")
    shape, kind = listing["channel_CFs"]
    if kind not in _MATLAB_NUMERIC:
        raise ValueError(f"{where}: channel_CFs is a MATLAB {quote(kind)}, not a numeric array.")
    _check_cf_shape(tuple(shape), n_units, where)
    f.seek(0)
    try:
        cfs = np.asarray(loadmat(f, variable_names=["channel_CFs"])["channel_CFs"])
    except Exception as exc:  # noqa: BLE001 - a damaged file, as above
        raise ValueError(f"{where} is not a readable MATLAB file ({type(exc).__name__}: "
                         f"{quote(str(exc))}).") from None
    if np.iscomplexobj(cfs):
        raise ValueError(f"{where}: channel_CFs is complex; CFs are real frequencies in Hz.")
    if cfs.dtype.kind not in "iuf" or cfs.size != n_units:
        raise ValueError(f"{where}: channel_CFs holds {cfs.dtype} values of shape {cfs.shape}, "
                         f"not {n_units} numeric CFs.")
    return cfs.astype(np.float64).reshape(-1)


def _read_cfs(path, n_units):
    """The CF of every unit (Hz; inf: unreliable), decoder-major, checked before it is read."""
    f, name = open_regular(path, "a CF file", argument="cfs", max_bytes=MAX_MAT_BYTES)
    where = f"the CF file {name!r}"
    with f:
        size = os.fstat(f.fileno()).st_size
        if _is_hdf5(f, size):  # MATLAB v7.3: an HDF5 file (after a 512-byte MATLAB header)
            cfs = _cfs_v73(f, n_units, where)
        else:
            cfs = _cfs_mat(f, n_units, where)
    bad = np.isnan(cfs) | (cfs <= 0)
    if bad.any():
        raise ValueError(f"{where}: CFs must be > 0 Hz (inf for unreliable units); unit "
                         f"{int(np.flatnonzero(bad)[0])} has {cfs[bad][0]!r}.")
    return cfs
