"""Paired statistics of compare results, FEVE in compare and its progress bar."""

import matplotlib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold, KFold, RepeatedKFold

from sk_icnet.compare import PairedStatistics, compare, holm, paired_statistics, plot_paired

matplotlib.use("Agg")

SPB, N_BINS, N_TRIALS, N_NEURONS = 4, 20, 30, 8


class TrialLookup(RegressorMixin, BaseEstimator):
    """Predicts given rates for each trial (read from the trial's first sample), mixed with
    the next trial's by ``blur``, whatever it was fitted on (every repetition of a
    cross-validation predicts the same), or the training mean on ``bad_trials``."""

    def __init__(self, rates=None, blur=0.0, bad_trials=None):
        self.rates = rates
        self.blur = blur
        self.bad_trials = bad_trials

    def fit(self, X, y):
        self.mean_ = float(np.nanmean(y))
        return self

    def predict(self, X):
        idx = np.rint(np.asarray(X)[:, 0] * 1000).astype(int)
        other = self.rates[(idx + 1) % len(self.rates)]  # another stimulus' rates
        pred = (1 - self.blur) * self.rates[idx] + self.blur * other
        if self.bad_trials is not None:
            bad = np.isin(idx, self.bad_trials)
            pred[bad] = self.mean_
        return pred


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    rates = rng.gamma(2.0, 1.0, (N_TRIALS, N_NEURONS, N_BINS))
    y_repeats = rng.poisson(np.repeat(rates[:, None], 4, axis=1)).astype(float)
    X = rng.standard_normal((N_TRIALS, SPB * N_BINS)) * 1e-3
    X[:, 0] = np.arange(N_TRIALS) / 1000  # the trial index, for TrialLookup
    return X, y_repeats.mean(axis=1), y_repeats, rates


def models(rates):
    return {"truth": TrialLookup(rates), "blurred": TrialLookup(rates, blur=0.6),
            "wrong": TrialLookup(rates, blur=1.0)}


def test_holm_adjusts_step_down_and_keeps_nan():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan]), [0.03, 0.06, 0.06, np.nan])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])


def test_the_better_model_wins_per_neuron_and_across_neurons(data):
    X, y, y_repeats, rates = data
    res = compare(models(rates), X, y, cv=KFold(3, shuffle=True, random_state=0),
                  scoring=["pearson_r", "feve"], y_repeats=y_repeats, verbose=0)
    stats = paired_statistics(res, n_bootstrap=200)
    assert isinstance(stats, PairedStatistics)
    assert len(stats.per_neuron) == 2 * 3 * N_NEURONS and len(stats.pairs) == 2 * 3
    tb = stats.per_neuron.query("metric == 'pearson_r' and model_a == 'truth' and "
                                "model_b == 'wrong'")
    # the pooled value is the metric of the out-of-fold predictions on all trials
    from sk_icnet.metrics import pearson_r

    np.testing.assert_allclose(tb.value_a, pearson_r(y, res.predictions["truth"],
                                                     multioutput="raw_values"))
    assert (tb.ci_low <= tb.difference).all() and (tb.difference <= tb.ci_high).all()
    pair = stats.pairs.query("metric == 'pearson_r' and model_a == 'truth' and "
                             "model_b == 'blurred'").iloc[0]
    # all 8 neurons favour the truth: the exact two-sided signed-rank p is 2 / 2**8
    assert pair.n_neurons == N_NEURONS and pair.p_value == pytest.approx(2 / 2**8)
    assert pair.n_a_better == N_NEURONS and pair.n_b_better == 0
    ps = stats.pairs.query("metric == 'pearson_r'")
    np.testing.assert_allclose(ps.p_holm, holm(ps.p_value))
    assert ps.p_holm.max() <= 3 * ps.p_value.max() and ps.significant.all()
    # FEVE through compare: the true rate explains nearly all explainable variance
    feve = res.summary.query("metric == 'feve'").set_index("model")["mean"]
    assert feve["truth"] > 0.9 > feve["blurred"] > feve["wrong"]


def test_identical_models_differ_by_exactly_zero(data):
    X, y, _, rates = data
    res = compare({"a": TrialLookup(rates, blur=0.3), "b": TrialLookup(rates, blur=0.3)}, X, y,
                  cv=3, scoring="pearson_r", verbose=0)
    stats = paired_statistics(res, n_bootstrap=100)
    assert (stats.per_neuron[["difference", "ci_low", "ci_high"]].to_numpy() == 0).all()
    assert stats.pairs.p_value.iloc[0] == 1.0 and not stats.pairs.significant.iloc[0]


def test_the_bootstrap_resamples_whole_stimulus_blocks(data):
    """B equals A except on block 0: a block bootstrap leaves block 0 out of a third of its
    samples (so the interval reaches 0); a trial bootstrap almost never leaves out all 6 trials."""
    X, y, _, rates = data
    groups = np.repeat(np.arange(5), 6)
    res = compare({"a": TrialLookup(rates), "b": TrialLookup(rates, bad_trials=np.arange(6))},
                  X, y, cv=GroupKFold(5), groups=groups, scoring="pearson_r", verbose=0)
    blocks = paired_statistics(res, n_bootstrap=300).per_neuron  # groups known: blocks
    trials = paired_statistics(res, n_bootstrap=300, resample="trials").per_neuron
    assert (blocks.ci_low.abs() < 1e-12).all() and (blocks.difference > 0).all()
    assert (trials.ci_low > 1e-3).all()


def test_repeated_cross_validation_does_not_count_repetitions_as_samples(data):
    X, y, _, rates = data
    once = compare(models(rates), X, y, cv=KFold(3, shuffle=True, random_state=0),
                   scoring="pearson_r", verbose=0)
    repeated = compare(models(rates), X, y, cv=RepeatedKFold(n_splits=3, n_repeats=4,
                                                             random_state=0),
                       scoring="pearson_r", verbose=0)
    assert repeated.fold_repetition.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert repeated.repeat_predictions["truth"].shape == (4,) + y.shape
    np.testing.assert_allclose(repeated.predictions["truth"], once.predictions["truth"])
    a = paired_statistics(once, n_bootstrap=200).per_neuron
    b = paired_statistics(repeated, n_bootstrap=200).per_neuron
    # the predictions are the same in every repetition: so are the intervals (stacking the
    # repetitions as samples would have narrowed them by about half)
    np.testing.assert_allclose(b.ci_high - b.ci_low, a.ci_high - a.ci_low, rtol=1e-9)
    assert paired_statistics(repeated, n_bootstrap=100).pairs.n_repetitions.iloc[0] == 4


def test_paired_statistics_refuses_what_cannot_be_tested(data):
    X, y, _, rates = data
    res = compare(models(rates), X, y, cv=3, scoring="pearson_r", verbose=0)
    with pytest.raises(TypeError, match="CompareResult"):
        paired_statistics(res.scores)
    with pytest.raises(ValueError, match="at least 2 models"):
        paired_statistics(compare({"a": TrialLookup(rates)}, X, y, cv=3, verbose=0))
    with pytest.raises(ValueError, match="too few held-out groups to bootstrap: 3"):
        paired_statistics(res, groups=np.repeat([0, 1, 2], 10))
    from sklearn.model_selection import ShuffleSplit

    one_split = compare(models(rates), X, y, cv=ShuffleSplit(1, test_size=3, random_state=0),
                        scoring="pearson_r", verbose=0)
    with pytest.raises(ValueError, match="too few held-out trials to bootstrap: 3"):
        paired_statistics(one_split)
    with pytest.raises(ValueError, match="pairs must be"):
        paired_statistics(res, pairs=[("truth", "nope")])
    with pytest.raises(ValueError, match="metric must be among"):
        paired_statistics(res, metric="ccnorm")
    with pytest.raises(ValueError, match="n_bootstrap must be an integer >= 100"):
        paired_statistics(res, n_bootstrap=10)
    few = compare(models(rates[:, :3]), X, y[:, :3], cv=3, scoring="pearson_r", verbose=0)
    with pytest.warns(UserWarning, match="needs at least 6"):
        stats = paired_statistics(few, n_bootstrap=100)
    assert stats.pairs.p_value.isna().all() and stats.per_neuron.ci_low.notna().all()


def test_compare_refuses_feve_without_repeats_and_shows_progress_only_when_verbose(data, capsys):
    X, y, y_repeats, rates = data
    with pytest.raises(ValueError, match="scoring='feve' needs responses to repeated"):
        compare(models(rates), X, y, cv=3, scoring=["feve"])
    compare({"a": TrialLookup(rates)}, X, y, cv=3, verbose=1)
    captured = capsys.readouterr()
    assert "compare" in captured.err and captured.out.count("[compare] a, fold") == 3
    compare({"a": TrialLookup(rates)}, X, y, cv=3, verbose=0)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_plot_paired_draws_points_intervals_and_the_identity_line(data):
    X, y, _, rates = data
    res = compare(models(rates), X, y, cv=3, scoring="pearson_r", verbose=0)
    stats = paired_statistics(res, n_bootstrap=100)
    ax = plot_paired(stats, "truth", "blurred")
    assert "Wilcoxon" in ax.get_title() and ax.get_xlabel() == "truth pearson_r"
    assert sum(len(c.get_offsets()) for c in ax.collections[-2:]) == N_NEURONS
    ax = plot_paired(stats, "blurred", "truth")  # either order
    assert ax.get_xlabel() == "blurred pearson_r"
    with pytest.raises(ValueError, match="no statistics for"):
        plot_paired(stats, "truth", "nope")


def test_paired_statistics_refuses_no_pairs_and_bootstraps_it_cannot_afford(data):
    X, y, _, rates = data
    res = compare(models(rates), X, y, cv=3, scoring="pearson_r", verbose=0)
    with pytest.raises(ValueError, match=r"pairs must name at least one .*received \[\]"):
        paired_statistics(res, pairs=[])
    with pytest.raises(ValueError, match="n_bootstrap must be at most 100,000; received 1,000,000,000"):
        paired_statistics(res, n_bootstrap=10**9)
    # the time of one sample is measured and multiplied: refused before resampling
    with pytest.raises(ValueError, match=r"n_bootstrap=50,000 would take about [\d,]+ s here "
                                         r"\([\d.]+ ms per sample .*max_seconds=0.001"):
        paired_statistics(res, n_bootstrap=50_000, max_seconds=0.001)
    with pytest.raises(ValueError, match="max_seconds must be a positive number or None"):
        paired_statistics(res, max_seconds=0)
    stats = paired_statistics(res, n_bootstrap=100, max_seconds=None, pairs=[("truth", "wrong")])
    assert list(stats.pairs.model_b) == ["wrong"]
