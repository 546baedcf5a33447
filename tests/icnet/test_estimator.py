import os
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from skorch import NeuralNetRegressor
from skorch.dataset import Dataset

from sk_icnet import ICNet, ICNetRegressor, PoissonLoss, Recording, WindowDataset
from sk_icnet.data import collate_windows
from sk_icnet.metrics import SCORERS, d2_poisson_score, pearson_scorer
from sk_icnet.simulate import make_auditory_dataset
from tests.conftest import TINY_DT, TINY_FS, TINY_MODULE, tiny_estimator


def test_default_is_the_paper_configuration():
    est = ICNetRegressor()
    params = est.get_params()
    assert params["module"] is ICNet
    assert params["audio_fs"] == "auto" and params["dt_ms"] == "auto"  # the paper's, for arrays
    assert params["criterion"] is PoissonLoss
    assert params["optimizer"] is torch.optim.Adam and params["lr"] == 1e-4
    # a zero-epoch fit builds the module; the neuron count comes from y
    X = np.zeros((2, 32 * 4), dtype=np.float32)
    y = np.zeros((2, 3, 4))
    est.set_params(max_epochs=0, verbose=0, train_split=None).fit(X, y)
    n = sum(p.numel() for p in est.module_.parameters())
    assert n == 5_113_312 + 65 * 3
    assert (est.audio_fs_, est.dt_ms_, est.samples_per_bin_) == (24414.0625, 1.31072, 32)
    assert (est.module_.audio_fs, est.module_.dt_ms) == (24414.0625, 1.31072)
    assert est.n_neurons_ == 3 and est.samples_per_bin_ == 32


def test_learns_held_out_responses(tiny_data):
    X, y = tiny_data.X, tiny_data.y
    est = tiny_estimator(max_epochs=30, lr=1e-2, train_split=None).fit(X[:72], y[:72])
    held_out = est.score(X[72:], y[72:])
    # a constant prediction scores about 0; the ground-truth rates score about 0.4 here
    oracle = d2_poisson_score(y[72:], tiny_data.rates[72:])
    assert held_out > 0.15, held_out
    assert held_out > 0.35 * oracle
    assert pearson_scorer(est, X[72:], y[72:]) > 0.3


@pytest.mark.parametrize("layout", ["1d", "2d", "3d", "3d-channel-X"])
def test_predict_returns_the_layout_of_y(small_xy, layout):
    X, y = small_xy
    if layout == "1d":  # one bin per trial
        X, y = X[:, :32], y[:, 0, 0]
    elif layout == "2d":
        y = y[:, 0]
    elif layout == "3d-channel-X":
        X = X[:, None, :]
    est = tiny_estimator(max_epochs=1).fit(X, y)
    pred = est.predict(X)
    assert pred.shape == y.shape and pred.dtype == np.float64
    assert np.all(pred >= 0)
    assert np.isfinite(est.score(X, y))


def test_predict_accepts_other_whole_bin_lengths(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    assert est.predict(X[:, :320]).shape == (24, 3, 10)
    with pytest.raises(ValueError, match="X has 100 features.*whole multiple of 32"):
        est.predict(X[:, :100])


def test_input_dtypes_are_cast(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1)
    est.fit(X.astype(np.float64), y.astype(np.int64))
    p64 = est.predict(X.astype(np.float64))
    np.testing.assert_allclose(p64, est.predict(X), rtol=1e-6)
    # lists and torch tensors are single inputs, not several: the same rates as the array
    expected = est.predict(X[:2])
    assert expected.shape == (2, 3, 125) and np.isfinite(expected).all()
    np.testing.assert_allclose(est.predict(X[:2].tolist()), expected, rtol=1e-6)
    np.testing.assert_allclose(est.predict(torch.from_numpy(X[:2])), expected, rtol=1e-6)


def test_nan_targets_are_masked(small_xy):
    X, y = small_xy
    y_nan = y.copy()
    y_nan[:, 1, 40:90] = np.nan
    y_nan[3] = np.nan
    est = tiny_estimator(max_epochs=2).fit(X, y_nan)
    assert all(torch.isfinite(p).all() for p in est.module_.parameters())
    assert np.isfinite(est.history[:, "train_loss"]).all()
    pred = est.predict(X)
    assert np.isfinite(pred).all()
    # NaN bins are left out of the score
    keep = ~np.isnan(y_nan[:, 1])
    score_n1 = d2_poisson_score(y_nan[:, 1][keep], pred[:, 1][keep])
    raw = d2_poisson_score(y_nan, pred, multioutput="raw_values")
    assert raw[1] == pytest.approx(score_n1)
    assert est.score(X, y_nan) == pytest.approx(np.nanmean(raw))


def bad_inputs():
    X = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    y = np.ones((4, 2, 2))
    nan_X = X.copy()
    nan_X[0, 3] = np.nan
    inf_y = y.copy()
    inf_y[0, 0, 0] = np.inf
    return [
        (X[0], y, ValueError, r"X must be 2-D .*received an array with 1 dimension"),
        (X[:, None, None, :], y, ValueError, r"X must be 2-D"),
        (np.stack([X, X], 1), y, ValueError, r"X with 3 dimensions must have shape \(n_trials, 1"),
        (X, y[:3], ValueError, r"X and y must have the same number of trials.*4 and 3"),
        (X[:, :60], y, ValueError, r"X has 60 features.*32"),
        (X, np.ones((4, 2, 3)), ValueError, r"y has 3 bins per trial|n_samples must equal n_bins"),
        (nan_X, y, ValueError, r"X contains NaN or inf"),
        (X.astype(np.float64) * 1e300, y, ValueError, r"X contains values too large for float32"),
        (X, -y, ValueError, r"y must be non-negative.*-1.0"),
        (X, inf_y, ValueError, r"y contains inf"),
        (X, np.full_like(y, np.nan), ValueError, r"y contains only NaN"),
        (X[:0], y[:0], ValueError, r"X is empty"),
        (X[:, :0], y, ValueError, r"X is empty"),
        (X, np.ones((4, 0, 2)), ValueError, r"y is empty"),
        (X.astype(object), y, TypeError, r"X must contain real numbers.*object"),
        (X.astype(np.complex64), y, ValueError, r"Complex data not supported: X"),
        (X, y.astype(np.complex128), ValueError, r"Complex data not supported: y"),
        (X > 0, y, TypeError, r"X must contain real numbers.*bool"),
        (X, None, ValueError, r"requires y to be passed"),
        ("abc", y, TypeError, r"X must be an array of real numbers"),
        ([[1.0, 2.0], [3.0]], y, ValueError, r"X must be a rectangular array"),
        (X, np.ones((4, 2, 2, 1)), ValueError, r"y must be 1-D .*2-D .*3-D"),
    ]


@pytest.mark.parametrize("X, y, exc, match", bad_inputs())
def test_bad_input_names_the_argument(X, y, exc, match):
    with pytest.raises(exc, match=match):
        tiny_estimator(max_epochs=1).fit(X, y)


@pytest.mark.parametrize("params, message", [
    ({"dt_ms": 1.01}, "whole number of audio samples.*dt_ms=1.01"),
    ({"audio_fs": -1.0}, r"The 'audio_fs' parameter of ICNetRegressor must be a float in the "
                         r"range \(0.0, inf\) or a str among \{'auto'\}. Got -1.0 instead"),
    ({"module__audio_fs": 16000.0}, r"not as module__audio_fs"),
    ({"module__out_neurons": 5}, "module__out_neurons=5 disagrees with y"),
    ({"module__encoder_strides": [2, 2, 2]}, "encoder_strides.*multiply"),
])
def test_bad_parameters_are_reported_at_fit(small_xy, params, message):
    X, y = small_xy
    with pytest.raises(ValueError, match=message):
        tiny_estimator(**params).fit(X, y)


def test_score_and_predict_check_inputs(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="y must have the shape of the predictions"):
        est.score(X, y[:, :2])
    with pytest.raises(ValueError, match="same number of trials"):
        est.score(X, y[:5])
    with pytest.raises(ValueError, match="X contains NaN"):
        est.predict(np.full_like(X, np.nan))
    with pytest.raises(ValueError, match="y has 2 neuron"):
        est.partial_fit(X, y[:, :2])


def test_unfitted_predict_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny_estimator().predict(np.zeros((1, 32)))


def test_dt_ms_none_infers_bins_from_shapes(small_xy):
    X, y = small_xy
    est = tiny_estimator(dt_ms=None, max_epochs=1).fit(X, y)
    assert est.samples_per_bin_ == 32
    assert est.module_.dt_ms == pytest.approx(4.0)
    with pytest.raises(ValueError, match="n_samples / n_bins"):
        tiny_estimator(dt_ms=None).fit(X[:, :4000 - 1], y)


def test_random_state_makes_fits_reproducible(small_xy):
    X, y = small_xy
    p1 = tiny_estimator(random_state=7).fit(X, y).predict(X)
    p2 = tiny_estimator(random_state=7).fit(X, y).predict(X)
    p3 = tiny_estimator(random_state=8).fit(X, y).predict(X)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(p1, p3)
    # the global torch RNG is left alone
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_estimator(random_state=7).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_training_trials_are_shuffled(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    ds = est.get_dataset(X[:, None, :], y)
    loader = est.get_iterator(ds, training=True)
    assert isinstance(loader.sampler, torch.utils.data.RandomSampler)
    est = tiny_estimator(max_epochs=1, iterator_train__shuffle=False).fit(X, y)
    assert not isinstance(est.get_iterator(ds, training=True).sampler,
                          torch.utils.data.RandomSampler)
    # validation / prediction order is kept
    assert not isinstance(est.get_iterator(ds, training=False).sampler,
                          torch.utils.data.RandomSampler)


def test_grid_search_over_module_parameters(small_xy):
    X, y = small_xy
    grid = {"lr": [3e-3, 1e-3], "module__encoder_channels": [4, 8]}
    search = GridSearchCV(tiny_estimator(max_epochs=1), grid, cv=2).fit(X, y)
    assert search.best_estimator_.module_.encoder[0].conv.out_channels in (4, 8)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_grid_search_parallel_is_reproducible(small_xy):
    X, y = small_xy
    grid = {"lr": [3e-3, 1e-3]}
    serial = GridSearchCV(tiny_estimator(max_epochs=1), grid, cv=2, n_jobs=1).fit(X, y)
    parallel = GridSearchCV(tiny_estimator(max_epochs=1), grid, cv=2, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-6)


def test_cross_val_score_with_3d_y_and_scorers(small_xy):
    X, y = small_xy
    scores = cross_val_score(tiny_estimator(max_epochs=1, device="cpu"), X, y, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    r = cross_val_score(tiny_estimator(max_epochs=1), X, y, cv=2, scoring=pearson_scorer)
    assert np.all((r >= -1) & (r <= 1))
    res = cross_validate(tiny_estimator(max_epochs=1), X, y, cv=2, scoring=SCORERS)
    np.testing.assert_allclose(res["test_pearson_r"], r)
    assert np.all(res["test_neg_poisson_deviance"] < 0)


def test_clone_get_set_params():
    est = tiny_estimator(lr=0.01, module__encoder_channels=12)
    params = est.get_params()
    assert params["module__encoder_channels"] == 12 and "_params_to_validate" not in params
    twin = clone(est)
    assert twin.get_params()["module__encoder_channels"] == 12
    twin.set_params(module__encoder_channels=5, audio_fs=16000.0)
    assert twin.module__encoder_channels == 5 and twin.audio_fs == 16000.0
    assert est.module__encoder_channels == 12


def test_module_parameters_reach_the_module(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=0, module__encoder_channels=5).fit(X, y)
    assert est.module_.encoder[0].conv.out_channels == 5


def test_pickle_and_save_load_params_round_trip(small_xy, tmp_path):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    expected = est.predict(X)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), expected)
    est.save_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    fresh = tiny_estimator(max_epochs=0).fit(X, y)
    fresh.load_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    np.testing.assert_array_equal(fresh.predict(X), expected)
    assert len(fresh.history) == 1


def test_fitted_rates_are_one_timebase_and_read_only(small_xy):
    from sk_icnet._core.timebase import Timebase

    X, y = small_xy
    est = tiny_estimator(max_epochs=0).fit(X, y)
    assert est.timebase_ == Timebase(8000.0, 4.0)
    assert (est.audio_fs_, est.dt_ms_, est.samples_per_bin_) == (8000.0, 4.0, 32)
    with pytest.raises(AttributeError):
        est.audio_fs_ = 16000.0
    assert not hasattr(tiny_estimator(), "samples_per_bin_")  # unfitted: no rates
    # a pickle of 0.4 held the three rates as loose attributes: they become timebase_
    state = est.__getstate__()
    del state["timebase_"]
    state.update(audio_fs_=8000.0, dt_ms_=4.0, samples_per_bin_=32)
    old = ICNetRegressor.__new__(ICNetRegressor)
    old.__setstate__(state)
    assert old.timebase_ == est.timebase_
    np.testing.assert_array_equal(old.predict(X[:2]), est.predict(X[:2]))


def test_warm_start_and_partial_fit_continue_training(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1, warm_start=True).fit(X, y)
    first = [p.detach().clone() for p in est.module_.parameters()]
    est.fit(X, y)
    assert len(est.history) == 2
    assert any(not torch.equal(a, b) for a, b in zip(first, est.module_.parameters(), strict=True))
    est.partial_fit(X, y)
    assert len(est.history) == 3


def test_progress_is_printed(small_xy, capsys):
    X, y = small_xy
    tiny_estimator(max_epochs=2, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "epoch" in out and "train_loss" in out and "valid_loss" in out
    assert len([line for line in out.splitlines() if line.strip().startswith(("1", "2"))]) == 2


def test_predict_proba_is_not_offered(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=0).fit(X, y)
    assert not hasattr(est, "predict_proba")


def test_device_placement(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1, device="cpu").fit(X, y)
    assert all(p.device.type == "cpu" for p in est.module_.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_placement_and_cpu_reload(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1, device="cuda").fit(X, y)
    assert all(p.device.type == "cuda" for p in est.module_.parameters())
    pred = est.predict(X)
    est.set_params(device="cpu")
    est.module_.to("cpu")
    np.testing.assert_allclose(est.predict(X), pred, rtol=1e-4, atol=1e-6)


def _run_epoch(est, X, y, train_step=None):
    """One training and one validation epoch through skorch's own loop."""
    X, y = est._take_arrays(X, y, reset=True)
    est.initialize()
    est.history.new_epoch()
    loader = est.get_iterator(Dataset(X, y), training=True)
    est.run_single_epoch(loader, training=True, prefix="train",
                         step_fn=train_step or est.train_step)
    est.run_single_epoch(loader, training=False, prefix="valid", step_fn=est.validation_step)
    return est.history[-1, "batches"]


@pytest.mark.parametrize("head", ["poisson", "categorical"])
def test_training_reads_nothing_back_to_the_host_per_batch(small_xy, head):
    # On the "meta" device tensors have shapes but no data: any .item(), data-dependent
    # shape or copy to the host raises. A whole epoch (forward, masked loss with skip_bins,
    # backward, Adam, skorch's per-batch history) must run there.
    X, y = small_xy
    est = tiny_estimator(device="meta", head=head, skip_bins=3, batch_size=8)
    batches = _run_epoch(est, X, y)
    assert len(batches) == 6
    assert all(p.device.type == "meta" for p in est.module_.parameters())
    assert all(not b[k].resolved for b in batches for k in b if k.endswith("_loss"))
    # the control: skorch's own step has the loss read back after every batch
    plain = tiny_estimator(device="meta")
    with pytest.raises(RuntimeError, match="item.. cannot be called on meta tensors"):
        _run_epoch(plain, X, y, train_step=lambda batch: NeuralNetRegressor.train_step(plain, batch))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_epoch_has_no_synchronisation(small_xy):
    X, y = small_xy
    est = tiny_estimator(device="cuda", batch_size=8)
    est.fit(X[:8], y[:8])  # warm-up: CUDA context, allocator, kernels
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _run_epoch(est, X, y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    est.notify("on_epoch_end")  # the one read-back per epoch
    assert type(est.history[-1, "batches", 0, "train_loss"]) is float


# ------------------------------------------------ long recordings, heads, precision
def test_skip_bins_leaves_context_out_of_loss_and_score(small_xy):
    X, y = small_xy
    y_changed = y.copy()
    y_changed[:, :, :10] = np.random.default_rng(0).poisson(5.0, size=y[:, :, :10].shape)
    a = tiny_estimator(skip_bins=10, max_epochs=2).fit(X, y)
    b = tiny_estimator(skip_bins=10, max_epochs=2).fit(X, y_changed)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.score(X, y) == pytest.approx(a.score(X, y_changed))
    c = tiny_estimator(max_epochs=2).fit(X, y_changed)
    assert not np.allclose(c.predict(X), a.predict(X))
    with pytest.raises(ValueError, match="skip_bins must be smaller than the number of bins"):
        tiny_estimator(skip_bins=125).fit(X, y)


def test_streaming_predict_equals_one_full_pass(small_xy, monkeypatch):
    from sk_icnet.icnet import _inference

    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    full = est.predict(X[:3])
    assert est.module_.context_bins < 16
    est.set_params(predict_chunk_bins=16)  # 125 bins -> 8 chunks per trial
    calls = []
    original = _inference.stream
    monkeypatch.setattr(_inference, "stream", lambda *a: calls.append(1) or original(*a))
    streamed = est.predict(X[:3])
    assert len(calls) == 3
    np.testing.assert_allclose(streamed, full, rtol=1e-5, atol=1e-7)
    # a long continuous input: 20 trials' worth of audio in one row
    long_x = X[:20].reshape(1, -1)
    est.set_params(predict_chunk_bins=4096)
    ref = est.predict(long_x)
    est.set_params(predict_chunk_bins=100)
    np.testing.assert_allclose(est.predict(long_x), ref, rtol=1e-5, atol=1e-7)


def test_categorical_head(tiny_data):
    X, y = tiny_data.X, tiny_data.y
    est = tiny_estimator(head="categorical", max_epochs=30, lr=1e-2, train_split=None)
    est.fit(X[:72], y[:72])
    assert est.module_.n_classes == 5
    assert est.module_.decoder.out_features == 3 * 5
    assert type(est.criterion_).__name__ == "CategoricalCountLoss"
    proba = est.predict_proba(X[72:])
    assert proba.shape == (24, 3, 125, 5)
    np.testing.assert_allclose(proba.sum(-1), 1.0, rtol=1e-5)
    pred = est.predict(X[72:])
    np.testing.assert_allclose(pred, (proba * np.arange(5)).sum(-1), rtol=1e-5)
    assert np.all((pred >= 0) & (pred <= 4))
    assert est.score(X[72:], y[72:]) > 0.1
    assert not hasattr(tiny_estimator(), "predict_proba")
    with pytest.raises(ValueError, match="module__n_classes needs head='categorical'"):
        tiny_estimator(module__n_classes=5).fit(X[:8], y[:8])
    with pytest.raises(ValueError, match="The 'head' parameter of ICNetRegressor must be a str among"):
        tiny_estimator(head="gaussian").fit(X[:8], y[:8])


@pytest.mark.slow
def test_bfloat16_fit_matches_float32_quality(tiny_data):
    X, y = tiny_data.X, tiny_data.y
    scores = {}
    for precision in ("float32", "bfloat16"):
        est = tiny_estimator(precision=precision, max_epochs=20, lr=1e-2, train_split=None)
        scores[precision] = est.fit(X[:72], y[:72]).score(X[72:], y[72:])
    assert scores["bfloat16"] > 0.1
    assert abs(scores["bfloat16"] - scores["float32"]) < 0.05, scores
    with pytest.raises(ValueError, match="The 'precision' parameter of ICNetRegressor must be a str among"):
        tiny_estimator(precision="float16").fit(X[:8], y[:8])


def test_bfloat16_gradients_follow_float32_at_the_paper_configuration():
    # one batch of 4 paper-sized windows (10,240 samples, 64 context bins) through the
    # estimator's own hooks: bf16 autocast must give the float32 gradient directions
    from sk_icnet.icnet._layers import cpu_supports_bf16

    # where the CPU emulates bf16 (several times slower) one window keeps the suite short
    n_windows = 4 if cpu_supports_bf16() is not False else 1
    data = make_auditory_dataset(n_trials=n_windows, duration_s=10240 / 24414.0625, n_neurons=3,
                                 neuron_kinds="mixed", mean_rate_hz=150.0, random_state=1)
    X = torch.from_numpy(data.X)[:, None]
    y = torch.from_numpy(data.y)
    grads = {}
    for precision in ("float32", "bfloat16"):
        est = ICNetRegressor(precision=precision, skip_bins=64, max_epochs=0, train_split=None,
                             random_state=0, verbose=0).fit(data.X, data.y)
        with torch.no_grad():  # the decoder at 0, not at the mean rate: whole gradients, not residuals
            est.module_.decoder.bias.zero_()
        est.get_loss(est.infer(X), y, training=True).backward()
        grads[precision] = {n: p.grad.flatten() for n, p in est.module_.named_parameters()}
    assert grads["float32"].keys() == grads["bfloat16"].keys()
    for name, g32 in grads["float32"].items():
        g16 = grads["bfloat16"][name]
        cosine = float(g32 @ g16 / (g32.norm() * g16.norm()))
        assert cosine > 0.99, (name, cosine)
        assert 0.9 < float(g16.norm() / g32.norm()) < 1.1, name


# ------------------------------------------------------------------- persistence
class _Payload:
    """Unpickling this object would create a file: a stand-in for malicious code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_weights_loading_refuses_pickled_code(small_xy, tmp_path):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    state = est.module_.state_dict()
    marker = tmp_path / "pwned"
    state["decoder.bias"] = _Payload(marker)
    evil = tmp_path / "evil.pt"
    torch.save(state, evil)
    with pytest.raises(pickle.UnpicklingError):
        est.load_params(f_params=evil)
    assert not marker.exists()
    # the checkpoint loader goes through the same safe path
    ckpt = tiny_estimator(max_epochs=1, checkpoint_dir=tmp_path / "ck").fit(X, y)
    torch.save(state, os.path.join(ckpt.checkpoint_dir_, "params.pt"))
    with pytest.raises(pickle.UnpicklingError):
        tiny_estimator(max_epochs=1).load_checkpoint(ckpt.checkpoint_dir_)
    assert not marker.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks loading without CUDA")
def test_model_saved_for_cuda_loads_on_cpu(small_xy):
    from skorch.exceptions import DeviceWarning

    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    expected = est.predict(X)
    est.device = "cuda"  # as if fitted on a GPU machine
    with pytest.warns(DeviceWarning):
        restored = pickle.loads(pickle.dumps(est))
    assert str(restored.device) == "cpu"
    np.testing.assert_allclose(restored.predict(X), expected)


# --------------------------------------------------- recordings and window datasets
def _recordings(tmp_path=None, seconds=(20.0, 16.0), neurons=(2, 3)):
    """Simulated recordings at 8 kHz / 4 ms; saved to zarr stores and reopened if tmp_path."""
    recs = []
    for i, (dur, n) in enumerate(zip(seconds, neurons, strict=True)):
        sim = make_auditory_dataset(n_trials=1, duration_s=dur, audio_fs=8000, dt_ms=4.0,
                                    n_neurons=n, random_state=i)
        rec = Recording(sim.X[0], sim.y[0], audio_fs=8000, dt_ms=4.0, name=f"animal{i}",
                        start_s=100.0 * i)
        if tmp_path is not None:
            rec.save(tmp_path / f"animal{i}.zarr")
            rec = Recording.open(tmp_path / f"animal{i}.zarr")
        recs.append(rec)
    return recs


def _windows(recs, **kwargs):
    return WindowDataset(recs, window_samples=1280, context_samples=256, **kwargs)


def _rate_estimator(**kwargs):
    params = dict(lr=3e-3, batch_size=8, max_epochs=2, verbose=0, random_state=0, **TINY_MODULE)
    params.update(kwargs)
    return ICNetRegressor(**params)


def test_fit_on_recordings_routes_one_decoder_per_recording(tmp_path):
    recs = _recordings(tmp_path)
    ds = _windows(recs)
    est = _rate_estimator(max_epochs=3).fit(ds)
    assert est.recording_names_ == ["animal0", "animal1"] and est.neurons_per_recording_ == [2, 3]
    assert est.module_.neurons_per_decoder == (2, 3) and est.n_neurons_ == 5
    assert (est.audio_fs_, est.dt_ms_, est.samples_per_bin_) == (8000.0, 4.0, 32)
    assert "valid_loss" in est.history[-1]  # every recording holds out its first 20 %
    assert est.history[-1, "train_loss"] < est.history[0, "train_loss"]
    # continuous prediction of a recording, streamed from its store
    rates = est.predict(recs[1])
    assert rates.shape == (3, recs[1].n_bins) and rates.dtype == np.float32 and (rates >= 0).all()
    est.set_params(predict_chunk_bins=50)
    np.testing.assert_allclose(est.predict(recs[1]), rates, rtol=1e-5, atol=1e-7)
    # windows: one (n_neurons, window_bins) array per window, in the dataset's order
    per_window = est.predict(ds)
    assert len(per_window) == len(ds)
    assert per_window[0].shape == (2, 40) and per_window[-1].shape == (3, 40)
    # the streamed score equals D² computed on the materialised windows
    for r, name in enumerate(est.recording_names_):
        sub = ds[ds.windows.recording.to_numpy() == name]
        y = sub.materialize().y
        pred = np.stack([p for p, k in zip(per_window, ds._rec, strict=True) if k == r])
        assert est.score(sub) == pytest.approx(d2_poisson_score(y, pred), rel=1e-6)
    # a recording is scored chunk by chunk; the result equals D² of its full prediction
    est.set_params(predict_chunk_bins=300)
    full = d2_poisson_score(np.asarray(recs[0].counts[:], np.float64)[None], est.predict(recs[0])[None])
    assert est.score(recs[0]) == pytest.approx(full, rel=1e-6)
    # a window of recording 1 trains the encoder and its own decoder rows only
    est.module_.zero_grad()
    X, y = collate_windows(ds.__getitems__([len(ds) - 1, len(ds) - 2]))
    est.get_loss(est.infer(X), y).backward()
    grad = est.module_.decoder.weight.grad
    assert torch.all(grad[:2] == 0) and grad[2:].abs().sum() > 0


def test_rates_come_from_the_data():
    recs = _recordings(seconds=(4.0,), neurons=(1,))
    ds = _windows(recs)
    with pytest.raises(ValueError, match=r"audio_fs=16000.0 was set on ICNetRegressor, but the "
                                         r"data carry audio_fs=8000.0"):
        _rate_estimator(audio_fs=16000.0).fit(ds)
    with pytest.raises(ValueError, match=r"dt_ms=2.0 was set .* data carry dt_ms=4.0"):
        _rate_estimator(dt_ms=2.0).fit(ds)
    est = _rate_estimator(audio_fs=8000.0, dt_ms=4.0, max_epochs=1).fit(ds)  # agreeing: fine
    assert est.module_.audio_fs == 8000.0
    other = Recording(np.zeros(3200, np.float32), np.zeros((1, 100)), audio_fs=16000.0, dt_ms=2.0,
                      name="animal0")
    with pytest.raises(ValueError, match="carry audio_fs=16000.0, but this model was fitted with "
                                         "audio_fs=8000.0"):
        est.predict(other)
    # arrays: "auto" is the paper's rate, so a 32-sample-per-bin array fits as before
    with pytest.raises(ValueError, match="The 'audio_fs' parameter .* Got 'fast' instead"):
        _rate_estimator(audio_fs="fast").fit(ds)


def test_unknown_recordings_and_arrays_on_a_multi_recording_model():
    recs = _recordings(seconds=(4.0, 4.0))
    est = _rate_estimator(max_epochs=1, train_split=None).fit(_windows(recs))
    stranger = Recording(recs[0].audio, recs[0].counts, audio_fs=8000, dt_ms=4.0, name="stranger")
    with pytest.raises(ValueError, match="recording 'stranger' is unknown to this model"):
        est.predict(stranger)
    with pytest.raises(ValueError, match="unknown to this model"):
        est.score(_windows([stranger]))
    audio = np.asarray(recs[1].audio)[None, :3200]
    with pytest.raises(ValueError, match="one decoder per recording .* pass recording=<name>"):
        est.predict(audio)
    with pytest.raises(ValueError, match="recording 'x' is unknown"):
        est.predict(audio, recording="x")
    np.testing.assert_allclose(est.predict(audio, recording="animal1")[0],
                               est.predict(recs[1])[:, :100], rtol=1e-5, atol=1e-7)
    # a position in recording_names_ names the same decoder, in every method that takes one
    np.testing.assert_array_equal(est.predict(audio, recording=1),
                                  est.predict(audio, recording="animal1"))
    counts = np.asarray(recs[1].counts)[None, :, :100]
    assert est.score(audio, counts, recording=1) == est.score(audio, counts, recording="animal1")
    with pytest.raises(ValueError, match=r"recording=2 is not a position in recording_names_ "
                                         r"\['animal0', 'animal1'\]: pass a name or a position"):
        est.predict(audio, recording=2)
    with pytest.raises(ValueError, match="y must be None when X is a WindowDataset"):
        est.fit(_windows(recs), np.zeros(3))
    with pytest.raises(ValueError, match="fitted on recordings .* not on arrays"):
        est.partial_fit(audio, np.zeros((1, 3, 100)))


def test_array_model_predicts_a_continuous_recording(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    audio = X[:4].reshape(-1)
    rec = Recording(audio, np.zeros((3, 500)), audio_fs=TINY_FS, dt_ms=TINY_DT)
    np.testing.assert_allclose(est.predict(rec), est.predict(audio[None])[0], rtol=1e-5, atol=1e-7)


def test_grouped_search_and_cross_validation_on_windows(tmp_path):
    from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

    ds = _windows(_recordings(tmp_path), group_s=4.0)
    est = _rate_estimator(max_epochs=1)
    scores = cross_val_score(est, ds, groups=ds.groups, cv=GroupKFold(2))
    assert scores.shape == (2,) and np.isfinite(scores).all()
    search = GridSearchCV(est, {"lr": [1e-3, 3e-3]}, cv=GroupKFold(2)).fit(ds, groups=ds.groups)
    assert search.best_params_["lr"] in (1e-3, 3e-3)
    assert search.best_estimator_.recording_names_ == ["animal0", "animal1"]
    assert np.isfinite(search.score(ds))


@pytest.mark.slow
def test_recording_time_input_fits_a_drifting_neuron_better():
    dur = 120.0
    sim = make_auditory_dataset(n_trials=1, duration_s=dur, audio_fs=8000, dt_ms=4.0, n_neurons=2,
                                neuron_kinds="linear", random_state=0)
    gain = np.linspace(0.2, 1.8, sim.rates.shape[2])  # the neurons' gain drifts ninefold
    counts = np.random.default_rng(1).poisson(sim.rates[0] * gain)
    ds = _windows([Recording(sim.X[0], counts, audio_fs=8000, dt_ms=4.0, name="drift")],
                  group_s=dur / 10)
    stretch = np.array([int(g.split(":")[1]) for g in ds.groups])
    train, test = ds[stretch % 5 != 2], ds[stretch % 5 == 2]  # held-out stretches inside the span
    d2 = {}
    for time_input in (False, True):
        est = _rate_estimator(batch_size=16, max_epochs=15, train_split=None,
                              module__time_input=time_input, module__time_scale_s=dur).fit(train)
        d2[time_input] = est.score(test)
    # measured on three data seeds: +0.040, +0.040, +0.055 (0.304 -> 0.344 here)
    assert d2[True] > d2[False] + 0.02, d2
    # predict simulates any recording time: later is louder for this neuron
    rec = ds.recordings[0]
    early, late = est.predict(rec, time_s=0.0), est.predict(rec, time_s=dur * 0.9)
    assert late[:, 100:].mean() > 2 * early[:, 100:].mean()
    with pytest.raises(ValueError, match="time_input=True.*fit a WindowDataset"):
        tiny_estimator(module__time_input=True).fit(np.zeros((2, 320)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match="pass time_s"):
        est.predict(np.asarray(rec.audio)[None, :3200])
    # a time that would overflow the time input to NaN is refused, naming time_s
    with pytest.raises(ValueError, match="time_s must be a finite recording time within 1e9 s"):
        est.predict(np.asarray(rec.audio)[None, :3200], time_s=1e300)


def test_checkpoint_of_a_recordings_fit_resumes(tmp_path):
    recs = _recordings(seconds=(4.0, 4.0))
    ds = _windows(recs)
    est = _rate_estimator(checkpoint_dir=tmp_path, max_epochs=2).fit(ds)
    twin = _rate_estimator(checkpoint_dir=tmp_path, max_epochs=2).load_checkpoint(est.checkpoint_dir_)
    assert twin.recording_names_ == est.recording_names_ and twin.audio_fs_ == 8000.0
    np.testing.assert_allclose(twin.predict(recs[1]), est.predict(recs[1]), rtol=1e-6)
    twin.partial_fit(ds)
    assert len(twin.history) == 4  # two more epochs (max_epochs) on the restored history


def test_loader_workers_train_the_same_model(tmp_path):
    recs = _recordings(tmp_path, seconds=(6.0, 6.0))
    ds = _windows(recs)
    serial = _rate_estimator(max_epochs=2).fit(ds)
    workers = _rate_estimator(max_epochs=2, iterator_train__num_workers=2,
                              iterator_valid__num_workers=1).fit(ds)
    for (name, a), b in zip(serial.module_.state_dict().items(),
                            workers.module_.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    np.testing.assert_allclose(workers.history[:, "valid_loss"], serial.history[:, "valid_loss"],
                               rtol=1e-6)
    # a store opened from an fsspec URL reads the same windows
    url = Recording.open("file://" + str(tmp_path / "animal1.zarr"))
    np.testing.assert_array_equal(url.read(0, 50)[1], recs[1].read(0, 50)[1])


# ----------------------------------------------------------------- reliability
def test_divergence_raises_naming_lr_and_keeps_finite_weights(small_xy):
    from sk_icnet.icnet._callbacks import TrainingDiverged

    X, y = small_xy
    est = tiny_estimator(lr=1e6, max_epochs=5, train_split=None)
    with pytest.raises(TrainingDiverged, match=r"training diverged: the training loss of epoch \d "
                                               r"is (nan|inf).*lr=1000000.0 is probably too high"):
        est.fit(X, y)
    assert all(torch.isfinite(p).all() for p in est.module_.parameters())
    assert np.isfinite(est.predict(X)).all()
    # a search over lr scores the diverging candidate as NaN (error_score) instead of crashing
    with pytest.warns(UserWarning):
        search = GridSearchCV(tiny_estimator(max_epochs=3, train_split=None),
                              {"lr": [1e-2, 1e6]}, cv=2).fit(X, y)
    assert search.best_params_["lr"] == 1e-2


def test_non_finite_weights_give_a_clear_prediction_error(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    with torch.no_grad():
        est.module_.decoder.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="predictions are not finite .* diverged; refit with a "
                                         "lower lr"):
        est.predict(X)
    with pytest.raises(ValueError, match="predictions are not finite"):
        est.score(X, y)  # not "y_pred contains NaN": the user passed no y_pred


def test_weights_are_always_loaded_with_weights_only(small_xy, tmp_path, monkeypatch):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    est.save_params(f_params=tmp_path / "w.pt")
    seen = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k) or original(*a, **k))
    twin = tiny_estimator()
    twin.initialize()
    twin.load_params(f_params=tmp_path / "w.pt")  # 1 neuron at initialize, 3 in the file
    assert twin.n_neurons_ == 3
    assert seen and all(k.get("weights_only") is True for k in seen)
    assert twin.torch_load_kwargs is None  # the parameter itself is untouched


@pytest.mark.parametrize("params, error, match", [
    (dict(lr=0.0), ValueError, r"The 'lr' parameter .* range \(0.0, inf\). Got 0.0"),
    (dict(lr="fast"), TypeError, "The 'lr' parameter"),
    (dict(batch_size=0), ValueError, r"The 'batch_size' parameter .* Got 0 instead"),
    (dict(max_epochs=-1), ValueError, r"The 'max_epochs' parameter .* range \[0, inf\). Got -1"),
    (dict(device="gpu0"), ValueError, r"device must be a torch device .* received 'gpu0'"),
    (dict(skip_bins=-1), ValueError, "The 'skip_bins' parameter"),
    (dict(predict_chunk_bins=0), ValueError, "The 'predict_chunk_bins' parameter"),
])
def test_inherited_parameters_are_validated_up_front(small_xy, params, error, match):
    with pytest.raises(error, match=match):
        tiny_estimator(**params).fit(*small_xy)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message on a machine without CUDA")
def test_unavailable_cuda_device_is_refused(small_xy):
    with pytest.raises(ValueError, match=r"device='cuda:1' is not available: this machine has 0 "
                                         "CUDA device"):
        tiny_estimator(device="cuda:1").fit(*small_xy)


def test_too_few_trials_for_the_validation_split_names_train_split(small_xy):
    X, y = small_xy
    with pytest.raises(ValueError, match=r"train_split=ValidSplit\(5\) .* needs at least 5 trials; "
                                         r"received 3. Pass train_split=None"):
        tiny_estimator().fit(X[:3], y[:3])
    tiny_estimator(train_split=None, max_epochs=1).fit(X[:3], y[:3])


def test_bfloat16_on_a_cpu_without_native_support_warns(small_xy, monkeypatch):
    import sk_icnet.icnet._checks as checks_module

    monkeypatch.setattr(checks_module, "cpu_supports_bf16", lambda: False)
    with pytest.warns(UserWarning, match="precision='bfloat16' on a CPU without native bfloat16"):
        tiny_estimator(precision="bfloat16", max_epochs=1).fit(*small_xy)
    monkeypatch.setattr(checks_module, "cpu_supports_bf16", lambda: True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tiny_estimator(precision="bfloat16", max_epochs=1, train_split=None).fit(*small_xy)


def test_initialize_creates_no_checkpoint_directory(tmp_path):
    est = tiny_estimator(checkpoint_dir=tmp_path / "ckpt")
    for _ in range(3):
        est.initialize()
    assert os.listdir(tmp_path) == []  # the directory appears (and is probed) when a fit starts


def test_fitted_estimator_leaks_no_private_state_into_get_params(small_xy):
    from sklearn.base import clone

    est = tiny_estimator(max_epochs=1).fit(*small_xy)
    assert not [key for key in est.get_params() if key.startswith("_")]
    clone(est)


# ------------------------------------------------------- latents and simulation
def test_embed_gives_the_bottleneck_streamed(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    Z = est.embed(X[:3])
    assert Z.shape == (3, 8, 125) and Z.dtype == np.float32  # 8 bottleneck channels
    with torch.no_grad():
        direct = est.module_.encode(torch.from_numpy(X[:3, None])).numpy()
    np.testing.assert_allclose(Z, direct, rtol=1e-5, atol=1e-6)
    est.set_params(predict_chunk_bins=16)  # 8 chunks per trial, the same latents
    np.testing.assert_allclose(est.embed(X[:3]), Z, rtol=1e-5, atol=1e-6)
    rec = Recording(X[:2].reshape(-1), np.zeros((3, 250)), audio_fs=TINY_FS, dt_ms=TINY_DT)
    np.testing.assert_allclose(est.embed(rec), est.embed(X[:2].reshape(1, -1))[0], rtol=1e-5,
                               atol=1e-6)


def test_sample_draws_from_the_fitted_distribution(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=2).fit(X, y)
    rates = est.predict(X)
    draws = np.stack([est.sample(X, random_state=i) for i in range(30)])
    assert draws.dtype == np.int64 and draws.shape[1:] == rates.shape
    np.testing.assert_allclose(draws.mean(axis=0).mean(), rates.mean(), rtol=0.05)
    np.testing.assert_array_equal(est.sample(X, random_state=3), est.sample(X, random_state=3))
    cat = tiny_estimator(max_epochs=2, head="categorical").fit(X, y)
    proba = cat.predict_proba(X)  # (n, N, T, 5)
    draws = np.stack([cat.sample(X, random_state=i) for i in range(40)])
    assert draws.min() >= 0 and draws.max() <= 4
    np.testing.assert_allclose((draws == 0).mean(), proba[..., 0].mean(), atol=0.02)


def test_icnet_features_feed_a_pipeline(small_xy):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from sk_icnet import ICNetFeatures

    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X, y)
    target = y[:, 0].sum(axis=1)  # spikes per trial of neuron 0
    pipe = make_pipeline(ICNetFeatures(est, output="mean"), Ridge()).fit(X, target)
    assert pipe.predict(X).shape == (24,)
    flat = ICNetFeatures(est).fit(X)
    assert flat.transform(X[:2]).shape == (2, 8 * 125)
    np.testing.assert_allclose(flat.transform(X[:2]), est.embed(X[:2]).reshape(2, -1))
    assert flat.get_feature_names_out()[1] == "latent0_bin1"
    with pytest.raises(ValueError, match="fitted on 125-bin trials"):
        flat.transform(X[:2, :3200])
    with pytest.raises(ValueError, match="The 'output' parameter of ICNetFeatures"):
        ICNetFeatures(est, output="max").fit(X)


@pytest.mark.slow
def test_new_neurons_on_a_frozen_fitted_encoder_beat_a_fit_from_scratch():
    big = make_auditory_dataset(n_trials=96, duration_s=0.5, audio_fs=TINY_FS, dt_ms=TINY_DT,
                                n_neurons=6, neuron_kinds="mixed", random_state=0)
    core = tiny_estimator(max_epochs=30, lr=1e-2, train_split=None).fit(big.X, big.y)
    new = make_auditory_dataset(n_trials=48, duration_s=0.5, audio_fs=TINY_FS, dt_ms=TINY_DT,
                                n_neurons=3, neuron_kinds="mixed", random_state=1)
    X, y, X_test, y_test = new.X[:8], new.y[:8], new.X[8:], new.y[8:]  # 8 trials to learn from
    common = dict(max_epochs=40, lr=1e-2, train_split=None)
    scratch = tiny_estimator(**common).fit(X, y).score(X_test, y_test)
    transfer = tiny_estimator(encoder_from=core, freeze_encoder=True, **common).fit(X, y)
    # measured on three sets of new neurons: 0.170 -> 0.264, 0.156 -> 0.247, 0.124 -> 0.201
    assert transfer.score(X_test, y_test) > scratch + 0.03
    for name, value in core.module_.state_dict().items():  # the encoder stayed frozen
        if name.startswith(("sincnet.", "encoder.", "bottleneck.")):
            assert torch.equal(value, transfer.module_.state_dict()[name]), name
    # the module itself works too (what GridSearchCV needs: it clones estimators unfitted)
    search = GridSearchCV(tiny_estimator(encoder_from=core.module_, freeze_encoder=True,
                                         max_epochs=2, train_split=None), {"lr": [1e-2]}, cv=2)
    search.fit(X, y)
    with pytest.raises(ValueError, match="encoder_from must be a fitted ICNetRegressor"):
        tiny_estimator(encoder_from=tiny_estimator()).fit(X, y)
    with pytest.raises(ValueError, match="another encoder architecture"):
        tiny_estimator(encoder_from=core, module__encoder_channels=12).fit(X, y)
    with pytest.raises(ValueError, match="freeze_encoder=True needs encoder_from"):
        tiny_estimator(freeze_encoder=True).fit(X, y)


def test_predict_and_score_of_windows_leave_no_trace(tmp_path, monkeypatch):
    """Predicting and scoring change nothing outside the estimator: the checkpoint directory
    is created and probed by a fit only, and bfloat16 on a CPU without native support warns
    when training, not when predicting."""
    import warnings

    import sk_icnet.icnet._checks as checks_module

    recs = _recordings(seconds=(4.0, 4.0))
    est = _rate_estimator(max_epochs=1, train_split=None).fit(_windows(recs))
    ckpt = tmp_path / "ckpt"
    est.set_params(checkpoint_dir=ckpt, precision="bfloat16")
    monkeypatch.setattr(checks_module, "cpu_supports_bf16", lambda: False)
    ds = _windows(recs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        per_window = est.predict(ds)
        score = est.score(ds)
    assert len(per_window) == len(ds) and all(np.isfinite(p).all() for p in per_window)
    assert np.isfinite(score)
    assert not ckpt.exists() and os.listdir(tmp_path) == []


def test_partial_fit_uses_no_private_skorch_arguments(small_xy, monkeypatch):
    """fit and partial_fit train through skorch's public hooks only (skorch >= 1.1 passes no
    ``_routing_method``): nothing private reaches the loop, a first partial_fit validates
    and fits like fit, and more partial_fit calls continue the same network."""
    from skorch import NeuralNet

    X, y = small_xy
    seen = []
    original = NeuralNet.fit_loop

    def public_fit_loop(self, X, y=None, epochs=None, **fit_params):  # skorch 1.1's signature
        seen.append(sorted(fit_params))
        return original(self, X, y, epochs=epochs, **fit_params)

    monkeypatch.setattr(NeuralNet, "fit_loop", public_fit_loop)
    a = tiny_estimator(max_epochs=1, train_split=None).fit(X, y)
    b = tiny_estimator(max_epochs=1, train_split=None).partial_fit(X, y)
    assert len(a.history) == len(b.history) == 1
    assert (b.n_neurons_, b.samples_per_bin_, b.y_ndim_) == (a.n_neurons_, a.samples_per_bin_, 3)
    assert b.predict(X).shape == a.predict(X).shape == y.shape and np.isfinite(b.predict(X)).all()
    module = b.module_
    b.partial_fit(X, y, epochs=2)
    assert b.module_ is module and len(b.history) == 3
    assert seen == [[], [], []]
    with pytest.raises(ValueError, match="y has 2 neuron"):
        b.partial_fit(X, y[:, :2])
