"""Long fits survive interruption: best weights, early stopping, checkpoints, resume."""

import copy
import os
import pickle

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sk_icnet.icnet._callbacks import (
    METADATA_FILE,
    BestWeights,
    PendingLoss,
    ResolvePendingLosses,
    resolve_pending,
)
from tests.conftest import tiny_estimator


class InterruptAt(Callback):
    """Raise KeyboardInterrupt (as Ctrl-C does) at the start of epoch ``epoch``."""

    def __init__(self, epoch=3):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class SnapshotWeights(Callback):
    def initialize(self):
        self.snapshots = {}
        return self

    def on_epoch_end(self, net, **kwargs):
        self.snapshots[len(net.history)] = {k: v.clone() for k, v in net.module_.state_dict().items()}


def best_epoch(history, key):
    values = [row[key] for row in history if key in row]
    return int(np.argmin(values)) + 1


def test_ctrl_c_leaves_the_best_weights_so_far(small_xy):
    X, y = small_xy
    snap = SnapshotWeights()
    est = tiny_estimator(max_epochs=20, lr=0.05, callbacks=[snap, InterruptAt(6)]).fit(X, y)
    assert len([row for row in est.history if "dur" in row]) == 5  # epochs 1-5 completed
    losses = [b[k] for row in est.history for b in row["batches"] for k in b if k.endswith("_loss")]
    assert losses and all(type(v) is float for v in losses)
    best = best_epoch(est.history, "valid_loss")
    for name, value in est.module_.state_dict().items():
        assert torch.equal(value, snap.snapshots[best][name])
    pred = est.predict(X)  # usable
    assert np.isfinite(pred).all()


def test_uninterrupted_fit_keeps_the_last_weights(small_xy):
    X, y = small_xy
    snap = SnapshotWeights()
    est = tiny_estimator(max_epochs=3, callbacks=[snap]).fit(X, y)
    for name, value in est.module_.state_dict().items():
        assert torch.equal(value, snap.snapshots[3][name])


def test_early_stopping_restores_the_best_weights(small_xy):
    X, y = small_xy
    snap = SnapshotWeights()
    est = tiny_estimator(max_epochs=40, lr=0.05, early_stopping_patience=2, callbacks=[snap])
    est.fit(X, y)
    n_epochs = len(est.history)
    assert n_epochs < 40
    best = best_epoch(est.history, "valid_loss")
    assert best == n_epochs - 2
    for name, value in est.module_.state_dict().items():
        assert torch.equal(value, snap.snapshots[best][name])
    with pytest.raises(ValueError, match=r"The 'early_stopping_patience' parameter of "
                                         r"ICNetRegressor must be None or an int in the range "
                                         r"\[1, inf\). Got 0"):
        tiny_estimator(early_stopping_patience=0).fit(X, y)


def test_checkpoints_go_to_a_unique_directory_per_fit(small_xy, tmp_path):
    X, y = small_xy
    a = tiny_estimator(max_epochs=2, checkpoint_dir=tmp_path).fit(X, y)
    b = tiny_estimator(max_epochs=2, checkpoint_dir=tmp_path).fit(X, y)
    assert a.checkpoint_dir_ != b.checkpoint_dir_
    assert os.path.dirname(a.checkpoint_dir_) == str(tmp_path)
    for est in (a, b):
        files = set(os.listdir(est.checkpoint_dir_))
        assert {"params.pt", "optimizer.pt", "history.json", METADATA_FILE} <= files
    assert tiny_estimator(max_epochs=1).fit(X, y).checkpoint_dir_ is None


@pytest.mark.slow
def test_parallel_grid_search_checkpoints_do_not_collide(small_xy, tmp_path):
    from sklearn.model_selection import GridSearchCV

    X, y = small_xy
    search = GridSearchCV(tiny_estimator(max_epochs=1, checkpoint_dir=tmp_path),
                          {"lr": [1e-2, 1e-3]}, cv=2, n_jobs=2, refit=False).fit(X, y)
    assert len(os.listdir(tmp_path)) == 4  # one directory per fit
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_resume_from_checkpoint(small_xy, tmp_path):
    X, y = small_xy
    est = tiny_estimator(max_epochs=3, train_split=None, checkpoint_dir=tmp_path).fit(X, y)
    dirname = est.checkpoint_dir_
    best = best_epoch(est.history, "train_loss")
    resumed = tiny_estimator(max_epochs=2, train_split=None, checkpoint_dir=tmp_path)
    resumed.load_checkpoint(dirname)
    assert resumed.n_neurons_ == 3 and resumed.checkpoint_dir_ == dirname
    # the checkpoint holds the best epoch's weights and the history up to it
    assert len(resumed.history) == best
    saved = torch.load(os.path.join(dirname, "params.pt"), weights_only=True)
    for name, value in resumed.module_.state_dict().items():
        assert torch.equal(value, saved[name])
    np.testing.assert_allclose(resumed.predict(X).shape, y.shape)
    resumed.partial_fit(X, y)
    assert len(resumed.history) == best + 2
    with pytest.raises(ValueError, match="dirname must be a checkpoint directory"):
        tiny_estimator().load_checkpoint(tmp_path)


def test_best_weights_callback_is_light_to_pickle(small_xy):
    import pickle

    X, y = small_xy
    est = tiny_estimator(max_epochs=2).fit(X, y)
    cb = dict(est.callbacks_)["best_weights"]
    assert isinstance(cb, BestWeights) and cb._best_state is None
    assert pickle.loads(pickle.dumps(cb)).monitor == "valid_loss"


class InterruptMidEpoch(Callback):
    """Ctrl-C after the first batch of the second epoch."""

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


def test_pending_loss_reads_its_value_lazily():
    w = torch.tensor(2.0, requires_grad=True)
    pending = PendingLoss(w * 1.5)
    assert pending.item() is pending  # what skorch stores in the history
    assert not pending.tensor.requires_grad  # the autograd graph is not kept
    assert not pending.resolved and repr(pending) == "PendingLoss(pending)"
    assert f"{pending:.2f}" == "3.00"
    assert pending.resolved and pending.tensor is None and float(pending) == 3.0
    for copied in (pickle.loads(pickle.dumps(PendingLoss(torch.tensor(0.5)))),
                   copy.deepcopy(PendingLoss(torch.tensor(0.5)))):
        assert type(copied) is float and copied == 0.5


def test_resolve_pending_fetches_every_value_in_one_transfer(monkeypatch):
    values = [PendingLoss(torch.tensor(float(i), dtype=torch.float64)) for i in range(5)]
    values.append(3.5)  # plain floats are left alone
    stacks = []
    real_stack = torch.stack
    monkeypatch.setattr(torch, "stack", lambda t, *a, **k: stacks.append(len(t)) or real_stack(t, *a, **k))
    resolve_pending(values)
    assert stacks == [5]
    assert [float(v) for v in values] == [0.0, 1.0, 2.0, 3.0, 4.0, 3.5]
    assert all(v.resolved for v in values[:5])
    resolve_pending(values)  # already resolved: nothing to fetch
    assert stacks == [5]


class WatchBatches(Callback):
    """Copy each batch's history entry as it is when the batch ends."""

    def initialize(self):
        self.seen = []
        return self

    def on_batch_end(self, net, **kwargs):
        self.seen.append(dict(net.history[-1, "batches", -1]))


def test_losses_stay_pending_until_the_epoch_ends(small_xy):
    X, y = small_xy
    watch = WatchBatches()
    est = tiny_estimator(max_epochs=2, callbacks=[watch]).fit(X, y)
    seen = watch.seen
    pending = [b for b in seen if any(isinstance(v, PendingLoss) for v in b.values())]
    assert len(pending) == len(seen) > 0  # every batch was still pending at its end
    for row in est.history:
        batches = row["batches"]
        assert all(type(b[k]) is float for b in batches for k in b if k.endswith("_loss"))
        train = [(b["train_loss"], b["train_batch_size"]) for b in batches if "train_loss" in b]
        mean = np.average([v for v, _ in train], weights=[n for _, n in train])
        assert row["train_loss"] == pytest.approx(mean)
    assert pickle.loads(pickle.dumps(est)).history[-1, "valid_loss"] == est.history[-1, "valid_loss"]


def test_interrupted_epoch_is_resolved_at_train_end(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=5, callbacks=[InterruptMidEpoch()]).fit(X, y)
    last = est.history[-1, "batches"]
    assert len(last) == 1 and type(last[0]["train_loss"]) is float


def test_without_callbacks_losses_are_plain_floats(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1, callbacks="disable").fit(X, y)
    assert type(est.history[-1, "batches", 0, "train_loss"]) is float


def test_resolver_is_the_first_callback(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1, callbacks=[InterruptAt(99)]).fit(X, y)
    names = [name for name, _ in est.callbacks_]
    assert names[0] == "resolve_losses"
    assert isinstance(est.callbacks_[0][1], ResolvePendingLosses)


def test_trim_heap_trims_every_few_batches_and_pickles(small_xy):
    import pickle
    import sys

    from sk_icnet.icnet._callbacks import TrimHeap, _glibc_malloc_trim

    calls = []
    est = tiny_estimator(max_epochs=1, batch_size=4, train_split=None)  # 24 trials: 6 batches
    est.fit(*small_xy)
    trim = dict(est.callbacks_)["trim_heap"]
    trim._trim, trim._count, trim.every_batches = calls.append, 0, 2
    est.partial_fit(*small_xy)
    assert calls == [0, 0, 0, 0]  # batches 2, 4, 6 and the epoch end
    assert pickle.loads(pickle.dumps(TrimHeap().initialize())).every_batches == 16
    if sys.platform.startswith("linux"):
        libc_trim = _glibc_malloc_trim()
        assert libc_trim is None or libc_trim(0) in (0, 1)


def test_partial_fit_with_fewer_epochs_keeps_the_last_weights(small_xy):
    X, y = small_xy
    snap = SnapshotWeights()
    est = tiny_estimator(max_epochs=10, train_split=None, lr=0.5, callbacks=[snap])
    est.fit(X, y)
    est.partial_fit(X, y, epochs=3)  # 3 of 3 requested epochs: not an early stop
    last = len(est.history)
    for name, value in est.module_.state_dict().items():
        assert torch.equal(value, snap.snapshots[last][name]), name
