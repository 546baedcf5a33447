import numpy as np
import pytest
from sklearn.linear_model import PoissonRegressor

from sk_icnet.simulate import make_random_chords, make_stimuli
from sk_icnet.spectral import lag_features, log_mel_spectrogram
from sk_icnet.strf import LinearSTRFRegressor, PoissonSTRFRegressor

FS, DT = 8000.0, 4.0
FRONT = dict(audio_fs=FS, dt_ms=DT, n_bands=8, fmin=100.0, win_ms=8.0)


@pytest.fixture(scope="module")
def sounds():
    return make_stimuli(40, 0.4, FS, random_state=0)  # 40 trials x 100 bins


@pytest.fixture(scope="module")
def chords():
    # random chords decorrelate the bands, as STRF-mapping stimuli do
    return make_random_chords(60, 0.4, FS, n_tones=16, fmin=150.0, chord_ms=8.0, random_state=0)


def spectrogram(X, **kw):
    S, _ = log_mel_spectrogram(X, FS, DT, n_bands=8, fmin=100.0, win_ms=8.0, **kw)
    return S.astype(np.float64)


def simulate_linear(S, coef, intercept, noise, rng):
    lagged = lag_features(S, coef.shape[-1])
    y = np.einsum("tbfl,nfl->tnb", lagged, coef) + intercept[None, :, None]
    return y + noise * rng.standard_normal(y.shape)


def test_ridge_matches_mne_time_delaying_ridge(sounds):
    mne_rf = pytest.importorskip("mne.decoding").ReceptiveField
    rng = np.random.default_rng(0)
    y = rng.poisson(1.0, size=(40, 3, 100)).astype(float)
    S = spectrogram(sounds)
    n_lags, alpha = 6, 25.0
    ours = LinearSTRFRegressor(**FRONT, n_lags=n_lags, alphas=alpha).fit(sounds, y)
    rf = mne_rf(tmin=0.0, tmax=(n_lags - 1) * DT / 1000, sfreq=1000.0 / DT, estimator=alpha,
                fit_intercept=True)
    rf.fit(np.transpose(S, (1, 0, 2)), np.transpose(y, (2, 0, 1)))
    assert rf.estimator_.edge_correction
    np.testing.assert_allclose(ours.coef_, rf.coef_, rtol=1e-6, atol=1e-9 * np.abs(rf.coef_).max())
    np.testing.assert_allclose(ours.intercept_, rf.estimator_.intercept_, rtol=1e-6, atol=1e-9)


def test_ridge_recovers_a_known_strf(chords):
    sounds = chords
    rng = np.random.default_rng(1)
    S = spectrogram(sounds)
    S = S - S.mean(axis=(0, 1))  # simulate around the mean so that rates stay positive
    true = np.zeros((2, 8, 5))
    true[0, 3, 1], true[0, 4, 2] = 1.0, -0.5
    true[1, 6, :] = [0.0, 0.8, 0.4, -0.3, 0.0]
    y = simulate_linear(S, true, np.array([30.0, 30.0]), noise=0.5, rng=rng)
    assert (y > 0).all()
    est = LinearSTRFRegressor(**FRONT, n_lags=5).fit(sounds, y)
    assert est.coef_.shape == (2, 8, 5)
    for j in range(2):
        assert np.corrcoef(est.coef_[j].ravel(), true[j].ravel())[0, 1] > 0.95
    assert est.alpha_.shape == (2,)


def test_penalty_is_chosen_per_neuron(sounds):
    rng = np.random.default_rng(2)
    S = spectrogram(sounds)
    S = S - S.mean(axis=(0, 1))
    true = np.zeros((1, 8, 4))
    true[0, 2, 1] = 1.0
    signal = simulate_linear(S, true, np.array([30.0]), noise=0.1, rng=rng)
    noise = 30.0 + rng.standard_normal(signal.shape)
    y = np.clip(np.concatenate([signal, noise], axis=1), 0, None)
    grid = np.logspace(-2, 6, 9)
    est = LinearSTRFRegressor(**FRONT, n_lags=4, alphas=grid).fit(sounds, y)
    assert est.alpha_[0] < est.alpha_[1]
    shared = LinearSTRFRegressor(**FRONT, n_lags=4, alphas=grid, alpha_per_neuron=False)
    assert len(set(shared.fit(sounds, y).alpha_)) == 1


def test_ridge_nan_bins_use_per_neuron_normal_equations(sounds):
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, size=(40, 2, 100)).astype(float)
    y_nan = y.copy()
    y_nan[:5, 1, :] = np.nan
    y_nan[10, 1, 20:60] = np.nan
    alpha = 10.0
    est = LinearSTRFRegressor(**FRONT, n_lags=3, alphas=alpha).fit(sounds, y_nan)
    alone = LinearSTRFRegressor(**FRONT, n_lags=3, alphas=alpha).fit(sounds, y[:, :1])
    # the complete neuron is unaffected by its neighbour's missing bins ... only by the means
    assert np.allclose(est.coef_[0], alone.coef_[0])
    # the masked neuron equals the explicit weighted normal equations
    S = spectrogram(sounds)
    Sc = S - S.mean(axis=(0, 1))
    Xl = lag_features(Sc, 3).reshape(40 * 100, -1)
    yj = y_nan[:, 1].reshape(-1)
    w = ~np.isnan(yj)
    yc = np.where(w, yj - np.nanmean(yj), 0.0)
    coef = np.linalg.solve(Xl[w].T @ Xl[w] + alpha * np.eye(Xl.shape[1]), Xl[w].T @ yc[w])
    np.testing.assert_allclose(est.coef_[1].ravel(), coef, rtol=1e-6, atol=1e-10)


def test_poisson_strf_recovers_glm_and_matches_sklearn(chords):
    sounds = chords
    rng = np.random.default_rng(4)
    S = spectrogram(sounds)
    Sc = (S - S.mean(axis=(0, 1))) / S.std(axis=(0, 1))
    true = np.zeros((1, 8, 4))
    true[0, 2, 1], true[0, 5, 2] = 0.8, -0.5
    eta = np.einsum("tbfl,nfl->tnb", lag_features(Sc, 4), true)
    y = rng.poisson(np.exp(eta)).astype(float)
    est = PoissonSTRFRegressor(**FRONT, n_lags=4, alpha=1e-4).fit(sounds, y)
    coef_std = est.coef_[0] * S.std(axis=(0, 1))[:, None]  # back to the simulated scale
    assert np.corrcoef(coef_std.ravel(), true[0].ravel())[0, 1] > 0.9
    # identical to scikit-learn's PoissonRegressor on standardised lagged features
    Xl = lag_features(S, 4).reshape(6000, -1)
    mu, sd = Xl.mean(0), Xl.std(0)
    glm = PoissonRegressor(alpha=1e-4, solver="newton-cholesky", tol=1e-6).fit((Xl - mu) / sd, y.ravel())
    np.testing.assert_allclose(est.predict(sounds).ravel(), glm.predict((Xl - mu) / sd), rtol=1e-6)
    assert est.n_iter_.shape == (1,) and est.n_iter_[0] >= 1
    assert np.all(est.predict(sounds) > 0)


def test_prediction_layout_and_lags_ms(sounds):
    y = np.random.default_rng(0).poisson(1.0, size=(40, 100)).astype(float)
    est = LinearSTRFRegressor(**FRONT, lags_ms=20.0).fit(sounds, y)
    assert est.n_lags_ == 5 and est.coef_.shape == (1, 8, 5)
    np.testing.assert_allclose(est.lags_ms_, [0, 4, 8, 12, 16])
    assert est.predict(sounds).shape == (40, 100)
    assert np.isfinite(est.score(sounds, y))
    # each trial is predicted from its own sound only
    rev = est.predict(sounds[::-1])
    np.testing.assert_allclose(rev[::-1], est.predict(sounds), rtol=1e-10)


@pytest.mark.parametrize("params, match", [
    (dict(lags_ms=10.0, n_lags=3), "either lags_ms or n_lags"),
    (dict(n_lags=0), "n_lags must be an integer >= 1"),
    (dict(alphas=[-1.0, 1.0]), "alphas must be non-negative"),
    (dict(fmin=5000.0), "fmin < fmax <= audio_fs / 2"),
    (dict(dt_ms=1.01), "whole number"),
    (dict(cv=1), "cv must be an integer >= 2"),
])
def test_bad_parameters(sounds, params, match):
    kw = {**FRONT, **params}
    with pytest.raises(ValueError, match=match):
        LinearSTRFRegressor(**kw).fit(sounds[:10], np.ones((10, 100)))


def test_bad_data(sounds):
    with pytest.raises(ValueError, match="y must be non-negative"):
        PoissonSTRFRegressor(**FRONT).fit(sounds[:4], -np.ones((4, 100)))
    with pytest.raises(ValueError, match="alpha must be a non-negative"):
        PoissonSTRFRegressor(**FRONT, alpha=-1.0).fit(sounds[:4], np.ones((4, 100)))
    with pytest.raises(ValueError, match="X has 99 features"):
        LinearSTRFRegressor(**FRONT).fit(sounds[:4], np.ones((4, 100))).predict(sounds[:4, :99])


@pytest.mark.parametrize("n_trials, n_bins, n_lags", [(1, 7, 3), (4, 9, 9), (5, 30, 6)])
def test_lag_structured_normal_equations_are_exact(n_trials, n_bins, n_lags):
    from sk_icnet.strf._estimators import _lagged_cross, _lagged_gram

    rng = np.random.default_rng(n_bins)
    S = rng.standard_normal((n_trials, n_bins, 3))
    Y = rng.standard_normal((n_trials, n_bins, 2))
    Xl = lag_features(S, n_lags).reshape(n_trials * n_bins, -1)
    np.testing.assert_allclose(_lagged_gram(S, n_lags), Xl.T @ Xl, atol=1e-10)
    np.testing.assert_allclose(_lagged_cross(S, Y, n_lags), Xl.T @ Y.reshape(-1, 2), atol=1e-10)


def test_more_lags_than_bins_and_fewer_trials_than_folds(sounds):
    rng = np.random.default_rng(5)
    X = sounds[:3, :320]  # 3 trials of 10 bins, 12 lags: the general (design) path
    y = rng.poisson(1.0, size=(3, 10)).astype(float)
    est = LinearSTRFRegressor(**FRONT, n_lags=12, cv=5).fit(X, y)
    assert est.coef_.shape == (1, 8, 12) and np.isfinite(est.coef_).all()
    assert np.abs(est.coef_[..., 10:]).max() < 1e-12  # lags longer than a trial see only padding
