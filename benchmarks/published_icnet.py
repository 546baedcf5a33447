"""Load time, peak memory and predict throughput of a paper-size published ICNet.

Writes a random-weight file in the Keras layout of the authors' release (48 SincNet
filters of 65 taps, five stride-2 encoder blocks of 128 channels with 64-tap kernels,
a 64-channel bottleneck, 2,048 samples of context, 9 decoders of 512 units x 5
classes, ``same`` padding everywhere, a PReLU time layer per decoder), loads it with
:func:`sk_icnet.load_published_icnet` and predicts one decoder's expected counts on
``--seconds`` of noise, against sk_icnet's own paper configuration (causal ICNet)
on the same sound. Run from a checkout (it borrows the test suite's file writer)::

    python benchmarks/published_icnet.py --seconds 60 --threads 2
    python docs/_results.py run benchmarks/published_icnet.py --seconds 60 --threads 2

With ``--insilico``, it also times the five in-silico experiments of
:mod:`sk_icnet.insilico` with their default grids on all 4,608 units: once with
``predict_params={"recording": "all", ...}`` (every decoder on one encoder pass)
and as nine separate calls, one per animal, in the same run, and checks that
both give the same tables. ``--quick`` shrinks the grids (for development); ``--separate
k`` times only the first k animals one at a time (the speed-up over nine calls is then
extrapolated from them). With ``--insilico``, the machine's load (``os.getloadavg``) is
recorded before and after each stage::

    python docs/_results.py run --name published_icnet_insilico benchmarks/published_icnet.py \
        --insilico --no-throughput --threads 2

The figures are left in ``RESULTS`` (``file``, ``load``, ``predict``, ``insilico``); the
results tool writes them to ``docs/results/<name>.json`` with the machine, the run's load and
the code that ran. Run alone, the script prints them.

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

from sk_icnet import ICNetRegressor, insilico, load_published_icnet  # noqa: E402
from sk_icnet._core.timebase import Timebase  # noqa: E402
from sk_icnet.icnet import cpu_supports_bf16  # noqa: E402
from tests.icnet._keras_fixtures import keras_icnet, write_release  # noqa: E402

FS = 24414.0625
#: the five experiments; their default grids, or (``--quick``) small ones
EXPERIMENTS = ("frequency_response_area", "rate_level", "modulation_transfer", "forward_masking",
               "dynamic_range_adaptation")
QUICK_GRIDS = {"frequency_response_area": dict(frequencies=np.geomspace(250.0, 8000.0, 11),
                                               levels=np.arange(0.0, 91.0, 15.0)),
               "rate_level": dict(levels=np.arange(0.0, 101.0, 20.0)),
               "modulation_transfer": dict(modulation_frequencies=[8.0, 32.0, 128.0]),
               "forward_masking": dict(gaps_ms=(2, 8, 32, 128)),
               "dynamic_range_adaptation": dict(n_segments=60, skip_segments=10)}
#: the recording time at which the published model is probed (s)
TIME_S = 7200.0
#: the figures the docs quote (``docs/_results.py`` writes them to ``docs/results/``)
RESULTS = {}
#: throughputs, speed-ups and load averages depend on the machine and its load: never compared
#: between runs (times and memory, ``*_s`` and ``*_mb``, are timings by default); counts exact
RESULTS_TOLERANCE = {"predict.*": "timing", "*speed_up*": "timing", "*.load.*": "timing",
                     "file.parameters": {"abs": 0}, "*changed": {"abs": 0},
                     "*nan_mismatch": {"abs": 0}, "*.units": {"abs": 0}}


def _load():
    """The 1-minute load average (``os.getloadavg``), rounded."""
    return round(os.getloadavg()[0], 2)


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


def _battery(est, recording, grids):
    """Run the five experiments with ``predict_params={"recording": recording}``: seconds
    per experiment and the summaries."""
    seconds, summaries = {}, {}
    for name in EXPERIMENTS:
        start = time.perf_counter()
        result = getattr(insilico, name)(est, predict_params={"recording": recording,
                                                              "time_s": TIME_S},
                                         **grids.get(name, {}))
        seconds[name] = time.perf_counter() - start
        summaries[name] = result.summary
    return seconds, summaries


def _compare(one, other, columns):
    """Largest differences between two summaries of the same units (rows by recording, unit)."""
    keys = [c for c in ("recording", "unit", "mean_db") if c in one]
    a = one.sort_values(keys, ignore_index=True)
    b = other.sort_values(keys, ignore_index=True)
    out = {}
    for c in columns:
        x, y = a[c].to_numpy(float), b[c].to_numpy(float)
        both = np.isfinite(x) & np.isfinite(y)
        diff = np.abs(np.log2(x[both] / y[both])) if c == "cf_hz" else np.abs(x[both] - y[both])
        out[c] = {"max_abs_diff" + ("_octaves" if c == "cf_hz" else ""):
                  float(diff.max()) if diff.size else 0.0,
                  "nan_mismatch": int((np.isfinite(x) != np.isfinite(y)).sum()),
                  "changed": int((diff > 1e-9).sum()), "n": int(x.size)}
    return out


def _insilico(est, args):
    """All nine animals in one call against separate calls, one per animal (and bf16 where
    native, with ``--bf16``). The results file is rewritten after every stage, so a run
    stopped early leaves what it measured."""
    import pandas as pd

    grids = QUICK_GRIDS if args.quick else {}
    names = est.recording_names_
    result = RESULTS.setdefault("insilico", {})
    result.update(units=int(est.n_neurons_), animals=len(names),
                  grids="quick" if args.quick else "default", load={"before": _load()})
    seconds_all, all_summaries = _battery(est, "all", grids)
    total_all = sum(seconds_all.values())
    print(f"all {len(names)} animals in one call ({est.n_neurons_:,} units): "
          + ", ".join(f"{k} {v:.1f} s" for k, v in seconds_all.items())
          + f"; total {total_all:.1f} s", flush=True)
    result.update(all_in_one_call={f"{k}_s": round(v, 2) for k, v in seconds_all.items()},
                  all_in_one_call_total_s=round(total_all, 1))
    result["load"]["after_all_in_one_call"] = _load()
    seconds_each = {name: 0.0 for name in EXPERIMENTS}
    separate = {name: [] for name in EXPERIMENTS}
    for animal in names[: args.separate]:
        secs, summaries = _battery(est, animal, grids)
        for name in EXPERIMENTS:
            seconds_each[name] += secs[name]
            separate[name].append(summaries[name])
        print(f"  {animal}: {sum(secs.values()):.1f} s", flush=True)
    if args.separate:
        done = names[: args.separate]
        total_each = sum(seconds_each.values())
        result.update(
            separate_calls={f"{n}_s": round(v, 2) for n, v in seconds_each.items()},
            separate_calls_total_s=round(total_each, 1),
            separate_calls_per_animal_s=round(total_each / args.separate, 1),
            speed_up_over_nine_separate_calls=round(total_each * len(names) / args.separate
                                                    / total_all, 2),
            agreement_all_vs_separate={
                name: _compare(all_summaries[name][all_summaries[name]["recording"].isin(done)],
                               pd.concat(separate[name]), columns)
                for name, columns in (("frequency_response_area", ["cf_hz", "threshold_db"]),
                                      ("rate_level", ["threshold_db"]))})
        result["animals_called_separately"] = args.separate
        print(f"{args.separate} separate calls: {result['separate_calls_total_s']} s; speed-up "
              f"over nine: {result['speed_up_over_nine_separate_calls']}x", flush=True)
    if args.bf16 and cpu_supports_bf16():
        est.set_params(precision="bfloat16")
        seconds_bf16, bf16_summaries = _battery(est, "all", grids)
        est.set_params(precision="float32")
        result["bfloat16_all_in_one_call_total_s"] = round(sum(seconds_bf16.values()), 1)
        result["bfloat16_vs_float32"] = {
            name: _compare(bf16_summaries[name], all_summaries[name], columns)
            for name, columns in (("frequency_response_area", ["cf_hz", "threshold_db"]),
                                  ("rate_level", ["threshold_db"]))}
        print(f"bfloat16, all in one call: {result['bfloat16_all_in_one_call_total_s']} s",
              flush=True)
    result["load"]["after"] = _load()
    result["peak_rss_mb"] = round(_rss_mb())
    print(f"load average before {result['load']['before']}, after {result['load']['after']}; "
          f"peak RSS {result['peak_rss_mb']} MB")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="sound to predict (s)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--insilico", action="store_true",
                        help="time the five in-silico experiments, all animals vs one at a time")
    parser.add_argument("--quick", action="store_true", help="small grids (development)")
    parser.add_argument("--separate", type=int, default=9, choices=range(10),
                        help="animals to time one call at a time (9: all of them)")
    parser.add_argument("--bf16", action="store_true",
                        help="also run all animals in bfloat16 and compare CFs and thresholds")
    parser.add_argument("--no-throughput", action="store_true",
                        help="skip the load and predict throughput measurements")
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
    print(f"machine: {os.cpu_count()} CPUs, {args.threads} torch threads, native bf16: "
          f"{cpu_supports_bf16()}")
    print(f"file: {size_mb:.1f} MB, {n_params:,} parameters")
    print(f"load_published_icnet: {load_s:.2f} s ({first_s:.2f} s the first time, imports "
          f"included), peak RSS {rss1:.0f} MB (+{rss1 - rss0:.0f} MB during the first load)",
          flush=True)
    RESULTS.update(
        torch_threads=args.threads, native_bf16=bool(cpu_supports_bf16()),
        file={"size_mb": round(size_mb, 2), "parameters": int(n_params)},
        loading={"again_s": round(load_s, 3), "first_s": round(first_s, 2),
                 "peak_rss_mb": round(rss1), "first_load_rss_mb": round(rss1 - rss0)})
    if args.insilico:
        _insilico(est, args)
    if not args.no_throughput:
        _predict_throughput(est, args)
    return RESULTS


def _predict_throughput(est, args):
    """Seconds of audio per second of one decoder, against sk_icnet's own paper ICNet."""
    rng = np.random.default_rng(1)
    n = int(args.seconds * FS) // 32 * 32
    sound = (rng.standard_normal((1, n)) * 0.02).astype(np.float32)  # ~60 dB SPL noise
    own = ICNetRegressor(audio_fs=FS, dt_ms=1.31072, head="categorical", verbose=0)
    own.timebase_ = Timebase(FS, 1.31072)
    own.n_neurons_, own.neurons_per_recording_, own.recording_names_ = 512, [512], None
    own.y_ndim_, own.n_features_in_ = 3, 32
    own.initialize()
    bf16 = cpu_supports_bf16()
    rows = [("published", "published (same padding)", est,
             dict(recording="animal_1", time_s=TIME_S)),
            ("paper_icnet", "sk_icnet paper ICNet (causal)", own, {})]
    predict = RESULTS.setdefault("predict", {"sound_s": args.seconds})
    for key, name, model_est, kwargs in rows:
        for precision in ["float32"] + (["bfloat16"] if bf16 else []):
            rate = _throughput(model_est, sound, precision, **kwargs)
            predict.setdefault(key, {})[f"{precision}_audio_s_per_s"] = round(rate, 2)
            print(f"{name:32s} {precision:9s} {rate:8.1f} s of audio per s "
                  f"({args.seconds:g} s of sound)")
    predict["peak_rss_mb"] = round(_rss_mb())
    print(f"peak RSS after predicting: {predict['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
