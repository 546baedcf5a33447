"""Training criteria for rate-output models, with NaN-masked targets.

Missing bins are marked with NaN in the target. They are excluded from the
loss *before* any arithmetic touches them, so they never produce NaN
gradients (``nan * 0`` is ``nan`` in IEEE arithmetic, so multiplying a loss
by a mask afterwards is not enough).
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["PoissonLoss", "CategoricalCountLoss", "masked_mean"]


def masked_mean(values, mask):
    """Mean of ``values`` over the entries where ``mask`` is True (0 if none)."""
    values = torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))
    return values.sum() / mask.sum().clamp_min(1).to(values.dtype)


def _observed_target(target, mask=None):
    """Mask of observed bins (not NaN, and in ``mask``) and the target with 0 elsewhere."""
    observed = ~torch.isnan(target)
    if mask is not None:
        observed = observed & mask
    zero = torch.zeros((), dtype=target.dtype, device=target.device)
    return observed, torch.where(observed, target, zero)


class PoissonLoss(nn.Module):
    """Poisson negative log-likelihood of counts ``y`` given *rates* ``mu``.

    ``loss = mean over observed bins of  mu - y * log(mu + eps)  [+ log(y!)]``.

    Unlike :class:`torch.nn.PoissonNLLLoss` (whose default ``log_input=True``
    expects log-rates), this criterion takes the non-negative rates that
    :class:`~sk_icnet.icnet.ICNet` outputs. Bins where the target is NaN are
    ignored; the mean is over observed bins only.

    Parameters
    ----------
    eps : float, default=1e-8
        Added to the rate inside the log, so a zero rate gives a finite loss.
    full : bool, default=False
        Add the constant ``log(y!)`` so that the value is the exact
        negative log-likelihood (it does not change the gradients).
    """

    def __init__(self, eps=1e-8, full=False):
        super().__init__()
        self.eps = eps
        self.full = full

    def forward(self, rate, target, mask=None):
        """Return the mean loss over observed bins.

        Parameters
        ----------
        rate : Tensor
            Predicted non-negative rates.
        target : Tensor
            Observed counts of the same shape, NaN for missing bins.
        mask : Tensor of bool, optional
            Extra mask of bins to include (combined with the NaN mask).
        """
        observed, y = _observed_target(target, mask)
        rate = rate.float()
        y = y.to(rate.dtype)
        nll = rate - y * torch.log(rate + self.eps)
        if self.full:
            nll = nll + torch.lgamma(y + 1)
        return masked_mean(nll, observed)


class CategoricalCountLoss(nn.Module):
    """Cross-entropy of spike counts under a categorical distribution (the paper's head).

    The model outputs logits ``(B, N, C, T)`` over counts ``0 .. C - 1``; observed
    counts are clipped to ``C - 1`` (the last class means ``>= C - 1``) and rounded
    to integers. Bins where the target is NaN are ignored.
    """

    def forward(self, logits, target, mask=None):
        """Return the mean cross-entropy over observed bins."""
        observed, y = _observed_target(target, mask)
        n_classes = logits.shape[2]
        classes = torch.clamp(torch.round(y), 0, n_classes - 1).long()
        log_p = torch.log_softmax(logits.float(), dim=2)
        nll = -torch.gather(log_p, 2, classes.unsqueeze(2)).squeeze(2)
        return masked_mean(nll, observed)
