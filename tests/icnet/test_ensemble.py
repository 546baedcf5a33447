"""Seed ensembles: ICNetEnsemble and its model-file payload."""


import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.base import clone
from skorch.dataset import ValidSplit

from sk_icnet import ICNetEnsemble, insilico
from sk_icnet import compare_models as compare
from sk_icnet.metrics import d2_poisson_score
from tests.conftest import tiny_estimator


@pytest.fixture(scope="module")
def fitted(tiny_data):
    X, y = tiny_data.X[:24], tiny_data.y[:24]
    return ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=3, random_state=0).fit(X, y)


def test_get_params_and_clone_round_trip():
    ens = ICNetEnsemble(tiny_estimator(lr=1e-2), n_members=4, random_state=3, vary_split=True,
                        n_jobs=2)
    twin = clone(ens)
    assert twin.get_params(deep=False).keys() == ens.get_params(deep=False).keys()
    assert twin.n_members == 4 and twin.random_state == 3 and twin.vary_split and twin.n_jobs == 2
    assert twin.estimator is not ens.estimator and twin.estimator.lr == 1e-2
    assert ens.get_params()["estimator__lr"] == 1e-2
    assert clone(ICNetEnsemble()).estimator is None


def test_prediction_is_the_mean_of_the_members(fitted, tiny_data):
    X = tiny_data.X[24:32]
    members = np.stack([m.predict(X) for m in fitted.estimators_])
    np.testing.assert_allclose(fitted.predict(X), members.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(fitted.predict_members(X), members)
    assert len(set(fitted.seeds_)) == 3
    assert len({m.random_state for m in fitted.estimators_}) == 3


def test_score_is_the_poisson_d2_of_the_mean(fitted, tiny_data):
    X, y = tiny_data.X[24:48], tiny_data.y[24:48]
    assert fitted.score(X, y) == pytest.approx(d2_poisson_score(y, fitted.predict(X)))


def test_fitted_attributes_are_the_members(fitted):
    first = fitted.estimators_[0]
    for name in ("audio_fs_", "dt_ms_", "samples_per_bin_", "n_neurons_", "n_features_in_"):
        assert getattr(fitted, name) == getattr(first, name)
    assert fitted.training_summary_ == first.training_summary_


def test_reproducible_from_random_state(fitted, tiny_data):
    X, y = tiny_data.X[:24], tiny_data.y[:24]
    again = ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=3, random_state=0).fit(X, y)
    assert again.seeds_ == fitted.seeds_
    np.testing.assert_allclose(again.predict(X[:4]), fitted.predict(X[:4]), rtol=1e-5)


def test_parallel_fit_matches_serial(fitted, tiny_data):
    X, y = tiny_data.X[:24], tiny_data.y[:24]
    with parallel_backend("threading"):
        par = ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=3, random_state=0,
                            n_jobs=2).fit(X, y)
    np.testing.assert_allclose(par.predict(X[:4]), fitted.predict(X[:4]), rtol=1e-5)


def test_vary_split_gives_each_member_its_own_split(tiny_data):
    X, y = tiny_data.X[:20], tiny_data.y[:20]
    ens = ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=2, random_state=0,
                        vary_split=True).fit(X, y)
    splits = [m.train_split for m in ens.estimators_]
    assert all(isinstance(s, ValidSplit) and s.cv == pytest.approx(0.2) for s in splits)
    assert splits[0].random_state != splits[1].random_state


def test_one_neuron_layout(tiny_data):
    X, y = tiny_data.X[:16], tiny_data.y[:16, 0]
    ens = ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=2, random_state=0).fit(X, y)
    assert ens.predict(X).shape == y.shape


def test_usable_in_insilico_and_compare(fitted, tiny_data):
    fra = insilico.frequency_response_area(fitted, frequencies=[500.0, 1000.0],
                                           levels=[0.0, 40.0, 80.0])
    assert len(fra.summary) == fitted.n_neurons_
    ens = ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=2, random_state=0)
    result = compare({"ensemble": ens}, tiny_data.X[:24], tiny_data.y[:24], cv=2, verbose=0)
    assert set(result.scores.model) == {"ensemble"}


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_n_members_names_the_argument(bad, small_xy):
    with pytest.raises(ValueError, match=r"n_members must be an int >= 1.*received"):
        ICNetEnsemble(tiny_estimator(), n_members=bad).fit(*small_xy)


def test_bad_estimator_and_split_are_refused(small_xy):
    from sk_icnet import LinearSTRFRegressor

    with pytest.raises(TypeError, match="estimator must be an ICNetRegressor"):
        ICNetEnsemble(LinearSTRFRegressor(), n_members=2).fit(*small_xy)
    with pytest.raises(ValueError, match="vary_split=True .* train_split=None"):
        ICNetEnsemble(tiny_estimator(train_split=None), n_members=2, vary_split=True).fit(*small_xy)
    with pytest.raises(TypeError, match="vary_split must be True or False"):
        ICNetEnsemble(tiny_estimator(), n_members=2, vary_split="yes").fit(*small_xy)


def test_unfitted_predict_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ICNetEnsemble(tiny_estimator()).predict(np.zeros((1, 320), dtype=np.float32))


def test_an_ensemble_model_file_round_trips_with_every_member(fitted, tiny_data, tmp_path):
    from sk_icnet import io

    path = tmp_path / "ensemble.safetensors"
    fitted.save_model(path)
    info = io.read_model_info(path)
    assert info["estimator"] == "ICNetEnsemble" and info["params"]["n_members"] == 3
    back = ICNetEnsemble.load_model(path)
    X = tiny_data.X[24:28]
    np.testing.assert_allclose(back.predict(X), fitted.predict(X), rtol=1e-6)
    assert back.seeds_ == fitted.seeds_ and back.n_members == 3
    assert back.samples_per_bin_ == fitted.samples_per_bin_
    assert type(io.load_model(path)) is ICNetEnsemble


def test_a_damaged_ensemble_model_file_is_refused(fitted, tmp_path):
    from tests.conftest import rewrite_model_file

    path = tmp_path / "ensemble.safetensors"

    def damaged(header=None, tensors=None):
        fitted.save_model(path, overwrite=True)
        rewrite_model_file(path, header=header, tensors=tensors)
        return path

    def fewer_seeds(h):
        h["fitted"]["seeds"] = h["fitted"]["seeds"][:2]

    with pytest.raises(ValueError, match="damaged ensemble header"):
        ICNetEnsemble.load_model(damaged(header=fewer_seeds))

    def stray(t):
        t["member.7.module.decoder.bias"] = t["member.0.module.decoder.bias"].clone()

    with pytest.raises(ValueError, match="tensors outside its members"):
        ICNetEnsemble.load_model(damaged(tensors=stray))

    def bad_lr(h):
        h["fitted"]["members"][1]["params"]["lr"] = "fast"

    with pytest.raises(ValueError, match=r"member 1.*lr|lr.*member 1"):
        ICNetEnsemble.load_model(damaged(header=bad_lr))

    def nan_weight(t):
        t["member.2.module.decoder.bias"] = t["member.2.module.decoder.bias"] * float("nan")

    with pytest.raises(ValueError, match="NaN or infinite"):
        ICNetEnsemble.load_model(damaged(tensors=nan_weight))


# ------------------------------------------------------------ members that disagree (28.5, 28.6)
def _splice_member(path, donor_path, index):
    """Put member 0 of the ensemble file ``donor_path`` in place of member ``index`` of ``path``."""
    import json

    from safetensors import safe_open

    from tests.conftest import rewrite_model_file

    with safe_open(str(donor_path), framework="pt") as f:
        record = json.loads(f.metadata()["header"])["fitted"]["members"][0]
        donor = {k[len("member.0."):]: f.get_tensor(k) for k in f.keys()
                 if k.startswith("member.0.")}

    def header(h):
        h["fitted"]["members"][index] = record

    def tensors(t):
        for key in [k for k in t if k.startswith(f"member.{index}.")]:
            del t[key]
        t.update({f"member.{index}.{k}": v for k, v in donor.items()})

    rewrite_model_file(path, header=header, tensors=tensors)


def test_an_ensemble_file_with_a_member_of_another_neuron_count_is_refused(fitted, tiny_data,
                                                                            tmp_path):
    path, donor = tmp_path / "mixed.safetensors", tmp_path / "two.safetensors"
    fitted.save_model(path)
    ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=1, random_state=1).fit(
        tiny_data.X[:16], tiny_data.y[:16, :2]).save_model(donor)
    _splice_member(path, donor, 2)
    with pytest.raises(ValueError, match=r"member 2: its n_neurons_ is 2, but member 0's is 3.*"
                                         r"agree on rates, neurons, recordings and output layout"):
        ICNetEnsemble.load_model(path)


def _edit_member(index, **fitted_changes):
    def header(h):
        record = h["fitted"]["members"][index]
        for key, value in fitted_changes.items():
            if key.endswith("_"):
                record["fitted"][key] = value
            else:
                record["params"][key] = value
    return header


@pytest.mark.parametrize("changes, match", [
    # the case: 16 kHz / 2 ms among 8 kHz / 4 ms (both 32 samples per bin)
    (dict(audio_fs=16000.0, dt_ms=2.0, audio_fs_=16000.0, dt_ms_=2.0),
     r"member 1: its audio_fs_ is 16000.0, but member 0's is 8000.0"),
    (dict(recording_names_=["gerbil_7"]),
     r"member 1: its recording_names_ is \['gerbil_7'\], but member 0's is None"),
])
def test_an_ensemble_file_whose_members_disagree_on_rates_or_recordings_is_refused(
        fitted, tmp_path, changes, match):
    from tests.conftest import rewrite_model_file

    path = tmp_path / "mixed.safetensors"
    fitted.save_model(path)
    rewrite_model_file(path, header=_edit_member(1, **changes))
    with pytest.raises(ValueError, match=match):
        ICNetEnsemble.load_model(path)


def test_an_ensemble_file_whose_members_disagree_on_the_output_layout_is_refused(tiny_data,
                                                                                 tmp_path):
    from tests.conftest import rewrite_model_file

    path = tmp_path / "mixed.safetensors"
    ICNetEnsemble(tiny_estimator(max_epochs=1), n_members=2, random_state=0).fit(
        tiny_data.X[:16], tiny_data.y[:16, :1]).save_model(path)  # (n, 1, T) targets
    rewrite_model_file(path, header=_edit_member(1, y_ndim_=2))  # this member: (n, T)
    with pytest.raises(ValueError, match=r"member 1: its y_ndim_ is 2, but member 0's is 3"):
        ICNetEnsemble.load_model(path)


def test_members_that_disagree_are_refused_when_an_ensemble_is_put_together(fitted, tiny_data):
    other = tiny_estimator(max_epochs=1).fit(tiny_data.X[:16], tiny_data.y[:16, :2])
    ens = ICNetEnsemble(tiny_estimator(), n_members=2)
    with pytest.raises(ValueError, match=r"member 1: its n_neurons_ is 2, but member 0's is 3"):
        ens._set_members([fitted.estimators_[0], other], [0, 1])
    assert not hasattr(ens, "estimators_")


def test_an_ensemble_file_is_read_once_whatever_its_member_count(fitted, tmp_path, monkeypatch):
    from sk_icnet import io

    path = tmp_path / "ensemble.safetensors"
    fitted.save_model(path)
    reads = []
    real = io._load_tensors
    monkeypatch.setattr(io, "_load_tensors", lambda *a: reads.append(a) or real(*a))
    back = ICNetEnsemble.load_model(path)
    assert len(back.estimators_) == 3 and len(reads) == 1


def test_an_ensemble_header_listing_more_members_than_the_file_holds_is_refused(fitted,
                                                                                 tmp_path):
    from tests.conftest import rewrite_model_file

    path = tmp_path / "ensemble.safetensors"
    fitted.save_model(path)

    def many(h):
        h["fitted"]["members"] = [h["fitted"]["members"][0]] * 4096
        h["fitted"]["seeds"] = [0] * 4096
        h["params"]["n_members"] = 4096

    rewrite_model_file(path, header=many)
    with pytest.raises(ValueError, match=r"n_members=4096 .* weights of 3 members"):
        ICNetEnsemble.load_model(path)
