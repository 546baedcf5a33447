"""The authors' published ICNet in sk_icnet: neurogram, FRA, MTF, embedding, transfer
==================================================================================

Run:  python examples/published_icnet.py PATH [--out FIGURE.png] [--recording animal_1]

``PATH`` is the release folder of the authors' model (``DNN/`` of fotisdr/ICNet, or
its Zenodo archive, doi 10.5281/zenodo.11842064: ``model_weights.hdf5``,
``config.yaml``, ``channel_CFs.mat``), obtained under its licence (UCL Academic
Licence, non-commercial research). sk_icnet never ships or downloads it. Any folder
in that layout works, e.g. a small random-weight stand-in made by the test suite.

1. The file's graph, as read (:func:`sk_icnet.describe_keras`).
2. A neurogram of a synthetic vowel sequence (a harmonic complex with moving
   formants at 65 dB SPL), one row per reliable unit, sorted by CF.
3. A frequency response area and a modulation transfer function for a few units
   (:mod:`sk_icnet.insilico`, with ``recording=`` and ``time_s=``).
4. ``embed`` as a front end: the ``cropped_output`` bottleneck of any sound.
5. Transfer: the frozen encoder with a new decoder fitted to a few simulated
   neurons of "your own" (:func:`sk_icnet.transfer_params` with ``mode="frozen"``).
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from sk_icnet import (  # noqa: E402
    ICNetRegressor,
    describe_keras,
    insilico,
    load_published_icnet,
    transfer_params,
)
from sk_icnet.metrics import d2_poisson_score  # noqa: E402
from sk_icnet.simulate import make_stimuli, make_tuned_neurons  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("path", help="the release folder (or its model_weights.hdf5)")
parser.add_argument("--out", default="published_icnet.png", help="where to write the figure")
parser.add_argument("--recording", default="animal_1", help="which animal's decoder")
parser.add_argument("--time-s", type=float, default=7200.0,
                    help="recording time (s) of the first bin, the authors' time_input")
args = parser.parse_args()
torch.set_num_threads(2)
start = time.perf_counter()

# 1. the graph, then the fitted estimator
print(describe_keras(args.path)[["layer", "class", "config", "weights"]].to_string(max_colwidth=60))
est = load_published_icnet(args.path)
fs, dt_s = est.audio_fs_, est.dt_ms_ / 1000.0
where = dict(recording=args.recording, time_s=args.time_s)
neurons = est.neurons_[args.recording]
print(f"\n{len(est.recording_names_)} decoders {est.recording_names_}; {args.recording}: "
      f"{len(neurons)} units, {int(neurons.reliable.sum())} with a CF; audio {fs:g} Hz, "
      f"bins {est.dt_ms_:g} ms")

# 2. neurogram of a vowel sequence, units sorted by CF
n = int(1.2 * fs) // est.samples_per_bin_ * est.samples_per_bin_
t = np.arange(n) / fs
f0 = 120 + 30 * np.sin(2 * np.pi * 1.5 * t)
phase = 2 * np.pi * np.cumsum(f0) / fs
formants = [(700 + 400 * np.sin(2 * np.pi * 0.8 * t)), (1200 + 800 * np.cos(2 * np.pi * 0.6 * t))]
vowel = sum(np.sin(h * phase) * sum(np.exp(-0.5 * ((h * f0 - f) / 150) ** 2) for f in formants)
            for h in range(1, 40) if h * 120 < fs / 2.5)
vowel *= np.minimum(1, np.minimum(t, t[::-1]) / 0.02)
vowel = (vowel / np.sqrt(np.mean(vowel**2)) * 20e-6 * 10 ** (65 / 20)).astype(np.float32)
rates = est.predict(vowel[None], **where)[0]  # (units, bins), expected counts per bin
order = neurons[neurons.reliable].sort_values("cf_hz")
neurogram = rates[order.unit.to_numpy()] / dt_s

# 3. FRA and MTF of a few units
few = order.unit.to_numpy()[np.linspace(0, len(order) - 1, min(3, len(order))).astype(int)]
top = min(0.4 * fs, 16000.0)
fra = insilico.frequency_response_area(est, frequencies=np.geomspace(250, top, 17),
                                       levels=np.arange(0, 91, 10), predict_params=where)
mtf = insilico.modulation_transfer(est, modulation_frequencies=[4, 8, 16, 32, 64, 128, 256],
                                   carrier="noise", level_db=60.0, predict_params=where)
print("\nFRA of a few units (model CF vs the release's CF):")
summary = fra.summary.set_index("neuron")
for u in few:
    print(f"  unit {u}: release CF {neurons.cf_hz[u]:8.0f} Hz, in silico CF "
          f"{summary.loc[u, 'cf_hz']:8.0f} Hz, threshold {summary.loc[u, 'threshold_db']:5.1f} dB SPL")

# 4. embed: the shared bottleneck as features
stimuli = make_stimuli(12, 0.5, fs, random_state=0)
X = stimuli.X if hasattr(stimuli, "X") else stimuli
X = X[:, : X.shape[1] // est.samples_per_bin_ * est.samples_per_bin_].astype(np.float32)
latents = est.embed(X)
print(f"\nembed: {X.shape} sound -> {latents.shape} (trials, bottleneck channels, bins)")

# 5. transfer the frozen encoder to a few neurons of your own
own = make_tuned_neurons(4, audio_fs=fs, dt_ms=est.dt_ms_, random_state=1)
y = own.sample(X, random_state=0).astype(np.float32)
params = transfer_params(est, duration_s=8 * X.shape[1] / fs, mode="frozen")
params.update(max_epochs=20, batch_size=4, train_split=None, verbose=0, random_state=0)
new = ICNetRegressor(**params).fit(X[:8], y[:8])
print(f"transfer: new decoder for {y.shape[1]} neurons on 8 trials; held-out Poisson D2 "
      f"{d2_poisson_score(y[8:], new.predict(X[8:])):.3f} (true rates: "
      f"{d2_poisson_score(y[8:], own.predict(X[8:])):.3f})")

fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
ax = axes[0, 0]
ax.imshow(neurogram, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
          extent=[0, n / fs, 0, len(order)])
ticks = np.linspace(0, len(order) - 1, 5).astype(int)
ax.set_yticks(ticks + 0.5, [f"{order.cf_hz.iloc[i]:.0f}" for i in ticks])
ax.set(xlabel="time (s)", ylabel="unit CF (Hz)", title=f"neurogram, {args.recording}")
insilico.plot_fra(fra, few[0], ax=axes[0, 1])
insilico.plot_mtf({"published ICNet": mtf}, few[0], ax=axes[1, 0])
axes[1, 1].imshow(latents[0], aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
axes[1, 1].set(xlabel="bin", ylabel="bottleneck channel", title="embed (cropped_output)")
fig.savefig(args.out, dpi=110)
print(f"\nfigure: {args.out}; {time.perf_counter() - start:.0f} s in all")
