"""ICNet against linear STRF baselines on two kinds of simulated neurons.
======================================================================

Run:  python examples/compare_icnet_vs_strf.py [--out compare_icnet_vs_strf.png]

Six simulated neurons reading the same log-mel spectrogram as the STRFs: three
"linear" ones (exp of a linear spectro-temporal filter: the Poisson STRF is the
true model class) and three "on-off" ones (driven by the magnitude of band-power
changes, which no linear STRF can express).
Each model is 3-fold cross-validated over 150 trials of 16 kHz audio (0.5 s,
2 ms bins); each stimulus was presented 4 times, so CCnorm (Schoppe et al. 2016)
is computed against the repeat PSTH. Prints a per-kind table; saves a figure.
"""

import argparse
import time

import numpy as np
import torch

from sk_icnet import ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor, compare_models
from sk_icnet.compare import plot_neuron_scatter, plot_psth, plot_strf
from sk_icnet.simulate import make_auditory_dataset

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="compare_icnet_vs_strf.png")
args = parser.parse_args()
torch.set_num_threads(2)
start = time.perf_counter()

FS, DT = 16000.0, 2.0
data = make_auditory_dataset(n_trials=150, duration_s=0.5, audio_fs=FS, dt_ms=DT, n_neurons=6,
                             neuron_kinds="mixed", mean_rate_hz=80.0, n_repeats=4,
                             random_state=1)
strf_front_end = dict(audio_fs=FS, dt_ms=DT, lags_ms=30.0, **data.front_end)
models = {
    "ICNet": ICNetRegressor(
        audio_fs=FS, dt_ms=DT, lr=5e-3, batch_size=16, max_epochs=60, verbose=0,
        train_split=None, random_state=0, module__n_filters=16, module__sincnet_kernel_size=32,
        module__encoder_channels=24, module__encoder_kernel_size=8, module__n_encoder_layers=3,
        module__bottleneck_channels=16),
    "ridge STRF": LinearSTRFRegressor(**strf_front_end),
    "Poisson STRF": PoissonSTRFRegressor(**strf_front_end, alpha=1e-3),
}
result = compare_models(models, data.X, data.y, cv=3,
                        scoring=["d2_poisson", "pearson_r", "ccnorm"], y_repeats=data.y_repeats)

kinds = np.asarray(data.neuron_kinds)
scores = result.scores.assign(kind=kinds[result.scores.neuron])
table = (scores.groupby(["kind", "model", "neuron", "metric"])["value"].mean()
         .groupby(level=["kind", "model", "metric"]).mean().unstack("metric")
         [["d2_poisson", "pearson_r", "ccnorm"]])
print("Held-out (3-fold CV) scores, mean over the neurons of each kind:")
print(table.round(3).to_string())
# the figures the docs quote (docs/_results.py writes them to docs/results/)
RESULTS = {kind: {model.replace(" ", "_"): {m: float(table.loc[(kind, model), m])
                                            for m in ("d2_poisson", "pearson_r", "ccnorm")}
                  for model in models}
           for kind in ("linear", "onoff")}
print("\nSummary over all neurons:")
print(result.summary.round(3).to_string(index=False))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig = plt.figure(figsize=(11, 7), layout="constrained")
grid = fig.add_gridspec(2, 3)
plot_neuron_scatter(result.scores, "Poisson STRF", "ICNet", "d2_poisson",
                    ax=fig.add_subplot(grid[0, 0]), hue=kinds)
plot_neuron_scatter(result.scores, "ridge STRF", "ICNet", "pearson_r",
                    ax=fig.add_subplot(grid[0, 1]), hue=kinds)
strf = LinearSTRFRegressor(**strf_front_end).fit(data.X, data.y)
ax = plot_strf(strf, neuron=0, ax=fig.add_subplot(grid[0, 2]))
ax.set_title("ridge STRF, neuron 0 (linear)")
psth_ax = fig.add_subplot(grid[1, :2])
plot_psth(data.y, result.predictions, neuron=1, trial=0, dt_ms=DT, ax=psth_ax,
          y_repeats=data.y_repeats)
psth_ax.set_title("neuron 1 (on-off): repeat PSTH and out-of-fold predictions")
psth_ax.set_xlim(0, 250)
psth_ax2 = fig.add_subplot(grid[1, 2])
plot_psth(data.y, result.predictions, neuron=0, trial=0, dt_ms=DT, ax=psth_ax2,
          y_repeats=data.y_repeats)
psth_ax2.set_title("neuron 0 (linear)")
psth_ax2.set_xlim(0, 250)
psth_ax2.get_legend().remove()
fig.savefig(args.out, dpi=100)
RESULTS["total_s"] = round(time.perf_counter() - start, 1)
print(f"\nfigure saved to {args.out}; total time {RESULTS['total_s']:.0f} s")
