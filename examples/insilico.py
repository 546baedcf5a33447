"""In-silico physiology: does a fitted ICNet reproduce the tuning of the neurons it was fitted to?
===============================================================================================

Run:  python examples/insilico.py [--out FIGURE.png]     (about 4 minutes on 2 CPU cores)

Six simulated inferior-colliculus neurons with known tuning (characteristic
frequency, threshold, Q10, dynamic range, forward suppression with a known
time constant; :class:`sk_icnet.simulate.TunedNeurons`) respond to 6 minutes
of sound: random mixtures of tone pips, noise bursts and harmonic complexes,
and isolated tone pips, at levels from near silence to 90 dB SPL. A CPU-sized
ICNet is fitted to their Poisson spike counts. Then the classic experiments of
:mod:`sk_icnet.insilico` (frequency response areas, rate-level functions,
modulation transfer functions, forward masking) are run on the fitted ICNet
and on the true neurons, and the recovered parameters are compared.
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from sk_icnet import ICNetRegressor, insilico  # noqa: E402
from sk_icnet.metrics import d2_poisson_score  # noqa: E402
from sk_icnet.simulate import make_stimuli, make_tuned_neurons  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="insilico.png", help="where to write the figure")
args = parser.parse_args()
torch.set_num_threads(2)
start = time.perf_counter()

AUDIO_FS, DT_MS = 16000.0, 2.0
# random thresholds, Q10s, rates and time constants; CFs spread over 2.5 octaves
neurons = make_tuned_neurons(6, audio_fs=AUDIO_FS, dt_ms=DT_MS, forward_suppression=True,
                             random_state=0)
neurons.set_params(cf_hz=np.round(np.geomspace(1000.0, 4500.0, 6)))
rng = np.random.RandomState(0)


def tone_pips(n_trials, duration_s):
    """Isolated 50 ms tone pips at random frequencies (log-uniform) and levels (0-90 dB SPL)."""
    n = int(duration_s * AUDIO_FS)
    X = np.zeros((n_trials, n), dtype=np.float32)
    t = np.arange(int(0.05 * AUDIO_FS)) / AUDIO_FS
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    for trial in X:
        for on in np.arange(0.05, duration_s - 0.1, 0.15):
            f, level = np.exp(rng.uniform(np.log(300), np.log(7000))), rng.uniform(0, 90)
            i = int((on + rng.uniform(0, 0.05)) * AUDIO_FS)
            trial[i: i + t.size] = np.sqrt(2) * 20e-6 * 10 ** (level / 20) * ramp * np.sin(
                2 * np.pi * f * t)
    return X


# 6 minutes of sound: 150 s of mixtures at random overall levels (-50 to +5 dB re make_stimuli),
# 210 s of isolated tone pips
mixtures = make_stimuli(150, 1.0, AUDIO_FS, random_state=0)
mixtures *= (10 ** (rng.uniform(-50, 5, (150, 1)) / 20)).astype(np.float32)
X = np.concatenate([mixtures, tone_pips(210, 1.0)])
y = neurons.sample(X, random_state=0).astype(np.float32)
order = rng.permutation(len(X))
X, y = X[order], y[order]
n_test = 36
print(f"training sound: {len(X) - n_test} s; {neurons.tuning_.shape[0]} neurons, "
      f"{y.mean() / DT_MS * 1000:.0f} spikes/s on average")

est = ICNetRegressor(
    audio_fs=AUDIO_FS, dt_ms=DT_MS, lr=1e-2, batch_size=16, max_epochs=40, random_state=0,
    verbose=0, module__n_filters=32, module__sincnet_kernel_size=64, module__encoder_channels=32,
    module__encoder_kernel_size=16, module__n_encoder_layers=3, module__bottleneck_channels=16,
)
est.fit(X[n_test:], y[n_test:])
ceiling = d2_poisson_score(y[:n_test], neurons.predict(X[:n_test]))
RESULTS = {"training_s": len(X) - n_test, "d2": {"icnet": est.score(X[:n_test], y[:n_test]),
                                                 "truth": ceiling}}  # the figures the docs quote
print(f"ICNet fitted in {time.perf_counter() - start:.0f} s; held-out D2 "
      f"{RESULTS['d2']['icnet']:.3f} (true rates: {ceiling:.3f})")

models = {"true neuron": neurons, "ICNet": est}
cf_true = neurons.tuning_.cf_hz.to_numpy()
results = {}
for name, model in models.items():
    results[name] = dict(
        # levels up to 80 dB SPL: louder tones are rare in the training sound, and a model fitted
        # to them extrapolates there
        fra=insilico.frequency_response_area(model, levels=np.arange(0, 81, 5)),
        rl=insilico.rate_level(model, stimulus=cf_true, levels=np.arange(0, 81, 5)),
        mtf=insilico.modulation_transfer(model, carrier=cf_true, level_db=60.0),
        fm=insilico.forward_masking(model, masker=cf_true, probe=cf_true,
                                    gaps_ms=(4, 8, 16, 32, 64, 128, 256)),
    )

truth = neurons.tuning_
table = pd.DataFrame({
    "CF true": truth.cf_hz.round(0),
    "CF ICNet": results["ICNet"]["fra"].summary.cf_hz.round(0),
    "thr true": truth.threshold_db.round(1),
    "thr ICNet": results["ICNet"]["fra"].summary.threshold_db.round(1),
    "Q10 true": truth.q10.round(1),
    "Q10 ICNet": results["ICNet"]["fra"].summary.q10.round(1),
    "DR true": truth.dynamic_range_db.round(1),
    "DR ICNet": results["ICNet"]["rl"].summary.dynamic_range_db.round(1),
    "tau true": truth.suppression_tau_ms.round(0),
    "tau ICNet": results["ICNet"]["fm"].summary.tau_ms.round(0),
    "sBMF true": results["true neuron"]["mtf"].summary.sync_bmf_hz,
    "sBMF ICNet": results["ICNet"]["mtf"].summary.sync_bmf_hz,
})
print("\nRecovered parameters (CF Hz, threshold dB SPL, Q10, dynamic range dB, forward-masking "
      "tau ms, synchrony BMF Hz):")
print(table.to_string())
cf_err = np.abs(np.log2(table["CF ICNet"] / table["CF true"]))
thr_err = np.abs(table["thr ICNet"] - table["thr true"])
print(f"\nICNet vs truth: CF error median {cf_err.median():.2f} octave (max {cf_err.max():.2f}); "
      f"threshold error median {thr_err.median():.1f} dB (max {thr_err.max():.1f}); forward "
      f"masking fitted for {int(table['tau ICNet'].notna().sum())} of {len(table)} neurons")

dr_err = np.abs(table["DR ICNet"] - table["DR true"])
RESULTS["neurons"] = {f"n{j}": {col.replace(" ", "_"): (None if pd.isna(v) else float(v))
                                for col, v in row.items()}
                      for j, row in table.iterrows()}
RESULTS["errors"] = {"cf_octave_median": cf_err.median(), "cf_octave_max": cf_err.max(),
                     "threshold_db_median": thr_err.median(), "threshold_db_min": thr_err.min(),
                     "threshold_db_max": thr_err.max(),
                     "dr_within_10db": int((dr_err <= 10).sum()),
                     "sbmf_match": int((table["sBMF ICNet"] == table["sBMF true"]).sum()),
                     "tau_fitted": int(table["tau ICNet"].notna().sum())}

neuron = 0
fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
insilico.plot_fra(results["true neuron"]["fra"], neuron, ax=axes[0, 0])
axes[0, 0].set_title(f"true neuron {neuron}: frequency response area")
insilico.plot_fra(results["ICNet"]["fra"], neuron, ax=axes[0, 1])
axes[0, 1].set_title("fitted ICNet: frequency response area")
insilico.plot_rate_level({k: r["rl"] for k, r in results.items()}, neuron, ax=axes[0, 2])
axes[0, 2].set_title("rate-level function (tone at CF)")
insilico.plot_mtf({k: r["mtf"] for k, r in results.items()}, neuron, ax=axes[1, 0])
axes[1, 0].set_title("synchrony MTF (SAM tone at CF)")
insilico.plot_mtf({k: r["mtf"] for k, r in results.items()}, neuron, measure="rate_hz",
                  ax=axes[1, 1])
axes[1, 1].set_title("rate MTF")
insilico.plot_forward_masking({k: r["fm"] for k, r in results.items()}, neuron, ax=axes[1, 2])
axes[1, 2].set_title("forward masking (tones at CF)")
fig.savefig(args.out, dpi=110)
RESULTS["total_s"] = round(time.perf_counter() - start, 1)
print(f"\nfigure: {args.out}; total time {RESULTS['total_s']:.0f} s")
