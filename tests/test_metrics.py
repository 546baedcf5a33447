import numpy as np
import pytest
from sklearn.metrics import d2_tweedie_score, mean_poisson_deviance

from sk_icnet import metrics


@pytest.fixture
def yy():
    rng = np.random.default_rng(0)
    rate = rng.gamma(2.0, 0.5, size=(6, 3, 40))
    y = rng.poisson(rate).astype(float)
    pred = rate * rng.uniform(0.7, 1.3, size=rate.shape)
    return y, pred


def test_d2_matches_scikit_learn_per_neuron(yy):
    y, pred = yy
    raw = metrics.d2_poisson_score(y, pred, multioutput="raw_values")
    for j in range(3):
        expected = d2_tweedie_score(y[:, j].ravel(), pred[:, j].ravel(), power=1)
        assert raw[j] == pytest.approx(expected, rel=1e-10)
    assert metrics.d2_poisson_score(y, pred) == pytest.approx(raw.mean())


def test_deviance_matches_scikit_learn(yy):
    y, pred = yy
    raw = metrics.poisson_deviance(y, pred, multioutput="raw_values")
    for j in range(3):
        assert raw[j] == pytest.approx(mean_poisson_deviance(y[:, j].ravel(), pred[:, j].ravel()))


def test_pearson_matches_numpy(yy):
    y, pred = yy
    raw = metrics.pearson_r(y, pred, multioutput="raw_values")
    for j in range(3):
        assert raw[j] == pytest.approx(np.corrcoef(y[:, j].ravel(), pred[:, j].ravel())[0, 1])


def test_layouts_are_one_neuron_for_1d_and_2d(yy):
    y, pred = yy
    two_d = metrics.d2_poisson_score(y[:, 0], pred[:, 0], multioutput="raw_values")
    assert two_d.shape == (1,)
    assert two_d[0] == pytest.approx(
        metrics.d2_poisson_score(y, pred, multioutput="raw_values")[0])
    assert metrics.pearson_r(y[:, 0, 0], pred[:, 0, 0], multioutput="raw_values").shape == (1,)


@pytest.mark.parametrize("fn", [metrics.d2_poisson_score, metrics.pearson_r,
                                metrics.poisson_deviance])
def test_nan_bins_are_left_out(yy, fn):
    y, pred = yy
    y_nan = y.copy()
    y_nan[2, 1, 5:30] = np.nan
    keep = ~np.isnan(y_nan[:, 1])
    expected = fn(y[:, 1][keep], pred[:, 1][keep], multioutput="raw_values")[0]
    assert fn(y_nan, pred, multioutput="raw_values")[1] == pytest.approx(expected)


def test_sample_weight_equals_repetition(yy):
    y, pred = yy
    w = np.array([1, 2, 1, 1, 3, 1.0])
    idx = np.repeat(np.arange(6), w.astype(int))
    for fn in (metrics.d2_poisson_score, metrics.pearson_r, metrics.poisson_deviance):
        assert fn(y, pred, sample_weight=w) == pytest.approx(fn(y[idx], pred[idx]))


def test_edge_cases_give_nan_not_errors():
    y = np.zeros((4, 2, 5))
    y[:, 1] = np.arange(5)
    pred = np.ones_like(y)
    d2 = metrics.d2_poisson_score(y, pred, multioutput="raw_values")
    assert np.isnan(d2[0]) and np.isfinite(d2[1])  # a silent neuron has no D2
    assert metrics.d2_poisson_score(y, pred) == pytest.approx(d2[1])
    r = metrics.pearson_r(y, pred, multioutput="raw_values")
    assert np.isnan(r).all()  # constant prediction
    assert np.isnan(metrics.pearson_r(y, pred))
    y_nan = y.copy()
    y_nan[:, 0] = np.nan  # all-NaN neuron
    assert np.isnan(metrics.poisson_deviance(y_nan, pred, multioutput="raw_values")[0])


def test_perfect_and_constant_predictions():
    rng = np.random.default_rng(1)
    y = rng.poisson(2.0, size=(3, 50)).astype(float)
    assert metrics.d2_poisson_score(y, np.maximum(y, 0)) == pytest.approx(1.0, abs=1e-6)
    assert metrics.d2_poisson_score(y, np.full_like(y, y.mean())) == pytest.approx(0.0, abs=1e-12)
    assert metrics.pearson_r(y, 2 * y + 1) == pytest.approx(1.0)


def test_negative_predictions_are_floored_for_deviance():
    y = np.array([[0.0, 1.0, 2.0]])
    assert np.isfinite(metrics.poisson_deviance(y, np.array([[-1.0, 1.0, 2.0]])))


@pytest.mark.parametrize("y_true, y_pred, exc, match", [
    (np.ones((2, 3)), np.ones((2, 4)), ValueError, "y_pred must have the same shape"),
    (-np.ones((2, 3)), np.ones((2, 3)), ValueError, "y_true must be non-negative"),
    (np.ones((2, 3)), np.full((2, 3), np.nan), ValueError, "y_pred contains NaN"),
    (np.ones((2, 3)), np.array([["a"] * 3] * 2), TypeError, "y_pred must contain real numbers"),
    (np.ones((2, 3, 4, 5)), np.ones((2, 3, 4, 5)), ValueError, "y_true must be 1-D"),
])
def test_bad_input(y_true, y_pred, exc, match):
    with pytest.raises(exc, match=match):
        metrics.d2_poisson_score(y_true, y_pred)


def test_bad_multioutput():
    with pytest.raises(ValueError, match="multioutput"):
        metrics.pearson_r(np.ones(3), np.arange(3.0), multioutput="variance_weighted")


def test_get_scorer():
    assert metrics.get_scorer("d2_poisson") is metrics.d2_poisson_scorer
    assert metrics.get_scorer("r2") is not None
    with pytest.raises(ValueError, match="scoring must be one of"):
        metrics.get_scorer("nope")
