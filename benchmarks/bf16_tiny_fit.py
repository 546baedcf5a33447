"""Held-out D² of bfloat16 against float32 training on the tests' tiny configuration.

    python docs/_results.py run benchmarks/bf16_tiny_fit.py    # under a minute, 2-core CPU

The configuration of ``tests/icnet/test_estimator.py::test_bfloat16_fit_matches_float32_quality``
(which requires the two within 0.05): 96 half-second trials of 8 kHz audio, 3 simulated neurons
(linear, on-off, linear), a CPU-sized ICNet fitted for 20 epochs (lr 1e-2) on 72 trials in each
precision from the same seed, scored (Poisson D²) on the other 24. On a CPU without native
bfloat16 the bfloat16 fit runs emulated (and warns). The paper-configuration comparison is
``benchmarks/bf16_fit_quality.py``.
"""

import time

import torch

from sk_icnet import ICNetRegressor
from sk_icnet.simulate import make_auditory_dataset

torch.set_num_threads(2)
data = make_auditory_dataset(n_trials=96, duration_s=0.5, audio_fs=8000.0, dt_ms=4.0, n_neurons=3,
                             neuron_kinds="mixed", random_state=0)
RESULTS = {}
for precision in ("float32", "bfloat16"):
    t0 = time.perf_counter()
    est = ICNetRegressor(audio_fs=8000.0, dt_ms=4.0, lr=1e-2, batch_size=16, max_epochs=20,
                         verbose=0, random_state=0, train_split=None, precision=precision,
                         module__n_filters=8, module__sincnet_kernel_size=32,
                         module__encoder_channels=16, module__encoder_kernel_size=8,
                         module__n_encoder_layers=3, module__bottleneck_channels=8)
    d2 = float(est.fit(data.X[:72], data.y[:72]).score(data.X[72:], data.y[72:]))
    RESULTS[precision] = {"d2": d2, "fit_s": time.perf_counter() - t0}
    print(f"{precision:<9} held-out D² {d2:.4f}  ({RESULTS[precision]['fit_s']:.1f} s)")
RESULTS["d2_difference"] = RESULTS["bfloat16"]["d2"] - RESULTS["float32"]["d2"]
