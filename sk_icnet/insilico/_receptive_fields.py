"""Receptive fields of a differentiable model: dynamic and gradient STRFs.

The waveform gradient of every output bin, projected by least squares on the log-mel
spectrogram's band x lag space, and its summaries; the method and its notes are in
:mod:`sk_icnet.insilico`, the public module.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections import namedtuple

import numpy as np
import torch

from .._core.validation import (
    _describe,
    check_positive_int,
    check_positive_number,
    check_waveforms,
    check_whole_bins,
)
from ..spectral import mel_design
from ._differentiable import _Differentiable

__all__ = ["dynamic_strf", "gradient_strf", "strf_receptive_field", "ReceptiveField",
           "DynamicSTRF", "MAX_DSTRF_BYTES", "MAX_DSTRF_SECONDS"]

#: most memory :func:`dynamic_strf` sets out to use (bytes, estimated before it starts)
MAX_DSTRF_BYTES = 2 * 1024**3
#: longest least-squares projection :func:`dynamic_strf` sets out on (s, estimated at
#: :data:`ASSUMED_FLOPS`)
MAX_DSTRF_SECONDS = 24 * 3600.0
#: floating-point operations per second that time estimates assume (about one CPU core)
ASSUMED_FLOPS = 1e10

ReceptiveField = namedtuple("ReceptiveField", ["values", "band_frequencies_hz", "lags_ms", "kind"])
ReceptiveField.__module__ = "sk_icnet.insilico"
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
DynamicSTRF.__module__ = "sk_icnet.insilico"
DynamicSTRF.__doc__ = """Result of :func:`dynamic_strf` (n = neurons, B = bands, L = lags).

dstrf : ndarray of shape (n_trials, n_used_bins, n, B, L)
    The dSTRF of every used output bin.
rates : ndarray of shape (n_trials, n_used_bins, n)
    Predicted rate (expected count per bin) at those bins.
bins : ndarray of shape (n_used_bins,)
    Index of the used output bins in each trial.
explained : ndarray of shape (n_trials, n_used_bins, n)
    Fraction of the squared waveform gradient that the projection explains, for
    each dSTRF (one per trial, bin and neuron); per neuron,
    ``np.nanmean(explained, axis=(0, 1))``.
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


# -- the model's neurons ---------------------------------------------------------------------------
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
    """The log-mel front end of :func:`sk_icnet.spectral.log_mel_spectrogram`, frame by frame."""

    def __init__(self, audio_fs, spb, *, n_bands, fmin, fmax, win_ms, log_floor=1e-8):
        self.spb = spb
        self.n_fft, self.weights, self.center_hz = mel_design(audio_fs, spb, n_bands, fmin, fmax,
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


# -- cost, estimated before starting ----------------------------------------------------------------
def _n_fft(audio_fs, spb, win_ms):
    """The analysis frame in samples, as the log-mel front end makes it (a power of two)."""
    win = check_positive_number(win_ms, "win_ms") * audio_fs / 1000.0
    return 1 << max(int(math.ceil(math.log2(max(win, spb, 2)))), 1)


def _dstrf_cost(shape, n_used, n_neurons, n_bands, n_lags, n_fft, spb):
    """Memory (bytes, per part) and projection time (s at :data:`ASSUMED_FLOPS`) of a run.

    ``shape`` is ``(n_trials, n_samples)``. The parts live together: the dSTRFs (and the
    copy their principal components take), one trial's front-end Jacobian (complex, with
    its intermediates), one trial's waveform gradients (and their padded copy), and one
    bin's least-squares system. The time counts the projection's matrix products and
    solves; the backward passes come on top (the progress bar shows them).
    """
    n_trials, n_samples = shape
    unknowns = n_bands * n_lags
    width = (n_lags - 1) * spb + n_fft
    parts = {
        "dstrf": 2 * n_trials * n_used * n_neurons * unknowns * 8,
        "jacobian": (n_samples // spb) * n_bands * n_fft * 48,
        "gradients": 2 * n_used * n_neurons * (n_samples + n_fft) * 8,
        "system": 2 * (unknowns * unknowns + unknowns * width) * 8,
    }
    flops = n_trials * n_used * (2.0 * unknowns**2 * width + unknowns**3 / 1.5
                                 + 2.0 * unknowns * width * n_neurons)
    return parts, flops / ASSUMED_FLOPS


#: what to change when a part of the estimate is too large
_REMEDIES = {
    "dstrf": "use fewer trials of X, a larger step or fewer neurons",
    "jacobian": "use shorter trials, fewer bands (n_bands) or a shorter window (win_ms)",
    "gradients": "use shorter trials, fewer neurons or a larger step",
    "system": "use fewer bands (n_bands, 32 by default) or fewer lags (lags_ms, n_lags)",
}


def _check_cost(parts, seconds, n_bands, n_lags):
    """Refuse a run whose estimate exceeds :data:`MAX_DSTRF_BYTES` or :data:`MAX_DSTRF_SECONDS`."""
    total = sum(parts.values())
    if total <= MAX_DSTRF_BYTES and seconds <= MAX_DSTRF_SECONDS:
        return
    largest = max(parts, key=parts.get) if total > MAX_DSTRF_BYTES else "system"
    driver = {"system": f"n_bands={n_bands} x {n_lags} lags = {n_bands * n_lags:,} unknowns per "
                        "bin", "jacobian": f"n_bands={n_bands} bands of every frame"}.get(
        largest, "the number of dSTRFs (trials x used bins x neurons)")
    raise ValueError(
        f"dynamic_strf would need about {total / 1024**3:,.3g} GiB of memory and "
        f"{_duration(seconds)} for its least-squares projections (estimated at "
        f"{ASSUMED_FLOPS:.0e} operations per second), beyond the limits of "
        f"{MAX_DSTRF_BYTES / 1024**3:g} GiB and {_duration(MAX_DSTRF_SECONDS)}; most of it for "
        f"{driver}: {_REMEDIES[largest]}.")


def _duration(seconds):
    """A duration in words: seconds, minutes, hours or days."""
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size:
            value = f"{seconds / size:,.3g}"
            return f"about {value} {unit[:-1] if value == '1' else unit}"
    return f"about {seconds:.2g} s"


# -- gradients ------------------------------------------------------------------------------------
def _bin_gradients(model, x, bins, neurons, chunk, method="auto", bar=None):
    """Waveform gradients of the rates at ``bins`` of ``neurons``: (len(bins), len(neurons), T),
    the rates, and the path taken (``"window"`` or ``"trial"``)."""
    rf = getattr(model.module, "receptive_field", None)
    if method != "trial" and isinstance(rf, numbers.Integral) and not isinstance(rf, bool) \
            and rf > 0:
        done = 0 if bar is None else bar.n
        if bar is not None:
            bar.set_description("dynamic_strf (receptive-field windows)")
        result = _windowed_gradients(model, x, bins, neurons, chunk, int(rf), bar)
        if result is not None:
            return (*result, "window")
        if bar is not None:  # the windows' work is discarded: the bar goes back
            bar.n = done
            bar.refresh()
    if method == "window":
        why = ("its windows of one receptive field do not reproduce the whole trial's rates "
               "(a non-causal model, or one whose output depends on more than its receptive "
               "field)") if isinstance(rf, numbers.Integral) and rf > 0 else \
            "it states no receptive_field (in samples)"
        raise ValueError(f"method='window' needs a causal module whose rate at a bin depends "
                         f"only on the receptive_field samples ending there; this model does not "
                         f"qualify: {why}. Use method='auto' (windows where they are exact, "
                         "whole trials otherwise) or method='trial'.")
    if bar is not None:
        bar.set_description("dynamic_strf (whole trials)")
    return (*_trial_gradients(model, x, bins, neurons, chunk, bar), "trial")


def _windowed_gradients(model, x, bins, neurons, chunk, rf, bar=None):
    """Gradients from windows of one receptive field, one backward per neuron and chunk of bins.

    A causal model whose output at bin ``t`` depends only on the ``receptive_field`` samples
    ending at bin ``t`` (ICNet) gives the same rate at the last bin of a window of whole bins
    that covers them, and the windows of a batch are independent: so one backward pass gives
    the gradients of a whole chunk of bins. The first bins, whose receptive field reaches
    before the trial (where the model pads each layer, which no waveform reproduces), come
    from the trial's first window through the trial path. A model with a recording-time
    input gets each window's own start time. Checked against the full trial's rates;
    ``None`` (use the full trials) where they differ.
    """
    spb = model.spb
    W = int(math.ceil(rf / spb)) * spb
    with torch.no_grad():
        full = model.rates(torch.as_tensor(x, dtype=model.dtype, device=model.device)[None])
    if full.shape[1] <= int(neurons.max()):
        raise ValueError(f"neurons must be indices in [0, {full.shape[1]}) for this model; "
                         f"received {neurons.tolist()}.")
    rates = full[0].double().cpu().numpy()
    grads = np.zeros((len(bins), len(neurons), x.size))
    early = int(np.searchsorted(bins, W // spb - 1))  # bins before the first whole window
    if early:
        head = min(W, x.size)
        g, r = _trial_gradients(model, x[:head], bins[:early], neurons, chunk, bar)
        if not _same_rates(r[:, bins[:early]], rates[:, bins[:early]]):
            return None
        grads[:early, :, :head] = g
    dt_s = spb / model.fs
    for lo in range(early, len(bins), chunk):
        part = bins[lo: lo + chunk]
        windows = torch.as_tensor(np.stack([x[(t + 1) * spb - W: (t + 1) * spb] for t in part]),
                                  dtype=model.dtype, device=model.device).requires_grad_(True)
        times = None
        if model.time_input:  # each window's first bin lies W / spb - 1 bins before bin t
            times = torch.as_tensor(float(model.time_s) + (part + 1 - W // spb) * dt_s,
                                    dtype=torch.float64)
        out = model.rates(windows, times)[:, :, -1]  # (chunk, N): each window's last bin
        if not _same_rates(out.detach().double().cpu().numpy().T, rates[:, part]):
            return None
        for j, n in enumerate(neurons):
            (g,) = torch.autograd.grad(out[:, n].sum(), windows, retain_graph=j < len(neurons) - 1)
            g = g.detach().double().cpu().numpy()
            for k, t in enumerate(part):
                grads[lo + k, j, (t + 1) * spb - W: (t + 1) * spb] = g[k]
            if bar is not None:
                bar.update(len(part))
    return grads, rates


def _same_rates(got, expected):
    """Whether windowed rates reproduce the whole trial's (relative 1e-4)."""
    return np.allclose(got, expected, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(expected).max()))


def _trial_gradients(model, x, bins, neurons, chunk, bar=None):
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
        if bar is not None:
            bar.update(len(part))
    return grads, rates


#: least-squares systems up to this many unknowns are solved on one BLAS thread
_ONE_THREAD_UNKNOWNS = 1024


def _small_blas(unknowns):
    """One BLAS thread for the many small solves of the projection (up to
    :data:`_ONE_THREAD_UNKNOWNS` unknowns): threads gain nothing on 160 x 160 systems, and
    on a busy machine they wait for each other. Measured, 121 solves of 160 unknowns at load
    10 on 2 cores: 16.2 s on OpenBLAS's threads, 0.19 s on one. threadpoolctl comes with
    scikit-learn; without it, nothing changes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn requires it
        return contextlib.nullcontext()
    if unknowns > _ONE_THREAD_UNKNOWNS:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


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
                 audio_fs=None, recording=None, time_s=None, batch=64, method="auto",
                 progress=True):
    """Dynamic STRFs (Keshishian et al. 2020) of a differentiable model, with their summaries.

    For every used output bin of every trial and every neuron, the gradient of
    the predicted rate with respect to the waveform, projected on the log-mel
    spectrogram's band x lag space (see the module notes).

    Parameters
    ----------
    model : DifferentiableModel or torch.nn.Module
        A fitted :class:`~sk_icnet.ICNetRegressor` (its expected counts per bin), any
        estimator that follows :class:`DifferentiableModel`, or a module mapping
        waveforms ``(B, T)`` to rates ``(B, N, T // spb)`` with attributes
        ``audio_fs`` and ``samples_per_bin`` (an :class:`~sk_icnet.ICNet`).
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
        Decoder of a model fitted on several recordings, or ``"all"``: the neurons
        of every recording at once, one encoder pass for all (numbered in
        ``recording_names_`` order, as ``predict(X, recording="all")`` gives them).
    time_s : float, optional
        Recording time, for a model with a time input.
    batch : int, default=64
        Bins (or bin x neuron pairs on whole trials) per backward pass.
    method : {"auto", "window", "trial"}, default="auto"
        How the gradients are taken. ``"window"``: a model with a
        ``receptive_field`` attribute (in samples, as :class:`~sk_icnet.ICNet`) is
        run on windows of one receptive field ending on each bin, a batch of
        windows per backward pass and neuron; exact for a causal model, and
        checked: every window's rate must equal the whole trial's (relative
        1e-4), else it raises. ``"trial"``: one backward pass through the whole
        trial per bin and neuron (any model; slower by the ratio of trial to
        receptive field, 60 times for the guide's example). ``"auto"`` takes the
        windows where that check passes and whole trials otherwise.
    progress : bool, default=True
        Show a progress bar (tqdm, on stderr) over the gradients, with the path
        taken.

    Returns
    -------
    DynamicSTRF

    Raises
    ------
    ValueError
        Before any work, when the estimated memory exceeds
        :data:`MAX_DSTRF_BYTES` (2 GiB) or the estimated time of the
        projections exceeds :data:`MAX_DSTRF_SECONDS` (a day at
        :data:`ASSUMED_FLOPS`), with the estimate and what to change.
    """
    with _Differentiable(model, recording, time_s) as net:
        net.check_rate(audio_fs)
        X = check_waveforms(X, name="X").astype(np.float64)
        n_bins = check_whole_bins(X.shape[1], net.spb, estimator="the model")
        dt_ms = net.spb * 1000.0 / net.fs
        options, lags_ms, n_lags = _front_end_options(like, n_bands, fmin, fmax, win_ms, lags_ms,
                                                      n_lags)
        options["n_bands"] = check_positive_int(options["n_bands"], "n_bands")
        L = _n_lags(lags_ms, n_lags, dt_ms)
        step = check_positive_int(step, "step")
        if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real) or not ridge > 0:
            raise ValueError(f"ridge must be a number > 0; received {ridge!r}.")
        n_components = check_positive_int(n_components, "n_components")
        batch = check_positive_int(batch, "batch")
        if method not in ("auto", "window", "trial"):
            raise ValueError(f'method must be "auto", "window" or "trial"; received {method!r}.')
        bins = np.arange(L - 1, n_bins, step)
        if bins.size == 0:
            raise ValueError(f"X has {n_bins} bins per trial, fewer than the n_lags={L} lags: use "
                             "longer trials or fewer lags.")
        with torch.no_grad():
            probe = net.rates(torch.as_tensor(X[:1, : min(X.shape[1], 64 * net.spb)],
                                              dtype=net.dtype, device=net.device))
        neurons = _check_neurons(neurons, probe.shape[1])
        _check_cost(*_dstrf_cost(X.shape, bins.size, neurons.size, options["n_bands"], L,
                                 _n_fft(net.fs, net.spb, options["win_ms"]), net.spb),
                    options["n_bands"], L)
        front = _FrontEnd(net.fs, net.spb, **options)
        dstrf = np.empty((X.shape[0], bins.size, neurons.size, front.n_bands, L))
        rates = np.empty((X.shape[0], bins.size, neurons.size))
        explained = np.empty_like(rates)
        bar = _progress_bar(X.shape[0] * bins.size * neurons.size, progress)
        for trial, x in enumerate(X):
            _, jac = front.log_mel_and_jacobian(x)
            grads, r, _ = _bin_gradients(net, x, bins, neurons, batch, method, bar)
            with _small_blas(front.n_bands * L):
                dstrf[trial], explained[trial] = _project(jac, grads, bins, L, net.spb,
                                                          front.n_fft, float(ridge))
            rates[trial] = r[neurons][:, bins].T
        bar.close()
    mean_values = dstrf.mean(axis=(0, 1))
    with _small_blas(mean_values.shape[1] * L):
        comps, ratio, gain, gain_cv = _components(dstrf, mean_values, n_components)
    lags = np.arange(L) * dt_ms
    mean = ReceptiveField(mean_values, front.center_hz, lags, "gradient STRF")
    gain = np.moveaxis(gain.reshape(neurons.size, X.shape[0], bins.size), 0, 2)
    return DynamicSTRF(dstrf, rates, bins, explained, mean, comps, ratio, 1.0 - ratio[:, 0], gain,
                       gain_cv, front.center_hz, lags)


def _progress_bar(total, enabled):
    """A tqdm bar over ``total`` gradients (one per used bin and neuron), on stderr."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="dynamic_strf", unit="gradient", disable=not enabled,
                leave=False)


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
