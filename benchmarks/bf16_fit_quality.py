"""Held-out fit quality of bfloat16 against float32 training at the paper configuration.

Run:  python benchmarks/bf16_fit_quality.py [--epochs 4] [--n-train 1600] [--n-test 64] [--lr 1e-3]
      [--seed 0] [--init-seed S] [--precisions float32,bfloat16] [--round-init]

Simulates paper-shaped training windows (24,414.0625 Hz, 10,240 samples = 320 bins of
1.31072 ms, the first 64 bins left out of loss and score as in the paper) from
``make_auditory_dataset`` with 10 neurons (linear and on-off alternating, 150 spikes/s on
average), then fits the paper ICNet configuration (48 SincNet filters, five stride-2
convolutions of 128 channels, 64-channel bottleneck) twice from the same seed, once in float32
and once with ``precision="bfloat16"``, batch 16, and prints for each: held-out Poisson D²,
held-out Pearson r, training wall time, and the final training loss. The same data, initial
weights and batch order are used for both.
``--seed`` draws the data; ``--init-seed`` (default: ``--seed``) the initial weights and batch
order, so re-running one precision with another ``--init-seed`` on the same data measures how
much held-out D² moves between training runs, the scale against which the float32-bfloat16
difference is read. ``--round-init`` rounds the initial weights to bfloat16 and back before
training (a float32 control: how far one bfloat16-sized perturbation of the starting point alone
moves the result).

The 5.1 M-parameter network overfits a few minutes of audio (held-out D² below zero after 200
steps on 160 windows, measured), so the default is many windows seen few times: 1,600 windows
(11 minutes of audio), 100 steps per epoch. On 2 CPU cores the default run takes about 50 minutes.

``python docs/_results.py run --name bf16_fit_quality_s0_i1 benchmarks/bf16_fit_quality.py --seed 0
--init-seed 1`` writes the figures of one data seed / init seed pair to a results file: the noise
ceiling, and per precision (``float32``, ``bfloat16``) held-out D², Pearson r, final training
loss and fit time, and the difference.
"""

import argparse
import time

import numpy as np
import torch
from skorch.callbacks import Callback

from sk_icnet import ICNetRegressor
from sk_icnet.metrics import d2_poisson_score, pearson_r
from sk_icnet.simulate import make_auditory_dataset

FS, DT, WINDOW, SKIP = 24414.0625, 1.31072, 10240, 64
RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)


class RoundInitialWeights(Callback):
    """At the start of training, round every parameter to bfloat16 and back (in place)."""

    def on_train_begin(self, net, **kwargs):
        with torch.no_grad():
            for p in net.module_.parameters():
                p.copy_(p.to(torch.bfloat16).to(p.dtype))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-train", type=int, default=1600)
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rate-hz", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated data")
    parser.add_argument("--init-seed", type=int, default=None,
                        help="seed of the initial weights and batch order (default: --seed)")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--round-init", action="store_true",
                        help="round the initial weights to bfloat16 and back (control run)")
    args = parser.parse_args()

    data = make_auditory_dataset(n_trials=args.n_train + args.n_test, duration_s=WINDOW / FS,
                                 audio_fs=FS, dt_ms=DT, n_neurons=10, neuron_kinds="mixed",
                                 mean_rate_hz=args.rate_hz, random_state=args.seed)
    X, y = data.X, data.y
    assert X.shape[1] == WINDOW, X.shape
    Xtr, ytr, Xte, yte = X[:args.n_train], y[:args.n_train], X[args.n_train:], y[args.n_train:]
    rates_te = data.rates[args.n_train:, :, SKIP:]
    init_seed = args.seed if args.init_seed is None else args.init_seed
    print(f"data seed {args.seed}, init seed {init_seed}"
          + (", initial weights rounded to bfloat16" if args.round_init else ""))
    print(f"paper configuration, {args.n_train} training + {args.n_test} held-out windows of "
          f"{WINDOW} samples, 10 neurons, batch 16, Adam lr {args.lr:g}, {args.epochs} epochs, "
          f"skip_bins={SKIP}")

    with np.errstate(all="ignore"):
        oracle = d2_poisson_score(yte[..., SKIP:], rates_te)
    print(f"true rates (noise ceiling) held-out D²: {oracle:.3f}")
    RESULTS.update(data_seed=args.seed, init_seed=init_seed, round_init=args.round_init,
                   noise_ceiling_d2=float(oracle))
    print(f"{'precision':<10}{'D²':>8}{'r':>8}{'train loss':>12}{'fit s':>9}")
    rows = {}
    for precision in args.precisions.split(","):
        est = ICNetRegressor(batch_size=16, lr=args.lr, max_epochs=args.epochs, train_split=None,
                             skip_bins=SKIP, precision=precision, random_state=init_seed,
                             verbose=0,
                             callbacks=[RoundInitialWeights()] if args.round_init else None)
        t = time.perf_counter()
        est.fit(Xtr, ytr)
        elapsed = time.perf_counter() - t
        d2 = est.score(Xte, yte)
        r = float(np.nanmean(pearson_r(yte[..., SKIP:], est.predict(Xte)[..., SKIP:])))
        loss = est.history_[-1, "train_loss"]
        rows[precision] = d2
        RESULTS[precision] = {"d2": float(d2), "r": r, "train_loss": float(loss), "fit_s": elapsed}
        print(f"{precision:<10}{d2:>8.3f}{r:>8.3f}{loss:>12.4f}{elapsed:>9.0f}")
    if {"float32", "bfloat16"} <= rows.keys():
        RESULTS["d2_difference"] = float(rows["bfloat16"] - rows["float32"])
        print(f"D² difference (bfloat16 - float32): {RESULTS['d2_difference']:+.3f}")


if __name__ == "__main__":
    main()
