"""This module moved to :mod:`sk_icnet.data` in 0.4; this import path keeps working."""

from .data._trials import TrialData, load_trials

__all__ = ["TrialData", "load_trials"]
