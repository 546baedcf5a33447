"""This module moved to :mod:`sk_icnet.icnet` in 0.4; this import path keeps working."""

from .icnet._features import ICNetFeatures

__all__ = ["ICNetFeatures"]
