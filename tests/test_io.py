"""Model files (sk_icnet.io): one safetensors file, loadable without data or pickle."""


import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from sk_icnet import ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor, io
from sk_icnet._core import rules
from sk_icnet.io import load_model, save_model

from .conftest import TINY_DT, TINY_FS, rewrite_model_file, tiny_estimator

safetensors = pytest.importorskip("safetensors")




def test_icnet_round_trip_needs_no_data(small_xy, tmp_path):
    X, y = small_xy
    est = tiny_estimator(max_epochs=2, head="categorical").fit(X, y)
    est.save_model(tmp_path / "m.safetensors")
    back = ICNetRegressor.load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert (back.audio_fs_, back.dt_ms_, back.n_neurons_) == (TINY_FS, TINY_DT, 3)
    assert back.device == "cpu" and back.module__encoder_channels == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # nothing left over


def test_multi_recording_model_keeps_its_decoders_and_names(tmp_path):
    from sk_icnet import Recording, WindowDataset
    from sk_icnet.simulate import make_auditory_dataset

    recs = []
    for i, n in enumerate((2, 3)):
        sim = make_auditory_dataset(n_trials=1, duration_s=4.0, audio_fs=8000.0, dt_ms=4.0,
                                    n_neurons=n, random_state=i)
        recs.append(Recording(sim.X[0], sim.y[0], audio_fs=8000.0, dt_ms=4.0, name=f"a{i}"))
    est = tiny_estimator(audio_fs="auto", dt_ms="auto", max_epochs=1, module__time_input=True,
                         module__time_scale_s=10.0)
    est.fit(WindowDataset(recs, window_samples=1280, context_samples=256))
    est.save_model(tmp_path / "m.safetensors")
    back = ICNetRegressor.load_model(tmp_path / "m.safetensors")
    assert back.recording_names_ == ["a0", "a1"] and back.module_.neurons_per_decoder == (2, 3)
    np.testing.assert_array_equal(back.predict(recs[1], time_s=3.0), est.predict(recs[1], time_s=3.0))


@pytest.mark.parametrize("cls", [LinearSTRFRegressor, PoissonSTRFRegressor])
def test_strf_round_trip(small_xy, tmp_path, cls):
    X, y = small_xy
    est = cls(audio_fs=TINY_FS, dt_ms=TINY_DT, n_bands=8, fmin=200.0).fit(X, y)
    est.save_model(tmp_path / "s.safetensors")
    back = cls.load_model(tmp_path / "s.safetensors")
    np.testing.assert_allclose(back.predict(X), est.predict(X), rtol=1e-12, atol=1e-12)  # BLAS order
    np.testing.assert_array_equal(back.coef_, est.coef_)
    with pytest.raises(ValueError, match=f"holds a {cls.__name__}, not an ICNetRegressor"):
        ICNetRegressor.load_model(tmp_path / "s.safetensors")


def test_model_files_that_are_refused(small_xy, tmp_path):
    X, y = small_xy
    path = tmp_path / "m.safetensors"
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, metadata={"format_version": "2"})
    with pytest.raises(ValueError, match="format_version=2, newer than this sk_icnet reads"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, header=lambda h: h["params"].update(evil="x"))
    with pytest.raises(ValueError, match=r"unknown ICNetRegressor parameters \['evil'\]"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, header=lambda h: h["fitted"].update(lr=1000))
    with pytest.raises(ValueError, match=r"unknown keys \['lr'\]"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, tensors=lambda t: t.update({"module.decoder.weight": torch.zeros(4, 8)}))
    with pytest.raises(ValueError, match=r"weight decoder.weight has shape \(4, 8\), but the network"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, tensors=lambda t: t.update({"module.extra": torch.zeros(1)}))
    with pytest.raises(ValueError, match=r"unknown weights \['extra'\]"):
        ICNetRegressor.load_model(path)
    torch.save({"w": torch.zeros(1)}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="not a readable sk_icnet model file"):
        ICNetRegressor.load_model(tmp_path / "pickle.pt")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="is not an sk_icnet model file"):
        ICNetRegressor.load_model(tmp_path / "other.safetensors")


def test_only_icnet_modules_and_fitted_models_are_saved(small_xy, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny_estimator().save_model(tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


def test_models_trained_with_transfer_torchrun_or_a_random_state_object_save_and_load(small_xy,
                                                                                     tmp_path):
    # how a model was trained (an encoder transferred from another estimator, torchrun, a
    # RandomState) does not stop it from being shared: its weights are all in the file
    X, y = small_xy
    core = tiny_estimator(max_epochs=1, train_split=None).fit(X, y)
    cases = {
        "transfer": tiny_estimator(encoder_from=core, freeze_encoder=True, max_epochs=1,
                                   train_split=None).fit(X, y),
        "rng": tiny_estimator(random_state=np.random.RandomState(0), max_epochs=1,
                              train_split=None).fit(X, y),
        "torchrun": tiny_estimator(max_epochs=1, train_split=None).fit(X, y),
    }
    cases["torchrun"].distributed = True  # as saved by rank 0 after a torchrun fit
    for name, est in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_model(est, path)
        back = load_model(path)
        np.testing.assert_array_equal(back.predict(X), est.predict(X), err_msg=name)
        assert back.encoder_from is None and back.freeze_encoder is False
        assert back.distributed == "auto" and back.compile is False
        assert back.random_state in (None, 0)


def test_a_header_asking_for_compile_or_a_frozen_transfer_is_refused_naming_the_key(small_xy,
                                                                                    tmp_path):
    X, y = small_xy
    path = tmp_path / "m.safetensors"
    save_model(tiny_estimator(max_epochs=1, train_split=None).fit(X, y), path)
    for key in ("compile", "freeze_encoder"):
        rewrite_model_file(path, header=lambda h, key=key: h["params"].update({key: True}))
        with pytest.raises(ValueError, match=key):
            load_model(path)
        rewrite_model_file(path, header=lambda h, key=key: h["params"].update({key: False}))


# ------------------------------------------------------------------------ the registry
class ToyScaler(BaseEstimator):
    """A minimal estimator saved through the registry: one parameter, one fitted array."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        self.weights_ = X.mean(axis=0) * self.scale
        return self

    def predict(self, X):
        return np.asarray(X, dtype=np.float64) @ self.weights_


_TOY_PARAMS = {"scale": rules.real()}


def _write_toy(est):
    check_is_fitted(est, ["weights_"])
    return io.ModelPayload(io.stored_params(est, _TOY_PARAMS),
                           {"n_features_in_": est.n_features_in_},
                           {"attr.weights_": torch.from_numpy(est.weights_)})


def _read_toy(cls, file):
    est = cls(**file.params())
    if not rules.integer(1)[0](file.fitted.get("n_features_in_")):
        raise ValueError(f"{file.source}: n_features_in_ must be an integer >= 1.")
    est.n_features_in_ = file.fitted["n_features_in_"]
    est.weights_ = file.tensors()["attr.weights_"].numpy()
    return est


@pytest.fixture
def registry(monkeypatch):
    """The model-file registry, restored after the test."""
    monkeypatch.setattr(io, "_FORMATS", dict(io._FORMATS))
    return io._FORMATS


def test_a_registered_estimator_round_trips_without_editing_io(registry, tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    est = ToyScaler(scale=2.0).fit(X)
    assert io.register_model_format(ToyScaler, params=_TOY_PARAMS, write=_write_toy,
                                    read=_read_toy) is ToyScaler
    path = tmp_path / "toy.safetensors"
    save_model(est, path)
    info = io.read_model_info(path)
    assert info["estimator"] == "ToyScaler" and info["params"] == {"scale": 2.0}
    assert info["tensors"] == {"attr.weights_": {"shape": [3], "dtype": "F64"}}
    back = load_model(path, ToyScaler)
    assert type(back) is ToyScaler and back.scale == 2.0
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    with pytest.raises(ValueError, match="holds a ToyScaler, not an ICNetRegressor"):
        ICNetRegressor.load_model(path)
    rewrite_model_file(path, header=lambda h: h["params"].update(scale=-1.0))
    with pytest.raises(ValueError, match=r"parameter scale must be a finite number > 0; received -1.0"):
        load_model(path)
    with pytest.raises(TypeError, match=r"cannot store parameter scale='big'"):
        save_model(ToyScaler().fit(X).set_params(scale="big"), tmp_path / "other.safetensors")


def test_a_class_name_no_module_registered_is_refused_clearly(registry, tmp_path):
    X = np.ones((2, 3))
    path = tmp_path / "toy.safetensors"
    with pytest.raises(TypeError, match=r"save_model stores the estimators registered for model "
                                        r"files \(ICNetEnsemble, ICNetRegressor, "
                                        r"LinearSTRFRegressor, PoissonSTRFRegressor\); received "
                                        r"ToyScaler"):
        save_model(ToyScaler().fit(X), path)
    io.register_model_format(ToyScaler, params=_TOY_PARAMS, write=_write_toy, read=_read_toy)
    save_model(ToyScaler().fit(X), path)
    del registry["ToyScaler"]  # as in a process that never imported the module registering it
    with pytest.raises(ValueError, match=r"holds an unknown estimator 'ToyScaler': no model format "
                                         r"is registered under that class name \(registered: "
                                         r"ICNetEnsemble, ICNetRegressor, LinearSTRFRegressor, "
                                         r"PoissonSTRFRegressor\)\. Import the module"):
        load_model(path)


def test_two_classes_cannot_share_a_registered_name(registry):
    other = type("ICNetRegressor", (ToyScaler,), {})
    with pytest.raises(ValueError, match=r"the class name 'ICNetRegressor' is already registered "
                                         r"for sk_icnet.icnet._estimator.ICNetRegressor"):
        io.register_model_format(other, params=_TOY_PARAMS, write=_write_toy, read=_read_toy)
    assert registry["ICNetRegressor"].cls is ICNetRegressor
