"""Matplotlib, imported on first use: plotting is optional (the ``plot`` extra)."""

from __future__ import annotations

from .files import require

__all__ = ["pyplot"]


def pyplot():
    """``matplotlib.pyplot``, or an ImportError naming the extra that installs it."""
    return require("matplotlib.pyplot", "plot", "Plotting")
