"""The cheap speed-ups of a small-data fit, each measured against the recipe as it is.

Run:  python docs/_results.py run benchmarks/fit_speedups.py [--seconds 120] [--epochs 4] [--rate 8000]

The recipe's network (``small_data_params``' ``medium`` size) is fitted on ``--seconds`` of simulated
sound (``make_natural_mix``, Poisson counts of 8 neurons, 2 ms bins) for ``--epochs`` epochs,
once per variant, changing one thing at a time from the recipe on 2 torch threads:

* ``threads_1``: one torch thread instead of 2;
* ``bfloat16``: ``precision="bfloat16"`` (the encoder under bfloat16 autocast; only where the CPU
  has native bfloat16, ``cpu_supports_bf16()``; elsewhere it is skipped and says so);
* ``batch_32`` and ``batch_64``: larger batches of trials (fewer optimiser steps per epoch);
* ``no_validation``: ``train_split=None``, from which the share of an epoch the validation pass
  takes is estimated (``validation_share_pct``: one minus 4/5 of this epoch's time over the
  recipe's, as the recipe trains on 4/5 of the trials; the recipe validates every epoch: early
  stopping, the schedule and the did-not-learn check read it).

Each variant's seconds per epoch is the median of skorch's ``dur`` over the epochs after the
first; ``speed_up`` is the recipe's seconds per epoch over the variant's. The load average is
recorded before and after: on a shared machine the times are upper bounds. What a variant costs
in D² is not measured here (``benchmarks/bf16_fit_quality.py`` does it for bfloat16).
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import torch

from sk_icnet import ICNetRegressor, small_data_params
from sk_icnet._core.timebase import Timebase
from sk_icnet.icnet import cpu_supports_bf16
from sk_icnet.simulate import make_natural_mix

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seconds", type=float, default=120.0)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--rate", type=float, default=8000.0)
args = parser.parse_args()

DT_MS, N_NEURONS, TRIAL_S = 2.0, 8, 1.0
#: the share of trials the recipe trains on (the default ValidSplit(5) validates on a fifth)
TRAIN_SHARE = 0.8
VARIANTS = {
    "recipe": ({}, 2),
    "threads_1": ({}, 1),
    "bfloat16": ({"precision": "bfloat16"}, 2),
    "batch_32": ({"batch_size": 32}, 2),
    "batch_64": ({"batch_size": 64}, 2),
    "no_validation": ({"train_split": None}, 2),
}

n_trials = int(round(args.seconds / TRIAL_S))
X = make_natural_mix(n_trials, TRIAL_S, args.rate, random_state=0)
n_bins = X.shape[1] // Timebase(args.rate, DT_MS).samples_per_bin
y = np.random.default_rng(0).poisson(0.04, size=(n_trials, N_NEURONS, n_bins)).astype(np.float32)
base = small_data_params(args.seconds, audio_fs=args.rate, dt_ms=DT_MS, n_neurons=N_NEURONS)
base.update(max_epochs=args.epochs, early_stopping_patience=None, verbose=0, random_state=0)

load_before = os.getloadavg()[0]
seconds, skipped = {}, []
for name, (change, threads) in VARIANTS.items():
    if name == "bfloat16" and not cpu_supports_bf16():
        skipped.append(name)
        continue
    torch.set_num_threads(threads)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ICNetRegressor(**{**base, **change}).fit(X, y)
    durations = list(est.history[:, "dur"])
    seconds[name] = statistics.median(durations[1:] if len(durations) > 1 else durations)
    print(f"{name:>14}: {seconds[name]:6.2f} s/epoch ({time.perf_counter() - start:.0f} s)",
          flush=True)
torch.set_num_threads(2)

#: the figures the small-data guide quotes
RESULTS = {
    "seconds_per_epoch": {f"{name}_s": round(value, 2) for name, value in seconds.items()},
    "speed_up": {name: round(seconds["recipe"] / value, 2) for name, value in seconds.items()},
    # the recipe trains on 4/5 of the trials and validates on 1/5 (skorch's ValidSplit(5));
    # without a split it trains on all of them: training time scales with the trials
    "validation_share_pct": round(100 * (1 - TRAIN_SHARE * seconds["no_validation"]
                                         / seconds["recipe"]), 0),
    "cpu_supports_bf16": bool(cpu_supports_bf16()), "skipped": ", ".join(skipped) or "none",
    "seconds_of_sound": args.seconds, "epochs": args.epochs, "audio_fs": args.rate,
    "load": {"before": round(load_before, 1), "after": round(os.getloadavg()[0], 1)},
}
#: speed-ups are ratios of timings: they move with the machine and its load
RESULTS_TOLERANCE = {"speed_up.*": {"rel": 0.3}, "validation_share_pct": {"abs": 10},
                     "load.*": "timing"}
print(RESULTS)
