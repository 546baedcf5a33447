"""Side-by-side cross-validated comparison of encoding models, and plots.

>>> from sk_icnet import compare, ICNetRegressor, LinearSTRFRegressor
>>> result = compare({"ICNet": ICNetRegressor(...), "STRF": LinearSTRFRegressor(...)},
...                  X, y, cv=3)                                      # doctest: +SKIP
>>> result.summary                                                    # doctest: +SKIP

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from __future__ import annotations

import time
import warnings
from collections import namedtuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import KFold, check_cv

from ._validation import (
    _as_numeric_array,
    check_consistent_trials,
    check_responses,
    check_waveforms,
    to_layout,
)
from .metrics import ccnorm, d2_poisson_score, pearson_r, poisson_deviance

__all__ = ["compare", "summarize", "CompareResult", "plot_neuron_scatter", "plot_psth",
           "plot_strf", "METRICS"]

#: per-neuron metrics available to :func:`compare`; ``"ccnorm"`` needs ``y_repeats``
METRICS = {
    "d2_poisson": d2_poisson_score,
    "pearson_r": pearson_r,
    "poisson_deviance": poisson_deviance,
    "ccnorm": ccnorm,
}

CompareResult = namedtuple("CompareResult", ["scores", "summary", "predictions"])
CompareResult.__doc__ = """Result of :func:`compare`.

scores : DataFrame
    Tidy table with columns ``model, fold, neuron, metric, value, fit_time,
    score_time`` (seconds for that model and fold).
summary : DataFrame
    One row per (model, metric): the mean over neurons of each neuron's
    fold-averaged value, its standard error over neurons, the number of
    neurons where it is defined, and the mean ``fit_time``/``score_time`` per fold.
predictions : dict of str to ndarray
    Out-of-fold predictions of each model, ``(n_trials, n_neurons, n_bins)``.
"""


def _check_scoring(scoring, has_repeats):
    if isinstance(scoring, str):
        scoring = [scoring]
    scoring = list(scoring)
    unknown = [s for s in scoring if s not in METRICS]
    if unknown or not scoring:
        raise ValueError(f"scoring must be a non-empty list of {sorted(METRICS)}; "
                         f"received {scoring!r}.")
    if "ccnorm" in scoring and not has_repeats:
        raise ValueError("scoring='ccnorm' needs responses to repeated presentations: pass "
                         "y_repeats of shape (n_trials, n_repeats, n_neurons, n_bins).")
    return scoring


def summarize(scores):
    """Per-model, per-metric summary of a :func:`compare` score table.

    Each neuron's value is first averaged over folds; the summary gives the mean
    over neurons, its standard error and the number of neurons where the metric
    is defined (not NaN).
    """
    per_neuron = scores.groupby(["model", "metric", "neuron"], sort=False)["value"].mean()
    grouped = per_neuron.groupby(level=["model", "metric"], sort=False)
    summary = pd.DataFrame({
        "mean": grouped.mean(),
        "sem": grouped.sem(),
        "n_neurons": grouped.count(),
    }).reset_index()
    if {"fit_time", "score_time"} <= set(scores.columns):
        times = scores.groupby(["model", "fold"], sort=False)[["fit_time", "score_time"]].first()
        summary = summary.merge(times.groupby(level="model", sort=False).mean().reset_index(),
                                on="model", how="left")
    return summary


def _warn_if_ordered(splitter, y3, groups):
    """Warn when unshuffled K-fold splits trials whose responses trend with their order."""
    if groups is not None or not isinstance(splitter, KFold) or splitter.shuffle:
        return
    n = y3.shape[0]
    if n < 10:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_trial = np.nanmean(y3.reshape(n, -1), axis=1)
    ok = np.isfinite(per_trial)
    if ok.sum() < 10 or np.ptp(per_trial[ok]) == 0:
        return
    rho, p = stats.spearmanr(np.flatnonzero(ok), per_trial[ok])
    if abs(rho) > 0.3 and p < 0.01:
        warnings.warn(
            f"the trials look ordered: their mean response trends with the trial index "
            f"(Spearman rho={rho:.2f}, p={p:.1g}), and cv is an unshuffled K-fold, so each test "
            "fold sits at one end of the trend. Shuffle (cv=KFold(k, shuffle=True, "
            "random_state=0)) or give groups= (e.g. recording blocks) with a GroupKFold.",
            UserWarning, stacklevel=3)


def compare(estimators, X, y, *, cv=5, scoring=("d2_poisson", "pearson_r"), y_repeats=None,
            groups=None, verbose=1):
    """Cross-validate several encoding models on the same folds and neurons.

    Parameters
    ----------
    estimators : dict of str to estimator
        Unfitted estimators with the ICNet data contract (``ICNetRegressor``,
        ``LinearSTRFRegressor``, ``PoissonSTRFRegressor`` or any regressor whose
        ``predict`` returns the layout of ``y``); each is cloned for every fold.
    X : array-like of shape (n_trials, n_samples)
    y : array-like of shape (n_trials, n_bins) or (n_trials, n_neurons, n_bins)
        NaN marks missing bins, which every metric leaves out.
    cv : int or cross-validation splitter, default=5
        Folds over trials (``KFold`` without shuffling for an int).
    scoring : sequence of str, default=("d2_poisson", "pearson_r")
        Names from :data:`METRICS`; all are computed per neuron on held-out trials.
    y_repeats : array-like of shape (n_trials, n_repeats, n_neurons, n_bins), optional
        Responses to repeated presentations of each trial's stimulus, for
        ``"ccnorm"``. With repeats, pass their mean over repeats as ``y`` (every
        model then sees the best estimate of each stimulus' rate, and the
        per-trial metrics compare models on the same target); CCnorm uses the
        repeats themselves for the noise correction.
    groups : array-like of shape (n_trials,), optional
        Group labels for grouped splitters (``cv=GroupKFold(k)``), e.g. the
        stimulus block or recording of each trial.
    verbose : int, default=1
        Print one line per model and fold with its fit and score times.

    An unshuffled K-fold (the default for an int ``cv``) over trials whose mean
    response trends with their order warns: each test fold would then sit at
    one end of the trend.

    Returns
    -------
    CompareResult
        ``scores`` (tidy DataFrame), ``summary`` and out-of-fold ``predictions``.
    """
    if not isinstance(estimators, dict) or not estimators:
        raise TypeError("estimators must be a non-empty dict of name -> estimator; received "
                        f"{type(estimators).__name__}.")
    for name, est in estimators.items():
        if not (hasattr(est, "fit") and hasattr(est, "predict")):
            raise TypeError(f"estimators[{name!r}] must have fit and predict; received "
                            f"{type(est).__name__}.")
    X = check_waveforms(X, name="X")
    y3, ndim = check_responses(y, name="y")
    check_consistent_trials(X, y3)
    scoring = _check_scoring(scoring, y_repeats is not None)
    if y_repeats is not None:
        y_repeats = _as_numeric_array(y_repeats, "y_repeats").astype(np.float64)
        if y_repeats.ndim != 4 or y_repeats.shape[0] != X.shape[0] or \
                y_repeats.shape[2:] != y3.shape[1:]:
            raise ValueError("y_repeats must have shape (n_trials, n_repeats, n_neurons, n_bins) "
                             f"= ({X.shape[0]}, R, {y3.shape[1]}, {y3.shape[2]}); received "
                             f"{y_repeats.shape}.")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (X.shape[0],):
            raise ValueError(f"groups must have one label per trial ({X.shape[0]},); received "
                             f"shape {groups.shape}.")
    y_fit = to_layout(y3, ndim)
    splitter = check_cv(cv)
    _warn_if_ordered(splitter, y3, groups)
    rows = []
    predictions = {name: np.full(y3.shape, np.nan) for name in estimators}
    folds = list(splitter.split(X, y_fit, groups))
    for fold, (train, test) in enumerate(folds):
        y_test = y3[test]
        for name, est in estimators.items():
            t0 = time.perf_counter()
            fitted = clone(est).fit(X[train], y_fit[train])
            t1 = time.perf_counter()
            pred = np.asarray(fitted.predict(X[test]), dtype=np.float64).reshape(y_test.shape)
            score_time = time.perf_counter() - t1
            fit_time = t1 - t0
            if verbose:
                print(f"[compare] {name}, fold {fold + 1}/{len(folds)}: fit {fit_time:.1f} s, "
                      f"predict {score_time:.2f} s", flush=True)
            predictions[name][test] = pred
            for metric in scoring:
                if metric == "ccnorm":
                    values = ccnorm(y_repeats[test], pred, multioutput="raw_values")
                else:
                    values = METRICS[metric](y_test, pred, multioutput="raw_values")
                rows.extend({"model": name, "fold": fold, "neuron": j, "metric": metric,
                             "value": float(v), "fit_time": fit_time, "score_time": score_time}
                            for j, v in enumerate(values))
    scores = pd.DataFrame(rows, columns=["model", "fold", "neuron", "metric", "value",
                                         "fit_time", "score_time"])
    return CompareResult(scores, summarize(scores), predictions)


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Plotting needs matplotlib: pip install 'sk_icnet[plot]'.") from exc
    return plt


def plot_neuron_scatter(scores, x_model, y_model, metric="d2_poisson", *, ax=None, hue=None):
    """Scatter of per-neuron scores of two models (fold-averaged), with the diagonal.

    Parameters
    ----------
    scores : DataFrame
        ``compare(...).scores``.
    x_model, y_model : str
        Model names for the horizontal and vertical axes.
    metric : str, default="d2_poisson"
    ax : matplotlib Axes, optional
    hue : sequence, optional
        A label per neuron (e.g. the neuron kind) to colour the points.

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    table = (scores[scores.metric == metric]
             .groupby(["model", "neuron"])["value"].mean().unstack("model"))
    for model in (x_model, y_model):
        if model not in table.columns:
            raise ValueError(f"model {model!r} is not in scores (models: {list(table.columns)}).")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    xs, ys = table[x_model].to_numpy(), table[y_model].to_numpy()
    if hue is None:
        ax.scatter(xs, ys, s=25)
    else:
        hue = np.asarray(hue)
        for label in dict.fromkeys(hue):
            sel = hue[table.index.to_numpy()] == label
            ax.scatter(xs[sel], ys[sel], s=25, label=str(label))
        ax.legend(frameon=False)
    finite = np.isfinite(np.r_[xs, ys])
    lo, hi = (np.r_[xs, ys][finite].min(), np.r_[xs, ys][finite].max()) if finite.any() else (0, 1)
    pad = 0.05 * (hi - lo + 1e-12)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, ls="--")
    ax.set_xlabel(f"{x_model} {metric}")
    ax.set_ylabel(f"{y_model} {metric}")
    return ax


def plot_psth(y, predictions, *, neuron=0, trial=0, dt_ms=None, ax=None, y_repeats=None):
    """Observed response (or PSTH over repeats) and each model's prediction for one trial.

    Parameters
    ----------
    y : array-like of shape (n_trials, n_neurons, n_bins) or (n_trials, n_bins)
    predictions : dict of str to array-like of the same shape
    neuron, trial : int
    dt_ms : float, optional
        Bin width, to label the time axis in ms.
    ax : matplotlib Axes, optional
    y_repeats : array-like of shape (n_trials, n_repeats, n_neurons, n_bins), optional
        If given, the PSTH (mean over repeats) is drawn instead of ``y``.

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    y3, _ = check_responses(y, name="y")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 2.5))
    t = np.arange(y3.shape[2]) * (dt_ms if dt_ms else 1.0)
    if y_repeats is not None:
        observed = np.nanmean(np.asarray(y_repeats, dtype=float)[trial, :, neuron], axis=0)
        label = "observed PSTH"
    else:
        observed = y3[trial, neuron]
        label = "observed"
    ax.bar(t, observed, width=t[1] - t[0] if len(t) > 1 else 1.0, color="0.8", label=label)
    for name, pred in predictions.items():
        p3 = np.asarray(pred, dtype=float).reshape(y3.shape)
        ax.plot(t, p3[trial, neuron], lw=1.2, label=name)
    ax.set_xlabel("time (ms)" if dt_ms else "bin")
    ax.set_ylabel("spikes / bin")
    ax.legend(frameon=False, fontsize="small", ncol=len(predictions) + 1)
    return ax


def plot_strf(estimator, neuron=0, *, ax=None):
    """Image of a fitted STRF (``coef_[neuron]``): lag (ms) by band frequency (Hz)."""
    plt = _pyplot()
    coef = estimator.coef_[neuron]
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    lim = np.abs(coef).max() or 1.0
    lags = estimator.lags_ms_
    freqs = estimator.band_frequencies_hz_
    ax.imshow(coef, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
              extent=[lags[0], lags[-1] + (lags[1] - lags[0] if len(lags) > 1 else 1), 0,
                      len(freqs)])
    ticks = np.linspace(0, len(freqs) - 1, min(5, len(freqs))).astype(int)
    ax.set_yticks(ticks + 0.5)
    ax.set_yticklabels([f"{freqs[i]:.0f}" for i in ticks])
    ax.set_xlabel("lag (ms)")
    ax.set_ylabel("band centre (Hz)")
    return ax
