"""New neurons learnt on a frozen fitted encoder against a fit from scratch, on little data.

    python docs/_results.py run benchmarks/transfer_new_neurons.py    # about 1 minute, 2-core CPU

The configuration of ``tests/icnet/test_estimator.py``'s transfer test (8 kHz audio, 4 ms bins,
a CPU-sized ICNet): an encoder is fitted on 96 half-second trials of 6 simulated neurons
(30 epochs); then, for three sets of 3 new neurons (``--new-seeds``), a model is fitted on 8
trials from scratch and one with ``encoder_from=core, freeze_encoder=True`` (40 epochs each),
and both are scored (Poisson D²) on the other 40 trials. The user guide's estimator page quotes
the held-out D² of each pair.
"""

import argparse
import time

import torch

from sk_icnet import ICNetRegressor
from sk_icnet.simulate import make_auditory_dataset

FS, DT = 8000.0, 4.0
TINY = dict(audio_fs=FS, dt_ms=DT, batch_size=16, verbose=0, random_state=0, lr=1e-2,
            train_split=None, module__n_filters=8, module__sincnet_kernel_size=32,
            module__encoder_channels=16, module__encoder_kernel_size=8,
            module__n_encoder_layers=3, module__bottleneck_channels=8)

parser = argparse.ArgumentParser()
parser.add_argument("--new-seeds", type=int, nargs="+", default=[1, 2, 3])
args = parser.parse_args()
torch.set_num_threads(2)

start = time.perf_counter()
big = make_auditory_dataset(n_trials=96, duration_s=0.5, audio_fs=FS, dt_ms=DT, n_neurons=6,
                            neuron_kinds="mixed", random_state=0)
core = ICNetRegressor(max_epochs=30, **TINY).fit(big.X, big.y)
RESULTS = {}
for seed in args.new_seeds:
    new = make_auditory_dataset(n_trials=48, duration_s=0.5, audio_fs=FS, dt_ms=DT, n_neurons=3,
                                neuron_kinds="mixed", random_state=seed)
    X, y, X_test, y_test = new.X[:8], new.y[:8], new.X[8:], new.y[8:]  # 8 trials to learn from
    scratch = ICNetRegressor(max_epochs=40, **TINY).fit(X, y).score(X_test, y_test)
    transfer = ICNetRegressor(max_epochs=40, encoder_from=core, freeze_encoder=True,
                              **TINY).fit(X, y).score(X_test, y_test)
    RESULTS[f"seed{seed}"] = {"scratch_d2": float(scratch), "transfer_d2": float(transfer)}
    print(f"new neurons (seed {seed}): held-out D² {scratch:.3f} from scratch, "
          f"{transfer:.3f} on the frozen encoder")
RESULTS["total_s"] = round(time.perf_counter() - start, 1)
print(f"total {RESULTS['total_s']:.0f} s")
