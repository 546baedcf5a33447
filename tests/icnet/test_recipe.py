"""The small-data recipe: small_data_params, transfer_params."""

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_icnet import ICNetRegressor, small_data_params, transfer_params
from sk_icnet.icnet._recipe import SIZE_PRESETS
from tests.conftest import TINY_DT, TINY_FS, TINY_MODULE, tiny_estimator

MINUTES = [1, 3, 5, 10, 20, 30, 60, 120, 600]


def n_parameters(params):
    """Parameters of the ICNet that ``params`` build (8 kHz, 4 ms bins, 4 neurons)."""
    from sk_icnet import ICNet

    module = {k[len("module__"):]: v for k, v in params.items() if k.startswith("module__")}
    net = ICNet(audio_fs=TINY_FS, dt_ms=TINY_DT, out_neurons=4, **module)
    return sum(p.numel() for p in net.parameters())


def recipe(minutes, **kwargs):
    return small_data_params(minutes * 60, audio_fs=TINY_FS, dt_ms=TINY_DT, **kwargs)


def test_size_grows_and_epochs_shrink_with_duration():
    sizes = [n_parameters(recipe(m)) for m in MINUTES]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    epochs = [recipe(m)["max_epochs"] for m in MINUTES]
    assert epochs == sorted(epochs, reverse=True) and epochs[0] > epochs[-1]
    for m in MINUTES:
        p = recipe(m)
        assert 1 <= p["callbacks"][0][1].patience < p["early_stopping_patience"] < p["max_epochs"]


def test_beyond_the_presets_is_the_paper_network():
    last = SIZE_PRESETS[-1][0]
    params = recipe(last * 2)
    assert not any(key.startswith("module__") for key in params)
    assert n_parameters(params) == n_parameters({}) == 5_113_312 + 65 * 4


def test_strides_fit_in_the_kernel_at_the_paper_rates():
    from sk_icnet.icnet._module import factor_strides

    params = small_data_params(180)  # 24,414 Hz, 32 samples per bin
    strides = factor_strides(32, params["module__n_encoder_layers"])
    assert params["module__encoder_kernel_size"] >= max(strides)


def test_bottleneck_follows_the_number_of_neurons():
    assert recipe(3, n_neurons=40)["module__bottleneck_channels"] == 40
    assert recipe(3, n_neurons=500)["module__bottleneck_channels"] == 64
    assert recipe(3, n_neurons=1)["module__bottleneck_channels"] == recipe(3)[
        "module__bottleneck_channels"]


def test_default_estimator_stays_the_paper_configuration():
    est = ICNetRegressor()
    assert est.lr == 1e-4 and est.optimizer is torch.optim.Adam and est.callbacks is None
    assert est.early_stopping_patience is None


def test_recipe_is_visible_in_get_params_and_survives_clone_and_pickle():
    params = recipe(3)
    est = ICNetRegressor(**params)
    got = est.get_params(deep=False)
    for key in ("lr", "max_epochs", "early_stopping_patience", "optimizer",
                "optimizer__weight_decay", "module__encoder_channels"):
        assert got[key] == params[key]
    twin = clone(est)
    (name, sched), (check_name, check) = twin.callbacks
    assert name == "lr_plateau" and sched is not params["callbacks"][0][1]
    assert check_name == "did_not_learn" and check is not params["callbacks"][1][1]
    assert sched.get_params()["patience"] == params["callbacks"][0][1].patience
    pickle.loads(pickle.dumps(est))  # joblib workers receive it pickled


@pytest.mark.parametrize("train_split", ["default", None])
def test_recipe_fits_and_its_schedule_watches_the_monitored_loss(small_xy, train_split):
    X, y = small_xy
    # the recipe's training parameters on a CI-sized network
    params = {**recipe(3), **TINY_MODULE, "max_epochs": 3, "random_state": 0, "verbose": 0}
    if train_split is None:
        params["train_split"] = None
    est = ICNetRegressor(**params).fit(X, y)
    assert len(est.history) == 3 and np.isfinite(est.predict(X)).all()
    assert est.history[-1, "event_lr"] == pytest.approx(params["lr"])


def test_plateau_halves_the_learning_rate():
    from sk_icnet.icnet._recipe import _plateau

    sched = _plateau(0)
    net = tiny_estimator(callbacks=[("lr_plateau", sched)], max_epochs=0)
    X = np.zeros((10, 320), dtype=np.float32)
    net.fit(X, np.zeros((10, 2, 10), dtype=np.float32))
    sched.initialize()
    sched.on_train_begin(net)
    lr0 = net.optimizer_.param_groups[0]["lr"]
    for _ in range(3):  # a validation loss that never improves
        net.history.new_epoch()
        net.history.record("valid_loss", 1.0)
        sched.on_epoch_end(net)
    assert net.optimizer_.param_groups[0]["lr"] < lr0


@pytest.mark.parametrize("bad", [0, -60, math.nan, math.inf, "600", True, None])
def test_bad_duration_names_the_argument(bad):
    with pytest.raises(ValueError, match=r"duration_s must be .* received"):
        small_data_params(bad)


def test_bad_rates_and_neurons_are_refused():
    with pytest.raises(ValueError, match="audio_fs"):
        small_data_params(60, audio_fs=-1)
    with pytest.raises(ValueError, match="n_neurons"):
        small_data_params(60, n_neurons=0)


@pytest.fixture(scope="module")
def pretrained(tiny_data):
    return tiny_estimator(max_epochs=1).fit(tiny_data.X[:16], tiny_data.y[:16])


def test_transfer_slow_gives_the_encoder_a_slower_learning_rate(pretrained, small_xy):
    X, y = small_xy
    params = transfer_params(pretrained, 60, mode="slow", encoder_lr_factor=0.1)
    # a copy of the module (clone keeps it; an estimator would be unfitted), not the estimator
    assert isinstance(params["encoder_from"], torch.nn.Module) and params["freeze_encoder"] is False
    assert params["encoder_from"] is not pretrained.module_
    assert params["module__encoder_channels"] == pretrained.module__encoder_channels
    est = ICNetRegressor(**{**params, "max_epochs": 1, "verbose": 0, "random_state": 0})
    est.fit(X, y[:, :3])
    lrs = sorted({g["lr"] for g in est.optimizer_.param_groups})
    assert lrs == pytest.approx([params["lr"] * 0.1, params["lr"]])
    # the decoder is the only group at the full rate
    names = dict(est.module_.named_parameters())
    full = [g for g in est.optimizer_.param_groups if g["lr"] == pytest.approx(params["lr"])][0]
    assert {id(p) for p in full["params"]} == {id(names["decoder.weight"]), id(names["decoder.bias"])}


def test_transfer_frozen_trains_only_the_decoder(pretrained, small_xy):
    X, y = small_xy
    params = transfer_params(pretrained, 60, mode="frozen")
    est = ICNetRegressor(**{**params, "max_epochs": 1, "verbose": 0}).fit(X, y)
    before = pretrained.module_.state_dict()
    after = est.module_.state_dict()
    assert torch.equal(before["bottleneck.conv.weight"], after["bottleneck.conv.weight"])
    assert not any(p.requires_grad for n, p in est.module_.named_parameters()
                   if not n.startswith("decoder"))


def test_transfer_refuses_bad_sources_and_modes(pretrained):
    with pytest.raises(TypeError, match="source must be a fitted ICNetRegressor"):
        transfer_params(tiny_estimator(), 60)
    with pytest.raises(ValueError, match="mode must be one of"):
        transfer_params(pretrained, 60, mode="fast")
    with pytest.raises(ValueError, match="encoder_lr_factor"):
        transfer_params(pretrained, 60, encoder_lr_factor=0)


# ------------------------------------------------------------ transfer from the published model
@pytest.fixture(scope="module")
def published(tmp_path_factory):
    pytest.importorskip("h5py")
    pytest.importorskip("yaml")
    from sk_icnet import load_published_icnet
    from tests.icnet._keras_fixtures import wired_icnet, write_release

    model = wired_icnet(np.random.default_rng(0), head=((3, 1),))
    folder = write_release(str(tmp_path_factory.mktemp("published") / "DNN"), model)
    return load_published_icnet(folder)


def _new_neurons(est, n_trials=8, n_bins=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_trials, n_bins * est.samples_per_bin_)).astype(np.float32)
    return X, rng.poisson(1.0, (n_trials, 2, n_bins)).astype(np.float32)


def test_transfer_from_the_published_model_fits_new_neurons_on_plain_arrays(published):
    from sk_icnet.icnet._published._graph import PublishedICNet

    X, y = _new_neurons(published)
    params = transfer_params(published, 60, mode="frozen")
    assert params["head"] == "poisson" and params["audio_fs"] == published.audio_fs_
    assert "module__time_input" not in params and "module__n_classes" not in params
    est = ICNetRegressor(**{**params, "max_epochs": 1, "verbose": 0, "random_state": 0}).fit(X, y)
    assert isinstance(est.module_, PublishedICNet) and not est.module_.time_input
    assert est.predict(X).shape == (8, 2, 12) and (est.predict(X) >= 0).all()
    # the frozen encoder is the published one: the same embedding, weights untouched
    np.testing.assert_allclose(est.embed(X), published.embed(X), atol=1e-6)
    before, after = published.module_.state_dict(), est.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("encoder."))


def test_transfer_from_the_published_model_survives_grid_search_with_two_workers(published):
    from sklearn.model_selection import GridSearchCV

    X, y = _new_neurons(published, n_trials=8)
    params = {**transfer_params(published, 60, mode="frozen"), "max_epochs": 1, "verbose": 0,
              "train_split": None, "random_state": 0}
    search = GridSearchCV(ICNetRegressor(**params), {"lr": [1e-3, 1e-2]}, cv=2, n_jobs=2)
    search.fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    np.testing.assert_allclose(search.best_estimator_.embed(X), published.embed(X), atol=1e-6)


def test_a_transferred_published_encoder_round_trips_through_a_model_file(published, tmp_path):
    X, y = _new_neurons(published)
    params = transfer_params(published, 60, mode="slow")
    assert [group[0] for group in params["optimizer__param_groups"]] == ["encoder.*"]
    est = ICNetRegressor(**{**params, "max_epochs": 1, "verbose": 0, "random_state": 0}).fit(X, y)
    est.save_model(tmp_path / "new.safetensors")
    again = ICNetRegressor.load_model(tmp_path / "new.safetensors")
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


def test_transfer_asked_for_a_time_input_gives_the_new_decoders_one(published):
    params = transfer_params(published, 60, time_input=True)
    assert params["module__time_input"] is True
    X, y = _new_neurons(published)
    with pytest.raises(ValueError, match="module__time_input=True needs the recording time"):
        ICNetRegressor(**{**params, "max_epochs": 1, "verbose": 0}).fit(X, y)


def test_encoder_from_another_encoder_names_every_difference_and_transfer_params(published):
    X, y = _new_neurons(published)
    params = {**transfer_params(published, 60), "module__input_scale": 1.0, "max_epochs": 1,
              "verbose": 0}
    with pytest.raises(ValueError) as info:
        ICNetRegressor(**params).fit(X, y)
    message = str(info.value)
    assert "input_scale: 0.04 in encoder_from, 1.0 here" in message
    assert "sk_icnet.transfer_params" in message and "\n" not in message


def test_encoder_from_an_icnet_of_other_sizes_names_each_differing_entry(pretrained, small_xy):
    X, y = small_xy
    params = {**transfer_params(pretrained, 60), "module__n_filters": 3,
              "module__bottleneck_channels": 3, "max_epochs": 1, "verbose": 0}
    with pytest.raises(ValueError, match="encoder_from has another encoder") as info:
        ICNetRegressor(**params).fit(X, y)
    assert str(info.value).count(" in encoder_from, ") >= 2
    assert "transfer_params" in str(info.value)


def test_transfer_from_an_ensemble_copies_the_chosen_member(tiny_data):
    from sk_icnet import ICNetEnsemble

    with pytest.raises(TypeError, match="ICNetEnsemble that is not fitted") as info:
        transfer_params(ICNetEnsemble(tiny_estimator(), n_members=2), 60)
    assert "\n" not in str(info.value) and "Fit it first" not in str(info.value)
    ensemble = ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=2, random_state=0)
    ensemble.fit(tiny_data.X[:8], tiny_data.y[:8])
    for member in (0, 1):
        params = transfer_params(ensemble, 60, member=member)
        ours = params["encoder_from"].state_dict()
        theirs = ensemble.estimators_[member].module_.state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    with pytest.raises(ValueError, match=r"member must be the index of one of the ensemble's 2 "
                                         r"members \(0 to 1\); received 2"):
        transfer_params(ensemble, 60, member=2)
