"""File formats: trained models as single safetensors files, recordings as NWB files.

A model file is one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the weights (ICNet) or fitted arrays (STRFs) as tensors, and in its
header a JSON record of everything needed to predict: the estimator class, its
parameters, the fitted attributes (rates, neuron and recording counts and
names), the format version and the sk_icnet version that wrote it. Reading one
runs no pickle, needs no data and no GPU:

>>> est.save_model("gerbil_icnet.safetensors")                           # doctest: +SKIP
>>> est = ICNetRegressor.load_model("gerbil_icnet.safetensors")          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

import numpy as np
import torch

from ._validation import check_fitted_metadata

__all__ = ["save_model", "load_model", "read_nwb", "write_nwb", "atomic_path", "MODEL_FORMAT",
           "MODEL_FORMAT_VERSION"]

MODEL_FORMAT = "sk_icnet.model"
MODEL_FORMAT_VERSION = 1

#: estimator parameters never stored: training-only objects, or meaningless elsewhere
_NOT_STORED = {"module", "criterion", "optimizer", "callbacks", "checkpoint_dir", "device",
               "train_split", "dataset", "iterator_train", "iterator_valid", "torch_load_kwargs"}

#: fitted attributes of the STRF baselines: name -> "array" or "scalar"
_STRF_FITTED = {
    "LinearSTRFRegressor": ("samples_per_bin_", "dt_ms_", "n_features_in_", "n_neurons_",
                            "y_ndim_", "n_lags_", "lags_ms_", "band_frequencies_hz_",
                            "feature_mean_", "response_mean_", "alpha_", "coef_", "intercept_"),
    "PoissonSTRFRegressor": ("samples_per_bin_", "dt_ms_", "n_features_in_", "n_neurons_",
                             "y_ndim_", "n_lags_", "lags_ms_", "band_frequencies_hz_", "n_iter_",
                             "coef_", "intercept_"),
}


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """A temporary path in ``path``'s directory to write to: renamed over ``path`` when the
    block succeeds, removed when it fails, so ``path`` is never half-written."""
    path = os.path.abspath(os.fspath(path))
    fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix=suffix, dir=os.path.dirname(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _json_value(value):
    """Whether ``value`` is stored as is (JSON primitives and lists of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_value(v) for v in value)
    return False


def _icnet_payload(est):
    from .estimator import _FITTED_METADATA
    from .losses import CategoricalCountLoss, PoissonLoss
    from .model import ICNet

    if type(est.module_) is not ICNet:  # subclasses may hold state this format does not store
        raise TypeError("save_model stores ICNet modules; this estimator's module_ is "
                        f"{type(est.module_).__name__}: use save_params for other modules.")
    if est.criterion not in (PoissonLoss, CategoricalCountLoss):
        raise TypeError("save_model stores the Poisson and categorical criteria; received "
                        f"criterion={est.criterion!r}.")
    params = {}
    for key, value in est.get_params(deep=False).items():
        if key in _NOT_STORED or key.startswith(("callbacks__", "iterator_", "optimizer__",
                                                 "dataset__", "train_split")):
            continue
        if not _json_value(value):
            raise TypeError(f"save_model cannot store parameter {key}={value!r} (not a number, "
                            "string, bool or list of those).")
        params[key] = value
    fitted = {key: getattr(est, key) for key in _FITTED_METADATA if hasattr(est, key)}
    tensors = {f"module.{k}": v.detach().to("cpu").contiguous()
               for k, v in est.module_.state_dict().items()}
    return params, fitted, tensors


def _strf_payload(est):
    params = est.get_params(deep=False)
    for key, value in params.items():
        if isinstance(value, np.ndarray):
            params[key] = value.tolist()
        elif not _json_value(params[key]):
            raise TypeError(f"save_model cannot store parameter {key}={value!r}.")
    fitted, tensors = {}, {}
    for key in _STRF_FITTED[type(est).__name__]:
        value = getattr(est, key)
        if isinstance(value, np.ndarray):
            tensors[f"attr.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            fitted[key] = value.item() if isinstance(value, np.generic) else value
    return params, fitted, tensors


def save_model(est, path):
    """Write a fitted estimator to one safetensors file (see the module docstring).

    The file is written under a temporary name and renamed into place (:func:`atomic_path`).
    """
    from safetensors.torch import save_file
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    name = type(est).__name__
    if name == "ICNetRegressor":
        check_is_fitted(est, ["module_", "samples_per_bin_"])
        params, fitted, tensors = _icnet_payload(est)
    elif name in _STRF_FITTED:
        check_is_fitted(est, ["coef_"])
        params, fitted, tensors = _strf_payload(est)
    else:
        raise TypeError(f"save_model stores ICNetRegressor and the STRF baselines; received {name}.")
    header = {"estimator": name, "params": params, "fitted": fitted}
    metadata = {"format": MODEL_FORMAT, "format_version": str(MODEL_FORMAT_VERSION),
                "sk_icnet_version": __version__, "header": json.dumps(header)}
    with atomic_path(path, ".safetensors") as tmp:
        save_file(tensors, tmp, metadata=metadata)


def _read(path):
    from safetensors import SafetensorError, safe_open

    where = os.fspath(path)
    try:
        with safe_open(where, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"path {where!r} is not a readable sk_icnet model file ({exc}).") from None
    if metadata.get("format") != MODEL_FORMAT:
        raise ValueError(f"path {where!r} is not an sk_icnet model file: its format is "
                         f"{metadata.get('format')!r}, expected {MODEL_FORMAT!r}.")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ValueError(f"path {where!r} has an unreadable format_version "
                         f"{metadata.get('format_version')!r}.") from None
    if version > MODEL_FORMAT_VERSION:
        raise ValueError(f"the model file {where!r} has format_version={version}, newer than this "
                         f"sk_icnet reads ({MODEL_FORMAT_VERSION}); it was written by sk_icnet "
                         f"{metadata.get('sk_icnet_version')}: upgrade sk_icnet.")
    try:
        header = json.loads(metadata["header"])
        assert isinstance(header, dict) and {"estimator", "params", "fitted"} <= set(header)
    except (KeyError, ValueError, AssertionError):
        raise ValueError(f"the model file {where!r} has a damaged header.") from None
    return header, tensors


def _check_params(cls, params, where):
    known = set(cls().get_params(deep=False))
    unknown = sorted(key for key in set(params) - known
                     if not key.startswith(("module__", "criterion__")))
    if unknown:
        raise ValueError(f"the model file {where!r} has unknown {cls.__name__} parameters "
                         f"{unknown}.")


def load_model(path, expected=None, *, device="cpu"):
    """Read a model file written by :func:`save_model`; returns the fitted estimator.

    Parameters
    ----------
    path : str or path-like
    expected : type, optional
        The estimator class the file must hold.
    device : str, default="cpu"
        Where an ICNet is placed (a model fitted on a GPU loads on a CPU).
    """
    from .estimator import _FITTED_METADATA, ICNetRegressor
    from .strf import LinearSTRFRegressor, PoissonSTRFRegressor

    where = os.fspath(path)
    header, tensors = _read(path)
    classes = {c.__name__: c for c in (ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor)}
    name = header["estimator"]
    if name not in classes:
        raise ValueError(f"the model file {where!r} holds an unknown estimator {name!r}.")
    cls = classes[name]
    if expected is not None and cls is not expected:
        raise ValueError(f"the model file {where!r} holds a {name}, not a {expected.__name__}; load "
                         f"it with {name}.load_model.")
    params = header["params"]
    _check_params(cls, params, where)
    if cls is ICNetRegressor:
        fitted = check_fitted_metadata(header["fitted"], _FITTED_METADATA,
                                       f"the model file {where!r}")
        est = cls(**params, device=device)
        est._check_options()
        for key, value in fitted.items():
            setattr(est, key, value)
        est.initialize()
        state = {key[len("module."):]: value for key, value in tensors.items()}
        _check_state(est.module_.state_dict(), state, where)
        est.module_.load_state_dict(state)
        return est
    est = cls(**params)
    allowed = _STRF_FITTED[name]
    stored = set(header["fitted"]) | {key[len("attr."):] for key in tensors}
    unknown, missing = sorted(stored - set(allowed)), sorted(set(allowed) - stored)
    if unknown or missing:
        raise ValueError(f"the model file {where!r} does not hold a fitted {name}: unknown "
                         f"attributes {unknown}, missing {missing}.")
    for key, value in header["fitted"].items():
        setattr(est, key, value)
    for key, value in tensors.items():
        setattr(est, key[len("attr."):], value.numpy())
    if est.coef_.shape != (est.n_neurons_, len(est.band_frequencies_hz_), est.n_lags_):
        raise ValueError(f"the model file {where!r} has coef_ of shape {est.coef_.shape}, which does "
                         f"not match n_neurons_={est.n_neurons_}, {len(est.band_frequencies_hz_)} "
                         f"bands and n_lags_={est.n_lags_}.")
    return est


def _check_state(expected, stored, where):
    unknown = sorted(set(stored) - set(expected))
    missing = sorted(set(expected) - set(stored))
    if unknown or missing:
        raise ValueError(f"the model file {where!r} does not match the network its parameters "
                         f"build: unknown weights {unknown}, missing {missing}.")
    for key, value in expected.items():
        if tuple(stored[key].shape) != tuple(value.shape):
            raise ValueError(f"the model file {where!r}: weight {key} has shape "
                             f"{tuple(stored[key].shape)}, but the network built from its parameters "
                             f"has {tuple(value.shape)}.")


# ------------------------------------------------------------------------ NWB
_PASCAL_UNITS = {"pa", "pascal", "pascals"}


def _require_pynwb():
    try:
        import pynwb
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("read_nwb/write_nwb need pynwb: pip install 'sk_icnet[nwb]'.") from exc
    return pynwb


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


def _sound_from_trials(nwb, where, audio_fs, sound_column, sound_dir, level_column, scale):
    """A continuous waveform at ``audio_fs`` with each trial's sound file at its onset."""
    from .audio import load_audio, set_level

    if nwb.trials is None or sound_column not in nwb.trials.colnames:
        raise ValueError(f"{where!r} has neither a stimulus TimeSeries nor a trials table with a "
                         f"{sound_column!r} column naming the sound file of each trial.")
    trials = nwb.trials.to_dataframe()
    if audio_fs is None:
        raise ValueError("audio_fs is needed to assemble sounds from files (their rates differ).")
    pieces = []
    for i, row in trials.iterrows():
        path = os.path.join(sound_dir, str(row[sound_column]))
        x = load_audio(path, audio_fs, scale=scale)
        if level_column is not None and level_column in trials.columns:
            x = set_level(x, float(row[level_column]))
        start = int(round(float(row["start_time"]) * audio_fs))
        if start < 0:
            raise ValueError(f"trial {i} of {where!r} starts before the session ({row['start_time']}"
                             " s).")
        pieces.append((start, x))
    n = max(start + len(x) for start, x in pieces)
    audio = np.zeros(n, np.float32)
    for start, x in pieces:
        audio[start: start + len(x)] += x
    return audio, 0.0


def read_nwb(path, *, audio_fs=24414.0625, dt_ms=1.31072, stimulus=None, name=None,
             sound_column="sound_file", sound_dir=None, level_column="level_db_spl", scale=1.0):
    """Read one NWB session as a :class:`~sk_icnet.data.Recording`.

    The sound comes from either layout:

    * an acoustic waveform ``TimeSeries`` in the file's stimulus group, in
      pascals (``unit`` "Pa"; its ``conversion`` is applied), at its own rate;
    * a trials table whose ``sound_column`` names the sound file played at each
      trial's ``start_time`` (relative to ``sound_dir``, by default the NWB
      file's folder); the optional ``level_column`` sets each sound's level in
      dB SPL, otherwise ``scale`` (pascals per full-scale unit) calibrates it.

    The waveform is resampled to ``audio_fs``. Spike times come from the Units
    table, relative to the sound's first sample; spikes outside the sound are
    dropped with a warning that counts them. The other Units columns (e.g.
    characteristic frequency, electrode) become the recording's ``neurons``.

    Parameters
    ----------
    path : str or path-like
    audio_fs, dt_ms : float
        The recording's rates (the paper's by default); ``audio_fs=None`` keeps
        the stimulus TimeSeries' rate.
    stimulus : str, optional
        Name of the waveform TimeSeries when the file has several.
    name : str, optional
        The recording's name (default: the file's ``identifier``).

    Returns
    -------
    Recording
    """
    import warnings

    from .audio import resample
    from .data import Recording

    pynwb = _require_pynwb()
    where = os.fspath(path)
    try:
        io = pynwb.NWBHDF5IO(where, mode="r")
        nwb = io.read()
    except Exception as exc:
        raise ValueError(f"path {where!r} is not a readable NWB file ({type(exc).__name__}: {exc})."
                         ) from None
    try:
        sound = _nwb_sound(nwb, stimulus, where)
        if sound is not None:
            if str(sound.unit).lower() not in _PASCAL_UNITS:
                raise ValueError(f"the stimulus {sound.name!r} of {where!r} is in {sound.unit!r}; "
                                 "ICNet needs pascals (unit 'Pa').")
            data = np.asarray(sound.data[:], dtype=np.float64) * float(sound.conversion)
            if data.ndim == 2 and data.shape[1] == 1:
                data = data[:, 0]
            if data.ndim != 1:
                raise ValueError(f"the stimulus {sound.name!r} of {where!r} must be one waveform; "
                                 f"received shape {data.shape}.")
            t0 = float(sound.starting_time or 0.0)
            fs = audio_fs if audio_fs is not None else float(sound.rate)
            audio = resample(data, float(sound.rate), fs).astype(np.float32)
        else:
            audio, t0 = _sound_from_trials(nwb, where, audio_fs, sound_column,
                                           sound_dir or os.path.dirname(os.path.abspath(where)),
                                           level_column, scale)
            fs = audio_fs
        if nwb.units is None or len(nwb.units) == 0:
            raise ValueError(f"{where!r} has no units (spike times) to model.")
        units = nwb.units.to_dataframe()
        from ._validation import samples_per_bin

        n_bins = len(audio) // samples_per_bin(fs, dt_ms)
        duration = n_bins * dt_ms / 1000.0
        trains, dropped = [], 0
        for times in units["spike_times"]:
            rel = np.asarray(times, dtype=np.float64) - t0
            keep = (rel >= 0) & (rel < duration)
            dropped += int((~keep).sum())
            trains.append(rel[keep])
        if dropped:
            warnings.warn(f"{dropped} spike(s) of {where!r} fall outside the sound (0 to "
                          f"{duration:.6g} s from its start) and were dropped.", UserWarning,
                          stacklevel=2)
        columns = [c for c in units.columns if c not in ("spike_times", "obs_intervals")
                   and not c.endswith("_index")]
        neurons = units[columns].reset_index().rename(columns={"id": "unit_id"})
        missing = None
        if "obs_intervals" in units.columns:  # bins whose centre no interval covers
            centres = t0 + (np.arange(n_bins) + 0.5) * dt_ms / 1000.0
            missing = np.ones((len(units), n_bins), bool)
            for i, intervals in enumerate(units["obs_intervals"]):
                for start, stop in np.asarray(intervals, dtype=np.float64).reshape(-1, 2):
                    missing[i, (centres >= start) & (centres < stop)] = False
            missing = missing if missing.any() else None
        return Recording(audio, spike_times=trains, audio_fs=fs, dt_ms=dt_ms,
                         name=name or str(nwb.identifier), start_s=t0, neurons=neurons,
                         missing=missing)
    finally:
        io.close()


def write_nwb(recording, path, *, predictions=None, identifier=None, session_start_time=None,
              overwrite=False):
    """Write a :class:`~sk_icnet.data.Recording` (and optionally predictions) to an NWB file.

    The waveform becomes the stimulus TimeSeries ``"sound"`` (pascals), the
    counts become spike times in the Units table (a bin's spikes at its
    centre: the exact times within a bin are not kept), missing bins become
    each unit's ``obs_intervals``, and the ``neurons`` columns become Units
    columns. ``predictions`` (``(n_neurons, n_bins)`` rates, e.g.
    ``est.predict(recording)``) are stored as the TimeSeries
    ``"predicted_rates"`` in the processing module ``"sk_icnet"``. The file is
    written under a temporary name and renamed into place.
    """
    import datetime

    pynwb = _require_pynwb()
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"path {path!r} exists; pass overwrite=True to replace it.")
    rec = recording
    dt_s = rec.dt_ms / 1000.0
    nwb = pynwb.NWBFile(
        session_description=f"sk_icnet recording {rec.name!r}",
        identifier=identifier or rec.name,
        session_start_time=session_start_time or datetime.datetime.now(datetime.timezone.utc))
    audio = np.asarray(rec.audio[:], dtype=np.float32)
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=audio, unit="Pa", rate=rec.audio_fs,
                                      starting_time=rec.start_s,
                                      description="sound pressure waveform"))
    columns = [c for c in rec.neurons.columns if c != "unit_id"]  # unit_id: the table's ids
    for column in columns:
        nwb.add_unit_column(name=str(column), description=f"neuron metadata: {column}")
    counts = np.asarray(rec.counts[:])
    missing = None if rec.missing is None else np.asarray(rec.missing[:])
    centres = rec.start_s + (np.arange(rec.n_bins) + 0.5) * dt_s
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
    if predictions is not None:
        pred = np.asarray(predictions, dtype=np.float32)
        if pred.shape != (rec.n_neurons, rec.n_bins):
            raise ValueError(f"predictions must have shape (n_neurons, n_bins) = "
                             f"({rec.n_neurons}, {rec.n_bins}); received {pred.shape}.")
        module = nwb.create_processing_module("sk_icnet", "ICNet predictions")
        module.add(pynwb.TimeSeries(name="predicted_rates", data=pred.T, unit="spikes per bin",
                                    rate=1.0 / dt_s, starting_time=rec.start_s,
                                    description="expected spike counts per bin, one column per "
                                                "unit, from sk_icnet"))
    with atomic_path(path, ".nwb") as tmp, pynwb.NWBHDF5IO(tmp, mode="w") as io:
        io.write(nwb)
