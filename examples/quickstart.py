"""Quickstart: fit ICNet to simulated auditory neurons, score it, tune it.
=======================================================================

Run:  python examples/quickstart.py      (the time and the figures of the last run are in
docs/results/quickstart.json, written by ``python docs/_results.py run examples/quickstart.py``)

The data come from ``sk_icnet.simulate``: random sound mixtures (tone pips,
noise bursts, harmonic complexes) at 16 kHz and Poisson spike counts in 2 ms
bins from four simulated neurons with known ground truth.
"""

import time

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, train_test_split

from sk_icnet import ICNetRegressor
from sk_icnet.metrics import d2_poisson_score, pearson_r
from sk_icnet.simulate import make_auditory_dataset

torch.set_num_threads(2)
start = time.perf_counter()
RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)

AUDIO_FS, DT_MS = 16000.0, 2.0  # 32 audio samples per neural bin
data = make_auditory_dataset(n_trials=160, duration_s=0.5, audio_fs=AUDIO_FS, dt_ms=DT_MS,
                             n_neurons=4, neuron_kinds="mixed", mean_rate_hz=80.0,
                             random_state=0)
X_train, X_test, y_train, y_test, _, rates_test = train_test_split(
    data.X, data.y, data.rates, test_size=0.25, random_state=0)
print(f"X: {data.X.shape} waveforms at {AUDIO_FS:.0f} Hz; y: {data.y.shape} spike counts "
      f"in {DT_MS} ms bins ({', '.join(data.neuron_kinds)} neurons)")

# A CPU-sized ICNet: the paper's architecture with fewer and shorter filters.
est = ICNetRegressor(
    audio_fs=AUDIO_FS, dt_ms=DT_MS, lr=5e-3, batch_size=16, max_epochs=60, random_state=0,
    module__n_filters=16, module__sincnet_kernel_size=32, module__encoder_channels=24,
    module__encoder_kernel_size=16, module__n_encoder_layers=3, module__bottleneck_channels=16,
)
est.fit(X_train, y_train)
pred = est.predict(X_test)

constant = np.broadcast_to(np.nanmean(y_train, axis=(0, 2))[None, :, None], y_test.shape)
rows = [
    ("ICNet (fitted)", est.score(X_test, y_test), pearson_r(y_test, pred)),
    ("constant rate (train mean)", d2_poisson_score(y_test, constant), float("nan")),
    ("true rates (ceiling)", d2_poisson_score(y_test, rates_test), pearson_r(y_test, rates_test)),
]
print("\nHeld-out trials (40): Poisson D2 and Pearson r, averaged over neurons")
print(f"{'model':<30}{'D2':>8}{'r':>8}")
for name, d2, r in rows:
    print(f"{name:<30}{d2:>8.3f}{r:>8.3f}")
for key, (_, d2, r) in zip(("icnet", "constant", "truth"), rows, strict=True):
    RESULTS[key] = {"d2": d2, "r": r}
RESULTS["fit_s"] = round(time.perf_counter() - start, 1)

# Grid search over two hyperparameters, scored by held-out D2 (the estimator's score).
search = GridSearchCV(
    ICNetRegressor(audio_fs=AUDIO_FS, dt_ms=DT_MS, batch_size=16, max_epochs=15, verbose=0,
                   random_state=0, module__n_filters=16, module__sincnet_kernel_size=32,
                   module__encoder_kernel_size=16, module__n_encoder_layers=3,
                   module__bottleneck_channels=16),
    {"lr": [1e-2, 3e-3], "module__encoder_channels": [8, 24]}, cv=2, n_jobs=1,
    verbose=2,  # one line per fit, with its time, as compare prints one per model and fold
)
print("\nGridSearchCV: 4 settings x 2 folds = 8 fits of 15 epochs, then a refit of the best")
search.fit(X_train, y_train)
print("\nGridSearchCV (2-fold, 15 epochs per fit): mean D2 per setting")
for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True):
    print(f"  lr={params['lr']:<7g} encoder_channels={params['module__encoder_channels']:<3d}"
          f"  D2={score:.3f}")
best_d2 = search.score(X_test, y_test)
print(f"best: {search.best_params_}; held-out D2 of the refit best model: {best_d2:.3f}")
RESULTS["search"] = {"best_lr": search.best_params_["lr"],
                     "best_channels": search.best_params_["module__encoder_channels"],
                     "best_d2": best_d2}
RESULTS["total_s"] = round(time.perf_counter() - start, 1)
print(f"\ntotal time: {RESULTS['total_s']:.0f} s")
