"""What did the model learn, and is it really better? Receptive fields, optimal sounds, statistics.
===================================================================================================

Run:  python examples/interpret.py [--out interpret.png]     (about 2 minutes on 2 CPU cores)

Six simulated neurons (:func:`sk_icnet.simulate.make_auditory_dataset`, 8 kHz
audio, 4 ms bins): three "linear" ones (exp of a linear STRF) and three
"on-off" ones (square of a differentiated band power). A CPU-sized ICNet and a
ridge STRF are 3-fold cross-validated with :func:`sk_icnet.compare`, and
:func:`sk_icnet.compare.paired_statistics` says, per neuron and across neurons,
whether the difference survives a paired bootstrap over trials and a Wilcoxon
test. Then ICNet is fitted once more on all trials and looked into
(:mod:`sk_icnet.insilico`): its gradient STRF next to the ridge STRF's
coefficients, the principal components of its dynamic STRFs with the
nonlinearity index of each neuron, and the sound that most drives one neuron.
"""

import argparse
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from sk_icnet import ICNetRegressor, LinearSTRFRegressor, compare_models, insilico  # noqa: E402
from sk_icnet.compare import paired_statistics, plot_paired  # noqa: E402
from sk_icnet.insilico import ReceptiveField, dynamic_strf, optimal_sound, plot_strf  # noqa: E402
from sk_icnet.simulate import make_auditory_dataset  # noqa: E402
from sk_icnet.spectral import log_mel_spectrogram  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="interpret.png", help="where to write the figure")
args = parser.parse_args()
torch.set_num_threads(2)
start = time.perf_counter()

FS, DT = 8000.0, 4.0
data = make_auditory_dataset(n_trials=80, duration_s=1.0, audio_fs=FS, dt_ms=DT, n_neurons=6,
                             neuron_kinds="mixed", mean_rate_hz=80.0, random_state=0)
FRONT = dict(n_bands=16, fmin=200.0, win_ms=16.0)  # the STRF's and the dSTRF's front end


def icnet():
    return ICNetRegressor(audio_fs=FS, dt_ms=DT, lr=5e-3, batch_size=16, max_epochs=25, verbose=0,
                          train_split=None, random_state=0, module__n_filters=16,
                          module__sincnet_kernel_size=32, module__encoder_channels=24,
                          module__encoder_kernel_size=8, module__n_encoder_layers=3,
                          module__bottleneck_channels=16)


models = {"ICNet": icnet(), "ridge STRF": LinearSTRFRegressor(FS, DT, lags_ms=40.0, **FRONT)}
result = compare_models(models, data.X, data.y, cv=3, scoring=["pearson_r", "d2_poisson"], verbose=0)
stats = paired_statistics(result, n_bootstrap=1000)
kinds = np.asarray(data.neuron_kinds)
print("Per neuron, Pearson r on held-out trials, ICNet - ridge STRF with its 95 % bootstrap CI:")
per = stats.per_neuron.query("metric == 'pearson_r'").assign(kind=kinds[np.arange(6)])
print(per[["neuron", "kind", "value_a", "value_b", "difference", "ci_low", "ci_high"]]
      .round(3).to_string(index=False))
print("\nAcross neurons (Wilcoxon signed-rank, Holm over pairs):")
print(stats.pairs[["metric", "model_a", "model_b", "n_neurons", "median_difference", "p_value",
                   "p_holm", "n_a_better", "n_b_better"]].round(4).to_string(index=False))

fitted = icnet().fit(data.X, data.y)
strf = LinearSTRFRegressor(FS, DT, lags_ms=40.0, **FRONT).fit(data.X, data.y)
t0 = time.perf_counter()
dyn = dynamic_strf(fitted, data.X[:4], like=strf, step=2)
dstrf_s = time.perf_counter() - t0
print(f"\ndSTRFs of {dyn.dstrf.shape[0]} trials x {dyn.dstrf.shape[1]} bins x 6 neurons in "
      f"{dstrf_s:.1f} s")
# two independent views of each neuron's best frequency: the peak band of the gradient STRF
# and the characteristic frequency of an in-silico tone experiment; the STRF's peak band and
# the simulated neuron's own tuning centre for reference
with warnings.catch_warnings():  # the simulator's own 32-band front end, as it uses it
    warnings.simplefilter("ignore", UserWarning)
    _, centres = log_mel_spectrogram(data.X[:1], FS, DT, **data.front_end)
true_best = np.interp(data.best_band, np.arange(centres.size), centres)
fra = insilico.frequency_response_area(fitted, frequencies=np.geomspace(200, 3800, 30),
                                       levels=range(0, 91, 10))
peak = dyn.band_frequencies_hz[np.abs(dyn.mean.values).max(axis=2).argmax(axis=1)]
strf_peak = strf.band_frequencies_hz_[np.abs(strf.coef_).max(axis=2).argmax(axis=1)]
print("neuron kind     NLI   gain CV  explained  | best Hz: true  STRF  ICNet dSTRF  ICNet FRA CF")
for j in range(6):
    print(f"{j:>6} {kinds[j]:<7} {dyn.nonlinearity_index[j]:.3f} {dyn.gain_cv[j]:7.2f}  "
          f"{np.nanmean(dyn.explained[..., j]):.2f}       |        {true_best[j]:5.0f} "
          f"{strf_peak[j]:5.0f} {peak[j]:11.0f} {fra.summary.cf_hz[j]:13.0f}")

sound = optimal_sound(fitted, neuron=0, duration_ms=200.0, level_db=60.0, band_hz=(100.0, 3900.0),
                      n_steps=150, lr=0.05, latency_ms=8.0, random_state=0)
freqs = np.fft.rfftfreq(sound.sound.size, 1 / FS)
power = np.abs(np.fft.rfft(sound.sound)) ** 2
print(f"\noptimal sound of neuron 0 (its tuning curve is centred on {true_best[0]:.0f} Hz): rate "
      f"{sound.objective[0]:.1f} -> {sound.objective[-1]:.1f} spikes/s, spectral peak "
      f"{freqs[np.argmax(power)]:.0f} Hz")

# the figures the docs quote (docs/_results.py writes them to docs/results/)
linear, onoff = kinds == "linear", kinds == "onoff"


def per_neuron(values):
    return {f"n{j}": float(v) for j, v in enumerate(values)}


RESULTS = {
    "pearson_r": {col: per_neuron(per[col]) for col in ("value_a", "value_b", "difference",
                                                        "ci_low", "ci_high")},
    "icnet_r": {"min": float(per.value_a.min()), "max": float(per.value_a.max())},
    "pairs": {row.metric: {col: float(getattr(row, col)) for col in
                           ("median_difference", "p_value", "p_holm", "n_a_better", "n_b_better")}
              for row in stats.pairs.itertuples()},
    "nli": {**per_neuron(dyn.nonlinearity_index),
            "linear_min": float(dyn.nonlinearity_index[linear].min()),
            "linear_max": float(dyn.nonlinearity_index[linear].max()),
            "onoff_min": float(dyn.nonlinearity_index[onoff].min()),
            "onoff_max": float(dyn.nonlinearity_index[onoff].max())},
    "gain_cv": {**per_neuron(dyn.gain_cv), "min": float(np.min(dyn.gain_cv)),
                "max": float(np.max(dyn.gain_cv))},
    "explained": {"min": float(np.nanmin([np.nanmean(dyn.explained[..., j]) for j in range(6)])),
                  "max": float(np.nanmax([np.nanmean(dyn.explained[..., j]) for j in range(6)]))},
    "best_hz": {"true": per_neuron(true_best), "strf": per_neuron(strf_peak),
                "dstrf": per_neuron(peak), "fra_cf": per_neuron(fra.summary.cf_hz)},
    "strf_within_015_octave": int(np.sum(np.abs(np.log2(strf_peak / true_best)) <= 0.15)),
    "optimal": {"rate_start": float(sound.objective[0]), "rate_end": float(sound.objective[-1]),
                "peak_hz": float(freqs[np.argmax(power)])},
    "dstrf_s": round(dstrf_s, 1),
}

fig, axes = plt.subplots(3, 4, figsize=(15, 10), constrained_layout=True)
for row, j in enumerate((0, 1)):  # neuron 0 is linear, neuron 1 on-off
    plot_strf(strf, neuron=j, ax=axes[row, 0], title=f"neuron {j} ({kinds[j]}): ridge STRF")
    plot_strf(dyn, neuron=j, ax=axes[row, 1],
              title=f"ICNet gradient STRF (NLI {dyn.nonlinearity_index[j]:.2f})")
    for c in range(2):
        rf = ReceptiveField(dyn.components[:, c], dyn.band_frequencies_hz, dyn.lags_ms, "")
        plot_strf(rf, neuron=j, ax=axes[row, 2 + c],
                  title=f"dSTRF PC {c + 1}: {100 * dyn.explained_variance_ratio[j, c]:.0f} %")
plot_paired(stats, "ridge STRF", "ICNet", "pearson_r", ax=axes[2, 0])
ax = axes[2, 1]
ax.bar(np.arange(6), dyn.nonlinearity_index, color=["C0" if k == "linear" else "C3" for k in kinds])
ax.set_xticks(np.arange(6), [f"{j}\n{k}" for j, k in enumerate(kinds)])
ax.set_ylabel("nonlinearity index (1 - PC 1)")
ax.set_title("ICNet dSTRFs per neuron", fontsize="medium")
axes[2, 2].plot(sound.objective)
axes[2, 2].set_xlabel("step")
axes[2, 2].set_ylabel("neuron 0 mean rate (spikes/s)")
axes[2, 2].set_title("optimal sound: gradient ascent", fontsize="medium")
for x, label in ((sound.initial, "initial noise"), (sound.sound, "optimised")):
    p = np.abs(np.fft.rfft(x)) ** 2
    axes[2, 3].semilogx(freqs[1:], 10 * np.log10(p[1:] / p.max() + 1e-12), lw=0.8, label=label)
axes[2, 3].set_xlabel("frequency (Hz)")
axes[2, 3].set_ylabel("power (dB re max)")
axes[2, 3].legend(frameon=False, fontsize="small")
fig.savefig(args.out, dpi=110)
RESULTS["total_s"] = round(time.perf_counter() - start, 1)
print(f"\nwrote {args.out}; total {RESULTS['total_s']:.0f} s")
