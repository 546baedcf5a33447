"""Time of :func:`sk_icnet.insilico.dynamic_strf` by its two paths: receptive-field windows and whole trials.

The ICNet of ``examples/interpret.py`` (8 kHz, 4 ms bins, 16 SincNet filters, three
24-channel layers, 16 bottleneck channels, 6 neurons; seeded random weights: the cost does
not depend on training), one-second trials of noise, ``step=2`` (121 bins per trial). The
window path runs on ``--trials`` trials; the whole-trial path, tens of times slower, on every
fourth of those bins of one trial. Both are reported in seconds per gradient (one bin of one
neuron) and per trial of 121 bins x 6 neurons; they give the same dSTRFs (checked on the
common bins). The figures are left in ``RESULTS``; run through the results tool, they go to
``docs/results/dynamic_strf_paths.json`` with the machine and its load::

    python benchmarks/dynamic_strf_paths.py --threads 2
    python docs/_results.py run benchmarks/dynamic_strf_paths.py --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sk_icnet import ICNet
from sk_icnet.insilico import dynamic_strf

FS, DT = 8000.0, 4.0
FRONT = dict(n_bands=16, fmin=200.0, win_ms=16.0, lags_ms=40.0)
#: the figures the docs quote (``docs/_results.py`` writes them to ``docs/results/``)
RESULTS = {}
#: the speed-up is a ratio of times: a timing, never compared between runs
RESULTS_TOLERANCE = {"speed_up": "timing", "max_relative_difference": {"abs": 1e-5},
                     "*gradients": {"abs": 0}, "bins_per_trial": {"abs": 0}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--trials", type=int, default=4, help="trials on the window path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = ICNet(audio_fs=FS, dt_ms=DT, out_neurons=6, n_filters=16, sincnet_kernel_size=32,
                encoder_channels=24, encoder_kernel_size=8, n_encoder_layers=3,
                bottleneck_channels=16).eval()
    X = (np.random.default_rng(0).standard_normal((args.trials, int(FS))) * 0.02)
    seconds = {}
    results = {}
    gradients = {}
    for method, trials, step in (("window", args.trials, 2), ("trial", 1, 8)):
        start = time.perf_counter()
        results[method] = dynamic_strf(net, X[:trials], step=step, method=method,
                                       progress=False, **FRONT)
        seconds[method] = time.perf_counter() - start
        gradients[method] = trials * results[method].dstrf.shape[1] * 6
        print(f"{method:6s}: {trials} trial(s) x {results[method].dstrf.shape[1]} bins x 6 neurons "
              f"in {seconds[method]:.1f} s", flush=True)
    common = np.isin(results["window"].bins, results["trial"].bins)
    window, trial = results["window"].dstrf[:1, common], results["trial"].dstrf
    diff = float(np.abs(window - trial).max() / np.abs(trial).max())
    per_gradient = {k: seconds[k] / gradients[k] for k in seconds}
    n_bins = results["window"].dstrf.shape[1]
    per_trial = {k: v * n_bins * 6 for k, v in per_gradient.items()}
    RESULTS.update({
        "torch_threads": args.threads, "bins_per_trial": n_bins, "neurons": 6,
        "window": {"trials": args.trials, "gradients": gradients["window"],
                   "total_s": round(seconds["window"], 2),
                   "per_gradient_s": round(per_gradient["window"], 5),
                   "per_trial_s": round(per_trial["window"], 2)},
        "trial": {"trials": 1, "gradients": gradients["trial"],
                  "total_s": round(seconds["trial"], 2),
                  "per_gradient_s": round(per_gradient["trial"], 5),
                  "per_trial_s": round(per_trial["trial"], 2)},
        "speed_up": round(per_trial["trial"] / per_trial["window"], 1),
        "max_relative_difference": diff,
    })
    print(f"per trial of {n_bins} bins x 6 neurons: windows {per_trial['window']:.2f} s, whole "
          f"trials {per_trial['trial']:.1f} s ({RESULTS['speed_up']}x); largest difference "
          f"{diff:.1e} of the largest dSTRF value")
    return RESULTS


if __name__ == "__main__":
    main()
