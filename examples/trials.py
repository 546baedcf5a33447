"""Trial-based lab data: a folder of WAV files and a table of spike times, in one call.
====================================================================================

The most common auditory experiment: a set of sounds (WAV files at whatever rate the lab
uses, of different lengths), each played several times, and a table with one row per
spike (stimulus, repeat, neuron, time from the stimulus onset). This script first writes
such a data set, simulated from neurons with known tuning, then does what a lab does with
its own:

1. ``load_trials(folder, "spikes.csv", ...)`` -> padded waveforms ``X``, the mean response
   ``y`` (NaN on padding, which the losses and metrics leave out), ``y_repeats`` and a mask;
2. noise ceilings from the repeats;
3. ICNet against a linear STRF, cross-validated over stimuli, with CCnorm, next to the true
   rates of the simulated neurons.

    python examples/trials.py [--folder FOLDER]     # 207 s on a 2-core CPU shared with other jobs

The files go to FOLDER (default: ``sk_icnet_trials_example`` in the system's temporary
directory); the script prints where, replaces what an earlier run wrote there and leaves
the files for you to look at (delete the folder when done).
"""

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd
import soundfile
import torch
from sklearn.model_selection import KFold

from sk_icnet import ICNetRegressor, LinearSTRFRegressor, compare_models, load_trials
from sk_icnet.audio import level_db_spl, resample
from sk_icnet.metrics import d2_poisson_score, pearson_r, split_half_ceiling
from sk_icnet.simulate import make_stimuli, make_tuned_neurons

FS, DT = 16000.0, 2.0        # the model's rates (32 samples per bin)
PRE_S = POST_S = 0.05        # spikes were recorded from 50 ms before onset to 50 ms after the end
N_STIMULI, N_REPEATS = 24, 5
SMALL = dict(module__n_filters=16, module__sincnet_kernel_size=32, module__encoder_channels=24,
             module__encoder_kernel_size=16, module__n_encoder_layers=3,
             module__bottleneck_channels=16)


def write_experiment(folder, seed=0):
    """WAVs (16 and 44.1 kHz, 0.3-0.7 s, 16-bit full scale), protocol.csv (levels), spikes.csv.

    Returns the number of spikes and the true rates (known here, never in a lab) by stimulus.
    """
    rng = np.random.default_rng(seed)
    neurons = make_tuned_neurons(4, audio_fs=FS, dt_ms=DT, cf_range_hz=(500.0, 5000.0),
                                 random_state=seed)
    pre, post = int(PRE_S * FS), int(POST_S * FS)
    spikes, protocol, true_rates = [], [], {}
    for i in range(N_STIMULI):
        name = f"sound{i:02d}"
        x = make_stimuli(1, rng.uniform(0.3, 0.7), FS, random_state=seed + i)[0]  # pascals
        file_fs = 44100 if i % 2 else 16000
        wav = resample(x, FS, file_fs)
        soundfile.write(os.path.join(folder, name + ".wav"), 0.9 * wav / np.abs(wav).max(),
                        file_fs, subtype="PCM_16")
        protocol.append((name, round(level_db_spl(x), 2)))
        heard = np.concatenate([np.zeros(pre), x, np.zeros(post)])
        heard = heard[: heard.size // 32 * 32]
        rates = neurons.predict(heard[None])[0]                  # (neurons, bins), spikes per bin
        true_rates[name] = rates
        n_rep = 3 if i == 0 else N_REPEATS                       # one sound was played only 3 times
        for rep in range(1, n_rep + 1):
            counts = rng.poisson(rates)
            for j, k in zip(*np.nonzero(counts), strict=True):
                t = (k + rng.uniform(size=counts[j, k])) * DT / 1000.0 - PRE_S
                spikes.extend((name, rep, f"unit{j + 1}", round(float(s), 6)) for s in t)
    pd.DataFrame(protocol, columns=["stimulus", "level_db_spl"]).to_csv(
        os.path.join(folder, "protocol.csv"), index=False)
    table = pd.DataFrame(spikes, columns=["stimulus", "repeat", "neuron", "time"])
    table.to_csv(os.path.join(folder, "spikes.csv"), index=False)
    return len(table), true_rates


RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)
KEYS = {"ICNet": "icnet", "linear STRF": "strf", "true rates": "truth"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=os.path.join(tempfile.gettempdir(),
                                                         "sk_icnet_trials_example"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    folder = os.path.abspath(args.folder)
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # an earlier run's files: this script's names only
        if (name.startswith("sound") and name.endswith(".wav")) \
                or name in ("protocol.csv", "spikes.csv"):
            os.remove(os.path.join(folder, name))
    n_spikes, true_rates = write_experiment(folder)
    print(f"wrote {N_STIMULI} WAVs, protocol.csv and spikes.csv ({n_spikes} spikes) to {folder}")

    # -- what a lab does with its own folder and table
    levels = pd.read_csv(os.path.join(folder, "protocol.csv")).set_index("stimulus")
    data = load_trials(folder, os.path.join(folder, "spikes.csv"), audio_fs=FS, dt_ms=DT,
                       pre_s=PRE_S, post_s=POST_S,
                       level_db_spl=levels["level_db_spl"].to_dict())
    print(data)
    print(f"X {data.X.shape}, y {data.y.shape}, y_repeats {data.y_repeats.shape}; file rates "
          f"{sorted({int(fs) for fs in data.source_fs})} Hz; repeats per stimulus "
          f"{sorted({int(n) for n in data.n_repeats})}")

    complete = data.y_repeats[:, : data.n_repeats.min()]  # repeats every stimulus has
    ceiling = split_half_ceiling(complete, random_state=0)
    print(f"split_half_ceiling of the {complete.shape[1]} complete repeats (Pearson r, "
          f"Spearman-Brown): {ceiling:.3f}")
    RESULTS.update(n_spikes=n_spikes, n_trials=int(data.X.shape[0]), max_bins=int(data.y.shape[2]),
                   stimulus_bins=int(data.mask.sum()), padding_bins=int((~data.mask).sum()),
                   dropped=int(data.dropped[["before", "after"]].to_numpy().sum())
                   if len(data.dropped) else 0,
                   complete_repeats=int(complete.shape[1]), split_half_ceiling=ceiling)
    truth = np.zeros(data.y.shape)  # the simulated neurons' rates, on the trials' bins
    for i, name in enumerate(data.stimulus_names):
        n = min(true_rates[name].shape[1], truth.shape[2])
        truth[i, :, :n] = true_rates[name][:, :n]

    models = {
        "ICNet": ICNetRegressor(**data.rates, lr=5e-3, batch_size=8, max_epochs=30,
                                random_state=0, verbose=0, **SMALL),
        "linear STRF": LinearSTRFRegressor(**data.rates),
    }
    result = compare_models(models, data.X, data.y, cv=KFold(3, shuffle=True, random_state=0),
                            y_repeats=complete, scoring=["d2_poisson", "pearson_r", "ccnorm"])
    print("\nHeld-out stimuli (3-fold CV), mean over neurons:")
    print(result.summary[["model", "metric", "mean", "sem", "fit_time"]].round(3)
          .to_string(index=False))
    # out-of-fold predictions of every stimulus, scored on the real bins (NaN padding left out),
    # next to the true rates: the best any model can do on these repeats
    for name, pred in {**result.predictions, "true rates": truth}.items():
        d2, r = d2_poisson_score(data.y, pred), pearson_r(data.y, pred)
        print(f"{name:>12}: D2 {d2:.3f}, Pearson r {r:.3f} over all stimuli")
        RESULTS[KEYS[name]] = {"d2": d2, "r": r}
    for row in result.summary.itertuples():  # compare's summary: the mean of the folds
        RESULTS[KEYS[row.model]][f"fold_mean_{row.metric}"] = row.mean
    RESULTS["total_s"] = round(time.perf_counter() - start, 1)
    print(f"\nfiles kept in {folder}; total time {RESULTS['total_s']:.0f} s")


if __name__ == "__main__":
    main()
