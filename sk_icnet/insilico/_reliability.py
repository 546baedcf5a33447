"""Reliability of in-silico results: one experiment on several fits, each parameter's spread."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .._core.validation import _describe

__all__ = ["insilico_reliability", "DEFAULT_TOLERANCE"]


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


def _is_unit_key(column):
    """Columns that say which unit a row is (a multi-recording model's ``unit`` and its
    ``unit_*`` metadata, such as ``unit_cf_hz``): row keys, not parameters."""
    return column == "unit" or column.startswith("unit_")


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
        ``spread``, ``spread_unit``, ``tolerance``, ``unreliable`` (spread >
        tolerance, or undefined in some models but not all) and ``reason``, which
        says for an unreliable row which rule failed (the spread against the
        tolerance, in their unit, or the models in which the parameter is
        undefined); empty for a reliable row.
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
                           and (not pd.api.types.is_numeric_dtype(table[c]) or _is_unit_key(c))]
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
            kind = _spread_kind(p)
            rows.append(dict(zip(by, key, strict=True), parameter=p,
                             **_spread_row(group[p].to_numpy(dtype=float), kind,
                                           float(tolerance.get(p, DEFAULT_TOLERANCE[kind])))))
    return pd.DataFrame(rows)


def _spread_row(values, kind, tol):
    """Median, quartiles, range, spread (in ``kind``'s unit) and the verdict of one parameter."""
    ok = values[np.isfinite(values)]
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
    partial = 0 < ok.size < values.size
    too_wide = bool((np.isfinite(spread) and spread > tol) or spread == np.inf)
    unit = {"octaves": " octaves", "dB": " dB", "relative": " (relative to the median)"}[kind]
    reasons = []
    if too_wide:
        shown = "infinite (median 0)" if spread == np.inf else f"{spread:.3g}{unit}"
        reasons.append(f"spread {shown} > tolerance {tol:.3g}{unit}")
    if partial:
        reasons.append(f"undefined (NaN) in {values.size - ok.size} of {values.size} models")
    return dict(median=float(np.median(ok)) if ok.size else np.nan,
                q25=float(np.percentile(ok, 25)) if ok.size else np.nan,
                q75=float(np.percentile(ok, 75)) if ok.size else np.nan,
                min=float(ok.min()) if ok.size else np.nan,
                max=float(ok.max()) if ok.size else np.nan,
                n_models=int(ok.size), spread=spread, spread_unit=kind, tolerance=tol,
                unreliable=bool(partial or too_wide), reason="; ".join(reasons))
