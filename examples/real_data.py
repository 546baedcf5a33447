"""From an NWB file and WAV stimuli to a shared, reloadable model.
===============================================================

What a lab with real data does, end to end, on a file this script makes itself:

1. a 44.1 kHz WAV of sound (synthesised here) and an NWB session whose trials
   table says which WAV played when and at what level, and whose Units table
   holds the spike times (simulated here from known neurons);
2. ``read_nwb`` -> a Recording at ICNet's rate, calibrated in pascals;
3. windows, a small ICNet fitted on 80 % of them, the STRF baselines beside it;
4. the model shared as one safetensors file, reloaded without data, predicting.

    python examples/real_data.py            # about 1 minute on 2 CPU cores

The files go to a temporary folder (printed) that is removed when the script ends.
"""

import datetime
import os
import tempfile
import time

import numpy as np

from sk_icnet import ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor, WindowDataset
from sk_icnet.io import read_nwb
from sk_icnet.metrics import d2_poisson_score
from sk_icnet.simulate import make_auditory_dataset

FS, DT = 16000.0, 2.0  # the model's rates here (32 samples per bin); the WAVs are at 44.1 kHz
SMALL = dict(module__n_filters=16, module__sincnet_kernel_size=32, module__encoder_channels=24,
             module__encoder_kernel_size=16, module__n_encoder_layers=3,
             module__bottleneck_channels=16)
RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)
KEYS = {"ICNet": "icnet", "LinearSTRFRegressor": "ridge_strf", "PoissonSTRFRegressor": "poisson_strf"}


def make_session(folder, n_trials=40, trial_s=1.0):
    """WAV files and an NWB session: simulated neurons hear 40 back-to-back 1 s sounds."""
    import pynwb
    import soundfile as sf

    from sk_icnet.audio import level_db_spl, resample

    wav_fs = 44100
    sim = make_auditory_dataset(n_trials=1, duration_s=n_trials * trial_s, audio_fs=FS, dt_ms=DT,
                                n_neurons=4, neuron_kinds="mixed", random_state=0)
    nwb = pynwb.NWBFile(session_description="simulated IC recording", identifier="gerbil1",
                        session_start_time=datetime.datetime(2026, 1, 1,
                                                             tzinfo=datetime.timezone.utc))
    nwb.add_trial_column("sound_file", "WAV played at the trial's start")
    nwb.add_trial_column("level_db_spl", "presentation level")
    seg = int(trial_s * FS)
    for i in range(n_trials):
        x = sim.X[0, i * seg: (i + 1) * seg]  # pascals, as the neurons heard it
        wav = resample(x, FS, wav_fs)
        name = f"stim{i:02d}.wav"
        sf.write(os.path.join(folder, name), 0.5 * wav / np.abs(wav).max(), wav_fs)  # full scale
        nwb.add_trial(start_time=i * trial_s, stop_time=(i + 1) * trial_s, sound_file=name,
                      level_db_spl=level_db_spl(x))
    nwb.add_unit_column("kind", "simulated neuron kind")
    rng = np.random.default_rng(2)
    for counts, kind in zip(sim.y[0], sim.neuron_kinds, strict=True):
        bins = np.repeat(np.arange(len(counts)), counts.astype(int))
        nwb.add_unit(spike_times=(bins + rng.uniform(0.01, 0.99, len(bins))) * DT / 1000.0,
                     kind=str(kind))
    path = os.path.join(folder, "gerbil1.nwb")
    with pynwb.NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    return path


def main():
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sk_icnet_real_data_") as folder:
        print(f"WAVs, NWB file and model file in {folder} (removed when the script ends)")
        run(folder)
    RESULTS["total_s"] = round(time.perf_counter() - start, 1)
    print(f"total time {RESULTS['total_s']:.0f} s")


def run(folder):
    rec = read_nwb(make_session(folder), audio_fs=FS, dt_ms=DT)
    print(rec, "\n", rec.neurons.to_string())
    windows = WindowDataset(rec, window_samples=4096, context_samples=1024).materialize(
        mask_context=False)
    n_train = int(0.8 * len(windows.X))
    X, y, X_test, y_test = (windows.X[:n_train], windows.y[:n_train], windows.X[n_train:],
                            windows.y[n_train:])
    ctx = windows.context_bins
    scores = {}
    icnet = ICNetRegressor(lr=3e-3, batch_size=16, max_epochs=40, skip_bins=ctx, random_state=0,
                           verbose=0, audio_fs=FS, dt_ms=DT, **SMALL).fit(X, y)
    scores["ICNet"] = icnet.score(X_test, y_test)
    y_scored = y_test.copy()
    y_scored[..., :ctx] = np.nan
    for cls in (LinearSTRFRegressor, PoissonSTRFRegressor):
        strf = cls(audio_fs=FS, dt_ms=DT).fit(X, y)
        scores[cls.__name__] = d2_poisson_score(y_scored, np.maximum(strf.predict(X_test), 1e-8))
    for model, d2 in scores.items():
        print(f"held-out D² {model:22s} {d2:.3f}")
        RESULTS[KEYS[model]] = {"d2": float(d2)}
    path = os.path.join(folder, "gerbil1_icnet.safetensors")
    icnet.save_model(path)
    shared = ICNetRegressor.load_model(path)  # what a colleague does: no data, no pickle
    same = np.allclose(shared.predict(X_test), icnet.predict(X_test))
    RESULTS["reloaded_predictions_equal"] = bool(same)
    print(f"saved {os.path.getsize(path) / 1e3:.0f} kB to {path}; reloaded predictions equal: {same}")


if __name__ == "__main__":
    main()
