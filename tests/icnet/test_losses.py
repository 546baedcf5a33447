import numpy as np
import pytest
import torch
from scipy.stats import poisson

from sk_icnet.icnet import PoissonLoss


def test_matches_torch_poisson_nll_on_rates():
    torch.manual_seed(0)
    rate = torch.rand(4, 3, 10) + 0.1
    y = torch.poisson(torch.full((4, 3, 10), 1.5))
    expected = torch.nn.PoissonNLLLoss(log_input=False, eps=1e-8)(rate, y)
    assert torch.allclose(PoissonLoss()(rate, y), expected, atol=1e-6)


def test_full_loss_is_the_exact_negative_log_likelihood():
    rate = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    y = torch.tensor([0.0, 3.0, 1.0], dtype=torch.float64)
    expected = -poisson.logpmf(y.numpy(), rate.numpy()).mean()
    assert PoissonLoss(eps=0.0, full=True)(rate, y).item() == pytest.approx(expected, rel=1e-6)


def test_is_not_the_log_input_objective():
    # the trap from torch.nn.PoissonNLLLoss(log_input=True): exp(rate) - y * rate
    rate = torch.tensor([0.2, 1.0, 4.0])
    y = torch.tensor([0.0, 1.0, 5.0])
    wrong = torch.nn.PoissonNLLLoss()(rate, y)
    assert not torch.isclose(PoissonLoss()(rate, y), wrong)


def test_nan_targets_are_masked_without_nan_gradients():
    torch.manual_seed(0)
    rate = (torch.rand(2, 2, 6) + 0.1).requires_grad_()
    y = torch.poisson(torch.ones(2, 2, 6))
    y_nan = y.clone()
    y_nan[0, 1, :3] = float("nan")
    loss = PoissonLoss()(rate, y_nan)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(rate.grad).all()
    assert (rate.grad[0, 1, :3] == 0).all()
    observed = ~torch.isnan(y_nan)
    manual = (rate - y * torch.log(rate + 1e-8))[observed].mean()
    assert torch.isclose(loss, manual)


def test_all_masked_gives_zero_and_extra_mask():
    rate = torch.ones(1, 1, 4, requires_grad=True)
    y = torch.full((1, 1, 4), float("nan"))
    assert PoissonLoss()(rate, y).item() == 0.0
    y = torch.tensor([[[1.0, 2.0, 0.0, 4.0]]])
    mask = torch.tensor([[[False, True, True, False]]])
    expected = (rate - y * torch.log(rate + 1e-8))[mask].mean()
    assert torch.isclose(PoissonLoss()(rate, y, mask=mask), expected)


def test_zero_rate_is_finite():
    loss = PoissonLoss()(torch.zeros(3), torch.tensor([0.0, 1.0, 2.0]))
    assert np.isfinite(loss.item())
