"""The STRF baselines' model-file payload: what :func:`sk_icnet.io.save_model` writes for a
fitted ``LinearSTRFRegressor`` or ``PoissonSTRFRegressor`` and how
:func:`sk_icnet.io.load_model` reads it back.

The header holds the allow-listed parameters and the fitted scalars (rates, counts); the
fitted arrays (coefficients, intercepts, lags, band centres) are tensors named ``attr.<name>``.
Reading checks the set of attributes, their types, shapes and dtypes, the rates against the
samples per bin and the parameters, and that the stored lags and band centres are those the
parameters give (``predict`` recomputes the spectrogram from the parameters).
``sk_icnet.strf._estimators`` registers both classes with :func:`register_strf`.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .. import io
from .._core.rules import BOOL, MAX_SIZE, NONE, POSITIVE, either, integer, list_of, one_of, real
from .._core.signal import hz_to_mel, mel_to_hz
from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, RATE_RTOL

__all__ = ["register_strf", "STRF_PARAMS", "STRF_FITTED"]

#: fitted attributes of the STRF baselines, stored as header scalars or as tensors
STRF_FITTED = {
    "LinearSTRFRegressor": ("samples_per_bin_", "dt_ms_", "n_features_in_", "n_neurons_",
                            "y_ndim_", "n_lags_", "lags_ms_", "band_frequencies_hz_",
                            "feature_mean_", "response_mean_", "alpha_", "coef_", "intercept_"),
    "PoissonSTRFRegressor": ("samples_per_bin_", "dt_ms_", "n_features_in_", "n_neurons_",
                             "y_ndim_", "n_lags_", "lags_ms_", "band_frequencies_hz_", "n_iter_",
                             "coef_", "intercept_"),
}

#: fitted attributes of the STRFs stored when the estimator has them (older versions did not)
_STRF_OPTIONAL = ("audio_fs_",)

_STRF_COMMON = {
    "audio_fs": either(POSITIVE, one_of("auto")),
    "dt_ms": either(NONE, POSITIVE, one_of("auto")),
    "n_bands": integer(1, MAX_SIZE),
    "fmin": POSITIVE,
    "fmax": either(NONE, POSITIVE),
    "win_ms": POSITIVE,
    "lags_ms": either(NONE, POSITIVE),
    "n_lags": either(NONE, integer(1, MAX_SIZE)),
}
#: what save_model writes for each STRF, with the type and range of each value
STRF_PARAMS = {
    "LinearSTRFRegressor": {**_STRF_COMMON,
                            "alphas": either(NONE, POSITIVE, list_of(POSITIVE, 1, MAX_SIZE)),
                            "alpha_per_neuron": BOOL, "cv": integer(2), "fit_intercept": BOOL},
    "PoissonSTRFRegressor": {**_STRF_COMMON, "alpha": real(0.0, strict=False),
                             "max_iter": integer(1), "tol": POSITIVE},
}

#: rules for the fitted scalars in the header (every other fitted attribute is a tensor)
_SCALAR_RULES = {"samples_per_bin_": integer(1, MAX_SIZE), "dt_ms_": POSITIVE,
                 "audio_fs_": POSITIVE, "n_features_in_": integer(1, 2 ** 62),
                 "n_neurons_": integer(1, MAX_SIZE), "y_ndim_": integer(1, 3),
                 "n_lags_": integer(1, MAX_SIZE)}
_INT_DTYPES = {"I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64"}


def register_strf(cls):
    """Register a STRF class (by its name in :data:`STRF_FITTED`) for model files."""
    return io.register_model_format(cls, params=STRF_PARAMS[cls.__name__], write=_write_strf,
                                 read=_read_strf)


# ------------------------------------------------------------ writing
def _write_strf(est):
    """``io.ModelPayload`` of a fitted STRF: arrays as ``attr.`` tensors, the rest in the header."""
    check_is_fitted(est, ["coef_"])
    name = type(est).__name__
    params = io.stored_params(est, STRF_PARAMS[name])
    fitted, tensors = {}, {}
    keys = STRF_FITTED[name] + tuple(k for k in _STRF_OPTIONAL if hasattr(est, k))
    for key in keys:
        value = getattr(est, key)
        if isinstance(value, np.ndarray):
            tensors[f"attr.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            fitted[key] = value.item() if isinstance(value, np.generic) else value
    return io.ModelPayload(params, fitted, tensors)


# ------------------------------------------------------------ reading
def _read_strf(cls, file):
    """The fitted STRF a checked model file holds."""
    params = file.params()
    arrays = _check_attributes(cls.__name__, file)
    fitted, source = file.fitted, file.source
    _check_scalars(fitted, source)
    n, n_lags, n_bands = fitted["n_neurons_"], fitted["n_lags_"], params.get("n_bands", 32)
    _check_arrays(arrays, n, n_lags, n_bands, source)
    audio_fs = _check_strf_rates(params, fitted, source)
    window = params.get("win_ms", 20.0) * audio_fs / 1000.0
    if window > MAX_SIZE:
        raise ValueError(f"{source}: win_ms={params.get('win_ms')!r} is a window of {window:.4g} "
                         f"samples, more than {MAX_SIZE}.")
    est = cls(**params)
    try:
        lags = est._n_lags(fitted["dt_ms_"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from None
    if lags != n_lags:
        raise ValueError(f"{source}: its parameters give {lags} lags (n_lags={est.n_lags!r}, "
                         f"lags_ms={est.lags_ms!r}), but n_lags_={n_lags}.")
    for key, value in fitted.items():
        setattr(est, key, value)
    for key, value in file.tensors().items():
        array = value.numpy()
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"{source}: {key[len('attr.'):]} holds NaN or infinite values.")
        setattr(est, key[len("attr."):], array)
    if not np.allclose(est.lags_ms_, np.arange(n_lags) * est.dt_ms_, rtol=RATE_RTOL, atol=1e-12):
        raise ValueError(f"{source}: lags_ms_ are not the multiples of dt_ms_={est.dt_ms_!r} that "
                         "the STRF uses.")
    _check_strf_bands(est, audio_fs, source)
    return est


def _check_attributes(name, file):
    """The stored attributes must be exactly the fitted ones of ``name``, each stored once;
    returns the tensors' layout by attribute name."""
    where, layout = file.where, file.layout
    if any(not key.startswith("attr.") for key in layout):
        raise ValueError(f"the model file {where!r} has tensors other than fitted attributes: "
                         f"{sorted(k for k in layout if not k.startswith('attr.'))}.")
    arrays = {key[len("attr."):]: spec for key, spec in layout.items()}
    allowed, fitted_keys = STRF_FITTED[name], set(file.fitted)
    stored = fitted_keys | set(arrays)
    unknown = sorted(stored - set(allowed) - set(_STRF_OPTIONAL))
    missing = sorted(set(allowed) - stored)
    twice = sorted(fitted_keys & set(arrays))
    if unknown or missing or twice:
        raise ValueError(f"the model file {where!r} does not hold a fitted {name}: unknown "
                         f"attributes {unknown}, missing {missing}, stored twice {twice}.")
    return arrays


def _check_scalars(fitted, source):
    for key, value in fitted.items():
        rule, description = _SCALAR_RULES.get(key, (lambda v: False,
                                                    "an array (stored as a tensor)"))
        if not rule(value):
            raise ValueError(f"{source}: {key} must be {description}; received {value!r}.")


def _check_arrays(arrays, n, n_lags, n_bands, source):
    """Each stored array's shape follows from the neuron, lag and band counts; all are floating
    point but the Poisson STRF's iteration counts."""
    shapes = {"coef_": (n, n_bands, n_lags), "intercept_": (n,), "lags_ms_": (n_lags,),
              "band_frequencies_hz_": (n_bands,), "feature_mean_": (n_bands,),
              "response_mean_": (n,), "alpha_": (n,), "n_iter_": (n,)}
    for key, (shape, dtype) in arrays.items():
        if shape != shapes[key]:
            raise ValueError(f"{source}: {key} has shape {shape}, but n_neurons_={n},"
                             f" n_bands={n_bands} and n_lags_={n_lags} need {shapes[key]}.")
        kinds = _INT_DTYPES if key == "n_iter_" else io._FLOAT_DTYPES
        if dtype not in kinds:
            raise ValueError(f"{source}: {key} has dtype {dtype}; expected one of "
                             f"{sorted(kinds)}.")


def _check_strf_rates(params, fitted, source):
    """The fitted rates must give the samples per bin and agree with the parameters; returns
    the audio rate (files of older versions record none: the parameter's, or the paper's)."""
    param_fs = params.get("audio_fs", PAPER_AUDIO_FS)
    audio_fs = fitted.get("audio_fs_", PAPER_AUDIO_FS if param_fs == "auto" else param_fs)
    fitted = {**fitted, "audio_fs_": audio_fs}
    params = {"audio_fs": PAPER_AUDIO_FS, "dt_ms": PAPER_DT_MS, **params}
    io.check_params_agree_with_fitted(params, fitted, source, ("audio_fs",))
    io.check_fitted_rates(fitted, source)
    io.check_params_agree_with_fitted(params, fitted, source, ("dt_ms",))
    return audio_fs


def _check_strf_bands(est, audio_fs, source):
    """The stored band centres must be those the parameters give (the spectrogram of ``predict``
    is recomputed from the parameters)."""
    fmax = est.fmax if est.fmax is not None else audio_fs / 2.0
    if not est.fmin < fmax <= audio_fs / 2.0:
        raise ValueError(f"{source}: fmin={est.fmin!r} < fmax={fmax!r} <= audio_fs / 2 = "
                         f"{audio_fs / 2.0!r} does not hold.")
    n_bands = est.band_frequencies_hz_.shape[0]
    centres = mel_to_hz(np.linspace(hz_to_mel(est.fmin), hz_to_mel(fmax), n_bands + 2))[1:-1]
    if not np.allclose(centres, est.band_frequencies_hz_, rtol=1e-6):
        raise ValueError(f"{source}: band_frequencies_hz_ are not the mel bands that fmin="
                         f"{est.fmin!r}, fmax={fmax!r} and n_bands={n_bands} give.")
