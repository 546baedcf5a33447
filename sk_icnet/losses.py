"""This module moved to :mod:`sk_icnet.icnet` in 0.4; this import path keeps working."""

from .icnet._losses import CategoricalCountLoss, PoissonLoss, masked_mean

__all__ = ["PoissonLoss", "CategoricalCountLoss", "masked_mean"]
