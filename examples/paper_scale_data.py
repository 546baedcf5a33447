"""Several recordings on disk, one shared encoder, a decoder per recording.
========================================================================

Simulates three "animals" (different neuron counts; the same 60 s of 16 kHz
sound, in 5 s stimulus blocks, heard by all of them), saves each as a zarr store,
opens them lazily, and fits ICNet with routed decoders and the recording-time
input; then scores it with grouped cross-validation (the same stimulus never in
both training and test folds) and predicts one recording continuously.

    python examples/paper_scale_data.py          # 143-191 s measured on a 2-core CPU

The stores go to a temporary folder (printed) that is removed when the script ends.
"""

import os
import tempfile
import time

import numpy as np
from sklearn.model_selection import GroupKFold, cross_val_score

from sk_icnet import ICNetRegressor, Recording, WindowDataset
from sk_icnet.simulate import make_auditory_dataset

FS, DT = 16000.0, 2.0  # 32 samples per bin
RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)
SMALL = dict(module__n_filters=16, module__sincnet_kernel_size=32, module__encoder_channels=24,
             module__encoder_kernel_size=16, module__n_encoder_layers=3,
             module__bottleneck_channels=16)


def simulate(folder, seconds=60.0, block_s=5.0):
    """Three recordings of the same 60 s of sound (one seed draws the sound, then the
    neurons, so each animal hears it and has its own neurons); 5 s blocks are the stimuli."""
    paths = []
    for animal, n_neurons in enumerate((4, 6, 3)):
        sim = make_auditory_dataset(n_trials=1, duration_s=seconds, audio_fs=FS, dt_ms=DT,
                                    n_neurons=n_neurons, neuron_kinds="mixed", random_state=0)
        n_bins = sim.y.shape[2]
        blocks = (np.arange(n_bins) * DT / 1000 // block_s).astype(int)
        rec = Recording(sim.X[0], sim.y[0], audio_fs=FS, dt_ms=DT, name=f"animal{animal}",
                        start_s=3600.0 * animal, blocks=blocks)
        path = os.path.join(folder, f"animal{animal}.zarr")
        rec.save(path)
        paths.append(path)
    return paths


def main():
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sk_icnet_example_") as folder:
        print(f"zarr stores in {folder} (removed when the script ends)")
        run(folder)
    RESULTS["total_s"] = round(time.perf_counter() - start, 1)
    print(f"total time {RESULTS['total_s']:.0f} s")


def run(folder):
    paths = simulate(folder)
    ds = WindowDataset(paths, window_samples=2560, context_samples=512)  # 80-bin windows
    print(ds)
    print(ds.windows.groupby("recording").size().to_string())

    est = ICNetRegressor(lr=3e-3, batch_size=16, max_epochs=20, random_state=0, verbose=0,
                         module__time_input=True, module__time_scale_s=60.0, **SMALL)
    t0 = time.perf_counter()
    est.fit(ds)
    decoders = dict(zip(est.recording_names_, est.neurons_per_recording_, strict=True))
    fit_s = time.perf_counter() - t0
    print(f"fit: {fit_s:.0f} s, decoders {decoders}, audio_fs_={est.audio_fs_}")
    rec = Recording.open(paths[1])
    rates = est.predict(rec)
    d2_recording = est.score(rec)
    print(f"predict({rec.name}): {rates.shape} rates, D² on the recording {d2_recording:.3f}")

    t0 = time.perf_counter()
    cv = cross_val_score(ICNetRegressor(lr=3e-3, batch_size=16, max_epochs=20, random_state=0,
                                        verbose=0, **SMALL),
                         ds, groups=ds.groups, cv=GroupKFold(3))
    print(f"3-fold grouped CV (stimulus blocks): held-out D² {cv.round(3)}, mean {cv.mean():.3f} "
          f"({time.perf_counter() - t0:.0f} s)")
    RESULTS.update(fit_s=round(fit_s, 1), d2_recording=float(d2_recording),
                   cv={**{f"fold{k}_d2": float(v) for k, v in enumerate(cv)}, "mean_d2": float(cv.mean())},
                   cv_s=round(time.perf_counter() - t0, 1))


if __name__ == "__main__":
    main()
