"""What a fitted model computes: receptive fields, optimal sounds and their reliability.

ICNet takes waveforms, so its receptive field cannot be read off a weight
matrix as an STRF's can. This module measures it the way the dynamic STRF of
Keshishian et al. (2020) does: by the model's *local* linear sensitivity. For
every output bin ``t`` and neuron, the gradient of the predicted rate with
respect to the input waveform is taken by automatic differentiation and
expressed in the spectro-temporal space of the STRF baselines (frequency band x
lag), so that ICNet and an STRF can be looked at side by side.

The spectro-temporal space
--------------------------
The front end is the one of :class:`~sk_icnet.strf.LinearSTRFRegressor`
(:func:`~sk_icnet.strf.log_mel_spectrogram`: Hann-windowed STFT with a hop of
one bin, frame ``t`` ending on the last sample of bin ``t``, mel triangles,
natural log of the band power). It is the package's own front end, the one its
STRF baselines and its simulated neurons use, so a receptive field measured here
and an STRF's ``coef_`` are in the same units (change of the rate per bin per
unit of log band power) on the same bands and lags. A gammatone filterbank
would be closer to the cochlea, but would make the two incomparable.

The waveform gradient is projected onto that space as follows. Let
``S[f, t - l]`` be the log-mel spectrogram at band ``f`` and lag ``l`` before
bin ``t``, and ``a[f, l] = dS[f, t - l] / dx`` its sensitivity to the waveform
``x`` (the analysis filter of band ``f``, windowed on frame ``t - l`` and
weighted by the sound's own spectrum there; computed exactly from the STFT).
A model that reads the sound only through ``S`` has the waveform gradient
``g = sum_{f, l} v[f, l] a[f, l]`` with ``v = d rate / dS`` its dSTRF. So the
dSTRF is recovered from ``g`` as the least-squares solution of ``A^T v = g``
over the samples that the lags' frames cover (a small ridge, relative to the
mean diagonal of ``A A^T``, keeps it stable where frames overlap). For a model
that is a function of the spectrogram this is exact; for ICNet, whose gradient
also carries fine structure (phase) that no function of band power has,
``explained`` reports the fraction of the squared gradient (over the whole
input, including what lies beyond the lags) that the projection accounts for.
A projection by the transpose alone (cross-spectrum of gradient and sound)
would smear the map over the window's overlap (20 ms frames, 1.3 ms hops); the
least-squares solution undoes that.

Summaries of the dSTRFs (per neuron, over all bins and trials):

* the *gradient STRF*, their mean;
* their principal components (uncentred: a fixed linear filter gives one
  component) and the fraction of the squared dSTRFs each explains;
* the *nonlinearity index*, one minus that fraction for the first component: 0
  for a model that applies one fixed filter (linear, or linear followed by any
  static nonlinearity, which only rescales it), larger the more the filter's
  shape changes with the stimulus;
* ``gain_cv``, the coefficient of variation of each dSTRF's projection on the
  first component: the gain changes of an LN model, and sign flips (on-off
  responses) give large values.

Also here: :func:`optimal_sound`, gradient ascent (or descent) on a waveform
held at a level and in a band, and :func:`insilico_reliability`, an in-silico
experiment run on several fitted models (folds, seeds) with the spread of each
derived parameter.

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections import namedtuple

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state

from ._core.plotting import pyplot as _pyplot
from ._core.signal import P_REF, ramp_envelope
from ._core.validation import (
    _as_numeric_array,
    _describe,
    check_positive_int,
    check_positive_number,
    check_waveforms,
    check_whole_bins,
)
from .audio import level_db_spl
from .strf import _mel_design

__all__ = ["dynamic_strf", "gradient_strf", "strf_receptive_field", "ReceptiveField", "DynamicSTRF",
           "optimal_sound", "OptimalSound", "insilico_reliability", "plot_strf", "plot_dstrf",
           "plot_optimal_sound"]

#: levels accepted for optimal sounds (dB SPL): below, float32 rounding; above, no neuron
LEVEL_RANGE_DB = (-20.0, 130.0)
#: largest dSTRF array :func:`dynamic_strf` allocates (bytes)
MAX_DSTRF_BYTES = 2 * 1024**3

ReceptiveField = namedtuple("ReceptiveField", ["values", "band_frequencies_hz", "lags_ms", "kind"])
ReceptiveField.__doc__ = """A spectro-temporal receptive field per neuron.

values : ndarray of shape (n_neurons, n_bands, n_lags)
    Change of the rate (expected count per bin) per unit of natural-log band
    power at each band and lag (lag 0 first).
band_frequencies_hz : ndarray of shape (n_bands,)
    Centre of each mel band.
lags_ms : ndarray of shape (n_lags,)
    Lag of each column in ms (lag 0 first).
kind : str
    What it is: ``"gradient STRF"`` or the name of the STRF estimator.
"""

DynamicSTRF = namedtuple("DynamicSTRF", [
    "dstrf", "rates", "bins", "explained", "mean", "components", "explained_variance_ratio",
    "nonlinearity_index", "gain", "gain_cv", "band_frequencies_hz", "lags_ms"])
DynamicSTRF.__doc__ = """Result of :func:`dynamic_strf` (n = neurons, B = bands, L = lags).

dstrf : ndarray of shape (n_trials, n_used_bins, n, B, L)
    The dSTRF of every used output bin.
rates : ndarray of shape (n_trials, n_used_bins, n)
    Predicted rate (expected count per bin) at those bins.
bins : ndarray of shape (n_used_bins,)
    Index of the used output bins in each trial.
explained : ndarray of shape (n_trials, n_used_bins, n)
    Fraction of the squared waveform gradient that the projection explains.
mean : ReceptiveField
    The gradient STRF (mean dSTRF).
components : ndarray of shape (n, n_components, B, L)
    Principal components (uncentred, unit norm, signed to agree with the mean).
explained_variance_ratio : ndarray of shape (n, n_components)
    Share of the squared dSTRFs that each component explains.
nonlinearity_index : ndarray of shape (n,)
    ``1 - explained_variance_ratio[:, 0]``.
gain : ndarray of shape (n_trials, n_used_bins, n)
    Projection of each dSTRF on the first component.
gain_cv : ndarray of shape (n,)
    Standard deviation over mean magnitude of ``gain``.
band_frequencies_hz, lags_ms : ndarray
    The bands' centres (Hz) and the lags (ms).
"""

OptimalSound = namedtuple("OptimalSound", ["sound", "audio_fs", "level_db", "band_hz", "objective",
                                           "response", "initial"])
OptimalSound.__doc__ = """Result of :func:`optimal_sound`.

sound : ndarray of shape (n_samples,), float32
    The optimised stimulus in pascals (ramps applied, at ``level_db``).
audio_fs : float
    Its sampling rate (the model's), Hz.
level_db : float
    Its level, dB SPL.
band_hz : (float, float)
    The pass band it was confined to, Hz.
objective : ndarray of shape (n_steps + 1,)
    Mean predicted rate (spikes/s) of the neuron over the response window at
    each step (the first entry is the initial sound's).
response : ndarray of shape (n_bins,)
    Predicted rate (spikes/s) over the whole trial (silence, then the sound)
    for the optimised sound.
initial : ndarray of shape (n_samples,), float32
    The starting sound after the level, band and ramp constraints.
"""


# -- the model under study ------------------------------------------------------------------------
class _Differentiable:
    """A torch model, its rates and its audio and bin rates."""

    def __init__(self, model, recording=None, time_s=None):
        from .icnet._estimator import ICNetRegressor

        self.convert = None
        if isinstance(model, ICNetRegressor):
            if not hasattr(model, "module_") or not hasattr(model, "samples_per_bin_"):
                raise ValueError("model is an ICNetRegressor that is not fitted: fit it (or load "
                                 "one) before asking for its receptive fields.")
            self.module = model.module_
            self.fs = float(model.audio_fs_)
            self.spb = int(model.samples_per_bin_)
            self.decoder = model._decoder_of(recording)
            self.convert = model._expected_counts
        elif isinstance(model, torch.nn.Module):
            fs, spb = getattr(model, "audio_fs", None), getattr(model, "samples_per_bin", None)
            if not isinstance(fs, numbers.Real) or isinstance(spb, bool) \
                    or not isinstance(spb, numbers.Integral):
                raise ValueError(
                    "model is a torch module without the attributes audio_fs (Hz) and "
                    f"samples_per_bin (int) that say its rates; received audio_fs={fs!r}, "
                    f"samples_per_bin={spb!r} on {type(model).__name__}. Set them, or pass a "
                    "fitted ICNetRegressor.")
            self.module, self.fs, self.spb = model, float(fs), int(spb)
            self.decoder = None if recording is None else recording
        else:
            hint = (" For a fitted STRF, strf_receptive_field(estimator) gives its coefficients "
                    "in the same representation." if hasattr(model, "coef_") else "")
            raise TypeError(
                "model must be differentiable: a fitted ICNetRegressor or a torch.nn.Module "
                f"mapping waveforms to rates; received {type(model).__name__}, which has no "
                f"gradients with respect to its input.{hint}")
        self.time_input = bool(getattr(self.module, "time_input", False))
        if self.time_input and time_s is None:
            raise ValueError("this model has a recording-time input (time_input=True): pass "
                             "time_s, the recording time (s) at which to study it.")
        self.time_s = time_s
        params = list(self.module.parameters())
        self.device = params[0].device if params else torch.device("cpu")
        self.dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32

    def check_rate(self, audio_fs, name="audio_fs"):
        if audio_fs is None:
            return
        fs = check_positive_number(audio_fs, name)
        if abs(fs - self.fs) > 1e-6 * self.fs:
            raise ValueError(
                f"{name}={fs:g} Hz, but the model takes sound at {self.fs:g} Hz: resample it "
                f"first (sk_icnet.audio.resample(x, {fs:g}, {self.fs:g})).")

    def rates(self, x):
        """Rates ``(B, N, n_bins)`` (expected counts per bin) of waveforms ``x`` (B, T), with grad."""
        kwargs = {}
        if self.decoder is not None:
            kwargs["recording"] = self.decoder
        if self.time_input:
            kwargs["time_s"] = self.time_s
        out = self.module(x, **kwargs)
        if self.convert is not None:
            out = self.convert(out)
        if out.dim() == 2:
            out = out[:, None, :]
        n_bins = x.shape[-1] // self.spb
        if out.dim() != 3 or out.shape[0] != x.shape[0] or out.shape[2] != n_bins:
            raise ValueError(
                f"model must return rates of shape (batch, n_neurons, n_bins) = ({x.shape[0]}, N, "
                f"{n_bins}) for waveforms of shape {tuple(x.shape)}; received "
                f"{tuple(out.shape)}.")
        if x.requires_grad and not out.requires_grad:
            raise TypeError("the model's output does not depend differentiably on its input (no "
                            "gradient flows back to the waveform): it may detach, round or "
                            "compute outside torch.")
        return out

    def __enter__(self):
        self._was_training = self.module.training
        self.module.eval()
        self._grad = [p.requires_grad for p in self.module.parameters()]
        for p in self.module.parameters():
            p.requires_grad_(False)
        return self

    def __exit__(self, *exc):
        self.module.train(self._was_training)
        for p, flag in zip(self.module.parameters(), self._grad, strict=True):
            p.requires_grad_(flag)
        return False


def _check_neurons(neurons, n_neurons):
    if neurons is None:
        return np.arange(n_neurons)
    arr = np.atleast_1d(np.asarray(neurons))
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu" \
            or np.any(arr < 0) or np.any(arr >= n_neurons):
        raise ValueError(f"neurons must be neuron indices in [0, {n_neurons}); received "
                         f"{neurons!r}.")
    return arr.astype(int)


# -- front end -----------------------------------------------------------------------------------
class _FrontEnd:
    """The log-mel front end of :func:`sk_icnet.strf.log_mel_spectrogram`, frame by frame."""

    def __init__(self, audio_fs, spb, *, n_bands, fmin, fmax, win_ms, log_floor=1e-8):
        self.spb = spb
        self.n_fft, self.weights, self.center_hz = _mel_design(audio_fs, spb, n_bands, fmin, fmax,
                                                               win_ms)
        self.n_bands = self.weights.shape[0]
        self.window = torch.hann_window(self.n_fft, dtype=torch.float64).numpy()
        self.norm = float((self.window**2).sum())
        self.log_floor = log_floor

    def frames(self, x):
        """Frames ``(n_bins, n_fft)`` of one waveform, frame ``t`` ending on bin ``t``'s last sample."""
        padded = np.concatenate([np.zeros(self.n_fft - self.spb), x])
        n_bins = x.size // self.spb
        idx = np.arange(n_bins)[:, None] * self.spb + np.arange(self.n_fft)[None, :]
        return padded[idx]

    def log_mel_and_jacobian(self, x):
        """Log-mel ``(n_bins, B)`` of one waveform and ``dS / dframe`` ``(n_bins, B, n_fft)``."""
        frames = self.frames(x)
        spec = np.fft.rfft(frames * self.window, axis=1)  # (T, K)
        power = (spec.real**2 + spec.imag**2) / self.norm
        mel = power @ self.weights.T  # (T, B)
        n_fft = self.n_fft
        # d|X_k|^2 / d frame_j = 2 w_j Re(conj(X_k) e^{-2 pi i k j / N})
        weighted = self.weights[None, :, :] * np.conj(spec)[:, None, :]  # (T, B, K)
        full = np.zeros(weighted.shape[:2] + (n_fft,), dtype=complex)
        full[..., : weighted.shape[2]] = weighted
        dpower = 2.0 * self.window * np.fft.fft(full, axis=2).real / self.norm
        return np.log(mel + self.log_floor), dpower / (mel + self.log_floor)[..., None]

    def log_mel_torch(self, x):
        """Differentiable log-mel ``(batch, n_bins, B)`` of waveforms ``x`` (batch, T), for tests
        and for models that read the sound through this front end."""
        pad = torch.nn.functional.pad(x, (self.n_fft - self.spb, 0))
        window = torch.as_tensor(self.window, dtype=x.dtype)
        spec = torch.stft(pad, n_fft=self.n_fft, hop_length=self.spb, window=window, center=False,
                          return_complex=True)
        power = (spec.real**2 + spec.imag**2) / self.norm
        mel = torch.matmul(torch.as_tensor(self.weights, dtype=x.dtype), power).transpose(1, 2)
        return torch.log(mel + self.log_floor)


def _n_lags(lags_ms, n_lags, dt_ms):
    if lags_ms is not None and n_lags is not None:
        raise ValueError(f"Give either lags_ms or n_lags, not both; received lags_ms={lags_ms!r} and "
                         f"n_lags={n_lags!r}.")
    if n_lags is not None:
        return check_positive_int(n_lags, "n_lags")
    lags_ms = 30.0 if lags_ms is None else check_positive_number(lags_ms, "lags_ms")
    return max(1, int(round(lags_ms / dt_ms)))


def _front_end_options(like, n_bands, fmin, fmax, win_ms, lags_ms, n_lags):
    """Front-end and lag options, copied from a fitted STRF estimator when ``like`` is one."""
    if like is None:
        return dict(n_bands=n_bands, fmin=fmin, fmax=fmax, win_ms=win_ms), lags_ms, n_lags
    if not hasattr(like, "n_lags_") or not hasattr(like, "band_frequencies_hz_"):
        raise TypeError(f"like must be a fitted LinearSTRFRegressor or PoissonSTRFRegressor whose "
                        f"front end and lags to copy; received {_describe(like)}.")
    return (dict(n_bands=like.n_bands, fmin=like.fmin, fmax=like.fmax, win_ms=like.win_ms), None,
            int(like.n_lags_))


# -- gradients ------------------------------------------------------------------------------------
def _bin_gradients(model, x, bins, neurons, chunk):
    """Waveform gradients of the rates at ``bins`` of ``neurons``: (len(bins), len(neurons), T)."""
    rf = getattr(model.module, "receptive_field", None)
    if isinstance(rf, numbers.Integral) and not isinstance(rf, bool) and rf > 0 \
            and not model.time_input:
        result = _windowed_gradients(model, x, bins, neurons, chunk, int(rf))
        if result is not None:
            return result
    return _trial_gradients(model, x, bins, neurons, chunk)


def _windowed_gradients(model, x, bins, neurons, chunk, rf):
    """Gradients from windows of one receptive field, one backward per neuron and chunk of bins.

    A causal model whose output at bin ``t`` depends only on the ``receptive_field`` samples
    ending at bin ``t`` (ICNet) gives the same rate at the last bin of a window of whole bins
    that covers them, and the windows of a batch are independent: so one backward pass gives
    the gradients of a whole chunk of bins. Checked against the full trial's rates; ``None``
    (use the full trials) where they differ.
    """
    spb = model.spb
    W = int(math.ceil(rf / spb)) * spb
    with torch.no_grad():
        full = model.rates(torch.as_tensor(x, dtype=model.dtype, device=model.device)[None])
    if full.shape[1] <= int(neurons.max()):
        raise ValueError(f"neurons must be indices in [0, {full.shape[1]}) for this model; "
                         f"received {neurons.tolist()}.")
    rates = full[0].double().cpu().numpy()
    padded = np.concatenate([np.zeros(W - spb), x])
    grads = np.zeros((len(bins), len(neurons), x.size))
    for lo in range(0, len(bins), chunk):
        part = bins[lo: lo + chunk]
        windows = torch.as_tensor(np.stack([padded[t * spb: t * spb + W] for t in part]),
                                  dtype=model.dtype, device=model.device).requires_grad_(True)
        out = model.rates(windows)[:, :, -1]  # (chunk, N): the rate at each window's last bin
        expected = rates[:, part].T
        got = out.detach().double().cpu().numpy()
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(expected).max())):
            return None
        for j, n in enumerate(neurons):
            (g,) = torch.autograd.grad(out[:, n].sum(), windows, retain_graph=j < len(neurons) - 1)
            g = g.detach().double().cpu().numpy()
            for k, t in enumerate(part):
                end = (t + 1) * spb
                width = min(W, end)
                grads[lo + k, j, end - width: end] = g[k, W - width:]
    return grads, rates


def _trial_gradients(model, x, bins, neurons, chunk):
    """Gradients by backward passes through the whole trial (batched over cotangents)."""
    xt = torch.as_tensor(x, dtype=model.dtype, device=model.device)[None].requires_grad_(True)
    out = model.rates(xt)
    if out.shape[1] <= int(neurons.max()):
        raise ValueError(f"neurons must be indices in [0, {out.shape[1]}) for this model; received "
                         f"{neurons.tolist()}.")
    rates = out[0].detach().cpu().double().numpy()
    grads = np.empty((len(bins), len(neurons), x.size))
    pairs = [(i, j) for i in range(len(bins)) for j in range(len(neurons))]
    for lo in range(0, len(pairs), chunk):
        part = pairs[lo: lo + chunk]
        cot = torch.zeros((len(part),) + tuple(out.shape), dtype=out.dtype, device=out.device)
        for k, (i, j) in enumerate(part):
            cot[k, 0, neurons[j], bins[i]] = 1.0
        try:
            (g,) = torch.autograd.grad(out, xt, grad_outputs=cot, retain_graph=True,
                                       is_grads_batched=True)
        except RuntimeError:  # an operation without a batching rule: one backward at a time
            g = torch.stack([torch.autograd.grad(out, xt, grad_outputs=c, retain_graph=True)[0]
                             for c in cot])
        g = g.reshape(len(part), -1).detach().cpu().double().numpy()
        for k, (i, j) in enumerate(part):
            grads[i, j] = g[k]
    return grads, rates


def _project(jac, grads, bins, n_lags, spb, n_fft, ridge):
    """Least-squares dSTRFs ``(n_bins, n_neurons, B, L)`` and the explained fraction."""
    n_used, n_neurons, n_samples = grads.shape
    B = jac.shape[1]
    L = n_lags
    W = (L - 1) * spb + n_fft
    pad = n_fft - spb
    gp = np.concatenate([np.zeros((n_used, n_neurons, pad)), grads], axis=2)
    out = np.empty((n_used, n_neurons, B, L))
    explained = np.empty((n_used, n_neurons))
    for i, t in enumerate(bins):
        A = np.zeros((L, B, W))
        for lag in range(L):
            off = (L - 1 - lag) * spb
            A[lag, :, off: off + n_fft] = jac[t - lag]
        start = (t - L + 1) * spb
        if start < pad:  # the zeros before the trial are not inputs: no equation there
            A[:, :, : pad - start] = 0.0
        A = A.reshape(L * B, W)
        g = gp[i, :, start: start + W]  # (n_neurons, W)
        G = A @ A.T
        scale = max(float(np.trace(G)) / G.shape[0], 1e-300)
        v = np.linalg.solve(G + ridge * scale * np.eye(G.shape[0]), A @ g.T)  # (L*B, n)
        resid = v.T @ A - g
        total = (gp[i] ** 2).sum(axis=1)
        outside = total - (g**2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            explained[i] = np.where(total > 0, 1.0 - ((resid**2).sum(axis=1) + outside) / total,
                                    np.nan)
        out[i] = v.T.reshape(n_neurons, L, B).transpose(0, 2, 1)
    return out, explained


def _components(dstrf, mean, n_components):
    """Uncentred principal components of each neuron's dSTRFs."""
    n_neurons, B, L = mean.shape
    M = np.moveaxis(dstrf, 2, 0).reshape(n_neurons, -1, B * L)  # (n, samples, B*L)
    k = min(n_components, M.shape[1], B * L)
    comps = np.zeros((n_neurons, k, B, L))
    ratio = np.full((n_neurons, k), np.nan)
    gain = np.zeros(M.shape[:2])
    for j in range(n_neurons):
        _, s, vt = np.linalg.svd(M[j], full_matrices=False)
        total = float((s**2).sum())
        if total == 0:
            continue
        signs = np.sign(vt[:k] @ mean[j].ravel())
        signs[signs == 0] = 1.0
        comps[j] = (vt[:k] * signs[:, None]).reshape(k, B, L)
        ratio[j] = s[:k] ** 2 / total
        gain[j] = M[j] @ comps[j, 0].ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        gain_cv = gain.std(axis=1) / np.abs(gain.mean(axis=1))
    return comps, ratio, gain, gain_cv


def dynamic_strf(model, X, *, neurons=None, like=None, n_bands=32, fmin=50.0, fmax=None,
                 win_ms=20.0, lags_ms=None, n_lags=None, step=1, ridge=1e-4, n_components=5,
                 audio_fs=None, recording=None, time_s=None, batch=64):
    """Dynamic STRFs (Keshishian et al. 2020) of a differentiable model, with their summaries.

    For every used output bin of every trial and every neuron, the gradient of
    the predicted rate with respect to the waveform, projected on the log-mel
    spectrogram's band x lag space (see the module notes).

    Parameters
    ----------
    model : ICNetRegressor or torch.nn.Module
        A fitted :class:`~sk_icnet.ICNetRegressor` (its expected counts per bin),
        or a module mapping waveforms ``(B, T)`` to rates ``(B, N, T // spb)`` with
        attributes ``audio_fs`` and ``samples_per_bin`` (an :class:`~sk_icnet.ICNet`).
    X : array-like of shape (n_trials, n_samples)
        Waveforms in pascals at the model's rate, whole bins.
    neurons : int or sequence of int, optional
        Which neurons (all by default).
    like : fitted LinearSTRFRegressor or PoissonSTRFRegressor, optional
        Use its front end (``n_bands``, ``fmin``, ``fmax``, ``win_ms``) and lags, so
        the result matches its ``coef_`` band for band and lag for lag.
    n_bands, fmin, fmax, win_ms : default 32, 50.0, None, 20.0
        The log-mel front end (as :class:`~sk_icnet.LinearSTRFRegressor`).
    lags_ms, n_lags : optional
        Lags covered (30 ms by default), as for the STRF estimators.
    step : int, default=1
        Use every ``step``-th output bin (bins ``n_lags - 1`` onwards, so that
        every lag lies within the trial).
    ridge : float, default=1e-4
        Ridge of the projection, relative to the mean diagonal of ``A A^T``.
        A band with (almost) no power in a frame has (almost) no effect on the
        waveform gradient, so its entries are not determined and the ridge
        shrinks them towards 0.
    n_components : int, default=5
        Principal components kept.
    audio_fs : float, optional
        The rate of ``X``; if given it must equal the model's.
    recording : str, optional
        Decoder of a model fitted on several recordings.
    time_s : float, optional
        Recording time, for a model with a time input.
    batch : int, default=64
        Bins per backward pass. A model with a ``receptive_field`` attribute (in
        samples, as :class:`~sk_icnet.ICNet`) is run on windows of one receptive
        field ending on each bin, a batch of windows per backward pass and neuron;
        others get one backward pass through the whole trial per bin and neuron.

    Returns
    -------
    DynamicSTRF
    """
    with _Differentiable(model, recording, time_s) as net:
        net.check_rate(audio_fs)
        X = check_waveforms(X, name="X").astype(np.float64)
        n_bins = check_whole_bins(X.shape[1], net.spb, estimator="the model")
        dt_ms = net.spb * 1000.0 / net.fs
        options, lags_ms, n_lags = _front_end_options(like, n_bands, fmin, fmax, win_ms, lags_ms,
                                                      n_lags)
        front = _FrontEnd(net.fs, net.spb, **options)
        L = _n_lags(lags_ms, n_lags, dt_ms)
        step = check_positive_int(step, "step")
        if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real) or not ridge > 0:
            raise ValueError(f"ridge must be a number > 0; received {ridge!r}.")
        n_components = check_positive_int(n_components, "n_components")
        batch = check_positive_int(batch, "batch")
        bins = np.arange(L - 1, n_bins, step)
        if bins.size == 0:
            raise ValueError(f"X has {n_bins} bins per trial, fewer than the n_lags={L} lags: use "
                             "longer trials or fewer lags.")
        with torch.no_grad():
            probe = net.rates(torch.as_tensor(X[:1], dtype=net.dtype, device=net.device))
        neurons = _check_neurons(neurons, probe.shape[1])
        size = X.shape[0] * bins.size * neurons.size * front.n_bands * L * 8
        if size > MAX_DSTRF_BYTES:
            raise ValueError(f"the dSTRFs would take {size / 1024**3:.1f} GiB: use fewer trials, "
                             f"a larger step or fewer neurons (limit {MAX_DSTRF_BYTES / 1024**3:g} "
                             "GiB).")
        dstrf = np.empty((X.shape[0], bins.size, neurons.size, front.n_bands, L))
        rates = np.empty((X.shape[0], bins.size, neurons.size))
        explained = np.empty_like(rates)
        for trial, x in enumerate(X):
            _, jac = front.log_mel_and_jacobian(x)
            grads, r = _bin_gradients(net, x, bins, neurons, batch)
            dstrf[trial], explained[trial] = _project(jac, grads, bins, L, net.spb, front.n_fft,
                                                      float(ridge))
            rates[trial] = r[neurons][:, bins].T
    mean_values = dstrf.mean(axis=(0, 1))
    comps, ratio, gain, gain_cv = _components(dstrf, mean_values, n_components)
    lags = np.arange(L) * dt_ms
    mean = ReceptiveField(mean_values, front.center_hz, lags, "gradient STRF")
    gain = np.moveaxis(gain.reshape(neurons.size, X.shape[0], bins.size), 0, 2)
    return DynamicSTRF(dstrf, rates, bins, explained, mean, comps, ratio, 1.0 - ratio[:, 0], gain,
                       gain_cv, front.center_hz, lags)


def gradient_strf(model, X, **kwargs):
    """The mean dSTRF of :func:`dynamic_strf` as a :class:`ReceptiveField` (same arguments)."""
    return dynamic_strf(model, X, **kwargs).mean


def strf_receptive_field(estimator):
    """A fitted STRF estimator's ``coef_`` as a :class:`ReceptiveField`.

    For :class:`~sk_icnet.LinearSTRFRegressor` the coefficients are the change
    of the rate per unit log band power, the quantity :func:`gradient_strf`
    measures; for :class:`~sk_icnet.PoissonSTRFRegressor` they are the change
    of the *log* rate (multiply by the rate for its gradient).
    """
    if not hasattr(estimator, "coef_") or not hasattr(estimator, "band_frequencies_hz_"):
        raise TypeError("estimator must be a fitted LinearSTRFRegressor or PoissonSTRFRegressor; "
                        f"received {_describe(estimator)}.")
    return ReceptiveField(np.asarray(estimator.coef_, dtype=float),
                          np.asarray(estimator.band_frequencies_hz_), np.asarray(estimator.lags_ms_),
                          type(estimator).__name__)


# -- optimal sounds ------------------------------------------------------------------------------
def _check_level_db(level_db):
    lo, hi = LEVEL_RANGE_DB
    if isinstance(level_db, bool) or not isinstance(level_db, numbers.Real) \
            or not lo <= level_db <= hi:
        raise ValueError(f"level_db must be a sound level in dB SPL within [{lo:g}, {hi:g}]; "
                         f"received {level_db!r}.")
    return float(level_db)


def optimal_sound(model, neuron=0, *, duration_ms=200.0, level_db=60.0, band_hz=None, ramp_ms=5.0,
                  silence_ms=50.0, init="noise", audio_fs=None, maximize=True, n_steps=100, lr=0.05,
                  latency_ms=0.0, recording=None, time_s=None, random_state=None):
    """The sound that most drives (or most suppresses) a neuron, by gradient ascent on the waveform.

    The sound is parametrised by an unconstrained waveform ``z``; each step
    band-limits it (FFT mask to ``band_hz``), applies raised-cosine ramps and
    scales it to ``level_db`` dB SPL (RMS over the sound, ramps included), so
    every candidate obeys the constraints exactly. The trial is ``silence_ms``
    of silence and then the sound; the objective is the neuron's mean predicted
    rate from ``latency_ms`` after the onset to the end of the sound, maximised
    (``maximize=True``) or minimised with Adam.

    Parameters
    ----------
    model : ICNetRegressor or torch.nn.Module
        As for :func:`dynamic_strf`.
    neuron : int, default=0
    duration_ms : float, default=200.0
        Sound duration (rounded to whole bins); ignored when ``init`` is a sound.
    level_db : float, default=60.0
        Level in dB SPL, within :data:`LEVEL_RANGE_DB`.
    band_hz : (float, float), optional
        Pass band; default 50 Hz to the Nyquist frequency.
    ramp_ms : float, default=5.0
    silence_ms : float, default=50.0
    init : "noise" or array-like of shape (n_samples,), default="noise"
        The starting sound: Gaussian noise, or a given sound at the model's rate
        (a whole number of bins), which is band-limited, ramped and set to
        ``level_db`` first.
    audio_fs : float, optional
        The rate of ``init``; if given it must equal the model's.
    maximize : bool, default=True
        False: find the most suppressive sound.
    n_steps : int, default=100
    lr : float, default=0.05
        Adam's learning rate (on the unit-RMS parametrisation).
    latency_ms : float, default=0.0
    recording, time_s
        As for :func:`dynamic_strf`.
    random_state : int, RandomState instance or None

    Returns
    -------
    OptimalSound
    """
    with _Differentiable(model, recording, time_s) as net:
        net.check_rate(audio_fs)
        fs, spb = net.fs, net.spb
        level_db = _check_level_db(level_db)
        n_steps = check_positive_int(n_steps, "n_steps", minimum=0)
        lr = check_positive_number(lr, "lr")
        neuron = check_positive_int(neuron, "neuron", minimum=0)
        if isinstance(init, str):
            if init != "noise":
                raise ValueError(f'init must be "noise" or a sound (array of samples); received '
                                 f"{init!r}.")
            n_bins = max(1, int(round(check_positive_number(duration_ms, "duration_ms")
                                      / 1000.0 * fs / spb)))
            start = check_random_state(random_state).standard_normal(n_bins * spb)
        else:
            start = _as_numeric_array(init, "init").astype(np.float64)
            if start.ndim != 1 or start.size == 0 or not np.isfinite(start).all():
                raise ValueError(f"init must be one finite sound of shape (n_samples,); received "
                                 f"{_describe(start)}.")
            check_whole_bins(start.size, spb, name="init", estimator="the model")
            if not np.any(start):
                raise ValueError("init is silent (all zeros): it has no spectrum to start from.")
        n = start.size
        lo, hi = (50.0, fs / 2.0) if band_hz is None else band_hz
        if not (isinstance(lo, numbers.Real) and isinstance(hi, numbers.Real)
                and 0 <= lo < hi <= fs / 2.0):
            raise ValueError(f"band_hz must be (low, high) in Hz with 0 <= low < high <= audio_fs / "
                             f"2 = {fs / 2:g}; received {band_hz!r}.")
        freqs = np.fft.rfftfreq(n, 1.0 / fs)
        mask = torch.as_tensor(((freqs >= lo) & (freqs <= hi)).astype(np.float64))
        if not mask.any():
            raise ValueError(f"band_hz={band_hz!r} contains no frequency of a {n}-sample sound at "
                             f"{fs:g} Hz: widen it or lengthen the sound.")
        env = torch.as_tensor(ramp_envelope(n, ramp_ms, fs, "ramp_ms"))
        pre = int(round(check_positive_number(silence_ms, "silence_ms") / 1000.0 * fs / spb))
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, numbers.Real) \
                or not 0 <= latency_ms < 1000:
            raise ValueError(f"latency_ms must be a number of ms in [0, 1000); received "
                             f"{latency_ms!r}.")
        lat = int(round(float(latency_ms) / 1000.0 * fs / spb))
        first, last = pre + lat, pre + n // spb
        if first >= last:
            raise ValueError(f"latency_ms={latency_ms!r} leaves no response window within the "
                             f"{n / fs * 1000:.0f} ms sound.")
        target_rms = P_REF * 10.0 ** (level_db / 20.0)
        sign = 1.0 if maximize else -1.0

        def constrain(z):
            y = torch.fft.irfft(torch.fft.rfft(z) * mask, n=n) * env
            return y * (target_rms / torch.sqrt(torch.mean(y**2) + 1e-30))

        def objective(z):
            x = constrain(z)
            trial = torch.cat([torch.zeros(pre * spb, dtype=x.dtype), x])
            out = net.rates(trial.to(net.dtype).to(net.device)[None])
            if neuron >= out.shape[1]:
                raise ValueError(f"neuron must be in [0, {out.shape[1]}) for this model; received "
                                 f"{neuron}.")
            return out[0, neuron, first:last].mean(), out[0, neuron], x

        z = torch.as_tensor(start / np.sqrt(np.mean(start**2)), dtype=torch.float64)
        history = []
        dt_s = spb / fs
        initial = constrain(z).detach().numpy().astype(np.float32)
        # Adam (Kingma & Ba 2015), written out: torch.optim's first use costs seconds of imports
        m, v = torch.zeros_like(z), torch.zeros_like(z)
        beta1, beta2 = 0.9, 0.999
        for step in range(1, n_steps + 1):
            z.requires_grad_(True)
            value, _, _ = objective(z)
            history.append(float(value.detach()) / dt_s)
            (grad,) = torch.autograd.grad(sign * value, z)
            with torch.no_grad():
                m = beta1 * m + (1 - beta1) * grad
                v = beta2 * v + (1 - beta2) * grad**2
                z = z + lr * (m / (1 - beta1**step)) / (torch.sqrt(v / (1 - beta2**step)) + 1e-8)
        with torch.no_grad():
            value, response, x = objective(z)
        history.append(float(value) / dt_s)
    sound = x.detach().numpy().astype(np.float32)
    if abs(level_db_spl(sound) - level_db) > 0.1:  # pragma: no cover - a guard on the constraint
        raise RuntimeError("the optimised sound lost its level constraint.")
    return OptimalSound(sound, fs, level_db, (float(lo), float(hi)), np.array(history),
                        response.detach().cpu().double().numpy() / dt_s, initial)


# -- reliability of in-silico results ------------------------------------------------------------
def _estimator_list(estimators):
    if isinstance(estimators, dict) and "estimator" in estimators:  # cross_validate's result
        estimators = estimators["estimator"]
    if isinstance(estimators, dict):
        items = list(estimators.items())
    else:
        try:
            items = [(f"model {i}", est) for i, est in enumerate(estimators)]
        except TypeError:
            raise TypeError("estimators must be a list or dict of fitted models, or the result of "
                            "cross_validate(..., return_estimator=True); received "
                            f"{_describe(estimators)}.") from None
    if len(items) < 2:
        raise ValueError(f"estimators must hold at least 2 fitted models to measure a spread; "
                         f"received {len(items)}.")
    return items


def _spread_kind(column):
    if column.endswith("_hz"):
        return "octaves"
    if column.endswith("_db"):
        return "dB"
    return "relative"


#: default tolerances of :func:`insilico_reliability`, per kind of parameter
DEFAULT_TOLERANCE = {"octaves": 1.0 / 3.0, "dB": 5.0, "relative": 0.25}


def insilico_reliability(experiment, estimators, *, tolerance=None, by=None, **kwargs):
    """Run an in-silico experiment on several fitted models; each parameter's median and spread.

    Parameters
    ----------
    experiment : callable
        An experiment of :mod:`sk_icnet.insilico` (e.g.
        ``insilico.frequency_response_area``), or any function
        ``experiment(estimator, **kwargs)`` returning an object with a
        ``summary`` DataFrame (one row per neuron and condition).
    estimators : list or dict of fitted models, or the dict of ``cross_validate``
        Several fits of the same neurons: the ``"estimator"`` entry of
        ``cross_validate(..., return_estimator=True)``, a seed ensemble, ...
    tolerance : float or dict of str to float, optional
        Largest acceptable spread of a parameter. Spreads (max - min over the
        models) are in octaves for columns ending in ``_hz``, in dB for those
        ending in ``_db`` and relative to the absolute median otherwise; the
        defaults are :data:`DEFAULT_TOLERANCE` (1/3 octave, 5 dB, 25 %). A
        float applies to every parameter, a dict to the parameters it names.
    by : sequence of str, optional
        Columns identifying a row (``neuron`` and every non-numeric column by
        default, plus ``mean_db`` if present: the conditions of
        :func:`~sk_icnet.insilico.dynamic_range_adaptation`).
    **kwargs
        Passed to ``experiment``.

    Returns
    -------
    DataFrame
        One row per row key and parameter: ``parameter``, ``median``, ``q25``,
        ``q75``, ``min``, ``max``, ``n_models`` (where the parameter is defined),
        ``spread``, ``spread_unit``, ``tolerance`` and ``unreliable`` (spread >
        tolerance, or undefined in some models but not all).
    """
    if not callable(experiment):
        raise TypeError(f"experiment must be an in-silico experiment (a callable); received "
                        f"{_describe(experiment)}.")
    items = _estimator_list(estimators)
    tables = []
    for name, est in items:
        summary = getattr(experiment(est, **kwargs), "summary", None)
        if not isinstance(summary, pd.DataFrame):
            raise TypeError(f"experiment must return a result with a summary DataFrame; received "
                            f"{type(summary).__name__} for {name}.")
        tables.append(summary.assign(model=name))
    table = pd.concat(tables, ignore_index=True)
    if by is None:
        by = ["neuron"] + [c for c in table.columns if c not in ("neuron", "model")
                           and not pd.api.types.is_numeric_dtype(table[c])]
        if "mean_db" in table.columns:
            by.append("mean_db")
    by = [c for c in by if c in table.columns]
    params = [c for c in table.columns if c not in (*by, "model")
              and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    if isinstance(tolerance, numbers.Real) and not isinstance(tolerance, bool):
        tolerance = {p: float(tolerance) for p in params}
    elif tolerance is None:
        tolerance = {}
    elif not isinstance(tolerance, dict):
        raise TypeError(f"tolerance must be a number or a dict of parameter -> number; received "
                        f"{_describe(tolerance)}.")
    unknown = sorted(set(tolerance) - set(params))
    if unknown:
        raise ValueError(f"tolerance names {unknown}, which are not parameters of this experiment "
                         f"({params}).")
    rows = []
    for key, group in table.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for p in params:
            values = group[p].to_numpy(dtype=float)
            ok = values[np.isfinite(values)]
            kind = _spread_kind(p)
            if ok.size == 0:
                spread = np.nan
            elif kind == "octaves":
                spread = float(np.log2(ok.max() / ok.min())) if ok.min() > 0 else np.nan
            elif kind == "dB":
                spread = float(ok.max() - ok.min())
            else:
                med = abs(float(np.median(ok)))
                spread = float((ok.max() - ok.min()) / med) if med > 0 else \
                    (0.0 if ok.max() == ok.min() else np.inf)
            tol = float(tolerance.get(p, DEFAULT_TOLERANCE[kind]))
            partial = 0 < ok.size < values.size
            rows.append(dict(zip(by, key, strict=True), parameter=p,
                             median=float(np.median(ok)) if ok.size else np.nan,
                             q25=float(np.percentile(ok, 25)) if ok.size else np.nan,
                             q75=float(np.percentile(ok, 75)) if ok.size else np.nan,
                             min=float(ok.min()) if ok.size else np.nan,
                             max=float(ok.max()) if ok.size else np.nan,
                             n_models=int(ok.size), spread=spread, spread_unit=kind, tolerance=tol,
                             unreliable=bool(partial or (np.isfinite(spread) and spread > tol)
                                             or spread == np.inf)))
    return pd.DataFrame(rows)


# -- plots ---------------------------------------------------------------------------------------
def _as_receptive_field(rf):
    if isinstance(rf, ReceptiveField):
        return rf
    if isinstance(rf, DynamicSTRF):
        return rf.mean
    if hasattr(rf, "coef_"):
        return strf_receptive_field(rf)
    raise TypeError("rf must be a ReceptiveField, a DynamicSTRF or a fitted STRF estimator; "
                    f"received {_describe(rf)}.")


def _image(ax, values, freqs, lags, title=None, lim=None):
    lim = lim or float(np.abs(values).max()) or 1.0
    step = lags[1] - lags[0] if len(lags) > 1 else 1.0
    im = ax.imshow(values, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   extent=[lags[0], lags[-1] + step, 0, len(freqs)], interpolation="nearest")
    ticks = np.linspace(0, len(freqs) - 1, min(5, len(freqs))).astype(int)
    ax.set_yticks(ticks + 0.5)
    ax.set_yticklabels([f"{freqs[i]:.0f}" for i in ticks])
    ax.set_xlabel("lag (ms)")
    ax.set_ylabel("band centre (Hz)")
    if title:
        ax.set_title(title, fontsize="medium")
    return im


def plot_strf(rf, neuron=0, *, ax=None, title=None):
    """Image of a receptive field: lag (ms) by band centre (Hz), red excitatory, blue suppressive.

    Parameters
    ----------
    rf : ReceptiveField, DynamicSTRF (its mean) or a fitted STRF estimator (its ``coef_``)
    neuron : int, default=0
        Index into ``rf``'s neurons.
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the kind of receptive field.

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    rf = _as_receptive_field(rf)
    if not 0 <= neuron < rf.values.shape[0]:
        raise ValueError(f"neuron must be in [0, {rf.values.shape[0]}); received {neuron!r}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    _image(ax, rf.values[neuron], rf.band_frequencies_hz, rf.lags_ms,
           rf.kind if title is None else title)
    return ax


def plot_dstrf(result, neuron=0, *, n_components=3, axes=None):
    """The gradient STRF, the first principal components of the dSTRFs and the gain over time.

    Parameters
    ----------
    result : DynamicSTRF
    neuron : int, default=0
        Index into the neurons of ``result``.
    n_components : int, default=3
    axes : sequence of ``n_components + 2`` matplotlib Axes, optional

    Returns
    -------
    axes : list of matplotlib Axes
    """
    plt = _pyplot()
    if not isinstance(result, DynamicSTRF):
        raise TypeError(f"result must be the DynamicSTRF of dynamic_strf; received "
                        f"{_describe(result)}.")
    if not 0 <= neuron < result.mean.values.shape[0]:
        raise ValueError(f"neuron must be in [0, {result.mean.values.shape[0]}); received "
                         f"{neuron!r}.")
    k = min(check_positive_int(n_components, "n_components"), result.components.shape[1])
    if axes is None:
        fig, axes = plt.subplots(1, k + 2, figsize=(3.2 * (k + 2), 3), constrained_layout=True)
    axes = list(np.ravel(axes))
    if len(axes) < k + 2:
        raise ValueError(f"axes must hold n_components + 2 = {k + 2} Axes; received {len(axes)}.")
    freqs, lags = result.band_frequencies_hz, result.lags_ms
    _image(axes[0], result.mean.values[neuron], freqs, lags,
           f"gradient STRF (NLI {result.nonlinearity_index[neuron]:.2f})")
    for c in range(k):
        _image(axes[c + 1], result.components[neuron, c], freqs, lags,
               f"PC {c + 1}: {100 * result.explained_variance_ratio[neuron, c]:.0f} %")
    ax = axes[k + 1]
    dt = lags[1] - lags[0] if len(lags) > 1 else 1.0
    t = result.bins * dt
    ax.plot(t, result.gain[0, :, neuron], lw=1, label="gain (PC 1)")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("time in trial 1 (ms)")
    ax.set_ylabel("projection on PC 1")
    ax.set_title(f"gain CV {result.gain_cv[neuron]:.2f}", fontsize="medium")
    return axes


def plot_optimal_sound(result, *, axes=None):
    """The optimisation trajectory and the spectrum of the optimised sound (and the initial one)."""
    plt = _pyplot()
    if not isinstance(result, OptimalSound):
        raise TypeError(f"result must be the OptimalSound of optimal_sound; received "
                        f"{_describe(result)}.")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 3), constrained_layout=True)
    ax0, ax1 = axes
    ax0.plot(result.objective)
    ax0.set_xlabel("step")
    ax0.set_ylabel("mean rate (spikes/s)")
    freqs = np.fft.rfftfreq(result.sound.size, 1.0 / result.audio_fs)
    for x, label in ((result.initial, "initial"), (result.sound, "optimised")):
        power = np.abs(np.fft.rfft(x)) ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ax1.semilogx(freqs[1:], 10 * np.log10(power[1:] / power.max() + 1e-12), lw=0.8,
                         label=label)
    ax1.set_xlabel("frequency (Hz)")
    ax1.set_ylabel("power (dB re max)")
    ax1.legend(frameon=False, fontsize="small")
    return list(axes)
