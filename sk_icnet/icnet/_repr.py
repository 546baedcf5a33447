"""How :class:`~sk_icnet.icnet.ICNetRegressor` prints: ``ICNetRegressor(...)`` with every
parameter that differs from its default, as scikit-learn's estimators print, where classes
show by name and plain objects (a callback, a splitter) by their state."""

from __future__ import annotations

import numbers
import os

import torch

__all__ = ["params_repr"]


def params_repr(name, params, defaults):
    """``name(key=value, ...)`` for the ``params`` that differ from ``defaults``; on one line
    up to 100 characters, else one parameter a line."""
    parts = [f"{key}={_short_repr(value)}" for key, value in params.items()
             if key not in defaults or not _same_param(value, defaults[key])]
    head = f"{name}("
    one_line = head + ", ".join(parts) + ")"
    if len(one_line) <= 100:
        return one_line
    return head + (",\n" + " " * len(head)).join(parts) + ")"


def _same_param(a, b):
    """Whether two parameter values are equal (estimators and plain objects by their state)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, type):
        return False
    if hasattr(a, "get_params") and not isinstance(a, type):
        pa, pb = a.get_params(deep=False), b.get_params(deep=False)
        return pa.keys() == pb.keys() and all(_same_param(pa[k], pb[k]) for k in pa)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_param(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (numbers.Number, str, bytes, os.PathLike, type(None))):
        return a == b
    if hasattr(a, "__dict__") and not isinstance(a, torch.nn.Module):
        return vars(a).keys() == vars(b).keys() and all(
            _same_param(vars(a)[k], vars(b)[k]) for k in vars(a))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _short_repr(value):
    """A parameter value for ``repr``: classes by name, plain objects by their state."""
    if isinstance(value, type):
        return value.__name__
    text = repr(value)
    if " object at 0x" in text and hasattr(value, "__dict__"):  # the default repr
        state = ", ".join(f"{k}={_short_repr(v)}" for k, v in vars(value).items()
                          if not k.startswith("_"))
        return f"{type(value).__name__}({state})"
    return text
