"""The first hour with sk_icnet (issue 20): the estimator-side traps a new user meets."""

import copy
import json
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from sk_icnet import ICNetFeatures, ICNetRegressor, LinearSTRFRegressor, RatesAssumedWarning
from sk_icnet.metrics import d2_poisson_score

from .conftest import TINY_MODULE, tiny_estimator


def _fit_quietly(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RatesAssumedWarning)
        return est.fit(X, y, **kwargs)


# ------------------------------------------------------------ 1. assumed rates
def _sixteen_khz_arrays(n_trials=4, n_bins=50):
    """16 kHz audio in 2 ms bins (32 samples: the paper's samples per bin, by chance)."""
    rng = np.random.default_rng(0)
    X = 0.05 * rng.standard_normal((n_trials, 32 * n_bins)).astype(np.float32)
    return X, rng.poisson(0.3, (n_trials, n_bins)).astype(float)


def test_a_fit_on_arrays_warns_once_when_the_paper_rates_are_assumed():
    X, y = _sixteen_khz_arrays()
    est = ICNetRegressor(max_epochs=1, verbose=0, train_split=None, random_state=0,
                         **TINY_MODULE)
    with pytest.warns(RatesAssumedWarning) as record:
        est.fit(X, y)
    assumed = [w for w in record if issubclass(w.category, RatesAssumedWarning)]
    assert len(assumed) == 1  # once per fit
    message = str(assumed[0].message)
    assert "audio_fs=24414.0625 Hz" in message and "dt_ms=1.31072 ms" in message
    assert est.audio_fs_ == 24414.0625
    with warnings.catch_warnings():  # passing the rates silences it
        warnings.simplefilter("error", RatesAssumedWarning)
        est.set_params(audio_fs=16000.0, dt_ms=2.0).fit(X, y)
    assert (est.audio_fs_, est.dt_ms_, est.samples_per_bin_) == (16000.0, 2.0, 32)


def test_the_linear_strf_warns_too_when_it_assumes_the_paper_rates():
    X, y = _sixteen_khz_arrays(n_trials=6)
    with pytest.warns(RatesAssumedWarning, match="LinearSTRFRegressor .* audio_fs=24414.0625 Hz"):
        strf = LinearSTRFRegressor(n_lags=3, n_bands=8).fit(X, y)
    assert strf.audio_fs_ == 24414.0625 and strf.get_params()["audio_fs"] == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RatesAssumedWarning)
        strf = LinearSTRFRegressor(16000.0, 2.0, n_lags=3, n_bands=8).fit(X, y)
    assert strf.audio_fs_ == 16000.0 and strf.band_frequencies_hz_.max() < 8000.0


@pytest.mark.parametrize("make", [
    lambda: ICNetRegressor(max_epochs=1, verbose=0, train_split=None, **TINY_MODULE),
    lambda: LinearSTRFRegressor(n_lags=3, n_bands=8),
])
def test_bin_count_errors_say_which_rates_were_assumed(make):
    X, y = _sixteen_khz_arrays()
    with pytest.raises(ValueError, match=r"y has 49 bins.*audio_fs=24414.0625 Hz \(assumed: the "
                                         r"paper's, since arrays carry no rate\)"):
        make().fit(X, y[:, :49])
    est = make().set_params(audio_fs=16000.0, dt_ms=2.0)
    with pytest.raises(ValueError, match=r"audio_fs=16000.0 Hz \(set\), dt_ms=2.0 ms \(set\)"):
        est.fit(X, y[:, :49])
    est.fit(X, y)
    with pytest.raises(ValueError, match=r"fitted with audio_fs_?=16000.0 Hz"):
        est.predict(X[:, :40])


# ----------------------------------------------------- 2. features survive clone
def test_icnet_features_survive_clone_and_cross_validation(small_xy):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline

    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    X, y = X[:12, :1600], y[:12, :, :50]  # 50-bin trials: the features are fast
    features = ICNetFeatures(est, output="mean")
    twin = clone(features)
    assert twin.estimator is est and not hasattr(twin, "n_channels_")  # frozen, unfitted
    target = y[:, 0].sum(axis=1)  # spikes per trial of neuron 0
    pipe = make_pipeline(features, Ridge())
    scores = cross_val_score(pipe, X, target, cv=3, error_score="raise")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    search = GridSearchCV(pipe, {"ridge__alpha": [0.1, 10.0]}, cv=2, error_score="raise")
    search.fit(X, target)
    assert search.best_estimator_[0].estimator is est
    np.testing.assert_allclose(search.predict(X[:2]).shape, (2,))


# ------------------------------------------------- 3. a ceiling for sparse spiking
def _sparse_neurons(seed, n_stimuli=20, n_repeats=5, n_neurons=3, n_bins=100, mean=0.05, gain=1.5):
    """Smooth log-normal rates of ~0.05 spikes per bin: most bins of a repeat hold no spike."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    z = gaussian_filter1d(rng.standard_normal((n_stimuli, n_neurons, n_bins)), 3, axis=-1)
    rates = mean * np.exp(gain * z / z.std())
    counts = rng.poisson(np.repeat(rates[:, None], n_repeats, axis=1)).astype(float)
    return rates, counts


@pytest.mark.parametrize("seed, mean, gain", [(0, 0.05, 1.5), (1, 0.02, 1.0), (2, 0.2, 1.0)])
def test_poisson_ceiling_is_close_to_the_true_rates_score_for_sparse_neurons(seed, mean, gain):
    from sk_icnet.metrics import split_half_ceiling

    rates, y_rep = _sparse_neurons(seed, mean=mean, gain=gain)
    assert (y_rep == 0).mean() > 0.75  # sparse: most bins of a repeat hold no spike
    n_stim, n_rep, n_neurons, n_bins = y_rep.shape
    trials = y_rep.reshape(n_stim * n_rep, n_neurons, n_bins)  # every repeat a trial
    truth = d2_poisson_score(trials, np.repeat(rates, n_rep, axis=0), multioutput="raw_values")
    ceiling = split_half_ceiling(y_rep, metric="d2_poisson", multioutput="raw_values")
    assert ceiling.shape == (n_neurons,)
    np.testing.assert_allclose(ceiling, truth, atol=0.07)  # was -3.4 .. -7 here
    assert abs(split_half_ceiling(y_rep, metric="d2_poisson") - truth.mean()) < 0.05


# ------------------------------------------- 4, 5, 7. repr, reload, get_params
def test_repr_shows_every_parameter_that_differs_from_its_default():
    from skorch.dataset import ValidSplit

    text = repr(ICNetRegressor(audio_fs=16000., dt_ms=2., lr=5e-3, module__encoder_channels=24))
    for part in ("audio_fs=16000.0", "dt_ms=2.0", "lr=0.005", "module__encoder_channels=24"):
        assert part in text
    assert text.startswith("ICNetRegressor(") and "max_epochs" not in text
    assert repr(ICNetRegressor()) == "ICNetRegressor()"
    assert "train_split=ValidSplit(" in repr(ICNetRegressor(train_split=ValidSplit(3)))
    assert "train_split" not in repr(ICNetRegressor(train_split=ValidSplit(5)))  # the default


def test_the_usual_skorch_reload_sizes_the_decoder_from_the_file(small_xy, tmp_path):
    X, y = small_xy
    same = dict(max_epochs=1, random_state=3)
    est = tiny_estimator(**same).fit(X, y)
    est.save_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    fresh = tiny_estimator(**same)
    fresh.initialize()
    assert fresh.module_.out_neurons == 1  # initialize() cannot know y's neurons
    fresh.load_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    assert fresh.n_neurons_ == 3 and len(fresh.history) == 1
    np.testing.assert_array_equal(fresh.predict(X[:4]), est.predict(X[:4]))
    with open(tmp_path / "w.pt", "rb") as f:  # a file object works too
        other = tiny_estimator(**same)
        other.initialize()
        other.load_params(f_params=f)
    np.testing.assert_array_equal(other.predict(X[:2]), est.predict(X[:2]))
    wider = tiny_estimator(**same, module__bottleneck_channels=6)
    wider.initialize()
    with pytest.raises(ValueError, match="another architecture .*bottleneck"):
        wider.load_params(f_params=tmp_path / "w.pt")
    two = tiny_estimator(max_epochs=1).fit(X, y[:, :2])
    with pytest.raises(ValueError, match="decoders for 3 neuron.*fitted on 2"):
        two.load_params(f_params=tmp_path / "w.pt")


def test_fitted_get_params_hides_private_callback_state_and_deep_copies(small_xy):
    est = tiny_estimator(max_epochs=1).fit(*small_xy)
    params = est.get_params()
    assert not [key for key in params if "___" in key or "__" in key.lstrip("_") and
                any(part.startswith("_") for part in key.split("__")[1:])]
    assert "callbacks__best_weights__monitor" in params  # public callback parameters stay
    copy.deepcopy(params)
    clone(est).set_params(callbacks__best_weights__monitor="train_loss")


# ----------------------------------------------------- 6. per-trial weights
def test_sample_weight_weighs_trials_and_zero_drops_one(small_xy):
    from skorch.dataset import ValidSplit

    X, y = small_xy[0][:8, :1600], small_xy[1][:8, :, :50]  # 8 trials of 50 bins: fast
    full = dict(max_epochs=2, batch_size=-1, train_split=None)  # one batch: no shuffling order
    weights = np.ones(len(X))
    weights[3] = 0.0
    weighted = tiny_estimator(**full).fit(X, y, sample_weight=weights)
    keep = np.arange(len(X)) != 3
    dropped = tiny_estimator(**full).fit(X[keep], y[keep])
    np.testing.assert_allclose(weighted.predict(X), dropped.predict(X), rtol=1e-5, atol=1e-6)
    plain = tiny_estimator(**full).fit(X, y)
    assert np.abs(weighted.predict(X) - plain.predict(X)).max() > 1e-3  # the weights matter
    split = tiny_estimator(max_epochs=1, train_split=ValidSplit(4)).fit(X, y, sample_weight=weights)
    assert np.isfinite(split.history[-1, "valid_loss"])
    with pytest.raises(ValueError, match=r"one weight per trial, shape \(8,\)"):
        tiny_estimator().fit(X, y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="non-negative and not all zero"):
        tiny_estimator().fit(X, y, sample_weight=-weights)


# ---------------------------------------------- decoder bias at the mean rate
def test_an_untrained_fit_predicts_each_neurons_mean_rate(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=0, train_split=None).fit(X, y)
    assert abs(est.score(X, y)) < 0.05  # a constant at the mean scores 0; was -0.59 here
    np.testing.assert_allclose(est.predict(X).mean(axis=(0, 2)), y.mean(axis=(0, 2)), rtol=0.2)
    cat = tiny_estimator(max_epochs=0, train_split=None, head="categorical").fit(X, y)
    zero = cat.predict_proba(X)[..., 0].mean(axis=(0, 2))
    np.testing.assert_allclose(zero, (y == 0).mean(axis=(0, 2)), atol=0.05)


# ---------------------------------------------------- 8. the training summary
def test_the_training_summary_describes_the_training_sound_and_is_json(small_xy):
    from sk_icnet.audio import level_db_spl

    X, y = small_xy
    est = tiny_estimator(max_epochs=0).fit(X, y)
    summary = json.loads(json.dumps(est.training_summary_))  # JSON-serialisable as it is
    assert summary["n_trials"] == 24 and summary["n_neurons"] == 3
    assert summary["duration_s"] == pytest.approx(24 * 0.5)
    assert (summary["audio_fs"], summary["dt_ms"]) == (8000.0, 4.0)
    levels = [level_db_spl(x, audio_fs=8000.0, active_only=True) for x in X]
    assert summary["level_db_spl"] == pytest.approx([min(levels), max(levels)])
    assert summary["frame_level_db_spl_max"] >= max(levels)
    lo, hi = summary["band_hz"]
    assert 0 <= lo < hi <= 4000.0
    np.testing.assert_allclose(summary["mean_rate_hz"], y.mean(axis=(0, 2)) / 0.004)
    import sk_icnet

    assert summary["sk_icnet_version"] == sk_icnet.__version__


# ------------------------------------------- 8. in-silico outside the training range
def test_insilico_warns_outside_the_training_range_of_a_fitted_model(small_xy):
    from sk_icnet import insilico
    from sk_icnet.exceptions import OutsideTrainingRangeWarning

    est = tiny_estimator(max_epochs=0).fit(*small_xy)
    loudest = est.training_summary_["frame_level_db_spl_max"]  # about 94 dB SPL here
    lo, hi = est.training_summary_["band_hz"]
    with warnings.catch_warnings():  # inside the training range: no warning
        warnings.simplefilter("error", OutsideTrainingRangeWarning)
        inside = insilico.frequency_response_area(est, frequencies=[1.5 * lo, 1000.0, hi / 1.5],
                                                  levels=[40.0, loudest - 10])
    assert not inside.summary.implausible_rate.any()
    assert (inside.summary.max_rate_hz > 0).all()
    with pytest.warns(OutsideTrainingRangeWarning, match=r"levels up to 1\d\d dB SPL"):
        insilico.frequency_response_area(est, frequencies=[1000.0], levels=[40.0, loudest + 20])
    with pytest.warns(OutsideTrainingRangeWarning, match="frequencies from"):
        insilico.rate_level(est, stimulus=lo / 3, levels=[30.0, 60.0])


def test_insilico_flags_implausible_rates():
    from sk_icnet import insilico
    from sk_icnet.exceptions import OutsideTrainingRangeWarning
    from sk_icnet.simulate._neurons import TunedNeurons

    neurons = TunedNeurons(cf_hz=[1000.0, 2000.0], max_rate_hz=[150.0, 5000.0])
    with pytest.warns(OutsideTrainingRangeWarning, match=r"implausible rates .* up to \d,\d\d\d "
                                                         r"spikes/s \(1 of 2 neuron\(s\): 1;"):
        result = insilico.rate_level(neurons, levels=np.arange(0.0, 91.0, 10.0))
    assert result.summary.implausible_rate.tolist() == [False, True]
    assert result.summary.max_rate_hz[1] > 1000 > result.summary.max_rate_hz[0]


# ------------------------------------------- scikit-learn scoring strings, 3-D y
def test_scikit_learn_scoring_strings_on_3d_y_are_refused_with_a_pointer(small_xy):
    from sklearn.metrics import get_scorer, make_scorer

    from sk_icnet.metrics import SCORERS

    X, y = small_xy
    est = tiny_estimator(max_epochs=0).fit(X, y)
    for name in ("r2", "neg_mean_squared_error"):
        with pytest.raises(ValueError, match=r"3-D y.*sk_icnet.metrics.SCORERS"):
            get_scorer(name)(est, X[:4], y[:4])
    assert np.isfinite(SCORERS["d2_poisson"](est, X[:4], y[:4]))  # sk_icnet's scorers pass
    own = make_scorer(lambda y_true, y_pred: float(np.mean(y_pred)))  # and a user's own scorer
    assert own(est, X[:4], y[:4]) == pytest.approx(float(est.predict(X[:4]).mean()))
    assert est.predict(X[:2]).shape == (2, 3, 125)  # direct calls too
    one = tiny_estimator(max_epochs=0).fit(X, y[:, 0])  # 2-D y: scikit-learn's strings work
    assert np.isfinite(get_scorer("r2")(one, X[:4], y[:4, 0]))


# ------------------------------------------------------------ progress bars
def test_long_predictions_show_progress_unless_verbose_is_zero(small_xy, capsys):
    X, y = small_xy
    est = tiny_estimator(max_epochs=0).fit(X, y)
    quiet = est.predict(X[:2])
    capsys.readouterr()
    est.set_params(predict_chunk_bins=25, verbose=1)  # 125-bin trials stream in 5 chunks
    np.testing.assert_allclose(est.predict(X[:2]), quiet, rtol=1e-5, atol=1e-6)
    est.embed(X[:2])
    err = capsys.readouterr().err
    assert "ICNetRegressor.predict" in err and "ICNetRegressor.embed" in err and "/250 " in err
    est.set_params(verbose=0)
    est.predict(X[:2])
    assert capsys.readouterr().err == ""


def test_insilico_experiments_show_progress_on_request(capsys):
    from sk_icnet import insilico
    from sk_icnet.simulate._neurons import TunedNeurons

    neurons = TunedNeurons(cf_hz=[1000.0])
    insilico.rate_level(neurons, levels=[20.0, 40.0])
    assert capsys.readouterr().err == ""
    insilico.rate_level(neurons, levels=[20.0, 40.0], progress=True)
    assert "in-silico: 2 stimuli" in capsys.readouterr().err


def test_a_fit_on_recordings_summarises_sampled_windows():
    from sk_icnet import Recording, WindowDataset

    rng = np.random.default_rng(0)
    recs = [Recording(0.02 * rng.standard_normal(32 * 400).astype(np.float32),
                      rng.poisson(rate, (n, 400)).astype(np.uint8), audio_fs=8000.0, dt_ms=4.0,
                      name=name)
            for name, n, rate in (("a", 2, 0.2), ("b", 1, 0.6))]
    data = WindowDataset(recs, window_samples=32 * 40, context_samples=32 * 8)
    est = tiny_estimator(max_epochs=0, train_split=None).fit(data)
    summary = json.loads(json.dumps(est.training_summary_))
    assert summary["n_windows"] == len(data) and summary["n_neurons"] == 3
    assert summary["level_db_spl"][0] == pytest.approx(60.0, abs=1.0)  # 0.02 Pa rms
    np.testing.assert_allclose(summary["mean_rate_hz"], [50.0, 50.0, 150.0], rtol=0.15)
