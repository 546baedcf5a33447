"""Side-by-side cross-validated comparison of encoding models, and plots.

>>> from sk_icnet import compare_models, ICNetRegressor, LinearSTRFRegressor
>>> result = compare_models({"ICNet": ICNetRegressor(...), "STRF": LinearSTRFRegressor(...)},
...                         X, y, cv=3)                               # doctest: +SKIP
>>> result.summary                                                    # doctest: +SKIP

The function is :func:`compare` in this module, also exported as
``sk_icnet.compare_models``; ``sk_icnet.compare`` is this module, so
``sk_icnet.compare.paired_statistics`` and the plots resolve as written. Calling
the module itself (``sk_icnet.compare(...)``, the spelling of 0.4) still works
and gives a ``FutureWarning``; it will stop working in 0.6.

Statistics a reviewer accepts (:func:`paired_statistics`): per neuron, a paired
bootstrap confidence interval of the difference between two models' scores
(resampling held-out trials or stimulus blocks, never bins, with the same
resample for both models); across neurons, a Wilcoxon signed-rank test of the
differences; across model pairs, Holm's correction. Repeated cross-validation
(``RepeatedKFold``) is handled by computing every statistic within each
repetition and averaging over repetitions: the repetitions re-use the same
trials, so they are never counted as independent samples.

>>> stats = paired_statistics(result, metric="pearson_r")          # doctest: +SKIP
>>> stats.pairs                                                    # doctest: +SKIP

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from __future__ import annotations

import sys
import time
import types
import warnings
from collections import namedtuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    LeaveOneOut,
    LeavePOut,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
    check_cv,
)
from sklearn.utils import check_random_state

from ._core.plotting import pyplot as _pyplot
from ._core.validation import (
    _as_numeric_array,
    check_consistent_trials,
    check_responses,
    check_waveforms,
    to_layout,
)
from .metrics import ccnorm, d2_poisson_score, feve, pearson_r, poisson_deviance

__all__ = ["compare", "compare_models", "summarize", "CompareResult", "paired_statistics", "PairedStatistics",
           "holm", "plot_neuron_scatter", "plot_paired", "plot_psth", "plot_strf", "METRICS"]

#: per-neuron metrics available to :func:`compare`; ``"ccnorm"`` and ``"feve"`` need ``y_repeats``
METRICS = {
    "d2_poisson": d2_poisson_score,
    "pearson_r": pearson_r,
    "poisson_deviance": poisson_deviance,
    "ccnorm": ccnorm,
    "feve": feve,
}
#: the most bootstrap samples paired_statistics draws
_MAX_BOOTSTRAP = 100_000
#: scikit-learn splitters that accept ``groups`` and ignore them
_GROUP_BLIND_SPLITTERS = (KFold, StratifiedKFold, ShuffleSplit, StratifiedShuffleSplit,
                          RepeatedKFold, RepeatedStratifiedKFold, TimeSeriesSplit, LeaveOneOut,
                          LeavePOut)
#: the metrics computed against the repeats themselves
REPEAT_METRICS = ("ccnorm", "feve")


class CompareResult(namedtuple("CompareResult", ["scores", "summary", "predictions"])):
    # no __slots__: the data that paired_statistics needs ride along as attributes
    pass


CompareResult.__doc__ = """Result of :func:`compare` (unpacks as ``scores, summary, predictions``).

scores : DataFrame
    Tidy table with columns ``model, fold, neuron, metric, value, fit_time,
    score_time`` (seconds for that model and fold).
summary : DataFrame
    One row per (model, metric): the mean over neurons of each neuron's
    fold-averaged value, its standard error over neurons, the number of
    neurons where it is defined, and the mean ``fit_time``/``score_time`` per fold.
predictions : dict of str to ndarray
    Out-of-fold predictions of each model, ``(n_trials, n_neurons, n_bins)``
    (with repeated cross-validation, their mean over the repetitions).

Attributes used by :func:`paired_statistics`: ``repeat_predictions`` (dict of
``(n_repetitions, n_trials, n_neurons, n_bins)``, NaN for trials a repetition
did not hold out), ``fold_repetition`` (the repetition of each fold: a new one
starts whenever a fold's test trials overlap those already held out),
``y`` (``(n_trials, n_neurons, n_bins)``), ``y_repeats`` and ``groups``.
"""


def _check_scoring(scoring, has_repeats):
    if isinstance(scoring, str):
        scoring = [scoring]
    scoring = list(scoring)
    unknown = [s for s in scoring if s not in METRICS]
    if unknown or not scoring:
        raise ValueError(f"scoring must be a non-empty list of {sorted(METRICS)}; "
                         f"received {scoring!r}.")
    for metric in REPEAT_METRICS:
        if metric in scoring and not has_repeats:
            raise ValueError(f"scoring={metric!r} needs responses to repeated presentations: pass "
                             "y_repeats of shape (n_trials, n_repeats, n_neurons, n_bins).")
    return scoring


def _fold_repetitions(folds):
    """Repetition of each fold: a new one starts when a fold re-uses held-out trials."""
    reps, covered, current = [], set(), 0
    for _, test in folds:
        test = set(np.asarray(test).tolist())
        if covered & test:
            current += 1
            covered = set()
        covered |= test
        reps.append(current)
    return np.asarray(reps, dtype=int)


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


def _check_splitter(cv, groups, verbose):
    """The splitter of ``cv``: ``GroupKFold`` for an int with groups; a splitter that would
    ignore given groups is refused (scikit-learn only warns that it ignores them)."""
    if groups is None:
        return check_cv(cv)
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        n_groups = np.unique(groups).size
        if n_groups < cv:
            raise ValueError(f"cv={cv} folds need at least {cv} groups, but groups has "
                             f"{n_groups}; use fewer folds or finer groups.")
        if verbose:
            print(f"[compare] groups given with cv={cv}: splitting with GroupKFold({cv}), so "
                  "no group is split between training and test trials", file=sys.stdout)
        return GroupKFold(int(cv))
    splitter = check_cv(cv)
    if isinstance(splitter, _GROUP_BLIND_SPLITTERS) and "Group" not in type(splitter).__name__:
        raise ValueError(f"groups were given but cv={splitter!r} ignores them, so trials of one "
                         "group would land in both training and test folds; pass a grouped "
                         "splitter (cv=GroupKFold(k), LeaveOneGroupOut(), GroupShuffleSplit(...)) "
                         "or an int, or leave groups out.")
    return splitter


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
        Folds over trials: for an int, ``KFold`` without shuffling, or
        ``GroupKFold`` when ``groups`` are given (so that no group is split
        between training and test trials; the choice is printed when
        ``verbose``).
    scoring : sequence of str, default=("d2_poisson", "pearson_r")
        Names from :data:`METRICS`; all are computed per neuron on held-out trials.
    y_repeats : array-like of shape (n_trials, n_repeats, n_neurons, n_bins), optional
        Responses to repeated presentations of each trial's stimulus, for
        ``"ccnorm"`` and ``"feve"``. With repeats, pass their mean over repeats as
        ``y`` (every model then sees the best estimate of each stimulus' rate,
        and the per-trial metrics compare models on the same target); CCnorm
        and FEVE use the repeats themselves for the noise correction.
    groups : array-like of shape (n_trials,), optional
        Group labels for grouped splitters (``cv=GroupKFold(k)``), e.g. the
        stimulus block or recording of each trial. With an int ``cv`` they
        select ``GroupKFold(cv)``; a splitter that ignores groups (``KFold``,
        ``ShuffleSplit``, ...) is refused, as it would silently mix the groups.
    verbose : int, default=1
        Show a progress bar (tqdm, on stderr) and print one line per model and
        fold with its fit and score times; 0 is silent.

    An unshuffled K-fold (the default for an int ``cv``) over trials whose mean
    response trends with their order warns: each test fold would then sit at
    one end of the trend.

    Repeated splitters (``RepeatedKFold``) are supported: the fold numbers run
    over all repetitions, ``summary`` averages every fold, and
    :func:`paired_statistics` treats the repetitions as re-uses of the same
    trials, not as independent samples.

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
    splitter = _check_splitter(cv, groups, verbose)
    _warn_if_ordered(splitter, y3, groups)
    rows = []
    folds = list(splitter.split(X, y_fit, groups))
    fold_rep = _fold_repetitions(folds)
    n_reps = int(fold_rep.max()) + 1 if len(folds) else 0
    repeated = {name: np.full((n_reps,) + y3.shape, np.nan) for name in estimators}
    from tqdm.auto import tqdm

    bar = tqdm(total=len(folds) * len(estimators), desc="compare", unit="fit",
               disable=not verbose, leave=False)
    try:
        for fold, (train, test) in enumerate(folds):
            y_test = y3[test]
            for name, est in estimators.items():
                bar.set_postfix_str(f"{name}, fold {fold + 1}/{len(folds)}")
                t0 = time.perf_counter()
                fitted = clone(est).fit(X[train], y_fit[train])
                t1 = time.perf_counter()
                pred = np.asarray(fitted.predict(X[test]), dtype=np.float64).reshape(y_test.shape)
                score_time = time.perf_counter() - t1
                fit_time = t1 - t0
                bar.update()
                if verbose:
                    bar.write(f"[compare] {name}, fold {fold + 1}/{len(folds)}: fit {fit_time:.1f} s, "
                              f"predict {score_time:.2f} s", file=sys.stdout)
                repeated[name][fold_rep[fold], test] = pred
                for metric in scoring:
                    if metric in REPEAT_METRICS:
                        values = METRICS[metric](y_repeats[test], pred, multioutput="raw_values")
                    else:
                        values = METRICS[metric](y_test, pred, multioutput="raw_values")
                    rows.extend({"model": name, "fold": fold, "neuron": j, "metric": metric,
                                 "value": float(v), "fit_time": fit_time, "score_time": score_time}
                                for j, v in enumerate(values))
    finally:
        bar.close()
    scores = pd.DataFrame(rows, columns=["model", "fold", "neuron", "metric", "value",
                                         "fit_time", "score_time"])
    with warnings.catch_warnings():  # a trial no repetition held out stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        predictions = {name: (r[0].copy() if n_reps == 1 else np.nanmean(r, axis=0))
                       for name, r in repeated.items()}
    result = CompareResult(scores, summarize(scores), predictions)
    result.repeat_predictions = repeated
    result.fold_repetition = fold_rep
    result.y = y3
    result.y_repeats = y_repeats
    result.groups = groups
    return result


PairedStatistics = namedtuple("PairedStatistics", ["per_neuron", "pairs"])
PairedStatistics.__doc__ = """Result of :func:`paired_statistics`.

per_neuron : DataFrame
    One row per metric, model pair and neuron: ``value_a``, ``value_b`` (the
    metric on all held-out trials pooled, averaged over repetitions), their
    bootstrap intervals ``a_low, a_high, b_low, b_high``, the ``difference``
    ``value_a - value_b`` and its interval ``ci_low, ci_high``.
pairs : DataFrame
    One row per metric and model pair: ``n_neurons`` (with a defined
    difference), ``mean_difference``, ``median_difference``, ``n_a_better`` /
    ``n_b_better`` (neurons whose interval excludes 0 on that side), the Wilcoxon
    signed-rank ``statistic`` and ``p_value`` across neurons, ``p_holm`` (Holm's
    correction over the pairs of the same metric) and ``significant``
    (``p_holm < alpha``), plus ``n_units``, ``unit`` and ``n_repetitions``.
"""


def holm(p_values):
    """Holm's step-down adjustment of p-values (NaN stays NaN and does not count)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def _metric_values(metric, y3, y_repeats, pred, idx):
    """Per-neuron metric of ``pred`` on trials ``idx`` (the held-out trials of a repetition)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if metric in REPEAT_METRICS:
            return METRICS[metric](y_repeats[idx], pred[idx], multioutput="raw_values")
        return METRICS[metric](y3[idx], pred[idx], multioutput="raw_values")


def paired_statistics(result, *, metric=None, pairs=None, n_bootstrap=1000, confidence=0.95,
                      resample=None, groups=None, alpha=0.05, random_state=0, max_seconds=300.0):
    """Paired comparisons of the models of a :func:`compare` result, per neuron and overall.

    For each pair of models and each neuron: the metric of each model on the
    pooled out-of-fold predictions, their difference, and percentile bootstrap
    intervals. A bootstrap sample draws whole units (trials, or stimulus blocks
    given by ``groups``) with replacement, never bins, so the dependence between
    the bins of a trial is kept; both models see the same sample (a paired
    bootstrap). With repeated cross-validation each repetition is scored on the
    sample and the repetitions are averaged: they re-use the same trials, so
    they add no independent samples, and the intervals do not shrink with more
    repetitions. Across neurons, a Wilcoxon signed-rank test
    (:func:`scipy.stats.wilcoxon`, two-sided) asks whether one model is better
    on the typical neuron; Holm's correction controls the family-wise error
    over the model pairs of each metric.

    Parameters
    ----------
    result : CompareResult
        From :func:`compare` (it carries the out-of-fold predictions and data).
    metric : str or sequence of str, optional
        Default: every metric in ``result.scores``.
    pairs : sequence of (str, str), optional
        Model pairs ``(a, b)``; default: every pair, in the order of the models.
    n_bootstrap : int, default=1000
    confidence : float, default=0.95
        Level of the intervals.
    resample : {"trials", "groups"}, optional
        Units of the bootstrap; default ``"groups"`` when groups are known
        (``compare(groups=...)`` or ``groups=`` here), else ``"trials"``.
    groups : array-like of shape (n_trials,), optional
        Stimulus block of each trial (overrides the groups given to compare).
    alpha : float, default=0.05
        For the ``significant`` column.
    random_state : int, RandomState instance or None, default=0
    max_seconds : float or None, default=300.0
        Before resampling, the time of one bootstrap sample is measured (the
        metrics of every model on all held-out trials) and multiplied by
        ``n_bootstrap``; above ``max_seconds`` the call is refused with that
        estimate (``None``: no limit). ``n_bootstrap`` is at most 100,000 and
        the resampled trial indices at most 1 GiB, whatever the limit.

    Returns
    -------
    PairedStatistics

    Notes
    -----
    The per-neuron value is the metric on all held-out trials together, which
    can differ a little from :func:`summarize`'s mean of per-fold values. For
    ``poisson_deviance`` lower is better, so a negative difference favours A.
    """
    _check_paired_result(result)
    models = list(result.repeat_predictions)
    metrics = _check_metrics(result, metric)
    pairs = _check_pairs(pairs, models)
    n_bootstrap = _check_count(n_bootstrap, "n_bootstrap", 100)
    if n_bootstrap > _MAX_BOOTSTRAP:
        raise ValueError(f"n_bootstrap must be at most {_MAX_BOOTSTRAP:,}; received {n_bootstrap:,}. "
                         "10,000 samples already give the 2.5 % and 97.5 % percentiles to about "
                         "0.3 percentile points.")
    if isinstance(confidence, bool) or not isinstance(confidence, float) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1); received {confidence!r}.")
    if max_seconds is not None and (isinstance(max_seconds, bool)
                                    or not isinstance(max_seconds, (int, float))
                                    or not max_seconds > 0):
        raise ValueError(f"max_seconds must be a positive number or None; received {max_seconds!r}.")
    resample, members, held = _resampling_units(result, resample, groups)
    points = _check_bootstrap_cost(result, held, metrics, pairs, members, n_bootstrap, max_seconds)
    n_units = len(members)
    rng = check_random_state(random_state)
    draws = [rng.randint(0, n_units, n_units) for _ in range(n_bootstrap)]
    samples = [np.concatenate([members[u] for u in d]) for d in draws]
    per_neuron, summary = [], []
    for m in metrics:
        point, boot = points[m], _bootstrap_samples(result, held, m, points[m], samples)
        for a, b in pairs:
            rows, ci = _pair_intervals(m, a, b, point, boot, confidence)
            per_neuron.extend(rows)
            summary.append(dict(_signed_rank(m, a, b, point[a] - point[b], ci), n_units=n_units,
                                unit=resample, n_repetitions=len(held)))
    return PairedStatistics(pd.DataFrame(per_neuron), _holm_table(summary, alpha))


def _check_paired_result(result):
    """``result`` must be a :class:`CompareResult` of at least two models."""
    if not isinstance(result, CompareResult) or not hasattr(result, "repeat_predictions"):
        raise TypeError("result must be the CompareResult of sk_icnet.compare(...); received "
                        f"{type(result).__name__}.")
    models = list(result.repeat_predictions)
    if len(models) < 2:
        raise ValueError(f"paired statistics need at least 2 models; result has {models}.")


def _check_metrics(result, metric):
    """The metrics to compare: ``metric`` (one or several), or every metric of ``result``."""
    available = list(dict.fromkeys(result.scores.metric))
    metrics = available if metric is None else ([metric] if isinstance(metric, str) else list(metric))
    unknown = [m for m in metrics if m not in available]
    if unknown or not metrics:
        raise ValueError(f"metric must be among the metrics of this result {available}; received "
                         f"{metric!r}.")
    return metrics


def _check_pairs(pairs, models):
    """The model pairs ``(a, b)`` to compare; default every pair, in the order of ``models``."""
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
    if isinstance(pairs, str) or not hasattr(pairs, "__iter__"):
        raise ValueError(f"pairs must be a list of (model_a, model_b) tuples of models among "
                         f"{models}; received {pairs!r}.")
    received = pairs
    pairs = [tuple(p) for p in pairs]
    if not pairs:
        raise ValueError(f"pairs must name at least one (model_a, model_b) pair of models among "
                         f"{models}; received {received!r}. Leave pairs=None to compare every "
                         "pair.")
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(models):
            raise ValueError(f"pairs must be (model_a, model_b) of two different models among "
                             f"{models}; received {pair!r}.")
    return pairs


def _unit_of_trial(result, resample, groups):
    """The resampling unit (``"trials"`` or ``"groups"``), the unit labels and each trial's unit."""
    n_trials = result.y.shape[0]
    if groups is None:
        groups = result.groups
    if resample is None:
        resample = "groups" if groups is not None else "trials"
    if resample == "groups":
        if groups is None:
            raise ValueError('resample="groups" needs groups (one stimulus block per trial): pass '
                             "groups= here or to compare.")
        groups = np.asarray(groups)
        if groups.shape != (n_trials,):
            raise ValueError(f"groups must have one label per trial ({n_trials},); received shape "
                             f"{groups.shape}.")
        labels, unit_of = np.unique(groups, return_inverse=True)
    elif resample == "trials":
        labels, unit_of = np.arange(n_trials), np.arange(n_trials)
    else:
        raise ValueError(f'resample must be "trials" or "groups"; received {resample!r}.')
    return resample, labels, unit_of


def _resampling_units(result, resample, groups):
    """The unit kind, the trials of each unit with held-out trials, and per repetition which
    trials were held out (a trial never held out has no prediction)."""
    resample, labels, unit_of = _unit_of_trial(result, resample, groups)
    n_trials = result.y.shape[0]
    first = next(iter(result.repeat_predictions.values()))
    held = [np.isfinite(first[r]).reshape(n_trials, -1).all(axis=1) for r in range(first.shape[0])]
    held_any = np.any(held, axis=0)
    members = [m for m in (np.flatnonzero((unit_of == u) & held_any) for u in range(labels.size))
               if m.size]
    if len(members) < 5:
        raise ValueError(f"too few held-out {resample} to bootstrap: {len(members)} (at least 5 "
                         "are needed); use more folds or trials"
                         f"{' or finer groups' if resample == 'groups' else ''}.")
    return resample, members, held


def _repetition_mean(result, held, name, metric, idx):
    """Metric of model ``name`` on trials ``idx``, averaged over repetitions."""
    out = []
    for r, held_r in enumerate(held):
        sel = idx[held_r[idx]]
        if sel.size:
            out.append(_metric_values(metric, result.y, result.y_repeats,
                                      result.repeat_predictions[name][r], sel))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(out, axis=0)


def _point_values(result, held, metric, pairs):
    """Per model of ``pairs``: the metric on all held-out trials."""
    everyone = np.arange(result.y.shape[0])
    return {name: _repetition_mean(result, held, name, metric, everyone)
            for name in dict.fromkeys(x for p in pairs for x in p)}


def _bootstrap_samples(result, held, metric, point, samples):
    """Per model of ``point``: the metric on each bootstrap sample."""
    return {name: np.array([_repetition_mean(result, held, name, metric, idx) for idx in samples])
            for name in point}


def _check_bootstrap_cost(result, held, metrics, pairs, members, n_bootstrap, max_seconds):
    """The point values of every metric, timed: one bootstrap sample costs about as much, so
    ``n_bootstrap`` times that time is refused above ``max_seconds``; the sample indices are
    refused above 1 GiB."""
    index_bytes = n_bootstrap * sum(m.size for m in members) * 8
    if index_bytes > 2**30:
        raise ValueError(f"n_bootstrap={n_bootstrap:,} samples of {sum(m.size for m in members):,} "
                         f"held-out trials need {index_bytes / 2**30:.1f} GiB of indices (at most "
                         "1 GiB); use fewer samples, or resample stimulus blocks (groups=).")
    t0 = time.perf_counter()
    points = {m: _point_values(result, held, m, pairs) for m in metrics}
    per_sample = time.perf_counter() - t0
    estimate = per_sample * n_bootstrap
    if max_seconds is not None and estimate > max_seconds:
        raise ValueError(f"n_bootstrap={n_bootstrap:,} would take about {estimate:,.0f} s here "
                         f"({per_sample * 1e3:.1f} ms per sample for {len(metrics)} metric(s) and "
                         f"{len(next(iter(points.values())))} models), more than "
                         f"max_seconds={max_seconds}; use fewer samples (1,000 give 95 % intervals), "
                         "fewer metrics or pairs, or raise max_seconds (None: no limit).")
    return points


def _pair_intervals(metric, a, b, point, boot, confidence):
    """The per-neuron rows of one pair (values, differences, percentile intervals) and the
    interval of the differences."""
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    diff = point[a] - point[b]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = np.nanpercentile(boot[a] - boot[b], [lo_q, hi_q], axis=0)
        ci_a = np.nanpercentile(boot[a], [lo_q, hi_q], axis=0)
        ci_b = np.nanpercentile(boot[b], [lo_q, hi_q], axis=0)
    rows = [dict(metric=metric, model_a=a, model_b=b, neuron=j, value_a=point[a][j],
                 value_b=point[b][j], a_low=ci_a[0, j], a_high=ci_a[1, j], b_low=ci_b[0, j],
                 b_high=ci_b[1, j], difference=diff[j], ci_low=ci[0, j], ci_high=ci[1, j])
            for j in range(diff.size)]
    return rows, ci


def _signed_rank(metric, a, b, diff, ci):
    """One pair's summary across neurons: the Wilcoxon signed-rank test of the differences and
    the neurons whose interval favours either model."""
    ok = np.isfinite(diff)
    stat, p = np.nan, np.nan
    if ok.sum() < 6:
        warnings.warn(f"{metric}, {a} vs {b}: {int(ok.sum())} neuron(s) with a defined "
                      "difference; a two-sided signed-rank test needs at least 6 to reach "
                      "p < 0.05, so its p-value is NaN (the per-neuron intervals stand).",
                      UserWarning, stacklevel=3)
    elif np.any(diff[ok] != 0):
        test = stats.wilcoxon(diff[ok])
        stat, p = float(test.statistic), float(test.pvalue)
    else:
        stat, p = 0.0, 1.0
    return dict(metric=metric, model_a=a, model_b=b, n_neurons=int(ok.sum()),
                mean_difference=float(np.mean(diff[ok])) if ok.any() else np.nan,
                median_difference=float(np.median(diff[ok])) if ok.any() else np.nan,
                n_a_better=int(np.sum(ci[0] > 0)), n_b_better=int(np.sum(ci[1] < 0)),
                statistic=stat, p_value=p)


def _holm_table(summary, alpha):
    """The pairs table: Holm's correction over the pairs of each metric, and significance."""
    pairs_table = pd.DataFrame(summary)
    pairs_table["p_holm"] = np.nan
    for _metric, idx in pairs_table.groupby("metric", sort=False).groups.items():
        pairs_table.loc[idx, "p_holm"] = holm(pairs_table.loc[idx, "p_value"].to_numpy())
    pairs_table["significant"] = pairs_table["p_holm"] < alpha
    return pairs_table

def _check_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; received {value!r}.")
    return int(value)


def plot_paired(stats_result, model_a, model_b, metric=None, *, ax=None):
    """Per-neuron scatter of two models' scores with bootstrap intervals and the identity line.

    Each neuron is a point with the bootstrap intervals of both scores; it is
    filled where the interval of the difference excludes 0 (below the identity
    line: A better, above: B better). The title gives the Wilcoxon p-value after
    Holm's correction.

    Parameters
    ----------
    stats_result : PairedStatistics
        From :func:`paired_statistics`.
    model_a, model_b : str
        Horizontal and vertical axes.
    metric : str, optional
        Default: the first metric of ``stats_result``.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    if not isinstance(stats_result, PairedStatistics):
        raise TypeError("stats_result must be the PairedStatistics of paired_statistics; received "
                        f"{type(stats_result).__name__}.")
    table = stats_result.per_neuron
    metric = table.metric.iloc[0] if metric is None else metric
    rows = table[(table.metric == metric) & (table.model_a == model_a) & (table.model_b == model_b)]
    flipped = False
    if rows.empty:
        rows = table[(table.metric == metric) & (table.model_a == model_b)
                     & (table.model_b == model_a)]
        flipped = True
    if rows.empty:
        pairs = sorted(set(zip(table.model_a, table.model_b, strict=True)))
        raise ValueError(f"no statistics for {model_a!r} vs {model_b!r} on {metric!r}; pairs: "
                         f"{pairs}, metrics: {sorted(set(table.metric))}.")
    xa, xb = ("b", "a") if flipped else ("a", "b")
    x, y = rows[f"value_{xa}"].to_numpy(), rows[f"value_{xb}"].to_numpy()
    xerr = np.abs(np.vstack([x - rows[f"{xa}_low"], rows[f"{xa}_high"] - x]))
    yerr = np.abs(np.vstack([y - rows[f"{xb}_low"], rows[f"{xb}_high"] - y]))
    separated = ((rows.ci_low > 0) | (rows.ci_high < 0)).to_numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4), layout="constrained")
    ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor="0.6", elinewidth=0.8)
    ax.scatter(x[separated], y[separated], s=30, color="C0", zorder=3,
               label="difference CI excludes 0")
    ax.scatter(x[~separated], y[~separated], s=30, facecolor="white", edgecolor="C0", zorder=3,
               label="CI includes 0")
    both = np.r_[x, y, rows[["a_low", "a_high", "b_low", "b_high"]].to_numpy().ravel()]
    both = both[np.isfinite(both)]
    lo, hi = (both.min(), both.max()) if both.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo + 1e-12)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, ls="--")
    ax.set_xlabel(f"{model_a} {metric}")
    ax.set_ylabel(f"{model_b} {metric}")
    pair = stats_result.pairs
    row = pair[(pair.metric == metric) & (((pair.model_a == model_a) & (pair.model_b == model_b))
                                          | ((pair.model_a == model_b) & (pair.model_b == model_a)))]
    if not row.empty:
        p = row.p_holm.iloc[0]
        ax.set_title(f"Wilcoxon p = {p:.2g} (Holm), n = {int(row.n_neurons.iloc[0])}"
                     if np.isfinite(p) else f"n = {int(row.n_neurons.iloc[0])} neurons",
                     fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    return ax


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
        _, ax = plt.subplots(figsize=(4, 4), layout="constrained")
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
        _, ax = plt.subplots(figsize=(8, 2.5), layout="constrained")
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


def plot_strf(estimator, neuron=0, *, ax=None, colorbar=True):
    """Image of a fitted STRF (``coef_[neuron]``): lag (ms) by band frequency (Hz).

    The colour scale is symmetric about 0; ``colorbar=True`` draws it beside the
    axes, in the units of ``coef_`` (the response per bin per unit of log band
    power). Returns the axes.
    """
    plt = _pyplot()
    coef = estimator.coef_[neuron]
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    lim = np.abs(coef).max() or 1.0
    lags = estimator.lags_ms_
    freqs = estimator.band_frequencies_hz_
    image = ax.imshow(coef, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                      extent=[lags[0], lags[-1] + (lags[1] - lags[0] if len(lags) > 1 else 1), 0,
                              len(freqs)])
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="weight (per log power)")
    ticks = np.linspace(0, len(freqs) - 1, min(5, len(freqs))).astype(int)
    ax.set_yticks(ticks + 0.5)
    ax.set_yticklabels([f"{freqs[i]:.0f}" for i in ticks])
    ax.set_xlabel("lag (ms)")
    ax.set_ylabel("band centre (Hz)")
    return ax


#: :func:`compare` under the name the package exports (``sk_icnet.compare`` is this module)
compare_models = compare


class _CallableModule(types.ModuleType):
    """This module, still callable as ``sk_icnet.compare(...)`` (0.4's spelling), with a
    ``FutureWarning``: in 0.4 the package bound ``compare`` to the function, which hid the
    module and its statistics and plots."""

    def __call__(self, *args, **kwargs):
        warnings.warn("calling the module sk_icnet.compare(...) is deprecated since 0.5 and stops "
                      "working in 0.6: call sk_icnet.compare_models(...) (the same function as "
                      "sk_icnet.compare.compare); sk_icnet.compare is the module that holds "
                      "paired_statistics and the plots.", FutureWarning, stacklevel=2)
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
