"""Hostile and unlucky inputs for model files and checkpoints (issue 19, files part).

Each test breaks a model file or a checkpoint on purpose, or races a writer, and
checks that nothing is lost, nothing from the file runs or allocates beyond what
the file holds, and the error names the file, the rule and what was received.
"""

import contextlib
import json
import os
import shutil
import stat
import time
import warnings

import numpy as np
import pytest
import torch

from sk_icnet import ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor
from sk_icnet.icnet._callbacks import METADATA_FILE
from sk_icnet.io import atomic_path, load_model, read_model_info

from .conftest import TINY_DT, TINY_FS, rewrite_model_file, tiny_estimator

safetensors = pytest.importorskip("safetensors")

#: what torch's serializer raises when the disk fills up under it
ENOSPC_FROM_TORCH = ("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed "
                     "writing file data/0: file write failed")


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def fitted(tiny_data):
    """A small ICNet fitted for 2 epochs with a validation split, and its data."""
    X, y = tiny_data.X[:24], tiny_data.y[:24]
    est = tiny_estimator(max_epochs=2).fit(X, y)
    return est, X


@pytest.fixture(scope="module")
def model_file(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    fitted[0].save_model(path)
    return path


@pytest.fixture
def model(model_file, tmp_path):
    """A fresh copy of the model file, to tamper with."""
    path = tmp_path / "m.safetensors"
    shutil.copyfile(model_file, path)
    return path


@pytest.fixture(scope="module")
def strf_files(tiny_data, tmp_path_factory):
    X, y = tiny_data.X[:24], tiny_data.y[:24]
    folder = tmp_path_factory.mktemp("strf")
    paths = {}
    for cls in (LinearSTRFRegressor, PoissonSTRFRegressor):
        est = cls(audio_fs=TINY_FS, dt_ms=TINY_DT, n_bands=8, fmin=200.0).fit(X, y)
        paths[cls] = folder / f"{cls.__name__}.safetensors"
        est.save_model(paths[cls])
    return paths


@pytest.fixture(scope="module")
def checkpoint_dir(tiny_data, tmp_path_factory):
    X, y = tiny_data.X[:24], tiny_data.y[:24]
    est = tiny_estimator(max_epochs=2, train_split=None,
                         checkpoint_dir=tmp_path_factory.mktemp("ckpt")).fit(X, y)
    return est.checkpoint_dir_


@pytest.fixture
def checkpoint(checkpoint_dir, tmp_path):
    """A fresh copy of a checkpoint directory, to tamper with."""
    return shutil.copytree(checkpoint_dir, tmp_path / "ckpt")


def resume(dirname, **kwargs):
    return tiny_estimator(train_split=None, **kwargs).load_checkpoint(dirname)




def _edit_json(path, change):
    with open(path) as f:
        value = json.load(f)
    value = change(value)
    with open(path, "w") as f:
        f.write(value if isinstance(value, str) else json.dumps(value))


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _never_build(monkeypatch):
    """Make building a real network fail the test: refusals must come before it."""
    def initialize(self):
        raise AssertionError("load_model built the network before checking the file")

    monkeypatch.setattr(ICNetRegressor, "initialize", initialize)


# ---------------------------------------------------------------- 1. no data loss
def test_save_model_refuses_to_replace_an_existing_file_without_overwrite(fitted, model):
    before = model.read_bytes()
    with pytest.raises(ValueError, match="exists; pass overwrite=True to replace it"):
        fitted[0].save_model(model)
    assert model.read_bytes() == before


def test_save_model_replaces_only_model_files_even_with_overwrite(fitted, tmp_path):
    est = fitted[0]
    thesis = tmp_path / "session.nwb"
    thesis.write_bytes(b"\x89HDF\r\n\x1a\n a recording someone needs")
    with pytest.raises(ValueError, match="exists and is not an sk_icnet model file"):
        est.save_model(thesis, overwrite=True)
    assert thesis.read_bytes().endswith(b"a recording someone needs")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="is a directory; save_model replaces only"):
        est.save_model(folder, overwrite=True)
    assert (folder / "keep.txt").read_text() == "x"
    path = tmp_path / "m.safetensors"
    est.save_model(path)
    est.save_model(path, overwrite=True)  # a model file is replaced
    assert read_model_info(path)["estimator"] == "ICNetRegressor"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "results", "session.nwb"]


def test_save_model_does_not_clobber_a_file_that_appears_while_it_writes(fitted, tmp_path,
                                                                       monkeypatch):
    import safetensors.torch

    path = tmp_path / "m.safetensors"
    original = safetensors.torch.save_file

    def racing(tensors, filename, metadata=None):
        original(tensors, filename, metadata=metadata)
        path.write_text("another process's file")  # appears before the rename

    monkeypatch.setattr(safetensors.torch, "save_file", racing)
    with pytest.raises(ValueError, match="appeared while the model was being written"):
        fitted[0].save_model(path)
    assert path.read_text() == "another process's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temporary left


def test_atomic_path_no_clobber_and_overwrite_modes(tmp_path):
    target = tmp_path / "f.bin"
    with atomic_path(target, overwrite=False) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(FileExistsError, match="left as it is"):
        with atomic_path(target, overwrite=False) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"second")
    assert target.read_bytes() == b"first"
    with atomic_path(target, overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"third")
    assert target.read_bytes() == b"third"

    def refuse(path):
        raise ValueError(f"not mine: {path}")

    with pytest.raises(ValueError, match="not mine"):
        with atomic_path(target, overwrite=True, replaceable=refuse) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"fourth")
    assert target.read_bytes() == b"third"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


# ---------------------------------------------------------------- 2. no code execution
@pytest.mark.parametrize("key, value", [
    ("torch_load_kwargs", {"weights_only": False}),
    ("checkpoint_dir", "/tmp/elsewhere"),
    ("callbacks", "disable"),
    ("iterator_train", "torch.utils.data.DataLoader"),
    ("iterator_train__num_workers", 4),
    ("optimizer__lr", 1e6),
    ("device", "cuda"),
    ("module__something", 1),
])
def test_model_file_parameters_that_save_model_never_writes_are_refused(model, key, value,
                                                                        monkeypatch):
    rewrite_model_file(model, header=lambda h: h["params"].update({key: value}))
    _never_build(monkeypatch)
    with pytest.raises(ValueError, match=rf"unknown ICNetRegressor parameters \['{key}'\]"):
        ICNetRegressor.load_model(model)


@pytest.mark.parametrize("key, value, rule", [
    ("lr", "0.1", "a finite number > 0"),
    ("max_epochs", True, "an integer from 0"),
    ("module__n_filters", 8.5, "an integer from 1"),
    ("head", "exec", "one of 'poisson', 'categorical'"),
    ("module__encoder_strides", "2,2,8", "one of None or a list of"),
    ("encoder_from", {"module": "x"}, "one of None"),
    ("module__time_scale_s", -1.0, "a finite number > 0"),
])
def test_model_file_parameters_of_the_wrong_type_are_refused(model, key, value, rule, monkeypatch):
    rewrite_model_file(model, header=lambda h: h["params"].update({key: value}))
    _never_build(monkeypatch)
    with pytest.raises(ValueError, match=rf"parameter {key} must be {rule}.*received"):
        ICNetRegressor.load_model(model)


def _touch_marker(path):  # what a malicious pickle would run
    with open(path, "w") as f:
        f.write("pwned")


class _Malicious:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _touch_marker, (self.marker,)


def test_load_checkpoint_uses_the_safe_loader_whatever_torch_load_kwargs_says(checkpoint,
                                                                              tmp_path):
    marker = tmp_path / "marker"
    torch.save({"weights": _Malicious(str(marker))}, os.path.join(checkpoint, "params.pt"))
    est = tiny_estimator(train_split=None, torch_load_kwargs={"weights_only": False})
    with pytest.raises(ValueError, match=r"could not be loaded: it holds pickled objects other "
                                         r"than tensors \(the global tests.test_faults_files."
                                         r"_touch_marker\)"):
        est.load_checkpoint(checkpoint)
    assert not marker.exists()
    assert est.torch_load_kwargs == {"weights_only": False}  # the user's setting is left alone


def test_every_parameter_save_model_writes_is_in_the_loaders_allow_list():
    from sk_icnet import io

    for cls in (ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor):
        rules = io._rules_for(cls.__name__)
        written = {key for key in cls().get_params(deep=False) if key not in io._NOT_STORED
                   and not key.startswith(io._NOT_STORED_PREFIXES)}
        assert written <= set(rules), (cls.__name__, sorted(written - set(rules)))


# ---------------------------------------------------------------- 3. no unbounded allocation
@pytest.mark.parametrize("change, match", [
    (dict(module__n_encoder_layers=1000000), r"module__n_encoder_layers must be an integer from 1 "
                                             r"to 4096; received 1000000"),
    (dict(module__n_encoder_layers=4000), r"module__n_encoder_layers=4000 is more than the 16 "
                                          "tensors it stores"),
    (dict(module__encoder_channels=200000), r"module__encoder_channels=200000 is larger than every "
                                            r"dimension of the tensors it stores \(at most 16\)"),
    (dict(module__encoder_kernel_size=16), r"weight .*conv.weight has shape \(16, 8, 8\), but the "
                                           r"network built from its parameters has \(16, 8, 16\)"),
    (dict(module__bottleneck_channels=16), r"weight bottleneck.conv.weight has shape \(8, 16, 8\)"),
])
def test_a_network_larger_than_the_stored_tensors_is_refused_before_it_is_built(model, change,
                                                                                match, monkeypatch):
    rewrite_model_file(model, header=lambda h: h["params"].update(change))
    _never_build(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        ICNetRegressor.load_model(model)
    assert time.perf_counter() - start < 5.0  # milliseconds; the first meta-device build ~0.7 s


def test_too_many_neurons_for_the_stored_decoder_is_refused_before_building(model, monkeypatch):
    def change(h):
        h["fitted"].update(n_neurons_=100000, neurons_per_recording_=[100000])

    rewrite_model_file(model, header=change)
    _never_build(monkeypatch)
    with pytest.raises(ValueError, match="n_neurons_=100000 is larger than every dimension"):
        ICNetRegressor.load_model(model)


# ---------------------------------------------------------------- 5. no silently wrong numbers
def test_a_model_file_whose_rate_was_changed_alone_is_refused(model):
    rewrite_model_file(model, header=lambda h: h["fitted"].update(audio_fs_=16000.0))
    with pytest.raises(ValueError, match=r"audio_fs_=16000.0 Hz and dt_ms_=4.0 ms give 64 samples "
                                         r"per bin, but samples_per_bin_=32"):
        ICNetRegressor.load_model(model)


def test_a_model_file_with_overflowing_rates_is_refused(model):
    rewrite_model_file(model, header=lambda h: h["fitted"].update(audio_fs_=1e308, dt_ms_=1e308))
    with pytest.raises(ValueError, match="do not give a whole number of samples per bin"):
        ICNetRegressor.load_model(model)


def test_a_model_file_whose_fitted_rates_disagree_with_its_parameters_is_refused(model):
    rewrite_model_file(model, header=lambda h: h["fitted"].update(audio_fs_=16000.0, dt_ms_=2.0))
    with pytest.raises(ValueError, match=r"parameter audio_fs=8000.0 differs from the fitted "
                                         r"audio_fs_=16000.0"):
        ICNetRegressor.load_model(model)


def test_non_finite_weights_in_a_model_file_are_refused(model):
    def nan(tensors):
        tensors["module.decoder.bias"] = torch.full_like(tensors["module.decoder.bias"], np.nan)

    rewrite_model_file(model, tensors=nan)
    with pytest.raises(ValueError, match=r"weights \['decoder.bias'\] hold NaN or infinite"):
        ICNetRegressor.load_model(model)


def test_checkpoint_metadata_whose_rate_was_changed_alone_is_refused(checkpoint):
    _edit_json(os.path.join(checkpoint, METADATA_FILE), lambda m: {**m, "audio_fs_": 16000.0})
    with pytest.raises(ValueError, match="give 64 samples per bin, but samples_per_bin_=32"):
        resume(checkpoint, audio_fs="auto", dt_ms="auto")


@pytest.mark.parametrize("cls", [LinearSTRFRegressor, PoissonSTRFRegressor])
@pytest.mark.parametrize("where, change, match", [
    ("tensor", ("coef_", lambda a: a.fill_(np.inf)), "coef_ holds NaN or infinite values"),
    ("tensor", ("intercept_", lambda a: torch.zeros(5, dtype=a.dtype)),
     r"intercept_ has shape \(5,\), but n_neurons_=3"),
    ("tensor", ("band_frequencies_hz_", lambda a: a * 2),
     "band_frequencies_hz_ are not the mel bands"),
    ("tensor", ("coef_", lambda a: a.to(torch.int32)), "coef_ has dtype I32"),
    ("fitted", dict(dt_ms_=2.0), "give 16 samples per bin, but samples_per_bin_=32"),
    ("params", dict(audio_fs=16000.0),
     "the parameter audio_fs=16000.0 differs from the fitted audio_fs_=8000.0"),
    ("fitted", dict(audio_fs_=16000.0),
     "the parameter audio_fs=8000.0 differs from the fitted audio_fs_=16000.0"),
    ("fitted", dict(n_lags_="8"), "n_lags_ must be an integer"),
    ("params", dict(n_bands=9), r"has shape \(.*\), but n_neurons_=3, n_bands=9"),
    ("params", dict(win_ms=1e300), "win_ms=1e.300 is a window of 8e.300 samples, more than"),
    ("params", dict(n_lags=3), r"its parameters give 3 lags \(n_lags=3, .*but n_lags_=8"),
])
def test_strf_model_files_are_checked_beyond_coef_shape(strf_files, tmp_path, cls, where, change,
                                                       match):
    path = tmp_path / "s.safetensors"
    shutil.copyfile(strf_files[cls], path)
    if where == "tensor":
        key, edit = change
        rewrite_model_file(path, tensors=lambda t: t.update({f"attr.{key}": edit(t[f"attr.{key}"].clone())}))
    else:
        rewrite_model_file(path, header=lambda h: h[where].update(change))
    with pytest.raises(ValueError, match=match):
        cls.load_model(path)


def test_linear_strf_response_mean_of_the_wrong_shape_is_refused(strf_files, tmp_path):
    path = tmp_path / "s.safetensors"
    shutil.copyfile(strf_files[LinearSTRFRegressor], path)
    rewrite_model_file(path, tensors=lambda t: t.update({"attr.response_mean_": torch.zeros(1, 3,
                                                                                 dtype=torch.float64)}))
    with pytest.raises(ValueError, match=r"response_mean_ has shape \(1, 3\), but .* need \(3,\)"):
        LinearSTRFRegressor.load_model(path)


def _tamper_optimizer(dirname, change):
    path = os.path.join(dirname, "optimizer.pt")
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def test_resumed_training_uses_the_estimators_learning_rate(checkpoint):
    def huge_lr(state):
        for group in state["param_groups"]:
            group["lr"] = 1e6
            group["betas"] = (0.5, 0.5)

    _tamper_optimizer(checkpoint, huge_lr)
    est = resume(checkpoint, lr=2e-3)
    assert [g["lr"] for g in est.optimizer_.param_groups] == [2e-3]
    assert [g["betas"] for g in est.optimizer_.param_groups] == [(0.9, 0.999)]
    assert est.optimizer_.state  # the moments were restored, not dropped


def test_checkpoint_weights_with_nan_are_refused(checkpoint):
    path = os.path.join(checkpoint, "params.pt")
    state = torch.load(path, weights_only=True)
    state["decoder.bias"].fill_(np.nan)
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"the weights \['decoder.bias'\] in params.pt hold NaN"):
        resume(checkpoint)


def test_optimizer_state_with_nan_moments_is_refused(checkpoint):
    def nan_moments(state):
        for values in state["state"].values():
            values["exp_avg"] = torch.full_like(values["exp_avg"], np.nan)

    _tamper_optimizer(checkpoint, nan_moments)
    with pytest.raises(ValueError, match="optimizer state 'exp_avg' in optimizer.pt holds NaN"):
        resume(checkpoint)


def test_optimizer_state_of_a_model_of_another_size_is_refused_at_load(checkpoint):
    def other_size(state):  # as a model with 12 encoder channels (this one has 16) saves it
        moments = state["state"][2]  # encoder.0.conv.weight, the optimizer's third parameter
        for key in ("exp_avg", "exp_avg_sq"):
            moments[key] = torch.zeros((12, *moments[key].shape[1:]))

    _tamper_optimizer(checkpoint, other_size)
    with pytest.raises(ValueError, match=r"optimizer.pt holds state 'exp_avg' of shape "
                                         r"\(12, 8, 8\) for the parameter encoder.0.conv.weight, "
                                         r"which has shape \(16, 8, 8\)"):
        resume(checkpoint)


# ---------------------------------------------------------------- 4. full disk in a fit
def test_a_full_disk_in_torchs_serializer_warns_and_training_goes_on(small_xy, tmp_path,
                                                                    monkeypatch):
    X, y = small_xy
    original = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if est.history and len(est.history) >= 2:
            with open(f, "wb") as out:
                out.write(b"PK\x03\x04 half")
            raise RuntimeError(ENOSPC_FROM_TORCH)
        return original(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    est = tiny_estimator(max_epochs=2, lr=1e-2, train_split=None, checkpoint_dir=tmp_path)
    with pytest.warns(RuntimeWarning, match="could not write the checkpoint .*PytorchStreamWriter"
                                            ".*previous checkpoint is unchanged"):
        est.fit(X, y)
    assert len(est.history) == 2
    monkeypatch.undo()
    saved = resume(est.checkpoint_dir_)
    assert len(saved.history) == 1  # the checkpoint of epoch 1, whole
    assert not [f for f in os.listdir(est.checkpoint_dir_) if f.startswith("tmp-")]


def test_other_runtime_errors_while_checkpointing_are_raised(small_xy, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a full disk")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError, match="a bug, not a full disk"):
        tiny_estimator(max_epochs=1, train_split=None, checkpoint_dir=tmp_path).fit(*small_xy)


# ---------------------------------------------------------------- 7. permissions
def test_new_model_files_honour_the_umask_and_replaced_ones_keep_their_mode(fitted, tmp_path):
    est = fitted[0]
    for mask, expected in ((0o022, 0o644), (0o027, 0o640)):
        path = tmp_path / f"m{mask:o}.safetensors"
        with _umask(mask):
            est.save_model(path)
        assert _mode(path) == expected
    path = tmp_path / "shared.safetensors"
    est.save_model(path)
    os.chmod(path, 0o664)
    with _umask(0o077):
        est.save_model(path, overwrite=True)
    assert _mode(path) == 0o664


def test_checkpoint_files_honour_the_umask(small_xy, tmp_path):
    with _umask(0o027):
        est = tiny_estimator(max_epochs=1, train_split=None, checkpoint_dir=tmp_path).fit(*small_xy)
    modes = {name: _mode(os.path.join(est.checkpoint_dir_, name))
             for name in os.listdir(est.checkpoint_dir_)}
    assert modes == {name: 0o640 for name in ("params.pt", "optimizer.pt", "history.json",
                                              METADATA_FILE)}


def test_write_nwb_honours_the_umask(tmp_path):
    pytest.importorskip("pynwb")
    from sk_icnet import Recording
    from sk_icnet.io import write_nwb

    rec = Recording(np.zeros(3200, np.float32), np.ones((1, 100)), audio_fs=8000.0, dt_ms=4.0,
                    name="s")
    with _umask(0o022):
        write_nwb(rec, tmp_path / "s.nwb")
    assert _mode(tmp_path / "s.nwb") == 0o644


# ---------------------------------------------------------------- 8. clear errors
def _nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("where, value, match", [
    ("metadata", dict(header='{"estimator": ' + _nested(100000) + "}"),
     "nests JSON deeper than this format"),
    ("metadata", dict(header='{"estimator": "ICNetRegressor", "params": {}, "fitted": '
                             + _nested(200) + "}"), "nests JSON deeper"),
    ("metadata", dict(header="[1, 2]"), "damaged header: it must be a JSON object"),
    ("metadata", dict(header=None), "damaged header: no 'header' entry"),
    ("metadata", dict(format_version="1.0"), r"format_version='1.0'; a model file's "
                                             "format_version is a whole number from 1"),
    ("metadata", dict(format_version="-1"), r"format_version='-1'"),
    ("metadata", dict(format_version=None), r"format_version=None"),
    ("header", dict(estimator=["ICNetRegressor"]), "estimator must be a class name"),
    ("header", dict(params=[1, 2]), "params must be a JSON object; received list"),
    ("header", dict(fitted="x"), "fitted must be a JSON object; received str"),
    ("header", dict(provenance=[1]), "provenance must be a JSON object"),
    ("header", dict(extra=1), r"unknown header keys \['extra'\]"),
])
def test_crafted_model_file_headers_raise_value_errors_naming_the_file(model, where, value, match):
    if where == "metadata":
        rewrite_model_file(model, metadata=value)
    else:
        rewrite_model_file(model, header=lambda h: h.update(value))
    with pytest.raises(ValueError, match=match) as info:
        ICNetRegressor.load_model(model)
    assert str(model) in str(info.value)


UNBLOCK_FIFO = """
import os, sys, time
time.sleep(3.0)
try:  # a reader blocked in open() waits for a writer; ENXIO: nobody is reading
    os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK))
except OSError:
    pass
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    import subprocess
    import sys

    fifo = tmp_path / "m.safetensors"
    os.mkfifo(fifo)
    # another process unblocks a reader after 3 s (a thread could not: the reader holds the GIL)
    helper = subprocess.Popen([sys.executable, "-c", UNBLOCK_FIFO, str(fifo)])
    try:
        start = time.perf_counter()
        with pytest.raises(ValueError, match="is a FIFO \\(named pipe\\), not an sk_icnet model "
                                             "file: only regular files are read"):
            load_model(fifo)
        assert time.perf_counter() - start < 2.0
    finally:
        helper.kill()  # needed only when the loader blocked
        helper.wait(timeout=30)


@pytest.mark.parametrize("reader", [read_model_info, load_model])
def test_a_model_path_with_a_nul_byte_is_refused_naming_the_path_and_the_rule(reader):
    with pytest.raises(ValueError) as info:
        reader("models/m\x00.safetensors")
    assert "'models/m\\x00.safetensors'" in str(info.value)  # the path, as its repr
    assert "holds a NUL character" in str(info.value)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_model_path_linked_to_dev_zero_is_refused_at_once(tmp_path):
    os.symlink("/dev/zero", tmp_path / "m.safetensors")
    start = time.perf_counter()
    with pytest.raises(ValueError, match="m.safetensors' is a character device, not an sk_icnet "
                                         "model file: only regular files are read"):
        read_model_info(tmp_path / "m.safetensors")
    assert time.perf_counter() - start < 2.0


def test_strf_fitted_attributes_of_the_wrong_kind_raise_value_errors(strf_files, tmp_path):
    path = tmp_path / "s.safetensors"
    shutil.copyfile(strf_files[PoissonSTRFRegressor], path)
    rewrite_model_file(path, header=lambda h: h.update(fitted=[1, 2]))
    with pytest.raises(ValueError, match="fitted must be a JSON object; received list"):
        PoissonSTRFRegressor.load_model(path)
    shutil.copyfile(strf_files[PoissonSTRFRegressor], path)
    rewrite_model_file(path, header=lambda h: h["fitted"].update(dt_ms_=0))
    with pytest.raises(ValueError, match="dt_ms_ must be a finite number > 0; received 0"):
        PoissonSTRFRegressor.load_model(path)


@pytest.mark.parametrize("history, match", [
    ({"epoch": 1}, "must be a list of epoch rows; received dict"),
    ([1, 2], "row 0 must be a JSON object; received int"),
    ([{"epoch": 2, "batches": []}], "row 0 must have epoch=1; received 2"),
    ([{"epoch": 1, "batches": "many"}], "batches must be a list of objects"),
    ([{"epoch": 1, "batches": [], "train_loss": "low"}], "train_loss must be a number"),
    ([{"epoch": 1, "batches": [], "dur": {"a": 1}}], "dur must be a number"),
])
def test_history_of_the_wrong_shape_is_refused(checkpoint, history, match):
    _edit_json(os.path.join(checkpoint, "history.json"), lambda _: history)
    with pytest.raises(ValueError, match=match):
        resume(checkpoint)


@pytest.mark.parametrize("name, content, match", [
    (METADATA_FILE, _nested(100000), "checkpoint metadata .* nests JSON deeper"),
    ("history.json", _nested(100000), "checkpoint history .* nests JSON deeper"),
    (METADATA_FILE, b"\xff\xfe{}", "not readable JSON .*not UTF-8"),
    ("params.pt", b"\x80\x02}q\x00.", "could not be loaded"),
])
def test_crafted_checkpoint_files_raise_value_errors(checkpoint, name, content, match):
    with open(os.path.join(checkpoint, name), "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ValueError, match=match):
        resume(checkpoint)


def test_checkpoint_metadata_with_zero_rates_is_refused(checkpoint):
    _edit_json(os.path.join(checkpoint, METADATA_FILE), lambda m: {**m, "dt_ms_": 0})
    with pytest.raises(ValueError, match="dt_ms_ must be a number > 0; received 0"):
        resume(checkpoint, audio_fs="auto", dt_ms="auto")


# ---------------------------------------------------------------- provenance (issue 20)
def test_model_files_record_provenance_readable_without_the_weights(fitted, tmp_path,
                                                                   monkeypatch):
    from sk_icnet import __version__, io

    est, X = fitted
    est.training_summary_ = {"duration_s": 12.0, "level_db_spl": [40.0, 80.0]}
    try:
        est.save_model(tmp_path / "m.safetensors")
    finally:
        del est.training_summary_

    def no_weights(*args, **kwargs):
        raise AssertionError("read_model_info loaded the weights")

    with monkeypatch.context() as patch:
        patch.setattr(io, "_load_tensors", no_weights)
        info = read_model_info(tmp_path / "m.safetensors")
    assert info["sk_icnet_version"] == __version__ and info["estimator"] == "ICNetRegressor"
    losses = [row["valid_loss"] for row in est.history]
    assert info["validation"]["epochs"] == 2
    assert info["validation"]["best_valid_loss"] == min(losses)
    assert info["validation"]["best_valid_loss_epoch"] == 1 + int(np.argmin(losses))
    assert info["training_summary"] == {"duration_s": 12.0, "level_db_spl": [40.0, 80.0]}
    assert info["tensors"]["module.decoder.weight"] == {"shape": [3, 8], "dtype": "F32"}
    back = ICNetRegressor.load_model(tmp_path / "m.safetensors")
    assert back.training_summary_ == {"duration_s": 12.0, "level_db_spl": [40.0, 80.0]}
    np.testing.assert_array_equal(back.predict(X), est.predict(X))


def test_a_training_summary_that_is_not_json_is_refused_at_save(fitted, tmp_path):
    est = fitted[0]
    est.training_summary_ = {"spectrum": np.ones(3)}
    try:
        with pytest.raises(TypeError, match="training_summary_ as JSON"):
            est.save_model(tmp_path / "m.safetensors")
    finally:
        del est.training_summary_
    assert not list(tmp_path.iterdir())


def test_model_files_written_before_provenance_still_load(model, fitted):
    rewrite_model_file(model, header=lambda h: h.pop("provenance"))
    assert read_model_info(model)["validation"] is None
    back = ICNetRegressor.load_model(model)
    assert not hasattr(back, "training_summary_")
    np.testing.assert_array_equal(back.predict(fitted[1]), fitted[0].predict(fitted[1]))


def test_strf_round_trip_keeps_working_with_the_checks(strf_files, tiny_data):
    X = tiny_data.X[:4]
    for cls, path in strf_files.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            back = cls.load_model(path)
        assert read_model_info(path)["validation"] is None
        assert np.isfinite(back.predict(X)).all()
    with pytest.raises(ValueError, match="holds a PoissonSTRFRegressor, not a LinearSTRFRegressor"):
        LinearSTRFRegressor.load_model(strf_files[PoissonSTRFRegressor])


def test_strf_files_keep_a_fitted_audio_fs_and_check_it(tiny_data, tmp_path):
    X, y = tiny_data.X[:8], tiny_data.y[:8]
    est = PoissonSTRFRegressor(audio_fs=TINY_FS, dt_ms=TINY_DT, n_bands=8, fmin=200.0).fit(X, y)
    est.audio_fs_ = TINY_FS  # recorded at fit by newer STRFs
    path = tmp_path / "s.safetensors"
    est.save_model(path)
    assert read_model_info(path)["fitted"]["audio_fs_"] == TINY_FS
    assert PoissonSTRFRegressor.load_model(path).audio_fs_ == TINY_FS
    rewrite_model_file(path, header=lambda h: h["fitted"].update(audio_fs_=16000.0))
    with pytest.raises(ValueError, match=r"parameter audio_fs=8000.0 differs from the fitted "
                                         r"audio_fs_=16000.0"):
        PoissonSTRFRegressor.load_model(path)


# ---------------------------------------------------------------- killed saves (issue 28.7)
#: a process saving through sk_icnet's atomic_path (the files module alone: it imports nothing of
#: the package, so the process starts in milliseconds), stopped mid-write until it is killed
KILLED_WRITER = r"""
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("files", sys.argv[1])
files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(files)
with files.atomic_path(sys.argv[2], ".safetensors", overwrite=True) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"\0" * 4096)  # the part written so far
    # safetensors writes its own hidden temporary beside the name it is given, then renames
    hidden = os.path.join(os.path.dirname(tmp), f".tmp{os.getpid()}")
    with open(hidden, "wb") as f:
        f.write(b"\0" * 65536)
    print("writing", flush=True)
    time.sleep(120)
"""


def _writers(path, n):
    """``n`` processes each stopped in the middle of saving to ``path``."""
    import subprocess
    import sys

    from sk_icnet._core import files

    procs = [subprocess.Popen([sys.executable, "-c", KILLED_WRITER, files.__file__, str(path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "writing"
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)
        raise
    return procs


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kill -9 of a writer process (POSIX)")
def test_four_killed_saves_leave_nothing_on_disk_after_the_next_save(fitted, tmp_path):
    import signal

    path = tmp_path / "m.safetensors"
    fitted[0].save_model(path)
    before = path.read_bytes()
    for proc in _writers(path, 4):
        os.kill(proc.pid, signal.SIGKILL)  # kill -9: no cleanup runs
        proc.wait(timeout=30)
        proc.stdout.close()
    assert len(list(tmp_path.iterdir())) > 1  # what the killed saves left
    assert path.read_bytes() == before  # the old file survived each kill
    fitted[0].save_model(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    np.testing.assert_allclose(load_model(path).predict(fitted[1][:2]), fitted[0].predict(fitted[1][:2]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a writer process (POSIX)")
def test_the_next_save_leaves_the_temporary_of_a_save_still_running(fitted, tmp_path):
    import signal

    path = tmp_path / "m.safetensors"
    (live,) = _writers(path, 1)
    try:
        fitted[0].save_model(path)
        left = sorted(p.name for p in tmp_path.iterdir())
        assert "m.safetensors" in left and len(left) == 2  # the live writer's is kept
    finally:
        os.kill(live.pid, signal.SIGKILL)
        live.wait(timeout=30)
        live.stdout.close()
    fitted[0].save_model(path, overwrite=True)  # now it is dead: removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
