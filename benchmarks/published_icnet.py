"""Load time, peak memory and predict throughput of a paper-size published ICNet.

Writes a random-weight file in the Keras layout of the authors' release (48 SincNet
filters of 65 taps, five stride-2 encoder blocks of 128 channels with 64-tap kernels,
a 64-channel bottleneck, 2,048 samples of context, 9 decoders of 512 units x 5
classes, ``same`` padding everywhere, a PReLU time layer per decoder), loads it with
:func:`sk_icnet.load_published_icnet` and predicts one decoder's expected counts on
``--seconds`` of noise, against sk_icnet's own paper configuration (causal ICNet)
on the same sound. Run from a checkout (it borrows the test suite's file writer)::

    python benchmarks/published_icnet.py --seconds 60

No TensorFlow and no real weights are involved: the file holds random numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from tests._keras_fixtures import keras_icnet, write_release  # noqa: E402

from sk_icnet import ICNetRegressor, load_published_icnet  # noqa: E402
from sk_icnet._core.timebase import Timebase  # noqa: E402
from sk_icnet.icnet import cpu_supports_bf16  # noqa: E402

FS = 24414.0625


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _throughput(est, sound, precision, **kwargs):
    est.set_params(precision=precision)
    est.predict(sound[:, : 32 * 256], **kwargs)  # warm-up
    start = time.perf_counter()
    out = est.predict(sound, **kwargs)
    elapsed = time.perf_counter() - start
    assert np.isfinite(out).all()
    return sound.shape[1] / FS / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="sound to predict (s)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = keras_icnet(np.random.default_rng(0), n_filters=48, sinc_kernel=64, channels=128,
                            kernel=64, strides=(2, 2, 2, 2, 2), bottleneck=64, n_decoders=9,
                            units=512, n_classes=5, padding="same", context=2048, fs=FS)
        model["weights"] = {k: [(p, a * np.float32(0.1)) for p, a in v]
                            for k, v in model["weights"].items()}
        folder = write_release(os.path.join(tmp, "DNN"), model)
        size_mb = os.path.getsize(os.path.join(folder, "model_weights.hdf5")) / 1e6
        rss0 = _rss_mb()
        start = time.perf_counter()
        est = load_published_icnet(folder)
        first_s = time.perf_counter() - start  # with the first import of h5py, yaml, scipy.io
        rss1 = _rss_mb()
        start = time.perf_counter()
        est = load_published_icnet(folder)
        load_s = time.perf_counter() - start
    n_params = sum(p.numel() for p in est.module_.parameters())
    rng = np.random.default_rng(1)
    n = int(args.seconds * FS) // 32 * 32
    sound = (rng.standard_normal((1, n)) * 0.02).astype(np.float32)  # ~60 dB SPL noise
    own = ICNetRegressor(audio_fs=FS, dt_ms=1.31072, head="categorical", verbose=0)
    own.timebase_ = Timebase(FS, 1.31072)
    own.n_neurons_, own.neurons_per_recording_, own.recording_names_ = 512, [512], None
    own.y_ndim_, own.n_features_in_ = 3, 32
    own.initialize()
    bf16 = cpu_supports_bf16()
    print(f"machine: {os.cpu_count()} CPUs, {args.threads} torch threads, native bf16: {bf16}")
    print(f"file: {size_mb:.1f} MB, {n_params:,} parameters")
    print(f"load_published_icnet: {load_s:.2f} s ({first_s:.2f} s the first time, imports "
          f"included), peak RSS {rss1:.0f} MB (+{rss1 - rss0:.0f} MB during the first load)")
    rows = [("published (same padding)", est, dict(recording="animal_1", time_s=7200.0)),
            ("sk_icnet paper ICNet (causal)", own, {})]
    for name, model_est, kwargs in rows:
        for precision in ["float32"] + (["bfloat16"] if bf16 else []):
            rate = _throughput(model_est, sound, precision, **kwargs)
            print(f"{name:32s} {precision:9s} {rate:8.1f} s of audio per s "
                  f"({args.seconds:g} s of sound)")
    print(f"peak RSS after predicting: {_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
