"""Hostile input, property-based: every case works or raises a ValueError/TypeError naming
the argument; never another exception, a hang or NaN weights."""

import warnings

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from sk_icnet import LinearSTRFRegressor, PoissonSTRFRegressor, metrics
from tests.conftest import tiny_estimator

SPB = 32  # the tiny configuration: 8 kHz, 4 ms bins

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 3.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 1e300, 5e-324]
DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int16, np.uint8, np.bool_,
          np.complex128, object]
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _fill(draw, shape, dtype, counts=False):
    """Values for ``shape``: counts (mostly) or waveform-like, with a few special values."""
    size = int(np.prod(shape)) if shape else 1
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if counts and draw(st.sampled_from([True, True, True, False])):
        values = rng.poisson(1.0, size).astype(np.float64)
    else:
        values = rng.standard_normal(size)
    n_special = draw(st.sampled_from([0, 0, 1, 2, 3]))
    for _ in range(min(n_special, size)):
        values[draw(st.integers(0, max(size - 1, 0)))] = draw(st.sampled_from(SPECIAL))
    values = values.reshape(shape)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return values.astype(object) if dtype is object else values.astype(dtype)


def _dtype(draw):
    # mostly valid dtypes, so that most examples get past the first check
    return draw(st.sampled_from([np.float32, np.float64, np.float32, np.float64, *DTYPES]))


def _maybe(draw, value, alternatives):
    """``value`` most of the time, sometimes a hostile alternative."""
    return draw(st.sampled_from([value, value, value, *alternatives]))


@st.composite
def xy_pairs(draw):
    """(X, y) pairs near the data contract, each dimension sometimes broken."""
    n_trials = draw(st.integers(1, 4))
    n_bins = draw(st.integers(1, 3))
    n_neurons = draw(st.integers(1, 2))
    x_trials = _maybe(draw, n_trials, [0, n_trials + 1])
    x_len = _maybe(draw, n_bins * SPB, [0, n_bins * SPB - 1, n_bins * SPB + SPB])
    x_shape = draw(st.sampled_from([(x_trials, x_len), (x_trials, 1, x_len),
                                    (x_trials, x_len), (x_len,), (x_trials, 2, x_len)]))
    y_bins = _maybe(draw, n_bins, [0, n_bins + 1])
    y_shape = draw(st.sampled_from([(n_trials, n_neurons, y_bins), (n_trials, y_bins),
                                    (n_trials, n_neurons, y_bins), (n_trials,), (n_trials, 1, 1, y_bins),
                                    ()]))
    return _fill(draw, x_shape, _dtype(draw)), _fill(draw, y_shape, _dtype(draw), counts=True)


@st.composite
def prediction_pairs(draw):
    shape = draw(st.sampled_from([(3,), (2, 4), (2, 2, 3), (0, 2), (1, 1, 1)]))
    other = _maybe(draw, shape, [(2, 5), (), (3, 1)])
    return _fill(draw, shape, _dtype(draw), counts=True), _fill(draw, other, _dtype(draw))


def assert_named_error(exc, names):
    assert isinstance(exc, (ValueError, TypeError)), repr(exc)
    assert any(name in str(exc) for name in names), str(exc)


def call(fn, names):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return True, fn()
    except Exception as exc:  # noqa: BLE001 - classify every exception
        assert_named_error(exc, names)
        return False, None


@SETTINGS
@given(pair=xy_pairs())
def test_icnet_fit_predict_score(pair):
    X, y = pair
    est = tiny_estimator(max_epochs=1, train_split=None, batch_size=4)
    ok, _ = call(lambda: est.fit(X, y), ["X", "y"])
    if not ok:
        return
    assert all(torch.isfinite(p).all() for p in est.module_.parameters()), "NaN weights"
    ok, pred = call(lambda: est.predict(X), ["X"])
    assert ok and np.isfinite(pred).all() and (pred >= 0).all()
    ok, score = call(lambda: est.score(X, y), ["X", "y"])
    assert ok and (np.isnan(score) or np.isfinite(score))


def strf(model):
    if model is LinearSTRFRegressor:
        return model(audio_fs=8000.0, dt_ms=4.0, n_bands=4, n_lags=2, fmin=100.0, cv=2)
    return model(audio_fs=8000.0, dt_ms=4.0, n_bands=4, n_lags=2, fmin=100.0, max_iter=20)


@SETTINGS
@given(pair=xy_pairs(), model=st.sampled_from([LinearSTRFRegressor, PoissonSTRFRegressor]))
def test_strf_fit_predict_score(pair, model):
    X, y = pair
    est = strf(model)
    ok, _ = call(lambda: est.fit(X, y), ["X", "y"])
    if not ok:
        return
    assert np.isfinite(est.coef_).all()
    ok, pred = call(lambda: est.predict(X), ["X"])
    assert ok and np.isfinite(pred).all()
    ok, _ = call(lambda: est.score(X, y), ["X", "y"])
    assert ok


@SETTINGS
@given(pair=prediction_pairs(),
       fn=st.sampled_from([metrics.d2_poisson_score, metrics.pearson_r, metrics.poisson_deviance]))
def test_metrics(pair, fn):
    y_true, y_pred = pair
    ok, value = call(lambda: fn(y_true, y_pred), ["y_true", "y_pred"])
    if ok:
        assert np.isnan(value) or np.isfinite(value)


@st.composite
def repeat_pairs(draw):
    n_stim, n_rep, n_neu, n_bins = (draw(st.integers(0, 3)) for _ in range(4))
    reps = _fill(draw, (n_stim, n_rep, n_neu, n_bins), _dtype(draw), counts=True)
    pred_shape = _maybe(draw, (n_stim, n_neu, n_bins), [(n_stim, n_bins + 1), (n_stim,)])
    return reps, _fill(draw, pred_shape, _dtype(draw))


@SETTINGS
@given(pair=repeat_pairs())
def test_ccnorm(pair):
    reps, pred = pair
    ok, value = call(lambda: metrics.ccnorm(reps, pred), ["y_repeats", "y_pred"])
    if ok:
        assert np.isnan(value) or np.isfinite(value)


def test_the_strategies_reach_fits_that_succeed():
    """The properties are not vacuous: the same strategies generate data that fits.

    Searched here rather than counted in the property tests, so that this test passes alone and in
    any order."""
    search = settings(max_examples=200, deadline=None, database=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))

    def fits(make):
        return lambda pair: call(lambda: make().fit(*pair), ["X", "y"])[0]

    find(xy_pairs(), fits(lambda: tiny_estimator(max_epochs=1, train_split=None, batch_size=4)),
         settings=search)
    find(xy_pairs(), fits(lambda: strf(LinearSTRFRegressor)), settings=search)
