"""Training and prediction throughput of ICNet at the paper configuration.

Run:  python benchmarks/icnet_throughput.py [--steps 3] [--predict-seconds 600] [--device cpu]

Prints, for the paper configuration (24,414.0625 Hz, 32 samples per bin, 10 neurons):

* the measured matmul peak of this machine (float32 and bfloat16, 2048 x 2048 ``torch.mm``);
* training throughput with ``ICNetRegressor.partial_fit`` on batches of 16 x 10,240 samples,
  float32 and bfloat16 side by side: seconds per step, audio seconds per second, and achieved
  GFLOP/s (3 x the forward FLOPs per step) against the matmul peak;
* ``predict`` on one continuous waveform of ``--predict-seconds`` seconds (default 10 minutes),
  streamed in chunks, in a fresh subprocess: audio seconds per second and peak resident memory.

``python docs/_results.py run benchmarks/icnet_throughput.py --steps 5`` writes these figures
to ``docs/results/icnet_throughput.json``; ``--flops-only`` stops after the FLOP counts (a few
seconds: ``python docs/_results.py run --name icnet_flops benchmarks/icnet_throughput.py
--flops-only``), which also give what a GPU must sustain, per second of scored audio: training
is 3 x the forward pass, and a window of 10,240 samples carries 2,048 samples of context.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

FS, DT = 24414.0625, 1.31072
N_NEURONS = 10
WINDOW, CONTEXT = 10240, 2048  # the paper's training windows, in samples
RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)
#: machine-bound figures (the predict runs in a child process, see RESULTS_CODE)
RESULTS_TOLERANCE = {"*gflops*": "timing", "*pct_of_peak": "timing", "*per_s": "timing",
                     "bf16_speedup": "timing"}
RESULTS_CODE = ["sk_icnet/icnet/_inference.py"]


def forward_flops_per_sample(module, parts=False):
    """Multiply-adds x 2 of one forward pass, per audio sample (from the layer shapes); with
    ``parts``, also the share of the SincNet front end and the decoder (the float32 ends of
    ``precision="bfloat16"``)."""
    front = module.sincnet.n_filters * module.sincnet.kernel_size  # stride 1
    macs = front
    hop = 1
    for block in [*module.encoder, module.bottleneck]:
        hop *= block.stride
        conv = block.conv
        macs += conv.in_channels * conv.out_channels * conv.kernel_size[0] / hop
    decoder = module.decoder.in_features * module.decoder.out_features / module.samples_per_bin
    macs += decoder
    if parts:
        return 2.0 * macs, (front + decoder) / macs
    return 2.0 * macs


def matmul_peak(dtype, device, n=2048, repeats=10):
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    if device != "cpu":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    if device != "cpu":
        torch.cuda.synchronize()
    return 2.0 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def train_throughput(precision, device, steps):
    from sk_icnet import ICNetRegressor

    rng = np.random.default_rng(0)
    X = (0.1 * rng.standard_normal((16, 10240))).astype(np.float32)
    y = rng.poisson(0.2, size=(16, N_NEURONS, 320)).astype(np.float32)
    est = ICNetRegressor(batch_size=16, max_epochs=1, train_split=None, verbose=0,
                         precision=precision, device=device, random_state=0)
    est.fit(X, y)  # initialise + one warm-up step
    times = []
    for _ in range(steps):
        if device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        est.partial_fit(X, y)
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    step = float(np.median(times))
    flops = 3.0 * forward_flops_per_sample(est.module_) * X.size
    return step, X.size / FS / step, flops / step / 1e9


def _peak_rss_mb():
    """High-water mark of this process's resident memory (VmHWM; ru_maxrss survives exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def predict_child(seconds, precision, device):
    """Run in a subprocess: predict one long waveform, report time and peak RSS."""
    from sk_icnet import ICNetRegressor

    n_bins = int(seconds * FS) // 32
    est = ICNetRegressor(max_epochs=0, train_split=None, verbose=0, precision=precision,
                         device=device, random_state=0)
    est.fit(np.zeros((1, 320), np.float32), np.zeros((1, N_NEURONS, 10), np.float32))
    audio = np.random.default_rng(0).standard_normal((1, n_bins * 32), dtype=np.float32)
    audio *= 0.1
    rss_before = _peak_rss_mb()
    t = time.perf_counter()
    pred = est.predict(audio)
    elapsed = time.perf_counter() - t
    peak = _peak_rss_mb()
    out = {"seconds": n_bins * 32 / FS, "elapsed": elapsed, "rss_before_mb": rss_before,
           "peak_rss_mb": peak, "shape": list(pred.shape)}
    if device != "cpu":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--predict-seconds", type=float, default=600.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--flops-only", action="store_true",
                        help="print the FLOP counts and what a GPU must sustain, then stop")
    args = parser.parse_args()
    if args.child:
        return predict_child(args.predict_seconds, args.child_precision, args.device)

    precisions = args.precisions.split(",")
    print(f"device: {args.device}; torch {torch.__version__}; threads {torch.get_num_threads()}")
    from sk_icnet import ICNet

    fwd, ends = forward_flops_per_sample(ICNet(out_neurons=N_NEURONS), parts=True)
    print(f"paper ICNet forward: {fwd / 1e6:.3f} MFLOP per audio sample "
          f"({fwd * FS / 1e9:.1f} GFLOP per second of audio); SincNet front end and decoder "
          f"{100 * ends:.1f} % of it")
    per_scored_s = 3 * fwd * FS * WINDOW / (WINDOW - CONTEXT)
    RESULTS["flops"] = {"forward_mflop_per_sample": fwd / 1e6,
                        "forward_gflop_per_audio_s": fwd * FS / 1e9,
                        "float32_ends_pct": 100 * ends,
                        "context_factor": WINDOW / (WINDOW - CONTEXT),
                        "train_gflop_per_scored_audio_s": per_scored_s / 1e9}
    h100 = 989e12  # H100 SXM dense bfloat16 TFLOP/s (NVIDIA's data sheet)
    RESULTS["h100"] = {f"at_{pct}pct_audio_s_per_s": h100 * pct / 100 / per_scored_s
                       for pct in (10, 30)}
    print(f"training: {per_scored_s / 1e9:.0f} GFLOP per scored audio second; an H100 at 10-30 % "
          f"of {h100 / 1e12:.0f} bf16 TFLOP/s: {RESULTS['h100']['at_10pct_audio_s_per_s']:.0f} to "
          f"{RESULTS['h100']['at_30pct_audio_s_per_s']:.0f} scored audio s/s")
    if args.flops_only:
        return
    peaks = {p: matmul_peak(getattr(torch, p), args.device) for p in precisions}
    for p in precisions:
        print(f"matmul peak ({p}): {peaks[p]:.0f} GFLOP/s")

    print("\ntraining, batch 16 x 10,240 samples, 10 neurons (median of "
          f"{args.steps} steps after a warm-up step)")
    print(f"{'precision':<10}{'s/step':>9}{'audio s/s':>11}{'GFLOP/s':>9}{'% of peak':>11}")
    results = {}
    for p in precisions:
        step, audio_rate, gflops = train_throughput(p, args.device, args.steps)
        results[p] = step
        RESULTS[p] = {"matmul_peak_gflops": peaks[p], "step_s": step,
                      "train_audio_s_per_s": audio_rate, "train_gflops": gflops,
                      "train_pct_of_peak": 100 * gflops / peaks[p]}
        print(f"{p:<10}{step:>9.2f}{audio_rate:>11.2f}{gflops:>9.0f}{100 * gflops / peaks[p]:>10.0f}%")
    if "float32" in results and "bfloat16" in results:
        RESULTS["bf16_speedup"] = results["float32"] / results["bfloat16"]
        print(f"bfloat16 speed-up over float32: {RESULTS['bf16_speedup']:.2f}x")

    print(f"\npredict on one {args.predict_seconds:.0f} s waveform (streamed, fresh process)")
    for p in precisions:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--child-precision", p,
               "--predict-seconds", str(args.predict_seconds), "--device", args.device]
        res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True)
                         .stdout.strip().splitlines()[-1])
        RESULTS[p]["predict"] = {"seconds": res["seconds"], "elapsed_s": res["elapsed"],
                                 "audio_s_per_s": res["seconds"] / res["elapsed"],
                                 "peak_rss_mb": res["peak_rss_mb"],
                                 "rss_before_mb": res["rss_before_mb"]}
        if "cuda_peak_mb" in res:
            RESULTS[p]["predict"]["cuda_peak_mb"] = res["cuda_peak_mb"]
        line = (f"{p:<10}{res['elapsed']:8.1f} s  {res['seconds'] / res['elapsed']:7.2f} audio s/s  "
                f"peak RSS {res['peak_rss_mb']:.0f} MB (before predict {res['rss_before_mb']:.0f} MB)")
        if "cuda_peak_mb" in res:
            line += f", CUDA peak {res['cuda_peak_mb']:.0f} MB"
        print(line)


if __name__ == "__main__":
    main()
