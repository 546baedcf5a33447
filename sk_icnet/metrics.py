"""Neuroscience metrics for predicted spike counts, and scikit-learn scorers.

All functions take ``y_true`` and ``y_pred`` in the estimators' layout:
``(n_trials,)`` or ``(n_trials, n_bins)`` for one neuron, or
``(n_trials, n_neurons, n_bins)``. Each metric is computed **per neuron** over
all of that neuron's observed bins (every trial and bin pooled); NaN in
``y_true`` marks a missing bin, which is left out. ``multioutput`` chooses
between the per-neuron values (``"raw_values"``) and their mean over neurons
(``"uniform_average"``, ignoring neurons whose value is undefined).

Definitions
-----------
Poisson deviance (per observed bin)
    ``2 * mean( y * log(y / mu) - (y - mu) )`` with ``0 * log 0 = 0``;
    predictions are floored at ``eps`` (``1e-8``), so a model that predicts a
    zero rate where spikes occur is penalised heavily, as the likelihood says.
D² (fraction of Poisson deviance explained)
    ``1 - D(y, mu) / D(y, ybar)`` where ``ybar`` is the neuron's mean observed
    count: 1 is perfect, 0 is no better than a constant rate, negative is
    worse. Undefined (NaN) for a neuron that never fires in the scored data.
Pearson correlation (CC)
    Correlation between observed and predicted counts over observed bins;
    undefined (NaN) when either is constant.
CCnorm (Schoppe et al. 2016)
    ``cov(mu, PSTH) / sqrt(var(mu) * SP)`` where the PSTH is the mean over
    repeats and SP the signal power of Sahani & Linden (2003),
    ``SP = (var(sum over repeats) - sum over repeats of var(repeat)) / (R (R - 1))``.
    Needs responses to repeated stimuli; see :func:`ccnorm`.

Examples
--------
>>> import numpy as np
>>> from sk_icnet.metrics import d2_poisson_score, pearson_r
>>> y = np.array([[[0, 1, 3, 0, 2, 1]], [[1, 0, 2, 0, 4, 0]]], dtype=float)  # 2 trials, 1 neuron
>>> rates = np.array([[[0.2, 1.0, 2.5, 0.3, 2.0, 0.8]], [[0.6, 0.3, 2.2, 0.2, 3.5, 0.4]]])
>>> round(float(d2_poisson_score(y, rates)), 3), round(float(pearson_r(y, rates)), 3)
(0.828, 0.983)
>>> float(d2_poisson_score(y, np.full_like(y, y.mean())))   # a constant rate explains nothing
0.0
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.utils import check_random_state

from ._core.validation import (
    _as_numeric_array,
    check_consistent_trials,
    check_positive_int,
    check_responses,
)

__all__ = [
    "poisson_deviance",
    "d2_poisson_score",
    "pearson_r",
    "signal_power",
    "ccnorm",
    "feve",
    "split_half_ceiling",
    "d2_poisson_scorer",
    "pearson_scorer",
    "neg_poisson_deviance_scorer",
    "SCORERS",
    "get_scorer",
    "make_ccnorm_scorer",
    "PoissonD2Accumulator",
]

_EPS = 1e-8


def _neuron_matrix(y3):
    """(n_trials, n_neurons, n_bins) -> (n_neurons, n_trials * n_bins)."""
    return np.ascontiguousarray(np.moveaxis(y3, 1, 0).reshape(y3.shape[1], -1), dtype=np.float64)


def _check_pair(y_true, y_pred, sample_weight=None):
    """Validate a (y_true, y_pred) pair; return per-neuron matrices and weights."""
    yt, ndim = check_responses(y_true, name="y_true")
    yp = _as_numeric_array(y_pred, "y_pred")
    if yp.shape != np.shape(y_true):
        raise ValueError(
            f"y_pred must have the same shape as y_true; received {yp.shape} and "
            f"{np.shape(y_true)}."
        )
    if not np.isfinite(yp).all():
        raise ValueError("y_pred contains NaN or inf; predictions must be finite.")
    yp = yp.reshape(yt.shape)
    Y, P = _neuron_matrix(yt), _neuron_matrix(yp)
    W = np.isfinite(Y).astype(np.float64)
    if sample_weight is not None:
        sw = _as_numeric_array(sample_weight, "sample_weight").astype(np.float64)
        if sw.shape != (yt.shape[0],):
            raise ValueError(
                f"sample_weight must have shape (n_trials,) = ({yt.shape[0]},); "
                f"received {sw.shape}.")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and non-negative.")
        W = W * np.repeat(sw, yt.shape[2])[None, :]
    Y = np.where(np.isfinite(Y), Y, 0.0)
    return Y, P, W


def _average(values, multioutput):
    if multioutput == "raw_values":
        return values
    if multioutput != "uniform_average":
        raise ValueError("multioutput must be 'raw_values' or 'uniform_average'; "
                         f"received {multioutput!r}.")
    finite = np.isfinite(values)
    return float(values[finite].mean()) if finite.any() else float("nan")


def _deviance_terms(Y, P):
    P = np.maximum(P, _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1.0) / P), 0.0)
    return 2.0 * (ylogy - (Y - P))


def poisson_deviance(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean Poisson deviance per observed bin, per neuron (lower is better).

    Parameters
    ----------
    y_true : array-like of shape (n_trials,), (n_trials, n_bins) or (n_trials, n_neurons, n_bins)
        Observed counts, NaN for missing bins.
    y_pred : array-like of the same shape
        Predicted rates (floored at 1e-8).
    sample_weight : array-like of shape (n_trials,), optional
        Weight of each trial.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"

    Returns
    -------
    float or ndarray of shape (n_neurons,)
    """
    Y, P, W = _check_pair(y_true, y_pred, sample_weight)
    wsum = W.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = (W * _deviance_terms(Y, P)).sum(axis=1) / wsum
    dev[wsum == 0] = np.nan
    return _average(dev, multioutput)


def d2_poisson_score(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Fraction of Poisson deviance explained, D², per neuron (higher is better).

    ``D² = 1 - D(y, y_pred) / D(y, mean(y))`` over each neuron's observed bins;
    NaN for a neuron with no observed spikes (its null deviance is zero).
    ``"uniform_average"`` averages over neurons where D² is defined.

    Parameters
    ----------
    y_true, y_pred, sample_weight, multioutput
        As in :func:`poisson_deviance`.

    Returns
    -------
    float or ndarray of shape (n_neurons,)
    """
    Y, P, W = _check_pair(y_true, y_pred, sample_weight)
    wsum = W.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = (W * Y).sum(axis=1, keepdims=True) / wsum
        dev_model = (W * _deviance_terms(Y, P)).sum(axis=1)
        dev_null = (W * _deviance_terms(Y, np.broadcast_to(ybar, Y.shape))).sum(axis=1)
        d2 = 1.0 - dev_model / dev_null
    d2[~((dev_null > 0) & (ybar[:, 0] > 0))] = np.nan
    return _average(d2, multioutput)


def pearson_r(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Pearson correlation between observed and predicted counts, per neuron.

    Parameters
    ----------
    y_true, y_pred, sample_weight, multioutput
        As in :func:`poisson_deviance`; ``y_pred`` may be negative here.

    Returns
    -------
    float or ndarray of shape (n_neurons,)
        NaN for a neuron whose observed or predicted counts are constant.
    """
    Y, P, W = _check_pair(y_true, y_pred, sample_weight)
    return _average(_weighted_corr(Y, P, W), multioutput)


def _weighted_corr(Y, P, W):
    wsum = W.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        my = (W * Y).sum(axis=1, keepdims=True) / wsum
        mp = (W * P).sum(axis=1, keepdims=True) / wsum
        dy, dp = Y - my, P - mp
        cov = (W * dy * dp).sum(axis=1)
        vy = (W * dy * dy).sum(axis=1)
        vp = (W * dp * dp).sum(axis=1)
        r = cov / np.sqrt(vy * vp)
    tiny = 1e-12 * np.maximum(1.0, np.abs(my[:, 0]) + np.abs(mp[:, 0])) ** 2
    r[~((vy > tiny) & (vp > tiny))] = np.nan
    return np.clip(r, -1.0, 1.0)


def _check_repeats(y_repeats, name="y_repeats"):
    arr = _as_numeric_array(y_repeats, name)
    if arr.ndim == 3:  # (n_stimuli, n_repeats, n_bins): one neuron
        arr = arr[:, :, None, :]
    if arr.ndim != 4:
        raise ValueError(
            f"{name} must be (n_stimuli, n_repeats, n_neurons, n_bins) or, for one neuron, "
            f"(n_stimuli, n_repeats, n_bins); received shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; received shape {arr.shape}.")
    arr = arr.astype(np.float64)
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains inf; use NaN for missing bins.")
    if (arr < 0).any():
        raise ValueError(f"{name} must be non-negative counts; received a minimum of "
                         f"{float(np.nanmin(arr))!r}.")
    return arr


def signal_power(y_repeats, *, multioutput="raw_values"):
    """Signal power of each neuron (Sahani & Linden 2003).

    Parameters
    ----------
    y_repeats : array-like of shape (n_stimuli, n_repeats, n_neurons, n_bins)
        Responses to repeated presentations; ``(n_stimuli, n_repeats, n_bins)`` for
        one neuron. NaN marks a missing bin: a bin enters only where every repeat
        is observed.

    Returns
    -------
    sp : ndarray of shape (n_neurons,)
        ``(var(sum_r y_r) - sum_r var(y_r)) / (R (R - 1))``, variances over the
        pooled stimuli and bins. NaN with fewer than two repeats. It can be
        negative for very noisy neurons (an estimate of a non-negative quantity).
        With ``multioutput="uniform_average"``, the mean over neurons.
    """
    arr = _check_repeats(y_repeats)
    sp, _ = _signal_power(arr)
    return _average(sp, multioutput)


def _signal_power(arr):
    n_stim, n_rep, n_neurons, n_bins = arr.shape
    # (n_neurons, n_repeats, n_stim * n_bins)
    R = np.moveaxis(arr, 2, 0).transpose(0, 2, 1, 3).reshape(n_neurons, n_rep, -1)
    valid = np.isfinite(R).all(axis=1)  # (n_neurons, n_points)
    sp = np.full(n_neurons, np.nan)
    if n_rep < 2:
        return sp, (R, valid)
    for i in range(n_neurons):  # loop over neurons for the ragged masks
        r = R[i][:, valid[i]]
        if r.shape[1] < 2:
            continue
        total_var = np.var(r.sum(axis=0))
        sum_var = np.var(r, axis=1).sum()
        sp[i] = (total_var - sum_var) / (n_rep * (n_rep - 1))
    return sp, (R, valid)


def ccnorm(y_repeats, y_pred, *, multioutput="uniform_average"):
    """Noise-ceiling-normalised correlation CCnorm (Schoppe et al. 2016).

    ``CCnorm = cov(y_pred, PSTH) / sqrt(var(y_pred) * SP)`` where the PSTH is the
    mean response over repeats and SP the signal power (:func:`signal_power`).
    A model that predicts the true underlying rate scores 1 in expectation,
    however noisy the neuron.

    Parameters
    ----------
    y_repeats : array-like of shape (n_stimuli, n_repeats, n_neurons, n_bins)
        Responses to repeated stimuli (``(n_stimuli, n_repeats, n_bins)`` for one
        neuron); NaN marks missing bins.
    y_pred : array-like of shape (n_stimuli, n_neurons, n_bins)
        Predictions for each stimulus (``(n_stimuli, n_bins)`` for one neuron),
        e.g. ``estimator.predict(X_stimuli)``.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"

    Returns
    -------
    float or ndarray of shape (n_neurons,)
        NaN for a neuron with fewer than two repeats, non-positive signal power,
        no observed bins or a constant prediction.
    """
    arr = _check_repeats(y_repeats)
    n_stim, n_rep, n_neurons, n_bins = arr.shape
    pred = _check_pred_for_repeats(y_pred, arr.shape)
    sp, (R, valid) = _signal_power(arr)
    P = np.moveaxis(pred, 1, 0).reshape(n_neurons, -1)
    out = np.full(n_neurons, np.nan)
    for i in range(n_neurons):
        if not (sp[i] > 0):
            continue
        psth = R[i][:, valid[i]].mean(axis=0)
        p = P[i][valid[i]]
        var_p = np.var(p)
        if var_p <= 1e-12 * max(1.0, np.mean(p) ** 2):
            continue
        cov = np.mean((p - p.mean()) * (psth - psth.mean()))
        out[i] = cov / np.sqrt(var_p * sp[i])
    return _average(out, multioutput)


def _check_pred_for_repeats(y_pred, shape):
    n_stim, _, n_neurons, n_bins = shape
    pred = _as_numeric_array(y_pred, "y_pred").astype(np.float64)
    expected = (n_stim, n_neurons, n_bins)
    if pred.shape != expected and not (n_neurons == 1 and pred.shape == (n_stim, n_bins)):
        raise ValueError(f"y_pred must have shape (n_stimuli, n_neurons, n_bins) = {expected} "
                         f"to match y_repeats; received {pred.shape}.")
    if not np.isfinite(pred).all():
        raise ValueError("y_pred contains NaN or inf; predictions must be finite.")
    return pred.reshape(expected)


def feve(y_repeats, y_pred, *, multioutput="uniform_average"):
    """Fraction of explainable variance explained (FEVE; Cadena et al. 2019).

    ``FEVE = 1 - (MSE - noise) / (Var[y] - noise)``: ``MSE`` is the squared error
    of the prediction against every repeat, ``noise`` the trial-to-trial variance
    (over repeats, unbiased, averaged over stimuli and bins) and ``Var[y]`` the
    variance of all responses. 1 is the true rate (in expectation), 0 a
    constant prediction at the mean. Bins enter where every repeat is observed.

    Parameters
    ----------
    y_repeats : array-like of shape (n_stimuli, n_repeats, n_neurons, n_bins)
        (or ``(n_stimuli, n_repeats, n_bins)`` for one neuron)
    y_pred : array-like of shape (n_stimuli, n_neurons, n_bins)
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"

    Returns
    -------
    float or ndarray of shape (n_neurons,)
        NaN for a neuron with fewer than two repeats or no explainable variance.
    """
    arr = _check_repeats(y_repeats)
    pred = _check_pred_for_repeats(y_pred, arr.shape)
    n_stim, n_rep, n_neurons, n_bins = arr.shape
    out = np.full(n_neurons, np.nan)
    if n_rep < 2:
        return _average(out, multioutput)
    for i in range(n_neurons):
        r = arr[:, :, i, :]  # (stim, rep, bins)
        valid = np.isfinite(r).all(axis=1)  # (stim, bins)
        if valid.sum() < 2:
            continue
        reps = np.moveaxis(r, 1, -1)[valid]  # (points, rep)
        p = pred[:, i, :][valid]
        noise = np.var(reps, axis=1, ddof=1).mean()
        total = np.var(reps)
        mse = np.mean((reps - p[:, None]) ** 2)
        if total - noise > 1e-12 * max(total, 1e-300):
            out[i] = 1.0 - (mse - noise) / (total - noise)
    return _average(out, multioutput)


def split_half_ceiling(y_repeats, *, metric="pearson_r", n_splits=20, random_state=None,
                       multioutput="uniform_average"):
    """Noise ceiling: the score that the true, noise-free rates would reach on these responses.

    ``"pearson_r"``: split halves. Each split divides the repeats at random
    into two halves; the mean response of one half predicts the mean of the
    other, correlated per neuron, averaged over ``n_splits`` splits and
    Spearman-Brown corrected to all repeats (``2r / (1 + r)``): the
    correlation between two independent means of all the repeats.

    ``"d2_poisson"``: an estimate of the Poisson D² (:func:`d2_poisson_score`)
    that the true rates ``lambda`` would score on the responses of *single
    repeats* (every repeat a trial, the layout ``score`` sees when you fit on
    trials), computed without splitting and without predicting zero rates:

    ``D² = 1 - D(y, lambda) / D(y, ybar)``, whose null deviance
    ``D(y, ybar)`` is observed, and whose model deviance has the expectation
    ``2 sum(y log y) - 2 R sum_bins lambda log lambda`` (Poisson noise). The
    unknown ``sum lambda log lambda`` is estimated by empirical Bayes: the
    distribution of rates over a neuron's bins is the nonparametric maximum-
    likelihood Poisson mixture (EM on a grid) fitted to the summed counts of
    the repeats, and each bin contributes the posterior mean of
    ``lambda log lambda`` given its count. This stays close to the true rates'
    D² for sparse spiking (a few tenths of a spike per bin and below, where a
    half's mean is zero in most bins), where scoring one half's mean as a
    prediction of the other explodes the deviance. It needs integer spike
    counts and at least two repeats; it is an estimate (of a quantity in
    [0, 1]) with sampling error of a few hundredths for 5 repeats of a few
    thousand bins.

    Parameters
    ----------
    y_repeats : array-like of shape (n_stimuli, n_repeats, n_neurons, n_bins)
        ``(n_stimuli, n_repeats, n_bins)`` for one neuron. NaN marks a missing
        bin: a bin enters only where every repeat is observed.
    metric : {"pearson_r", "d2_poisson"}, default="pearson_r"
    n_splits : int, default=20
        Random splits (``"pearson_r"`` only).
    random_state : int, RandomState instance or None
        Seeds the splits (``"pearson_r"`` only; ``"d2_poisson"`` is deterministic).
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"

    Returns
    -------
    float or ndarray of shape (n_neurons,)
        NaN for a neuron without observed spikes.
    """
    arr = _check_repeats(y_repeats)
    if metric not in ("pearson_r", "d2_poisson"):
        raise ValueError(f"metric must be 'pearson_r' or 'd2_poisson'; received {metric!r}.")
    n_splits = check_positive_int(n_splits, "n_splits")
    n_rep = arr.shape[1]
    if n_rep < 2:
        raise ValueError(f"y_repeats needs at least 2 repeats for split halves; received {n_rep}.")
    if metric == "d2_poisson":
        finite = arr[np.isfinite(arr)]
        if not np.array_equal(finite, np.round(finite)):
            raise ValueError("split_half_ceiling(metric='d2_poisson') models Poisson spike-count "
                             "noise and needs integer counts in y_repeats; received non-integer "
                             "values (rates?). Pass the counts, or use metric='pearson_r'.")
        values = np.array([_poisson_d2_ceiling(arr[:, :, i]) for i in range(arr.shape[2])])
        return _average(values, multioutput)
    rng = check_random_state(random_state)
    observed = np.isfinite(arr).all(axis=1)  # a bin enters only where every repeat is observed
    scores = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(n_splits):
            order = rng.permutation(n_rep)
            a, b = order[: n_rep // 2], order[n_rep // 2:]
            mean_a = np.where(observed, arr[:, a].mean(axis=1), 0.0)
            mean_b = np.where(observed, arr[:, b].mean(axis=1), np.nan)
            r = pearson_r(mean_b, mean_a, multioutput="raw_values")
            scores.append(2 * r / (1 + r))
        values = np.nanmean(np.stack(scores), axis=0) if scores else np.array([])
    return _average(np.atleast_1d(values), multioutput)


def _xlogx(x):
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def _poisson_d2_ceiling(Y, n_grid=200, n_iter=400):
    """:func:`split_half_ceiling`'s ``"d2_poisson"`` estimate for one neuron, ``Y`` (stimuli,
    repeats, bins) of counts; NaN where the neuron has no observed spike."""
    from scipy.stats import poisson

    n_rep = Y.shape[1]
    valid = np.isfinite(Y).all(axis=1)  # (stimuli, bins)
    reps = np.moveaxis(Y, 1, -1)[valid]  # (points, repeats)
    K = reps.sum(axis=1)
    if K.size == 0 or K.sum() == 0:
        return np.nan
    m = K.mean() / n_rep
    null = float((_xlogx(reps) - reps * np.log(m)).sum())  # D(y, ybar) / 2
    if not null > 0:
        return np.nan
    ks, n_k = np.unique(K, return_counts=True)
    grid = np.concatenate([[0.0], np.geomspace(1e-4 * m, 1.5 * ks.max() / n_rep + m, n_grid)])
    likelihood = poisson.pmf(ks[:, None], n_rep * grid[None, :])  # (counts, grid)
    weights = np.full(grid.size, 1.0 / grid.size)
    for _ in range(n_iter):  # EM for the mixing distribution of the rates
        post = likelihood * weights
        post /= post.sum(axis=1, keepdims=True)
        weights = (n_k[:, None] * post).sum(axis=0) / n_k.sum()
    post = likelihood * weights
    post /= post.sum(axis=1, keepdims=True)
    sum_lam_log_lam = float(n_k @ (post @ _xlogx(grid)))
    explained = n_rep * sum_lam_log_lam - np.log(m) * K.sum()  # R sum lambda log(lambda / ybar)
    return float(np.clip(explained / null, 0.0, 1.0))


d2_poisson_scorer = make_scorer(d2_poisson_score)
pearson_scorer = make_scorer(pearson_r)
neg_poisson_deviance_scorer = make_scorer(poisson_deviance, greater_is_better=False)

#: Scorers by name, for ``GridSearchCV(scoring=SCORERS)`` or a subset of it.
SCORERS = {
    "d2_poisson": d2_poisson_scorer,
    "pearson_r": pearson_scorer,
    "neg_poisson_deviance": neg_poisson_deviance_scorer,
}


def get_scorer(name):
    """Return the scorer called ``name`` (one of :data:`SCORERS`), or scikit-learn's."""
    if callable(name):
        return name
    if name in SCORERS:
        return SCORERS[name]
    from sklearn.metrics import get_scorer as sk_get_scorer

    try:
        return sk_get_scorer(name)
    except ValueError:
        raise ValueError(f"scoring must be one of {sorted(SCORERS)} or a scikit-learn scorer "
                         f"name; received {name!r}.") from None


def _row_keys(X):
    X = np.ascontiguousarray(X)
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in X.reshape(X.shape[0], -1)]


def make_ccnorm_scorer(X, y_repeats):
    """A CCnorm scorer for ``GridSearchCV``/``cross_validate``, given the repeated responses.

    A scorer only sees ``(estimator, X_test, y_test)``, but CCnorm needs every
    repeat of each test stimulus. This scorer keeps ``y_repeats`` and finds the
    rows of ``X_test`` among the rows of ``X`` (by content), so it works on any
    cross-validation split of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_trials, n_samples)
        The waveforms that will be split (the same array passed to the search).
    y_repeats : array-like of shape (n_trials, n_repeats, n_neurons, n_bins)
        Responses to repeated presentations of each row of ``X`` (``(n_trials,
        n_repeats, n_bins)`` for one neuron).

    Returns
    -------
    scorer : callable ``scorer(estimator, X_test, y_test) -> float``
        Mean CCnorm over neurons (NaN neurons left out); ``y_test`` is not used.

    Examples
    --------
    >>> scoring = {"d2": d2_poisson_scorer,
    ...            "ccnorm": make_ccnorm_scorer(X, y_repeats)}   # doctest: +SKIP
    >>> GridSearchCV(est, grid, scoring=scoring, refit="d2")      # doctest: +SKIP
    """
    reps = _check_repeats(y_repeats)
    X = _as_numeric_array(X, "X")
    check_consistent_trials(X, reps, y_name="y_repeats")
    index = {}
    for i, key in enumerate(_row_keys(X)):
        index.setdefault(key, i)

    def ccnorm_scorer(estimator, X_test, y_test=None):
        keys = _row_keys(_as_numeric_array(X_test, "X"))
        missing = sum(key not in index for key in keys)
        if missing:
            raise ValueError(f"{missing} row(s) of X are not among the rows given to "
                             "make_ccnorm_scorer; pass the same X to the search.")
        idx = np.array([index[key] for key in keys])
        pred = np.asarray(estimator.predict(X_test), dtype=np.float64)
        return ccnorm(reps[idx], pred.reshape(len(idx), reps.shape[2], reps.shape[3]))

    return ccnorm_scorer


class PoissonD2Accumulator:
    """D² of :func:`d2_poisson_score`, accumulated batch by batch (data larger than memory).

    Per neuron it keeps the observed-bin count and the sums of ``y``,
    ``y log y``, ``y log mu`` and ``mu`` (``mu`` floored at 1e-8 as in
    :func:`poisson_deviance`), from which both deviances follow:
    ``D(y, mu) = 2 (S[y log y] - S[y log mu] - S[y] + S[mu])`` and, with
    ``ybar = S[y] / n``, ``D(y, ybar) = 2 (S[y log y] - S[y] log ybar)``.

    Parameters
    ----------
    n_neurons : int
    """

    def __init__(self, n_neurons):
        self.n_neurons = int(n_neurons)
        self._sums = np.zeros((5, self.n_neurons))  # n, y, y log y, y log mu, mu

    def update(self, y, mu, observed, neurons):
        """Add bins: ``y``, ``mu`` of shape (batch, n, bins), ``observed`` broadcastable bool,
        ``neurons`` the n neuron indices of axis 1."""
        y = np.asarray(y, dtype=np.float64)
        mu = np.maximum(np.asarray(mu, dtype=np.float64), _EPS)
        w = np.broadcast_to(np.asarray(observed, dtype=bool), y.shape)
        y = np.where(w, y, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
        terms = np.stack([w, y, ylogy, y * np.log(mu), np.where(w, mu, 0.0)])
        self._sums[:, neurons] += terms.sum(axis=(1, 3))

    def result(self, multioutput="uniform_average"):
        """D² per neuron (``"raw_values"``) or their mean over neurons where it is defined."""
        n, sy, sylogy, sylogmu, smu = self._sums
        with np.errstate(divide="ignore", invalid="ignore"):
            ybar = sy / n
            dev_model = 2.0 * (sylogy - sylogmu - sy + smu)
            dev_null = 2.0 * (sylogy - sy * np.log(ybar))
            d2 = 1.0 - dev_model / dev_null
        d2[~((n > 0) & (ybar > 0) & (dev_null > 0))] = np.nan
        return _average(d2, multioutput)
