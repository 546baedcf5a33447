"""Fit time of the small-data recipe per network size and audio rate, and the cost model's constant.

Run:  python benchmarks/fit_time.py [--quick] [--out benchmarks/results/fit_time.json]

For each audio rate (8, 16 and 24 kHz; 2 ms bins) and size (the recipe's ``medium`` and the
``small`` and ``tiny`` of ``SMALLER_PRESETS``; ``--paper`` adds the paper's network), fits
``ICNetRegressor(**small_data_params(...))`` with that size on ``--seconds`` of simulated
sound (``make_natural_mix``, Poisson counts of 8 neurons) for ``--epochs`` epochs on
``--threads`` torch threads, and records the seconds per epoch (the median of skorch's
``dur`` over the epochs after the first), the forward FLOPs per audio sample
(``forward_flops_per_sample``). The cost model of ``estimate_fit_seconds`` is then fitted to
all rows by non-negative least squares: seconds per epoch per audio sample of sound =
``per_sample + per_flop * forward FLOPs per sample`` (a fixed overhead per sample, which
dominates for the smallest network, and a share proportional to the network's work);
``FIT_SECONDS_PER_SAMPLE`` and ``FIT_SECONDS_PER_FLOP`` in ``sk_icnet/icnet/_fit_cost.py`` must
equal this file's ``calibration``, rounded to 2 significant digits (a test checks it).
``--refit`` recomputes the calibration of an existing results file without fitting again. The machine's
load average before and after is recorded: on a shared machine the times are upper bounds.

``--quick``: 20 s of sound, 3 epochs (the numbers the code carries until a quiet run replaces them).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import torch

from sk_icnet import ICNetRegressor, small_data_params
from sk_icnet._core.files import atomic_path
from sk_icnet._core.timebase import Timebase
from sk_icnet.icnet import cpu_supports_bf16
from sk_icnet.icnet._recipe import (
    SIZE_PRESETS,
    SMALLER_PRESETS,
    _fitted_strides,
    forward_flops_per_sample,
)
from sk_icnet.simulate import make_natural_mix

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--seconds", type=float, default=120.0)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--rates", default="8000,16000,24000")
parser.add_argument("--paper", action="store_true", help="also the paper's network (slow)")
parser.add_argument("--out", default="benchmarks/results/fit_time.json")
parser.add_argument("--refit", action="store_true", help="recompute the calibration of --out")
args = parser.parse_args()


def calibrate(rows):
    """Non-negative least squares of seconds per epoch per sample on (1, FLOPs per sample),
    relative errors weighted equally (each row divided by its own time)."""
    from scipy.optimize import nnls

    per_sample = np.array([r["seconds_per_epoch"] / r["samples"] for r in rows])
    flops = np.array([r["forward_flops_per_sample"] for r in rows])
    design = np.stack([np.ones_like(flops), flops], axis=1) / per_sample[:, None]
    (a, b), _ = nnls(design, np.ones_like(flops))
    predicted = a + b * flops
    return {"per_sample": float(a), "per_flop": float(b),
            "relative_errors": [float(v) for v in predicted / per_sample - 1]}


def write(result):
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with atomic_path(args.out, ".json", overwrite=True) as tmp, open(tmp, "w") as f:
        json.dump(result, f, indent=1)


if args.refit:
    with open(args.out) as f:
        result = json.load(f)
    for row in result["rows"]:
        row.setdefault("samples", row["seconds_of_sound"] * row["audio_fs"])
    result["calibration"] = calibrate(result["rows"])
    result.pop("calibration_spread", None)
    write(result)
    print(result["calibration"])
    sys.exit(0)
if args.quick:
    args.seconds, args.epochs = 20.0, 3

torch.set_num_threads(args.threads)
DT_MS, N_NEURONS, TRIAL_S = 2.0, 8, 1.0
sizes = {"medium": dict(SIZE_PRESETS[0][2]), **SMALLER_PRESETS}
if args.paper:
    sizes["paper"] = {}
load_before = os.getloadavg()
rows = []
for fs in [float(r) for r in args.rates.split(",")]:
    n_trials = int(round(args.seconds / TRIAL_S))
    X = make_natural_mix(n_trials, TRIAL_S, fs, random_state=0)
    n_bins = X.shape[1] // Timebase(fs, DT_MS).samples_per_bin
    y = np.random.default_rng(0).poisson(0.04, size=(n_trials, N_NEURONS, n_bins)).astype(np.float32)
    for name, preset in sizes.items():
        module = _fitted_strides(dict(preset), Timebase(fs, DT_MS), N_NEURONS)
        params = small_data_params(args.seconds, audio_fs=fs, dt_ms=DT_MS, n_neurons=N_NEURONS)
        params = {k: v for k, v in params.items() if not k.startswith("module__")}
        params.update({f"module__{k}": v for k, v in module.items()}, max_epochs=args.epochs,
                      early_stopping_patience=None, verbose=0, random_state=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = ICNetRegressor(**params).fit(X, y)
        wall = time.perf_counter() - start
        durations = list(est.history[:, "dur"])
        per_epoch = statistics.median(durations[1:] if len(durations) > 1 else durations)
        flops = forward_flops_per_sample(module, fs, DT_MS, N_NEURONS)
        samples = X.shape[0] * X.shape[1]
        rows.append({"audio_fs": fs, "size": name, "parameters": int(sum(
            p.numel() for p in est.module_.parameters())), "seconds_of_sound": args.seconds,
            "epochs": args.epochs, "seconds_per_epoch": per_epoch, "wall_s": wall,
            "forward_flops_per_sample": flops, "samples": samples})
        print(f"{fs:>7.0f} Hz {name:>6}: {per_epoch:7.2f} s/epoch, {flops:,.0f} FLOP/sample",
              flush=True)

calibration = calibrate(rows)
result = {
    "command": "python " + " ".join(sys.argv),
    "quick": args.quick, "threads": args.threads, "dt_ms": DT_MS, "n_neurons": N_NEURONS,
    "load_average_before": list(load_before), "load_average_after": list(os.getloadavg()),
    "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
    "cpu_supports_bf16": bool(cpu_supports_bf16()), "torch": torch.__version__,
    "rows": rows, "calibration": calibration,
    "note": ("seconds per epoch = (calibration.per_sample + calibration.per_flop x forward FLOPs "
             "per audio sample) x audio samples of sound (validation included); seconds per "
             "epoch are medians of the epochs after the first"),
}
write(result)
#: the figures the guide states (``python docs/_results.py run --name fit_time ...``)
RESULTS = {
    "seconds_per_epoch": {f"{r['size']}_{int(r['audio_fs'] / 1000)}k_s": round(r["seconds_per_epoch"], 2)
                          for r in rows},
    "calibration": {"per_sample": calibration["per_sample"], "per_flop": calibration["per_flop"],
                    "worst_relative_error_pct": round(100 * max(
                        abs(e) for e in calibration["relative_errors"]))},
    "load": {"before": round(load_before[0], 1), "after": round(result["load_average_after"][0], 1)},
    "seconds_of_sound": args.seconds, "epochs": args.epochs, "threads": args.threads,
}
RESULTS_TOLERANCE = {"calibration.*": {"rel": 1.0}, "load.*": "timing"}
print(f"calibration {calibration}; load {load_before[0]:.1f} -> {result['load_average_after'][0]:.1f}; "
      f"wrote {args.out}")
