"""Fits that fail silently: DidNotLearnCheck, its retries, and ensembles that leave such members out."""

import warnings

import numpy as np
import pytest

from sk_icnet import ICNetEnsemble, small_data_params
from sk_icnet.exceptions import DidNotLearnWarning
from sk_icnet.icnet import DidNotLearnCheck
from sk_icnet.icnet import _ensemble as ensemble_module
from sk_icnet.simulate._neurons import make_auditory_dataset
from tests.conftest import TINY_DT, TINY_FS, tiny_estimator


@pytest.fixture(scope="module")
def driven():
    """Two strongly driven linear neurons: 20 half-second trials at 150 spikes/s."""
    return make_auditory_dataset(n_trials=20, duration_s=0.5, audio_fs=TINY_FS, dt_ms=TINY_DT,
                                 n_neurons=2, neuron_kinds="linear", mean_rate_hz=150.0,
                                 random_state=0)


@pytest.fixture(scope="module")
def sound_blind(driven):
    """Counts that do not depend on the sound: nothing to learn beyond the mean rate."""
    rng = np.random.default_rng(1)
    return driven.X, rng.poisson(0.6, size=driven.y.shape).astype(np.float32)


def checked(**kwargs):
    check = kwargs.pop("check", None) or DidNotLearnCheck()
    return tiny_estimator(batch_size=8, callbacks=[("did_not_learn", check)], **kwargs)


def test_a_fit_that_learns_beats_the_mean_rate_model_and_says_so(driven):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DidNotLearnWarning)
        est = checked(lr=1e-2, max_epochs=2).fit(driven.X, driven.y)
    assert est.learned_ is True
    d2 = est.history[:, "valid_d2"]
    assert len(d2) == 2 and est.valid_d2_ == pytest.approx(max(d2)) and est.valid_d2_ > 0.01
    # valid_d2 is the share of the mean-rate model's excess loss removed: it ranks epochs as
    # the validation loss does
    order = np.argsort(est.history[:, "valid_loss"])
    assert np.all(np.diff(np.asarray(d2)[order]) <= 1e-12)
    assert est.mean_rate_valid_loss_ > min(est.history[:, "valid_loss"])


def test_counts_that_ignore_the_sound_are_reported_as_not_learned(sound_blind):
    X, y = sound_blind
    with pytest.warns(DidNotLearnWarning, match=r"did not learn: its best validation loss "
                                                r"\(.*\) never beat the mean-rate model's"):
        est = checked(max_epochs=2).fit(X, y)
    assert est.learned_ is False and est.valid_d2_ < 0.005
    assert est.retries_ == 0


def test_a_fit_that_never_moves_stays_at_the_mean_rate_and_is_caught(driven):
    with pytest.warns(DidNotLearnWarning, match=r"validation D² -?0\.00"):
        est = checked(lr=1e-12, max_epochs=1).fit(driven.X, driven.y)
    assert est.learned_ is False and abs(est.valid_d2_) < 0.005


def test_retries_fit_again_from_another_seed_and_keep_that_seed(sound_blind):
    X, y = sound_blind
    y = y[:, 0]  # one neuron, (n_trials, n_bins): predictions keep that layout after a retry
    est = checked(max_epochs=1, check=DidNotLearnCheck(retries=1))
    with pytest.warns(DidNotLearnWarning, match="also after 1 retry from other seeds"):
        est.fit(X, y)
    assert est.retries_ == 1 and est.learned_ is False
    assert est.random_state != 0  # the retried seed, so that clone reproduces the kept fit
    assert len(est.history) == 1  # the history of the kept fit only
    assert est.predict(X[:2]).shape == y[:2].shape


def test_without_a_validation_split_the_check_says_nothing(driven):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DidNotLearnWarning)
        est = checked(lr=1e-12, max_epochs=1, train_split=None).fit(driven.X, driven.y)
    assert est.learned_ is None and est.valid_d2_ is None


def test_the_recipe_includes_the_check_and_validates_retries():
    params = small_data_params(180, audio_fs=TINY_FS, dt_ms=TINY_DT, retries=2)
    checks = [cb for name, cb in params["callbacks"] if name == "did_not_learn"]
    assert len(checks) == 1 and isinstance(checks[0], DidNotLearnCheck) and checks[0].retries == 2
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="retries must be an int >= 0"):
            small_data_params(180, retries=bad)


def test_the_recipe_retries_once_by_default_and_never_within_a_time_budget():
    def retries(**kwargs):
        params = small_data_params(180, audio_fs=TINY_FS, dt_ms=TINY_DT, **kwargs)
        return next(cb.retries for name, cb in params["callbacks"] if name == "did_not_learn")

    assert retries() == 1
    assert retries(time_budget_s=3600) == 0
    assert retries(time_budget_s=3600, retries=2) == 2
    assert retries(retries=0) == 0


def test_the_ensemble_never_averages_a_member_that_did_not_learn(driven, monkeypatch):
    seeds = ensemble_module._member_seeds(0, 3)
    fit_member = ensemble_module._fit_member

    def one_member_fails(member, X, y, fit_params):
        fitted = fit_member(member, X, y, fit_params)
        if member.random_state == seeds[1]:
            fitted.learned_, fitted.valid_d2_ = False, 0.0001
        return fitted

    monkeypatch.setattr(ensemble_module, "_fit_member", one_member_fails)
    base = tiny_estimator(max_epochs=1, batch_size=8)
    with pytest.warns(DidNotLearnWarning, match=rf"member 1 \(seed {seeds[1]}, validation D² "
                                                r"0\.0001\); left out of the average; 2 of 3"):
        ens = ICNetEnsemble(base, n_members=3, random_state=0).fit(driven.X, driven.y)
    assert ens.members_learned_ == [None, False, None]
    assert ens.seeds_ == [seeds[0], seeds[2]] and ens.excluded_seeds_ == [seeds[1]]
    X = driven.X[:4]
    kept = np.stack([m.predict(X) for m in ens.estimators_])
    np.testing.assert_allclose(ens.predict(X), kept.mean(axis=0), rtol=1e-6)


def test_an_ensemble_where_no_member_learnt_keeps_the_best_one_and_says_so(driven, monkeypatch):
    fit_member = ensemble_module._fit_member
    scores = iter([0.001, 0.003])

    def all_fail(member, X, y, fit_params):
        fitted = fit_member(member, X, y, fit_params)
        fitted.learned_, fitted.valid_d2_ = False, next(scores)
        return fitted

    monkeypatch.setattr(ensemble_module, "_fit_member", all_fail)
    with pytest.warns(DidNotLearnWarning, match="no member learnt, so only member 1"):
        ens = ICNetEnsemble(tiny_estimator(max_epochs=1, batch_size=8), n_members=2,
                            random_state=0).fit(driven.X, driven.y)
    assert len(ens.estimators_) == 1 and ens.estimators_[0].valid_d2_ == 0.003
    assert ens.members_learned_ == [False, False] and len(ens.excluded_seeds_) == 1


def test_a_used_check_clones_with_only_its_parameters():
    # its running state ends in "_" (skorch's rule), so clone passes back only the two parameters
    from sklearn.base import clone

    from sk_icnet.icnet import DidNotLearnCheck

    used = DidNotLearnCheck(min_valid_d2=0.01, retries=1).initialize()
    assert used.get_params(deep=False) == {"min_valid_d2": 0.01, "retries": 1}
    assert clone(used).get_params(deep=False) == {"min_valid_d2": 0.01, "retries": 1}
