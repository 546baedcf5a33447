"""This module moved to :mod:`sk_icnet.icnet` in 0.4; this import path keeps working."""

from .icnet._estimator import ICNetRegressor

__all__ = ["ICNetRegressor"]
