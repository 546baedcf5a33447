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


# ---------------------------------------------------------------- CCnorm and signal power
def test_signal_power_and_ccnorm_hand_computed():
    # one stimulus, 2 repeats, 1 neuron, 4 bins
    r = np.array([[[1.0, 3.0, 2.0, 6.0], [3.0, 1.0, 4.0, 4.0]]])  # (1, 2, 4)
    total = r[0].sum(0)  # [4, 4, 6, 10]
    sp_expected = (np.var(total) - np.var(r[0, 0]) - np.var(r[0, 1])) / (2 * 1)
    assert metrics.signal_power(r)[0] == pytest.approx(sp_expected)  # = 3.5
    pred = np.array([[1.0, 2.0, 2.0, 5.0]])
    psth = r[0].mean(0)
    cov = np.mean((pred[0] - pred.mean()) * (psth - psth.mean()))
    expected = cov / np.sqrt(np.var(pred[0]) * sp_expected)
    assert metrics.ccnorm(r, pred) == pytest.approx(expected)


def test_ccnorm_of_the_true_rate_is_about_one():
    rng = np.random.default_rng(0)
    rate = rng.gamma(1.0, 1.0, size=(20, 2, 50))
    reps = rng.poisson(rate[:, None], size=(20, 6, 2, 50)).astype(float)
    cc = metrics.ccnorm(reps, rate, multioutput="raw_values")
    assert np.all(np.abs(cc - 1) < 0.1)
    # the raw correlation with single trials is far lower: CCnorm corrects for noise
    assert metrics.pearson_r(reps[:, 0], rate) < 0.85


def test_ccnorm_edge_cases():
    rng = np.random.default_rng(1)
    reps = rng.poisson(1.0, size=(3, 1, 2, 10)).astype(float)
    assert np.isnan(metrics.ccnorm(reps, np.ones((3, 2, 10)) + np.arange(10)))  # one repeat
    assert np.isnan(metrics.signal_power(reps)).all()
    zero = np.ones((3, 4, 1, 10))  # no variability at all: zero signal power
    assert metrics.signal_power(zero)[0] == 0
    assert np.isnan(metrics.ccnorm(zero, rng.random((3, 1, 10))))
    reps = rng.poisson(2.0, size=(3, 4, 2, 10)).astype(float)
    reps[:, :, 1] = np.nan  # all-NaN neuron
    cc = metrics.ccnorm(reps, rng.random((3, 2, 10)) + 1, multioutput="raw_values")
    assert np.isnan(cc[1]) and not np.isnan(metrics.signal_power(reps)[0])


def test_ccnorm_nan_bins_are_left_out():
    rng = np.random.default_rng(2)
    rate = rng.gamma(1.0, 1.0, size=(4, 1, 30))
    reps = rng.poisson(rate[:, None], size=(4, 5, 1, 30)).astype(float)
    pred = rate + rng.random(rate.shape)
    reps_nan = reps.copy()
    reps_nan[1, 2, 0, 10:20] = np.nan
    keep = np.ones((4, 30), bool)
    keep[1, 10:20] = False
    # the same value as scoring only the bins observed in every repeat, pooled as one stimulus
    flat_reps = np.moveaxis(reps[:, :, 0], 1, 0)[:, keep][None, :, None, :]  # (1, 5, 1, n)
    flat_pred = pred[:, 0][keep][None, None, :]
    expected = metrics.ccnorm(flat_reps, flat_pred)
    assert metrics.ccnorm(reps_nan, pred) == pytest.approx(expected)


def test_ccnorm_bad_input():
    with pytest.raises(ValueError, match="y_repeats must be"):
        metrics.ccnorm(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="y_pred must have shape"):
        metrics.ccnorm(np.ones((2, 3, 1, 4)), np.ones((2, 1, 5)))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.signal_power(-np.ones((2, 3, 4)))


def test_ccnorm_scorer_in_cross_validation():
    from sklearn.model_selection import cross_validate

    from sk_icnet import LinearSTRFRegressor
    from sk_icnet.simulate._neurons import make_auditory_dataset

    d = make_auditory_dataset(n_trials=20, duration_s=0.25, audio_fs=8000.0, dt_ms=4.0,
                              n_neurons=2, n_repeats=3, random_state=0)
    est = LinearSTRFRegressor(audio_fs=8000.0, dt_ms=4.0, n_lags=4, **d.front_end)
    scorer = metrics.make_ccnorm_scorer(d.X, d.y_repeats)
    res = cross_validate(est, d.X, d.y, cv=2, scoring={"ccnorm": scorer,
                                                       "d2": metrics.d2_poisson_scorer},
                         return_estimator=True)
    # each fold's value is CCnorm of that fold's predictions against its stimuli's repeats
    test = np.arange(10, 20)
    expected = metrics.ccnorm(d.y_repeats[test], res["estimator"][1].predict(d.X[test]))
    assert res["test_ccnorm"][1] == pytest.approx(expected)
    with pytest.raises(ValueError, match="not among the rows"):
        scorer(res["estimator"][0], d.X[:2] + 1.0)
    with pytest.raises(ValueError, match="same number of trials"):
        metrics.make_ccnorm_scorer(d.X[:3], d.y_repeats)


def test_streamed_d2_equals_d2_poisson_score():
    from sk_icnet.metrics import PoissonD2Accumulator

    rng = np.random.default_rng(0)
    mu = rng.gamma(2.0, 0.5, (12, 4, 30))
    y = rng.poisson(mu).astype(float)
    y[rng.random(y.shape) < 0.2] = np.nan
    y[:, 3] = 0.0  # a silent neuron: undefined D²
    acc = PoissonD2Accumulator(4)
    for lo in range(0, 12, 5):  # in batches, neurons given by index
        sl = slice(lo, lo + 5)
        acc.update(np.nan_to_num(y[sl]), mu[sl], ~np.isnan(y[sl]), np.arange(4))
    expected = metrics.d2_poisson_score(y, mu, multioutput="raw_values")
    np.testing.assert_allclose(acc.result("raw_values"), expected, rtol=1e-10, equal_nan=True)
    assert acc.result() == pytest.approx(metrics.d2_poisson_score(y, mu))


def test_feve_recovers_the_true_rate_and_a_constant_scores_zero():
    rng = np.random.default_rng(0)
    rate = rng.gamma(2.0, 1.0, (20, 2, 50))  # (stimuli, neurons, bins)
    y_repeats = rng.poisson(np.repeat(rate[:, None], 30, axis=1)).astype(float)
    values = metrics.feve(y_repeats, rate, multioutput="raw_values")
    np.testing.assert_allclose(values, 1.0, atol=0.05)  # the true rate: 1 in expectation
    constant = np.broadcast_to(y_repeats.mean(axis=(0, 1, 3))[None, :, None], rate.shape)
    np.testing.assert_allclose(metrics.feve(y_repeats, constant, multioutput="raw_values"), 0.0,
                               atol=0.05)
    noisy = rate + rng.normal(0, 0.5, rate.shape)
    assert metrics.feve(y_repeats, noisy) < metrics.feve(y_repeats, rate)
    with pytest.raises(ValueError, match="y_pred must have shape"):
        metrics.feve(y_repeats, rate[:, :1])


def test_split_half_ceiling_and_signal_power_multioutput():
    rng = np.random.default_rng(1)
    rate = rng.gamma(2.0, 1.0, (20, 2, 50))
    few = rng.poisson(np.repeat(rate[:, None], 4, axis=1)).astype(float)
    many = rng.poisson(np.repeat(rate[:, None], 40, axis=1)).astype(float)
    r_few = metrics.split_half_ceiling(few, random_state=0)
    r_many = metrics.split_half_ceiling(many, random_state=0)
    assert 0 < r_few < r_many < 1  # more repeats, a higher ceiling
    exact = np.repeat(rate[:, None], 4, axis=1)  # noiseless repeats
    assert metrics.split_half_ceiling(exact, random_state=0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs integer counts"):  # a Poisson-noise estimate
        metrics.split_half_ceiling(exact, metric="d2_poisson")
    assert metrics.split_half_ceiling(many, metric="d2_poisson", multioutput="raw_values").shape == (2,)
    with pytest.raises(ValueError, match="at least 2 repeats"):
        metrics.split_half_ceiling(few[:, :1])
    sp = metrics.signal_power(many)
    assert sp.shape == (2,) and metrics.signal_power(many, multioutput="uniform_average") == \
        pytest.approx(sp.mean())


def test_split_half_ceiling_leaves_out_bins_of_a_stimulus_with_a_missing_repeat():
    # a missing repeat (NaN, as load_trials pads stimuli with fewer repeats) must not enter
    # either half as a zero response: the ceiling equals the one without that stimulus's bins
    rng = np.random.default_rng(0)
    rates = rng.gamma(2.0, 1.0, size=(20, 1, 2, 50))
    y = rng.poisson(np.broadcast_to(rates, (20, 6, 2, 50))).astype(float)
    holed = y.copy()
    holed[3, 4:] = np.nan
    expected = metrics.split_half_ceiling(np.delete(y, 3, axis=0), random_state=0)
    assert metrics.split_half_ceiling(holed, random_state=0) == pytest.approx(expected, abs=1e-12)
