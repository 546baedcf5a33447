"""Data-parallel training (sk_icnet.icnet._distributed): 2 CPU processes, gloo, on loopback.

Each test launches a small fit with ``torchrun`` (or, where a process must die,
with plain processes given torchrun's environment) and compares what the ranks
wrote: weight hashes after every epoch, history, predictions.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.conftest import tiny_estimator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import hashlib, json, os, sys, signal
    import numpy as np, torch
    sys.path.insert(0, {root!r})
    from skorch.callbacks import Callback
    from tests.conftest import tiny_estimator
    from sk_icnet.simulate import make_auditory_dataset

    cfg = json.loads({cfg!r})
    rank = int(os.environ.get("RANK", 0))

    class Record(Callback):
        def initialize(self):
            self.hashes = []
            return self
        def on_epoch_end(self, net, **kwargs):
            h = hashlib.sha256()
            for v in net.module_.state_dict().values():
                h.update(v.detach().cpu().numpy().tobytes())
            self.hashes.append(h.hexdigest())
            if cfg.get("die_rank") == rank and len(net.history) == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    data = make_auditory_dataset(n_trials=cfg.get("n_trials", 32), duration_s=0.5,
                                 audio_fs=8000.0, dt_ms=4.0, n_neurons=3,
                                 neuron_kinds="mixed", random_state=0)
    record = Record()
    params = dict(max_epochs=3, callbacks=[record])
    params.update(cfg.get("params", {{}}))
    est = tiny_estimator(**params)
    X, y = data.X, data.y
    if cfg.get("stores"):  # recordings on disk, read lazily by every rank
        from sk_icnet import Recording, WindowDataset
        X, y = WindowDataset(cfg["stores"], window_samples=1280, context_samples=256), None
        for key in ("audio_fs", "dt_ms"):
            est.set_params(**{{key: "auto"}})
    try:
        est.fit(X, y)
    except Exception as exc:
        print(f"ERROR {{type(exc).__name__}}: {{exc}}", file=sys.stderr, flush=True)
        sys.exit(3)
    pred = (est.predict(Recording.open(cfg["stores"][0]))[:, :50] if cfg.get("stores")
            else est.predict(data.X[:4]))
    out = dict(hashes=record.hashes, train_loss=list(est.history[:, "train_loss"]),
               valid_loss=[r.get("valid_loss") for r in est.history],
               train_batches=[sum("train_loss" in b for b in r["batches"]) for r in est.history],
               pred=pred.tolist(),
               state={{k: v.tolist() for k, v in est.module_.state_dict().items()}})
    with open(os.path.join(cfg["out"], f"rank{{rank}}.json"), "w") as f:
        json.dump(out, f)
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(tmp_path, cfg):
    cfg = {**cfg, "out": str(tmp_path)}
    path = tmp_path / "fit.py"
    path.write_text(SCRIPT.format(root=ROOT, cfg=json.dumps(cfg)))
    return path


def _env(**extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SK_ICNET_DIST_TIMEOUT_S": "60"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def torchrun(tmp_path, cfg, nproc=2, timeout=240):
    """Run the fit script under torchrun; return each rank's results."""
    script = _script(tmp_path, cfg)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
                           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script)],
                          env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = []
    for rank in range(nproc):
        with open(tmp_path / f"rank{rank}.json") as f:
            results.append(json.load(f))
    return results


@pytest.mark.slow
def test_ranks_hold_identical_weights_after_every_epoch_and_runs_repeat(tmp_path):
    cfg = {"params": {"random_state": 0, "checkpoint_dir": str(tmp_path / "ckpt")}}
    (tmp_path / "a").mkdir()
    r0, r1 = torchrun(tmp_path / "a", cfg)
    assert len(r0["hashes"]) == 3 and r0["hashes"] == r1["hashes"]  # bit-identical, every epoch
    assert r0["train_loss"] == r1["train_loss"] and r0["valid_loss"] == r1["valid_loss"]
    assert r0["pred"] == r1["pred"]  # predict after the fit: the same on every rank
    assert len(os.listdir(tmp_path / "ckpt")) == 1  # only rank 0 writes
    (tmp_path / "b").mkdir()
    again, _ = torchrun(tmp_path / "b", {"params": {"random_state": 0}})
    assert again["hashes"] == r0["hashes"]  # reproducible with random_state


@pytest.mark.slow
def test_two_processes_of_batch_b_equal_one_process_of_batch_2b(tmp_path):
    common = {"train_split": None, "iterator_train__shuffle": False, "random_state": 0, "lr": 1e-2}
    r0, _ = torchrun(tmp_path, {"params": {**common, "batch_size": 8}})
    from sk_icnet.simulate import make_auditory_dataset

    data = make_auditory_dataset(n_trials=32, duration_s=0.5, audio_fs=8000.0, dt_ms=4.0,
                                 n_neurons=3, neuron_kinds="mixed", random_state=0)
    single = tiny_estimator(max_epochs=3, batch_size=16, distributed=False, **common)
    single.fit(data.X, data.y)
    # the same steps on the same trials; only the order of the gradient sums differs
    for name, value in single.module_.state_dict().items():
        np.testing.assert_allclose(np.asarray(r0["state"][name]), value.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)  # 3e-6 seen: summation order
    np.testing.assert_allclose(r0["train_loss"], single.history[:, "train_loss"], rtol=1e-5)


def _launch_plain(tmp_path, cfg, nproc=2):
    """Processes with torchrun's environment but no agent (so one can die alone)."""
    script = _script(tmp_path, cfg)
    port = _free_port()
    return [subprocess.Popen([sys.executable, str(script)],
                             env=_env(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE=nproc,
                                      RANK=r, LOCAL_RANK=r),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for r in range(nproc)]


@pytest.mark.slow
def test_a_dead_rank_makes_the_others_fail_clearly(tmp_path):
    procs = _launch_plain(tmp_path, {"die_rank": 1, "params": {"max_epochs": 50, "random_state": 0}})
    start = time.monotonic()
    try:
        _, err0 = procs[0].communicate(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    elapsed = time.monotonic() - start
    assert procs[1].wait(timeout=10) == -9
    assert procs[0].returncode == 3, err0[-2000:]
    assert "the distributed fit failed on rank 0 of 2: a peer process died" in err0
    assert elapsed < 90


@pytest.mark.slow
def test_bad_launch_configurations(tmp_path):
    # more processes than training trials: every rank refuses, none hangs
    (tmp_path / "few").mkdir()
    procs = _launch_plain(tmp_path / "few", {"n_trials": 1, "params": {"train_split": None}})
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 3 for p in procs), errs
    expected = "over 2 processes needs at least 2 training trials (a batch per process); received 1"
    assert all(expected in e for e in errs), errs
    # one rank on another device type
    (tmp_path / "dev").mkdir()
    script = _script(tmp_path / "dev", {"params": {}})
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
                 import runpy, sys
                 import sk_icnet.icnet._checks as c
                 if {r} == 1:
                     c.device_type = lambda est: "meta"
                 runpy.run_path({str(script)!r}, run_name="__main__")
             """)], env=_env(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE=2, RANK=r,
                             LOCAL_RANK=r, PYTHONPATH=ROOT),
             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 3 for p in procs), errs
    assert all("must use the same device type; received ['cpu', 'meta']" in e for e in errs), errs


def test_distributed_true_needs_several_processes(small_xy, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="distributed=True needs several processes: launch .* "
                                         "torchrun"):
        tiny_estimator(distributed=True).fit(*small_xy)
    est = tiny_estimator(max_epochs=1).fit(*small_xy)  # "auto" outside torchrun: one process
    assert est.dist_ is None and est._ddp_module_ is None


@pytest.mark.slow
def test_windows_from_stores_are_sharded_over_ranks(tmp_path):
    from sk_icnet import Recording
    from sk_icnet.simulate import make_auditory_dataset

    stores = []
    for i, n in enumerate((2, 3)):
        sim = make_auditory_dataset(n_trials=1, duration_s=8.0, audio_fs=8000.0, dt_ms=4.0,
                                    n_neurons=n, random_state=i)
        path = tmp_path / f"animal{i}.zarr"
        Recording(sim.X[0], sim.y[0], audio_fs=8000.0, dt_ms=4.0, name=f"animal{i}").save(path)
        stores.append(str(path))
    (tmp_path / "run").mkdir()
    r0, r1 = torchrun(tmp_path / "run", {"stores": stores, "params": {"random_state": 0,
                                                                         "batch_size": 4}})
    assert r0["hashes"] == r1["hashes"] and r0["train_loss"] == r1["train_loss"]
    assert r0["pred"] == r1["pred"]
    # 63 windows per recording (2,000 bins, 32-bin hops), the first 13 held out: 100 training
    # windows in 25-26 batches of 4, split evenly (a leftover batch is skipped that epoch); the
    # history holds both ranks' batches
    assert r0["train_batches"] == r1["train_batches"]
    assert all(n in (24, 26) for n in r0["train_batches"]), r0["train_batches"]
