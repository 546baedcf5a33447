import matplotlib
import numpy as np
import pandas as pd
import pytest

from sk_icnet import LinearSTRFRegressor, PoissonSTRFRegressor
from sk_icnet.compare import compare, plot_neuron_scatter, plot_psth, plot_strf, summarize
from sk_icnet.simulate import make_auditory_dataset

from .conftest import tiny_estimator

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    return make_auditory_dataset(n_trials=30, duration_s=0.25, audio_fs=8000.0, dt_ms=4.0,
                                 n_neurons=2, neuron_kinds="mixed", n_repeats=3, random_state=0)


def front(data):
    return dict(audio_fs=data.audio_fs, dt_ms=data.dt_ms, lags_ms=20.0, **data.front_end)


def test_compare_returns_a_tidy_table(data):
    models = {"ridge": LinearSTRFRegressor(**front(data)),
              "glm": PoissonSTRFRegressor(**front(data)),
              "icnet": tiny_estimator(max_epochs=1)}
    res = compare(models, data.X, data.y, cv=3, scoring=["d2_poisson", "pearson_r", "ccnorm"],
                  y_repeats=data.y_repeats)
    assert list(res.scores.columns) == ["model", "fold", "neuron", "metric", "value", "fit_time",
                                        "score_time"]
    assert (res.scores.fit_time > 0).all() and {"fit_time", "score_time"} <= set(res.summary.columns)
    assert len(res.scores) == 3 * 3 * 2 * 3  # models x folds x neurons x metrics
    assert set(res.scores.model) == set(models)
    assert res.summary.shape[0] == 9
    assert {"mean", "sem", "n_neurons"} <= set(res.summary.columns)
    # out-of-fold predictions cover every trial
    for pred in res.predictions.values():
        assert pred.shape == data.y.shape and np.isfinite(pred).all()
    # the values are the metrics of those predictions on each fold's trials
    ridge = res.scores.query("model == 'ridge' and metric == 'pearson_r' and fold == 0")
    from sk_icnet.metrics import pearson_r
    test = np.arange(10)
    expected = pearson_r(data.y[test], res.predictions["ridge"][test], multioutput="raw_values")
    np.testing.assert_allclose(ridge.value.to_numpy(), expected)


def test_summary_averages_folds_then_neurons():
    scores = pd.DataFrame({
        "model": ["a"] * 4, "fold": [0, 1, 0, 1], "neuron": [0, 0, 1, 1],
        "metric": ["m"] * 4, "value": [0.2, 0.4, 0.6, np.nan]})
    row = summarize(scores).iloc[0]
    assert row["mean"] == pytest.approx((0.3 + 0.6) / 2) and row["n_neurons"] == 2


def test_compare_with_2d_y_and_nan(data):
    y = data.y[:, 0].copy()
    y[0, :10] = np.nan
    res = compare({"ridge": LinearSTRFRegressor(**front(data))}, data.X, y, cv=2)
    assert res.scores.neuron.unique().tolist() == [0]
    assert np.isfinite(res.scores.value).all()


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(scoring=["r2"]), ValueError, "scoring must be a non-empty list"),
    (dict(scoring=["ccnorm"]), ValueError, "needs responses to repeated presentations"),
    (dict(scoring=["ccnorm"], y_repeats=np.ones((3, 2, 2, 62))), ValueError,
     "y_repeats must have shape"),
])
def test_compare_bad_arguments(data, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        compare({"ridge": LinearSTRFRegressor(**front(data))}, data.X, data.y, **kwargs)


def test_compare_bad_estimators(data):
    with pytest.raises(TypeError, match="non-empty dict"):
        compare([LinearSTRFRegressor()], data.X, data.y)
    with pytest.raises(TypeError, match="must have fit and predict"):
        compare({"x": object()}, data.X, data.y)


def test_plots(data):
    models = {"ridge": LinearSTRFRegressor(**front(data)), "glm": PoissonSTRFRegressor(**front(data))}
    res = compare(models, data.X, data.y, cv=2)
    ax = plot_neuron_scatter(res.scores, "ridge", "glm", "pearson_r", hue=data.neuron_kinds)
    assert len(ax.collections) == 2 and "glm" in ax.get_ylabel()
    with pytest.raises(ValueError, match="model 'nope' is not in scores"):
        plot_neuron_scatter(res.scores, "ridge", "nope")
    ax = plot_psth(data.y, res.predictions, neuron=1, dt_ms=4.0, y_repeats=data.y_repeats)
    assert len(ax.lines) == 2
    strf = LinearSTRFRegressor(**front(data)).fit(data.X, data.y)
    ax = plot_strf(strf, neuron=0)
    assert ax.images[0].get_array().shape == strf.coef_[0].shape


def test_compare_reports_progress_groups_and_ordered_trials(data, capsys):
    import warnings

    from sklearn.model_selection import GroupKFold

    model = {"ridge": LinearSTRFRegressor(**front(data))}
    groups = np.repeat(np.arange(5), 6)
    res = compare(model, data.X, data.y, cv=GroupKFold(5), groups=groups)
    out = capsys.readouterr().out
    assert out.count("[compare] ridge, fold") == 5 and "fit" in out and "predict" in out
    assert sorted(res.scores.fold.unique()) == list(range(5))  # one fold per group
    compare(model, data.X, data.y, cv=GroupKFold(5), groups=groups, verbose=0)
    assert capsys.readouterr().out == ""
    # trials whose responses trend with their order: an unshuffled KFold warns
    trend = data.y * np.linspace(0.2, 2.0, len(data.y))[:, None, None]
    with pytest.warns(UserWarning, match="the trials look ordered"):
        compare(model, data.X, np.round(trend), cv=3, verbose=0)
    with warnings.catch_warnings():  # shuffled folds: no ordered-trials warning
        warnings.filterwarnings("error", message="the trials look ordered")
        from sklearn.model_selection import KFold

        compare(model, data.X, np.round(trend), cv=KFold(3, shuffle=True, random_state=0),
                verbose=0)
    with pytest.raises(ValueError, match="groups must have one label per trial"):
        compare(model, data.X, data.y, cv=GroupKFold(2), groups=groups[:5])


def test_the_compare_module_holds_its_functions_and_calling_it_is_deprecated(data):
    import sk_icnet
    import sk_icnet.compare as cm

    assert sk_icnet.compare is cm  # the module, not the function that hid it in 0.4
    assert sk_icnet.compare.paired_statistics is cm.paired_statistics
    assert sk_icnet.compare_models is cm.compare is compare
    model = {"ridge": LinearSTRFRegressor(**front(data))}
    with pytest.warns(FutureWarning, match="sk_icnet.compare_models"):
        old = sk_icnet.compare(model, data.X, data.y, cv=3, verbose=0)
    new = sk_icnet.compare_models(model, data.X, data.y, cv=3, verbose=0)
    pd.testing.assert_frame_equal(old.scores.drop(columns=["fit_time", "score_time"]),
                                  new.scores.drop(columns=["fit_time", "score_time"]))


def test_groups_with_an_integer_cv_split_by_group_and_group_blind_splitters_are_refused(data,
                                                                                        capsys):
    import warnings

    from sklearn.model_selection import GroupKFold, KFold, ShuffleSplit

    model = {"ridge": LinearSTRFRegressor(**front(data))}
    groups = np.repeat(np.arange(6), 5)
    with warnings.catch_warnings():  # scikit-learn's "groups parameter is ignored" would fail
        warnings.filterwarnings("error", message=".*groups parameter is ignored")
        res = compare(model, data.X, data.y, cv=3, groups=groups)
    assert "GroupKFold(3)" in capsys.readouterr().out
    grouped = compare(model, data.X, data.y, cv=GroupKFold(3), groups=groups, verbose=0)
    pd.testing.assert_frame_equal(res.scores.drop(columns=["fit_time", "score_time"]),
                                  grouped.scores.drop(columns=["fit_time", "score_time"]))
    assert res.scores.fold.nunique() == 3
    for cv in (KFold(3), ShuffleSplit(2, random_state=0)):
        with pytest.raises(ValueError, match="ignores them.*GroupKFold"):
            compare(model, data.X, data.y, cv=cv, groups=groups, verbose=0)
    with pytest.raises(ValueError, match="cv=10 folds need at least 10 groups, but groups has 6"):
        compare(model, data.X, data.y, cv=10, groups=groups, verbose=0)


def _canvas_overflow(fig):
    """How far (inches) the drawn artists reach beyond each edge of the canvas, once saved."""
    import io

    fig.savefig(io.BytesIO(), format="png")  # at the default size, no bbox_inches="tight"
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    return max(-box.x0, -box.y0, box.x1 - width, box.y1 - height)


def test_saved_plots_keep_every_label_inside_the_canvas_and_strfs_have_a_colour_bar(data):
    import matplotlib.pyplot as plt

    from sk_icnet.compare import paired_statistics, plot_paired

    models = {"ridge STRF": LinearSTRFRegressor(**front(data)),
              "Poisson STRF": PoissonSTRFRegressor(**front(data))}
    res = compare(models, data.X, data.y, cv=5, verbose=0)
    stats = paired_statistics(res, metric="pearson_r", n_bootstrap=100)
    strf = LinearSTRFRegressor(**front(data)).fit(data.X, data.y)
    axes = {
        "plot_paired": plot_paired(stats, "ridge STRF", "Poisson STRF"),
        "plot_neuron_scatter": plot_neuron_scatter(res.scores, "ridge STRF", "Poisson STRF"),
        "plot_psth": plot_psth(data.y, res.predictions, dt_ms=data.dt_ms),
        "plot_strf": plot_strf(strf),
    }
    for name, ax in axes.items():
        assert _canvas_overflow(ax.figure) <= 0.01, name
        plt.close(ax.figure)
    colour_bars = [a for a in axes["plot_strf"].figure.axes if a is not axes["plot_strf"]]
    assert len(colour_bars) == 1 and "per log power" in colour_bars[0].get_ylabel()
    lim = np.abs(strf.coef_[0]).max()
    assert colour_bars[0].get_ylim() == pytest.approx((-lim, lim))
