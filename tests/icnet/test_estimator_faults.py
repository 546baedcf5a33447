"""Fault injection: damaged checkpoints, failing disks and killed fits lose no data.

Each test breaks something on purpose and checks that the failure is reported
clearly and that what was written before stays loadable. The user guide's
reliability page (docs/user_guide/reliability.md) counts these cases.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from sk_icnet import ICNetRegressor
from sk_icnet.icnet._callbacks import METADATA_FILE
from tests.conftest import tiny_estimator


@pytest.fixture
def checkpoint(small_xy, tmp_path):
    """A fit of 3 epochs that wrote a checkpoint; returns (estimator, directory)."""
    est = tiny_estimator(max_epochs=3, train_split=None, checkpoint_dir=tmp_path).fit(*small_xy)
    return est, est.checkpoint_dir_


def resume(dirname, **kwargs):
    return tiny_estimator(train_split=None, **kwargs).load_checkpoint(dirname)


def test_truncated_weights_file(checkpoint):
    _, dirname = checkpoint
    path = os.path.join(dirname, "params.pt")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match="could not be loaded .* truncated or corrupt"):
        resume(dirname)


def test_missing_history_file(checkpoint):
    _, dirname = checkpoint
    os.remove(os.path.join(dirname, "history.json"))
    with pytest.raises(ValueError, match=r"incomplete: \['history.json'\] missing"):
        resume(dirname)


@pytest.mark.parametrize("change, match", [
    (dict(lr=1000), r"unknown keys \['lr'\]"),
    (dict(module="x"), r"unknown keys \['module'\]"),
    (dict(n_neurons_=-1), "n_neurons_ must be an integer >= 1; received -1"),
    (dict(samples_per_bin_="32"), "samples_per_bin_ must be an integer >= 1"),
    (dict(audio_fs_=float("nan")), "audio_fs_ must be a number > 0"),
    (dict(neurons_per_recording_=[1, 1]), r"\[1, 1\] does not add up to n_neurons_=3"),
    (dict(y_ndim_=None), "y_ndim_ must be 1, 2 or 3"),
])
def test_tampered_metadata(checkpoint, change, match):
    _, dirname = checkpoint
    path = os.path.join(dirname, METADATA_FILE)
    with open(path) as f:
        meta = json.load(f)
    meta.update(change)
    with open(path, "w") as f:
        json.dump(meta, f)
    with pytest.raises(ValueError, match=match):
        resume(dirname)


def test_metadata_that_is_not_json(checkpoint):
    _, dirname = checkpoint
    with open(os.path.join(dirname, METADATA_FILE), "w") as f:
        f.write('{"n_neurons_": 3,')
    with pytest.raises(ValueError, match="not readable JSON"):
        resume(dirname)


def test_checkpoint_with_other_rates_is_refused(checkpoint):
    _, dirname = checkpoint
    with pytest.raises(ValueError, match=r"fitted with dt_ms=4.0, but this estimator has dt_ms=8.0"):
        resume(dirname, dt_ms=8.0)
    with pytest.raises(ValueError, match=r"fitted with audio_fs=8000.0, but this estimator has "
                                         r"audio_fs=16000.0"):
        resume(dirname, audio_fs=16000.0)
    est = tiny_estimator(train_split=None, audio_fs="auto", dt_ms="auto").load_checkpoint(dirname)
    assert (est.module_.audio_fs, est.module_.dt_ms, est.samples_per_bin_) == (8000.0, 4.0, 32)


def _fail_saves_from(monkeypatch, epoch, exc):
    """Make every checkpoint save fail from ``epoch`` on, after writing half a file."""
    original = ICNetRegressor.save_params

    def failing(self, **kwargs):
        if len(self.history) >= epoch:
            target = next(iter(kwargs.values()))
            with open(target, "wb") as f:
                f.write(b"PK\x03\x04 half a zip")
            raise exc
        return original(self, **kwargs)

    monkeypatch.setattr(ICNetRegressor, "save_params", failing)


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 OSError(errno.EROFS, "Read-only file system")])
def test_disk_full_or_read_only_during_fit_keeps_the_previous_checkpoint(small_xy, tmp_path,
                                                                         monkeypatch, exc):
    X, y = small_xy
    _fail_saves_from(monkeypatch, 3, exc)
    est = tiny_estimator(max_epochs=5, lr=1e-2, train_split=None, checkpoint_dir=tmp_path)
    with pytest.warns(RuntimeWarning, match=f"could not write the checkpoint .*{exc.strerror}.*"
                                            "previous checkpoint is unchanged"):
        est.fit(X, y)
    assert len(est.history) == 5  # training went on
    monkeypatch.undo()
    saved = resume(est.checkpoint_dir_)
    assert len(saved.history) <= 2  # the last checkpoint written before the disk failed
    assert all(torch.isfinite(p).all() for p in saved.module_.parameters())
    assert not [f for f in os.listdir(est.checkpoint_dir_) if f.startswith("tmp-")]


def test_unwritable_checkpoint_dir_is_refused_before_training(small_xy, tmp_path, monkeypatch):
    X, y = small_xy
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    with pytest.raises(ValueError, match="checkpoint_dir must be a directory; received .*a file"):
        tiny_estimator(checkpoint_dir=a_file).fit(X, y)
    import sk_icnet.icnet._checks as checks_module

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(checks_module.tempfile, "TemporaryFile", denied)
    with pytest.raises(ValueError, match="checkpoint_dir must be a writable directory; .*Permission"):
        tiny_estimator(checkpoint_dir=tmp_path / "ro").fit(X, y)


FIT_FOREVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.conftest import tiny_estimator
    from sk_icnet.simulate._neurons import make_auditory_dataset
    data = make_auditory_dataset(n_trials=24, duration_s=0.5, audio_fs=8000.0, dt_ms=4.0,
                                 n_neurons=3, neuron_kinds="mixed", random_state=0)
    est = tiny_estimator(max_epochs=100000, lr=1e-2, train_split=None, checkpoint_dir={dir!r})
    est.fit(data.X, data.y)
""")


@pytest.mark.slow
def test_sigkill_during_fit_then_resume(small_xy, tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", FIT_FOREVER.format(root=root, dir=str(tmp_path))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        history = None
        while time.monotonic() < deadline:
            dirs = [os.path.join(tmp_path, d) for d in os.listdir(tmp_path)]
            history = os.path.join(dirs[0], "history.json") if dirs else None
            if history and os.path.exists(history):
                with open(history) as f:
                    if len(json.load(f)) >= 3:
                        break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the fitting process wrote no checkpoint in 120 s")
        time.sleep(0.3)  # let it be in the middle of some epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    dirname = os.path.dirname(history)
    est = resume(dirname, max_epochs=2)
    n = len(est.history)
    assert n >= 3
    est.partial_fit(*small_xy)
    assert len(est.history) == n + 2
    assert np.isfinite(est.predict(small_xy[0])).all()
