"""Held-out D² with and without the recording-time input, on neurons whose gain drifts.

    python docs/_results.py run benchmarks/time_input_drift.py    # about 2 minutes, 2-core CPU

The configuration of ``tests/icnet/test_estimator.py``'s time-input test: one recording of 120 s
(8 kHz audio, 4 ms bins) of 2 simulated linear neurons whose gain grows linearly ninefold (0.2
to 1.8) over the recording; windows of 1,280 samples (256 of context) in 10 stretches of 12 s,
every fifth stretch from the third held out (held-out stretches inside the span); a CPU-sized
ICNet fitted for 15 epochs with and without ``module__time_input=True``. Data seed ``s`` draws
the sound and the neurons (``random_state=s``) and the counts (``default_rng(s + 1)``); seed 0 is
the test's data. The paper-scale page quotes the held-out D² and the gain per seed.
"""

import argparse
import time

import numpy as np
import torch

from sk_icnet import ICNetRegressor, Recording, WindowDataset
from sk_icnet.simulate import make_auditory_dataset

FS, DT, DUR = 8000.0, 4.0, 120.0
TINY = dict(lr=3e-3, batch_size=16, max_epochs=15, verbose=0, random_state=0, train_split=None,
            module__n_filters=8, module__sincnet_kernel_size=32, module__encoder_channels=16,
            module__encoder_kernel_size=8, module__n_encoder_layers=3,
            module__bottleneck_channels=8)

parser = argparse.ArgumentParser()
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
args = parser.parse_args()
torch.set_num_threads(2)

start = time.perf_counter()
RESULTS = {}
for seed in args.seeds:
    sim = make_auditory_dataset(n_trials=1, duration_s=DUR, audio_fs=FS, dt_ms=DT, n_neurons=2,
                                neuron_kinds="linear", random_state=seed)
    gain = np.linspace(0.2, 1.8, sim.rates.shape[2])  # the neurons' gain drifts ninefold
    counts = np.random.default_rng(seed + 1).poisson(sim.rates[0] * gain)
    ds = WindowDataset([Recording(sim.X[0], counts, audio_fs=FS, dt_ms=DT, name="drift")],
                       window_samples=1280, context_samples=256, group_s=DUR / 10)
    stretch = np.array([int(g.split(":")[1]) for g in ds.groups])
    train, test = ds[stretch % 5 != 2], ds[stretch % 5 == 2]
    d2 = {}
    for time_input in (False, True):
        est = ICNetRegressor(module__time_input=time_input, module__time_scale_s=DUR, **TINY)
        d2[time_input] = float(est.fit(train).score(test))
    RESULTS[f"seed{seed}"] = {"without_d2": d2[False], "with_d2": d2[True],
                              "gain_d2": d2[True] - d2[False]}
    print(f"data seed {seed}: held-out D² {d2[False]:.3f} without the time input, "
          f"{d2[True]:.3f} with it ({d2[True] - d2[False]:+.3f})")
RESULTS["total_s"] = round(time.perf_counter() - start, 1)
print(f"total {RESULTS['total_s']:.0f} s")
