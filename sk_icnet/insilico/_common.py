"""Checks and small helpers shared by the experiments, the receptive fields and the optimal sounds."""

from __future__ import annotations

import numbers

import numpy as np

from .._core.signal import P_REF
from .._core.validation import _describe


def _check_latency_ms(latency_ms):
    """A response latency: a number of ms in [0, 1000)."""
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, numbers.Real) \
            or not 0 <= latency_ms < 1000:
        raise ValueError(f"latency_ms must be a number of ms in [0, 1000); received "
                         f"{latency_ms!r}.")
    return float(latency_ms)


def _grid(values, name, *, positive=False):
    """A non-empty, strictly increasing 1-D grid of finite numbers."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers; received {_describe(values)}.") \
            from None
    if arr.size == 0 or not np.isfinite(arr).all() or np.any(np.diff(arr) <= 0) \
            or (positive and np.any(arr <= 0)):
        raise ValueError(f"{name} must be a non-empty, strictly increasing sequence of finite "
                         f"{'positive ' if positive else ''}numbers; received {values!r}.")
    return arr


def _pascals(level_db):
    return P_REF * 10.0 ** (np.asarray(level_db, dtype=float) / 20.0)


def _check_fraction(value, name, *, closed_high=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value \
        and (value <= 1 if closed_high else value < 1)
    if not ok:
        raise ValueError(f"{name} must be a number in (0, 1{']' if closed_high else ')'}; "
                         f"received {value!r}.")
    return float(value)


def _crossing(x, y, target):
    """First ``x`` where ``y`` (sampled at increasing ``x``) reaches ``target``, interpolated.

    ``x[0]`` if ``y[0]`` already does (the true crossing is at or below the grid);
    NaN if it never does.
    """
    above = np.flatnonzero(y >= target)
    if above.size == 0:
        return np.nan
    i = above[0]
    if i == 0:
        return float(x[0])
    return float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def _groups(specs):
    """Neurons grouped by identical stimulus choice: {spec: [neuron, ...]}."""
    groups = {}
    for j, spec in enumerate(specs):
        groups.setdefault(spec, []).append(j)
    return groups


def _label(spec):
    """How a stimulus choice is written in the tables: "noise" or "<f> Hz"."""
    return spec if spec == "noise" else f"{spec:g} Hz"


def _check_level(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite level in dB SPL; received {value!r}.")
    return float(value)
