"""How far a fitted figure moves between runs: same seeds, same and different thread counts.

    python docs/_results.py run benchmarks/thread_reproducibility.py    # about 1 minute, idle 2-core CPU

Fits the same small ICNet (15 epochs, 45 trials of 8 kHz audio, 4 simulated neurons,
``random_state=0``) three times in one process: with 1 torch thread, with 2, and with 1 again,
and scores each on 15 held-out trials. The same thread count gives the same figures to the
last digit; another thread count changes the order of floating-point sums (BLAS, convolution
and reduction kernels split their work by thread) and the difference grows through training.
The run-to-run tolerance of the docs' figures (``docs/_results.py``, the development guide)
rests on these differences.
"""

import time

import torch

from sk_icnet import ICNetRegressor
from sk_icnet.metrics import pearson_r
from sk_icnet.simulate import make_auditory_dataset

data = make_auditory_dataset(n_trials=60, duration_s=0.5, audio_fs=8000.0, dt_ms=4.0,
                             n_neurons=4, neuron_kinds="mixed", mean_rate_hz=80.0, random_state=0)
RESULTS = {}
RESULTS_TOLERANCE = {"same_threads_identical": {"abs": 0}}
for run, threads in (("first", 1), ("two_threads", 2), ("again", 1)):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    est = ICNetRegressor(audio_fs=8000.0, dt_ms=4.0, lr=5e-3, max_epochs=15, batch_size=8,
                         verbose=0, random_state=0, train_split=None, module__n_filters=16,
                         module__sincnet_kernel_size=32, module__encoder_channels=16,
                         module__encoder_kernel_size=8, module__n_encoder_layers=3,
                         module__bottleneck_channels=16).fit(data.X[:45], data.y[:45])
    pred = est.predict(data.X[45:])
    RESULTS[run] = {"threads": threads, "d2": est.score(data.X[45:], data.y[45:]),
                    "r": pearson_r(data.y[45:], pred), "fit_s": time.perf_counter() - t0}
    print(f"{threads} thread(s): D2 {RESULTS[run]['d2']:.6f}, r {RESULTS[run]['r']:.6f}, "
          f"{RESULTS[run]['fit_s']:.1f} s")
RESULTS["same_threads_identical"] = (RESULTS["first"]["d2"] == RESULTS["again"]["d2"]
                                     and RESULTS["first"]["r"] == RESULTS["again"]["r"])
RESULTS["thread_change"] = {m: abs(RESULTS["two_threads"][m] - RESULTS["first"][m])
                            for m in ("d2", "r")}
print(f"same thread count, same figures: {RESULTS['same_threads_identical']}; 1 -> 2 threads "
      f"moved D2 by {RESULTS['thread_change']['d2']:.4f} and r by {RESULTS['thread_change']['r']:.4f}")
