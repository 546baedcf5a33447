"""The STRF estimators: the shared base (front end, lags, validation, layout), the ridge
STRF with its closed-form cross-validation, and the linear-nonlinear Poisson STRF.

The front end is :func:`sk_icnet.spectral.log_mel_spectrogram` and :func:`~sk_icnet.spectral.lag_features`;
the model-file payload is written and read by :mod:`sk_icnet.strf._model_file`, which
registers both classes at the end of this module.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import PoissonRegressor
from sklearn.utils.validation import check_is_fitted

from .. import io as _io
from .._core.exceptions import _rates_note, _reworded, _warn_rates_assumed
from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, resolve_samples_per_bin
from .._core.validation import (
    MAX_COUNT,
    check_consistent_trials,
    check_positive_int,
    check_positive_number,
    check_prediction_shape,
    check_responses,
    check_waveforms,
    check_whole_bins,
    to_layout,
)
from ..metrics import d2_poisson_score
from ..spectral import lag_features, log_mel_spectrogram
from ._model_file import register_strf

__all__ = ["LinearSTRFRegressor", "PoissonSTRFRegressor"]


class _BaseSTRF(RegressorMixin, BaseEstimator):
    """Front end, lags, validation and prediction layout shared by the STRF models."""

    def _n_lags(self, dt_ms):
        if self.lags_ms is not None and self.n_lags is not None:
            raise ValueError("Give either lags_ms or n_lags, not both; received "
                             f"lags_ms={self.lags_ms!r} and n_lags={self.n_lags!r}.")
        if self.n_lags is not None:
            return check_positive_int(self.n_lags, "n_lags")
        lags_ms = 30.0 if self.lags_ms is None else check_positive_number(self.lags_ms, "lags_ms")
        return max(1, int(round(lags_ms / dt_ms)))

    def _fitted_audio_fs(self):
        """The audio rate of the fit (``audio_fs_``; for models read from files written
        before it was recorded, the parameter, ``"auto"`` being the paper's rate)."""
        fs = getattr(self, "audio_fs_", None)
        if fs is not None:
            return fs
        return PAPER_AUDIO_FS if isinstance(self.audio_fs, str) else float(self.audio_fs)

    def _spectrogram(self, X):
        S, center = log_mel_spectrogram(
            X, self._fitted_audio_fs(), self.dt_ms_, n_bands=self.n_bands, fmin=self.fmin,
            fmax=self.fmax, win_ms=self.win_ms)
        return S.astype(np.float64), center

    def _resolve_rates(self):
        """``(audio_fs, dt_ms)`` from the parameters; ``"auto"`` is the paper's rate."""
        rates = []
        for name, value, paper in (("audio_fs", self.audio_fs, PAPER_AUDIO_FS),
                                   ("dt_ms", self.dt_ms, PAPER_DT_MS)):
            if isinstance(value, str):
                if value != "auto":
                    raise ValueError(f"{name} must be a number > 0 or 'auto'; received {value!r}.")
                rates.append(paper)
            elif value is None and name == "dt_ms":
                rates.append(None)
            else:
                rates.append(check_positive_number(value, name))
        return tuple(rates)

    def _validate_fit(self, X, y):
        X = check_waveforms(X, name="X")
        y3, ndim = check_responses(y, name="y", max_value=MAX_COUNT)
        check_consistent_trials(X, y3)
        audio_fs, dt_ms = self._resolve_rates()
        with _reworded(_rates_note(self.audio_fs, self.dt_ms, audio_fs, dt_ms)):
            spb = resolve_samples_per_bin(audio_fs, dt_ms, X.shape[1], y3.shape[2])
            check_whole_bins(X.shape[1], spb, n_bins=y3.shape[2], estimator=type(self).__name__)
        _warn_rates_assumed(self.audio_fs, self.dt_ms, audio_fs, dt_ms, spb, type(self).__name__)
        self.samples_per_bin_ = spb
        self.audio_fs_ = audio_fs
        self.dt_ms_ = spb * 1000.0 / audio_fs
        self.n_features_in_ = X.shape[1]
        self.n_neurons_ = y3.shape[1]
        self.y_ndim_ = ndim
        self.n_lags_ = self._n_lags(self.dt_ms_)
        self.lags_ms_ = np.arange(self.n_lags_) * self.dt_ms_
        S, self.band_frequencies_hz_ = self._spectrogram(X)
        return S, y3.astype(np.float64)

    def _features_for_predict(self, X):
        check_is_fitted(self, "coef_")
        X = check_waveforms(X, name="X")
        with _reworded(f"(this model was fitted with audio_fs={self._fitted_audio_fs()!r} Hz and "
                       f"dt_ms_={self.dt_ms_!r} ms.)"):
            check_whole_bins(X.shape[1], self.samples_per_bin_, estimator=type(self).__name__)
        return self._spectrogram(X)[0]

    def predict(self, X):
        """Predict responses for waveforms ``X`` in the layout of the ``y`` used at fit.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples)

        Returns
        -------
        ndarray of shape (n_trials,), (n_trials, n_bins) or (n_trials, n_neurons, n_bins)
        """
        return to_layout(self._predict3(self._features_for_predict(X)), self.y_ndim_)

    def score(self, X, y, sample_weight=None):
        """Poisson D² averaged over neurons (as :meth:`ICNetRegressor.score`).

        Predictions below 1e-8 (a linear STRF can predict negative rates) are
        floored at 1e-8 before the deviance; see :mod:`sk_icnet.metrics`.
        """
        y_pred = self.predict(X)
        check_prediction_shape(y_pred, y)
        return d2_poisson_score(y, y_pred, sample_weight=sample_weight)

    def save_model(self, path, *, overwrite=False):
        """Write the fitted STRF to one safetensors file (see :mod:`sk_icnet.io`); an existing
        file is replaced only with ``overwrite=True``, and only if it is a model file."""
        _io.save_model(self, path, overwrite=overwrite)

    @classmethod
    def load_model(cls, path):
        """Read a file written by :meth:`save_model` (no pickle)."""
        return _io.load_model(path, cls)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        # the generic checks' tabular X is not sound: a spectrogram of it explains little
        tags.regressor_tags.poor_score = True
        return tags


def _shifted_products(S, Z, k):
    """``sum over trials, u of S[u]^T Z[u + k]`` within trials (no pair crosses a boundary).

    Computed on the concatenated rows (views, no copies), minus the pairs that
    straddle two consecutive trials.
    """
    n_trials, n, B = S.shape
    Sf, Zf = S.reshape(-1, B), Z.reshape(-1, Z.shape[2])
    total = Sf[: Sf.shape[0] - k].T @ Zf[k:]
    if k and n_trials > 1:
        total -= np.einsum("tjb,tjc->bc", S[:-1, n - k:], Z[1:, :k])
    return total


def _lagged_gram(S, n_lags):
    """``X^T X`` of the zero-padded lagged design of ``S`` (trials, bins, bands), exactly.

    Uses the lag structure instead of building the design: block ``(l1, l2)`` is
    the cross-product of ``S`` with itself shifted by ``k = l1 - l2`` bins, minus
    the products that fall off the end of each trial. Features are ordered
    ``band * n_lags + lag``. Needs ``n_bins >= n_lags``.
    """
    S = np.ascontiguousarray(S)
    n_trials, n, B = S.shape
    L = n_lags
    G = np.empty((L, L, B, B))
    for k in range(L):
        C = _shifted_products(S, S, k)
        js = np.arange(L - k)
        tails = np.einsum("tjb,tjc->jbc", S[:, n - 1 - k - js], S[:, n - 1 - js])
        dropped = np.concatenate([np.zeros((1, B, B)), np.cumsum(tails, axis=0)[:-1]])
        for l2 in range(L - k):
            block = C - dropped[l2]
            G[l2 + k, l2] = block
            G[l2, l2 + k] = block.T
    return G.transpose(2, 0, 3, 1).reshape(B * L, B * L)


def _lagged_cross(S, Y, n_lags):
    """``X^T Y`` of the lagged design of ``S`` (trials, bins, bands) with ``Y`` (trials, bins, n)."""
    S, Y = np.ascontiguousarray(S), np.ascontiguousarray(Y)
    n_trials, n, B = S.shape
    out = np.zeros((B, n_lags, Y.shape[2]))
    for lag in range(min(n_lags, n)):
        out[:, lag] = _shifted_products(S, Y, lag)
    return out.reshape(B * n_lags, Y.shape[2])


def _group_rows(masks):
    """Unique rows of a boolean matrix and the group index of every row."""
    if masks.all():
        return masks[:1], np.zeros(masks.shape[0], dtype=int)
    keys = [row.tobytes() for row in np.packbits(masks, axis=1)]
    index = {}
    group_of = np.array([index.setdefault(key, len(index)) for key in keys])
    first = [keys.index(key) for key in index]
    return masks[first], group_of


def _trial_folds(n_trials, n_bins, cv):
    """Fold index of every (trial, bin) row: whole trials per fold, or bin blocks."""
    if n_trials >= cv:
        per_trial = np.arange(n_trials) % cv
        return np.repeat(per_trial, n_bins)
    n_rows = n_trials * n_bins
    return (np.arange(n_rows) * cv) // n_rows


def _normal_equations(S, Yt, groups, folds, cv, L):
    """Per fold, ``X^T X`` (one per NaN-pattern group), ``X^T y`` and ``y^T y`` of the lagged
    spectrogram ``S`` (trials, bins, bands) and the centred responses ``Yt`` (trials, bins,
    neurons), masked bins of ``Yt`` being zero."""
    n_trials, n_bins, n_bands = S.shape
    n_neurons = Yt.shape[2]
    n_folds = int(folds.max()) + 1
    D = n_bands * L
    XtX = np.zeros((len(groups), n_folds, D, D))
    Xty = np.zeros((n_folds, D, n_neurons))
    yty = np.zeros((n_folds, n_neurons))
    trial_folds = n_folds == 1 or n_trials >= cv
    fast = trial_folds and n_bins >= L
    if fast:
        # whole trials per fold: exploit the lag (Toeplitz) structure of X^T X
        fold_of_trial = folds[::n_bins]
        for f in range(n_folds):
            tf = np.flatnonzero(fold_of_trial == f)
            Xty[f] = _lagged_cross(S[tf], Yt[tf], L)
            yty[f] = np.einsum("tbn,tbn->n", Yt[tf], Yt[tf])
            for g, mask in enumerate(groups):
                if mask.all():
                    XtX[g, f] = _lagged_gram(S[tf], L)
    Yrows = Yt.reshape(-1, n_neurons)
    general = [g for g, mask in enumerate(groups) if not (fast and mask.all())]
    chunk = max(1, int(2e7 // max(1, n_bins * D)))
    for start in range(0, n_trials, chunk) if (general or not fast) else ():
        stop = min(n_trials, start + chunk)
        Xl = lag_features(S[start:stop], L).reshape(-1, D)
        rows = slice(start * n_bins, stop * n_bins)
        Yc, fc = Yrows[rows], folds[rows]
        for f in range(n_folds):
            in_f = fc == f
            if not in_f.any():
                continue
            Xf, Yf = Xl[in_f], Yc[in_f]
            if not fast:
                Xty[f] += Xf.T @ Yf  # masked bins of Y are zero already
                yty[f] += (Yf * Yf).sum(axis=0)
            for g in general:
                w = groups[g][rows][in_f]
                Xw = Xf if w.all() else Xf * w[:, None]
                XtX[g, f] += Xw.T @ Xf
    return XtX, Xty, yty


def _alpha_grid(alphas, fixed, XtX, D):
    """The ridge penalties to try: the one given, the given list, or 13 log-spaced multiples
    of the features' mean variance."""
    if fixed:
        return np.array([check_positive_number(alphas, "alphas")])
    if alphas is None:
        scale = np.mean([np.trace(XtX[g].sum(0)) / D for g in range(len(XtX))])
        return np.logspace(-4, 2, 13) * max(scale, 1e-12)
    alpha_grid = np.asarray(alphas, dtype=np.float64).ravel()
    if alpha_grid.size == 0 or not np.all(np.isfinite(alpha_grid)) or np.any(alpha_grid < 0):
        raise ValueError(f"alphas must be non-negative finite numbers; received {alphas!r}.")
    return alpha_grid


def _cv_errors(XtX, Xty, yty, group_of, alpha_grid):
    """Held-out squared error of each penalty (rows) and neuron (columns), summed over folds,
    from one eigendecomposition per group and fold."""
    n_folds = Xty.shape[0]
    errors = np.zeros((alpha_grid.size, Xty.shape[2]))
    for g in range(len(XtX)):
        idx = np.flatnonzero(group_of == g)
        total = XtX[g].sum(0)
        for f in range(n_folds):
            s, Q = np.linalg.eigh(total - XtX[g, f])
            b = Q.T @ (Xty.sum(0)[:, idx] - Xty[f][:, idx])
            for a, alpha_value in enumerate(alpha_grid):
                W = Q @ (b / (s + alpha_value)[:, None])
                errors[a, idx] += (yty[f, idx] - 2 * np.einsum("dn,dn->n", W, Xty[f][:, idx])
                                   + np.einsum("dn,dn->n", W, XtX[g, f] @ W))
    return errors


def _ridge_weights(XtX, Xty, group_of, alpha):
    """Ridge weights (features, neurons) on all folds, each neuron with its penalty."""
    W = np.zeros((Xty.shape[1], Xty.shape[2]))
    for g in range(len(XtX)):
        idx = np.flatnonzero(group_of == g)
        s, Q = np.linalg.eigh(XtX[g].sum(0))
        b = Q.T @ Xty.sum(0)[:, idx]
        W[:, idx] = Q @ (b / (s[:, None] + alpha[idx][None, :]))
    return W


class LinearSTRFRegressor(_BaseSTRF):
    """Ridge-regression STRF on a log-mel spectrogram, penalty chosen by CV over trials.

    Parameters
    ----------
    audio_fs : float or "auto", default="auto"
        Sampling rate of ``X`` in Hz. Arrays carry no rate: ``"auto"`` is the
        paper's 24,414.0625 Hz, with a
        :class:`~sk_icnet.exceptions.RatesAssumedWarning` at fit (pass the rate
        to silence it).
    dt_ms : float, "auto" or None, default="auto"
        Bin width of ``y`` in ms (``"auto"``: the paper's 1.31072 ms, with the
        same warning; ``None``: inferred from the shapes).
    n_bands : int, default=32
        Number of mel bands.
    fmin, fmax : float, default=50.0 and None (audio_fs / 2)
        Frequency range of the bands in Hz.
    win_ms : float, default=20.0
        Spectrogram window length (see :func:`log_mel_spectrogram`).
    lags_ms : float or None, default=None
        History covered by the lags, in ms (30 ms if neither this nor
        ``n_lags`` is given): ``round(lags_ms / dt_ms)`` lags of one bin.
    n_lags : int or None, default=None
        Number of lags (0 .. n_lags - 1 bins), instead of ``lags_ms``.
    alphas : float, array-like or None, default=None
        Ridge penalties (on the unscaled normal equations, as MNE's
        ``TimeDelayingRidge``). A single float is used as is. Several are
        compared by ``cv``-fold cross-validation over trials. ``None`` uses
        ``logspace(-4, 2, 13)`` times the mean diagonal of ``X^T X``.
    alpha_per_neuron : bool, default=True
        Choose the penalty separately for each neuron.
    cv : int, default=5
        Folds (whole trials; contiguous blocks of bins if there are fewer trials).
    fit_intercept : bool, default=True
        Centre features and responses before fitting (global means, as MNE).

    Attributes
    ----------
    coef_ : ndarray of shape (n_neurons, n_bands, n_lags)
        The STRFs, lag 0 first.
    intercept_ : ndarray of shape (n_neurons,)
    alpha_ : ndarray of shape (n_neurons,)
        Chosen penalty of each neuron.
    band_frequencies_hz_ : ndarray of shape (n_bands,)
    lags_ms_ : ndarray of shape (n_lags,)

    Notes
    -----
    The normal equations ``X^T X`` and ``X^T y`` are accumulated per fold from
    lagged chunks of trials, so the full lagged design is never held in memory.
    The held-out error of every penalty and neuron follows from the fold
    statistics (``y'y - 2 w'X'y + w'X'Xw``), one eigendecomposition per fold. Bins
    where ``y`` is NaN are left out; neurons are grouped by their NaN pattern.
    ``predict`` returns the linear prediction, which may be negative.
    """

    def __init__(self, audio_fs="auto", dt_ms="auto", *, n_bands=32, fmin=50.0, fmax=None,
                 win_ms=20.0, lags_ms=None, n_lags=None, alphas=None, alpha_per_neuron=True,
                 cv=5, fit_intercept=True):
        self.audio_fs = audio_fs
        self.dt_ms = dt_ms
        self.n_bands = n_bands
        self.fmin = fmin
        self.fmax = fmax
        self.win_ms = win_ms
        self.lags_ms = lags_ms
        self.n_lags = n_lags
        self.alphas = alphas
        self.alpha_per_neuron = alpha_per_neuron
        self.cv = cv
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit the STRFs to waveforms ``X`` and responses ``y`` (ICNet data contract)."""
        S, y3 = self._validate_fit(X, y)
        return self._fit_features(S, y3)

    def _fit_features(self, S, y3):
        n_trials, n_bins, n_bands = S.shape
        n_neurons = y3.shape[1]
        L = self.n_lags_
        observed = ~np.isnan(y3)  # (n_trials, n_neurons, n_bins)
        if self.fit_intercept:
            self.feature_mean_ = S.mean(axis=(0, 1))
            with np.errstate(invalid="ignore"):
                self.response_mean_ = np.nanmean(y3, axis=(0, 2))
            self.response_mean_ = np.nan_to_num(self.response_mean_)
        else:
            self.feature_mean_ = np.zeros(n_bands)
            self.response_mean_ = np.zeros(n_neurons)
        S = S - self.feature_mean_
        Y = np.where(observed, y3 - self.response_mean_[None, :, None], 0.0)

        alphas = self.alphas
        fixed = alphas is not None and np.ndim(alphas) == 0
        cv = 1 if fixed else check_positive_int(self.cv, "cv", minimum=2)
        folds = _trial_folds(n_trials, n_bins, cv) if cv > 1 else np.zeros(n_trials * n_bins, int)
        # neurons with the same NaN pattern share X^T X
        mask_rows = np.moveaxis(observed, 1, 0).reshape(n_neurons, -1)
        groups, group_of = _group_rows(mask_rows)
        Yt = np.ascontiguousarray(np.moveaxis(Y, 1, 2))  # (trials, bins, neurons)
        XtX, Xty, yty = _normal_equations(S, Yt, groups, folds, cv, L)
        alpha_grid = _alpha_grid(alphas, fixed, XtX, n_bands * L)
        alpha = np.full(n_neurons, alpha_grid[0])
        if alpha_grid.size > 1:
            errors = _cv_errors(XtX, Xty, yty, group_of, alpha_grid)
            if self.alpha_per_neuron:
                alpha = alpha_grid[np.argmin(errors, axis=0)]
            else:
                alpha = np.full(n_neurons, alpha_grid[np.argmin(errors.sum(axis=1))])
        W = _ridge_weights(XtX, Xty, group_of, alpha)
        self.alpha_ = alpha
        self.coef_ = W.T.reshape(n_neurons, n_bands, L)
        self.intercept_ = self.response_mean_ - self.coef_.sum(-1) @ self.feature_mean_
        return self

    def _predict3(self, S):
        Xl = lag_features(S - self.feature_mean_, self.n_lags_)
        pred = np.einsum("tbfl,nfl->tnb", Xl, self.coef_)
        return pred + self.response_mean_[None, :, None]


class PoissonSTRFRegressor(_BaseSTRF):
    """Linear-nonlinear Poisson STRF: ``rate = exp(b + sum_{f,l} w[f,l] S[t-l, f])``.

    Each neuron is a Poisson GLM with an exponential link on the standardised
    lagged log-mel features, fitted by scikit-learn's ``PoissonRegressor``
    (``solver="newton-cholesky"``, L2 penalty ``alpha``). NaN bins get zero weight.

    Parameters
    ----------
    audio_fs, dt_ms, n_bands, fmin, fmax, win_ms, lags_ms, n_lags
        As in :class:`LinearSTRFRegressor`.
    alpha : float, default=1e-3
        L2 penalty of ``PoissonRegressor`` (per-sample scaled) on standardised
        features; tune it with ``GridSearchCV``.
    max_iter : int, default=100
    tol : float, default=1e-6

    Attributes
    ----------
    coef_ : ndarray of shape (n_neurons, n_bands, n_lags)
        The STRFs on the unscaled log-mel features (log-rate per unit log power).
    intercept_ : ndarray of shape (n_neurons,)
    n_iter_ : ndarray of shape (n_neurons,)
        Newton iterations of each neuron's GLM.
    band_frequencies_hz_, lags_ms_ : ndarray
    """

    def __init__(self, audio_fs="auto", dt_ms="auto", *, n_bands=32, fmin=50.0, fmax=None,
                 win_ms=20.0, lags_ms=None, n_lags=None, alpha=1e-3, max_iter=100, tol=1e-6):
        self.audio_fs = audio_fs
        self.dt_ms = dt_ms
        self.n_bands = n_bands
        self.fmin = fmin
        self.fmax = fmax
        self.win_ms = win_ms
        self.lags_ms = lags_ms
        self.n_lags = n_lags
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        """Fit one Poisson GLM per neuron to waveforms ``X`` and counts ``y``."""
        S, y3 = self._validate_fit(X, y)
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, numbers.Real) or self.alpha < 0:
            raise ValueError(f"alpha must be a non-negative number; received {self.alpha!r}.")
        n_trials, n_bins, n_bands = S.shape
        L = self.n_lags_
        Xl = lag_features(S, L).reshape(n_trials * n_bins, n_bands * L)
        mean = Xl.mean(axis=0)
        scale = Xl.std(axis=0)
        scale[scale < 1e-12] = 1.0
        Z = (Xl - mean) / scale
        coef = np.zeros((self.n_neurons_, n_bands * L))
        intercept = np.zeros(self.n_neurons_)
        n_iter = np.zeros(self.n_neurons_, dtype=int)
        for j in range(self.n_neurons_):  # one GLM per neuron: each has its own Hessian
            yj = np.moveaxis(y3, 1, 0)[j].reshape(-1)
            observed = ~np.isnan(yj)
            glm = PoissonRegressor(alpha=float(self.alpha), solver="newton-cholesky",
                                   max_iter=self.max_iter, tol=self.tol)
            glm.fit(Z, np.where(observed, yj, 0.0), sample_weight=observed.astype(np.float64))
            coef[j] = glm.coef_ / scale
            intercept[j] = glm.intercept_ - (glm.coef_ / scale) @ mean
            n_iter[j] = glm.n_iter_
        self.n_iter_ = n_iter
        self.coef_ = coef.reshape(self.n_neurons_, n_bands, L)
        self.intercept_ = intercept
        return self

    def _predict3(self, S):
        Xl = lag_features(S, self.n_lags_)
        eta = np.einsum("tbfl,nfl->tnb", Xl, self.coef_) + self.intercept_[None, :, None]
        return np.exp(np.clip(eta, -50.0, 50.0))


register_strf(LinearSTRFRegressor)
register_strf(PoissonSTRFRegressor)
