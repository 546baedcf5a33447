"""Training-step time of data-parallel ICNet at the paper configuration.

CPU (this machine): the same global batch (16 windows of 10,240 samples, 10
neurons) trained by 2 processes x 1 thread (``torchrun``, gloo, 8 windows per
process) and by 1 process x 2 threads, in one run; the ratio is the figure the
user guide reports (docs/user_guide/devices.md).

GPUs (``--device cuda --nproc 1 2 4 8``): one process per GPU, ``--batch``
windows per GPU; reports throughput and scaling efficiency (throughput with N
GPUs / (N x throughput with 1)).

    python benchmarks/distributed_scaling.py                      # CPU: 1x2 threads vs 2x1
    python benchmarks/distributed_scaling.py --device cuda --nproc 1 2 4 8 --batch 32

Step time is the median over the steps after the first (warm-up), measured
between consecutive batch ends with a callback (on GPUs, after a synchronize).

``python docs/_results.py run benchmarks/distributed_scaling.py`` writes the CPU figures to
``docs/results/distributed_scaling.json`` (``--name distributed_scaling_cuda`` for a GPU run).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

FS = 24414.0625
RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)
RESULTS_TOLERANCE = {"*ratio*": "timing", "*efficiency": "timing", "*_pct": "timing"}
#: the fits run in torchrun's processes, which the results tracer does not see
RESULTS_CODE = ["sk_icnet/icnet/_distributed.py", "sk_icnet/icnet/_training.py",
                "sk_icnet/icnet/_estimator.py"]


def worker(args):
    import numpy as np
    import torch
    from skorch.callbacks import Callback

    from sk_icnet import ICNetRegressor
    from sk_icnet.simulate import make_auditory_dataset

    torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    n = args.batch * world * (args.steps + 1)  # every rank runs steps + 1 batches
    data = make_auditory_dataset(n_trials=n, duration_s=10240 / FS, n_neurons=10,
                                 neuron_kinds="mixed", mean_rate_hz=150.0, random_state=0)

    class StepTimes(Callback):
        def initialize(self):
            self.ends = []
            return self

        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                if net.device != "cpu":
                    torch.cuda.synchronize()
                self.ends.append(time.perf_counter())

    timer = StepTimes()
    est = ICNetRegressor(max_epochs=1, batch_size=args.batch, lr=1e-4, train_split=None,
                         skip_bins=64, random_state=0, verbose=0, device=args.device,
                         precision=args.precision, callbacks=[timer])
    est.fit(data.X, data.y)
    steps = np.diff(timer.ends)
    if rank == 0:
        print(json.dumps(dict(processes=world, threads=args.threads, device=args.device,
                              batch_per_process=args.batch, global_batch=args.batch * world,
                              step_s=round(float(np.median(steps)), 3),
                              audio_s_per_s=round(args.batch * world * 10240 / FS
                                                  / float(np.median(steps)), 2))), flush=True)


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc, threads, batch, args):
    cmd = [__file__, "--worker", "--threads", str(threads), "--batch", str(batch),
           "--steps", str(args.steps), "--device", args.device, "--precision", args.precision]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if nproc > 1:
        cmd = ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               "--master_addr=127.0.0.1", f"--master_port={_port()}", *cmd]
    out = subprocess.run([sys.executable, *cmd], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--batch", type=int, default=None,
                        help="windows per process (CPU default: 16 global; GPU default: 32)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.device == "cpu":
        batch = args.batch or 16
        one = launch(1, 2, batch, args)
        print(json.dumps(one), flush=True)
        two = launch(2, 1, batch // 2, args)
        print(json.dumps(two), flush=True)
        print(json.dumps({"ratio_2x1_over_1x2": round(two["step_s"] / one["step_s"], 3)}))
        keep = ("step_s", "audio_s_per_s")
        RESULTS.update(one_process_two_threads={k: one[k] for k in keep},
                       two_processes_one_thread={k: two[k] for k in keep},
                       ratio_2x1_over_1x2=two["step_s"] / one["step_s"],
                       data_parallel_faster_pct=100 * (1 - two["step_s"] / one["step_s"]))
        return
    results = {}
    for n in args.nproc:
        results[n] = launch(n, args.threads, args.batch or 32, args)
        base = results[min(results)]
        eff = results[n]["audio_s_per_s"] / (n / min(results) * base["audio_s_per_s"])
        print(json.dumps({**results[n], "scaling_efficiency": round(eff, 3)}), flush=True)
        RESULTS[f"gpus{n}"] = {"step_s": results[n]["step_s"],
                               "audio_s_per_s": results[n]["audio_s_per_s"], "scaling_efficiency": eff}


if __name__ == "__main__":
    main()
