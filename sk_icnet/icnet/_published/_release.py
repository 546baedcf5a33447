"""The release's other files: ``config.yaml`` (read with ``yaml.safe_load``) and ``channel_CFs.mat``."""

from __future__ import annotations

import math
import os

import numpy as np

from ._hdf5 import MAX_MAT_BYTES, MAX_YAML_BYTES, _dataset, _require


def _read_yaml(path):
    yaml = _require("yaml", "reading config.yaml")
    where = f"the config file {os.fspath(path)!r}"
    size = os.path.getsize(path)
    if size > MAX_YAML_BYTES:
        raise ValueError(f"{where} has {size:,} bytes, more than a config file's {MAX_YAML_BYTES:,}.")
    with open(path, encoding="utf-8") as fh:
        try:
            config = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"{where} is not valid YAML (read with yaml.safe_load: no tags, no "
                             f"objects; {str(exc)[:200]}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a mapping of keys to values; received "
                         f"{type(config).__name__}.")
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
                         f"{'>= 0' if key == 'context_size' else '> 0'}; received {value!r}.")
    return value


def _read_cfs(path, n_units):
    """The CF of every unit (Hz; inf: unreliable), decoder-major, checked before it is read."""
    where = f"the CF file {os.fspath(path)!r}"
    size = os.path.getsize(path)
    if size > MAX_MAT_BYTES:
        raise ValueError(f"{where} has {size:,} bytes, more than {MAX_MAT_BYTES:,} for "
                         f"{n_units} CFs.")
    h5py = _require("h5py", "reading a MATLAB v7.3 CF file")
    if h5py.is_hdf5(path):  # MATLAB v7.3: an HDF5 file (after a 512-byte MATLAB header)
        with h5py.File(path, "r") as f:
            ds = _dataset(f, "channel_CFs", where, None)
            if ds is None:
                raise ValueError(f"{where} holds no numeric variable 'channel_CFs'.")
            shape = tuple(ds.shape)
            if math.prod(shape) != n_units or max(shape) != n_units:
                raise ValueError(f"{where}: channel_CFs has shape {shape}, but the model has "
                                 f"{n_units} units (decoders x units per decoder).")
            cfs = np.asarray(ds[()], dtype=np.float64).reshape(-1)
    else:
        from scipy.io import loadmat, whosmat

        try:
            listing = {name: (shape, kind) for name, shape, kind in whosmat(path)}
        except Exception as exc:  # scipy raises several types for a damaged file
            raise ValueError(f"{where} is not a readable MATLAB file ({type(exc).__name__}: "
                             f"{str(exc)[:200]}).") from None
        if "channel_CFs" not in listing:
            raise ValueError(f"{where} holds no variable 'channel_CFs' (it holds "
                             f"{sorted(listing)}).")
        shape, kind = listing["channel_CFs"]
        if kind != "double" and kind not in ("single", "int32", "uint32", "int16", "uint16"):
            raise ValueError(f"{where}: channel_CFs is a MATLAB {kind}, not a numeric array.")
        if math.prod(shape) != n_units or max(shape) != n_units:
            raise ValueError(f"{where}: channel_CFs has shape {tuple(shape)} ({math.prod(shape)} "
                             f"CFs), but the model has {n_units} units (decoders x units per "
                             "decoder).")
        cfs = np.asarray(loadmat(path, variable_names=["channel_CFs"])["channel_CFs"],
                         dtype=np.float64).reshape(-1)
    bad = np.isnan(cfs) | (cfs <= 0)
    if bad.any():
        raise ValueError(f"{where}: CFs must be > 0 Hz (inf for unreliable units); unit "
                         f"{int(np.flatnonzero(bad)[0])} has {cfs[bad][0]!r}.")
    return cfs
