"""ICNet on a public benchmark dataset, beside the peers' published figures.

Run:  python benchmarks/public_datasets.py PATH            (NS1: the release's folder)
      python benchmarks/public_datasets.py PATH --neurons valid --members 5
      python benchmarks/public_datasets.py PATH --quick    (a run end to end in seconds: a check
                                                            of the script, not a result)
      python benchmarks/public_datasets.py PATH --check-release   (no fit: what the reader finds in
                                                            the release)
      python docs/_results.py run --name ns1_release_check benchmarks/public_datasets.py PATH \
          --check-release                                  (the same, to docs/results/)

PATH is the NS1 release unpacked (``MetadataSHEnCneurons.mat`` and ``spikesandwav/``), e.g. the
folder ``sk_icnet.data.fetch_ns1(download=True)`` fills (``~/sk_icnet_data/NS1``). The data are
read with ``sk_icnet.data.load_ns1`` (5 ms bins, clips resampled to 24 kHz) and split as
published (deepSTRF's NS1 benchmark): natural clips 0-13 train, 14-16 validation, 17-19 test.

Models, all fitted on the same clips and scored on the 3 test clips only:

- ``ICNet``: ``ICNetRegressor(**small_data_params(70 s, n_neurons=...))``, trained on the 14
  training clips; early stopping and the learning-rate schedule watch the 3 validation clips
  (``train_split=ValidSplit(PredefinedSplit)``).
- ``ICNetEnsemble``: ``--members`` such models from different seeds, predictions averaged.
- ``PoissonSTRF`` and ``LinearSTRF`` (``sk_icnet.strf``: 32 log-mel bands, 20 ms windows,
  100 ms of lags), fitted on the training and validation clips (their regularisation is chosen
  by their own cross-validation).

Scores (``sk_icnet.metrics``), on the 20 repeats of the test clips, per neuron then averaged
over neurons with a finite value: CCnorm (Schoppe et al. 2016), FEVE, and Poisson D² against
the mean over repeats. The peers' figures are printed beside them as published (see
``PEERS``); they come from deepSTRF's own pipeline (spectrogram inputs, its metric code and
response processing), so the comparison is of like splits, not of identical scoring code.

The run appends one JSON object to ``benchmarks/results/public_datasets.json`` (``--out``):
the command, the machine, the wall time and every score. ``--quick`` writes nothing unless
``--out`` is given. Either mode also leaves its figures in ``RESULTS``, which
``docs/_results.py run`` writes to ``docs/results/<name>.json`` with the machine, the load and
the code that ran; ``--check-release`` writes a file only there (or to ``--out``).
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from sklearn.model_selection import PredefinedSplit
from skorch.dataset import ValidSplit

from sk_icnet import (
    ICNetEnsemble,
    ICNetRegressor,
    LinearSTRFRegressor,
    PoissonSTRFRegressor,
    small_data_params,
)
from sk_icnet.data import load_ns1
from sk_icnet.metrics import ccnorm, d2_poisson_score, feve

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "public_datasets.json")
#: the figures the docs quote (``docs/_results.py`` writes them to ``docs/results/``)
RESULTS = {}
#: what the reader finds in a release is exact (the read time is a timing); fit scores move
#: within the default tolerance
RESULTS_TOLERANCE = {"read_s": "timing", "release.*": {"abs": 1e-9}}
#: the dataset's folder this run read (not in the repository: a rerun skips where it is absent)
RESULTS_NEEDS = []
#: the peers' published test-split figures on NS1 (CCnorm and CCraw, % mean over neurons):
#: deepSTRF v0.1.0's leaderboard (https://deepstrf.readthedocs.io), population models,
#: natural clips 0-13 / 14-16 / 17-19, 5 ms bins
PEERS = {
    "ns1": {
        "source": "deepSTRF v0.1.0 leaderboard (https://deepstrf.readthedocs.io), NS1 population",
        "models": {"StateNet (GRU)": {"ccnorm": 75.1, "ccraw": 55.6},
                   "Transformer": {"ccnorm": 73.0}, "2D-CNN": {"ccnorm": 70.1}},
        #: the StateNet checkpoint's card on Hugging Face (test ``cc_norm_mean``)
        "statenet_card_ccnorm": 0.770,
    },
}
#: sizes the sources state (not measured here): CRCNS bst-2's data page (about 5 GB); the
#: NS1 files as deepSTRF's loader lists them (about 155 MB in all)
SOURCE_SIZES = {"crcns_bst2_gb": 5, "ns1_download_mb": 155}


def _cited():
    """The cited figures, as the results file keeps them (keys made identifiers)."""
    slug = {"StateNet (GRU)": "statenet_gru", "Transformer": "transformer", "2D-CNN": "cnn_2d"}
    ns1 = PEERS["ns1"]
    return {"peers": {**{slug[name]: dict(row) for name, row in ns1["models"].items()},
                      "statenet_card_ccnorm": ns1["statenet_card_ccnorm"]},
            "sizes": dict(SOURCE_SIZES)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="the dataset's folder (NS1: MetadataSHEnCneurons.mat and "
                                     "spikesandwav/)")
    parser.add_argument("--dataset", default="ns1", choices=sorted(PEERS))
    parser.add_argument("--neurons", default="all", help="'all' (the leaderboard's 119), 'valid' "
                                                         "(the 73 single units at known depth)")
    parser.add_argument("--members", type=int, default=5, help="members of the ensemble")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true",
                        help="a few epochs, 2 members, small STRFs: checks the script runs")
    parser.add_argument("--check-release", action="store_true",
                        help="read the release and report what the reader finds (no fit)")
    parser.add_argument("--out", default=None, help=f"JSON results file (default {DEFAULT_OUT}; "
                                                    "--quick and --check-release: none)")
    return parser.parse_args(argv)


def scores(test, prediction):
    """CCnorm, FEVE and D² of one model on the test trials (per neuron, and means)."""
    y_rep = test.y_repeats
    per_neuron = {
        "ccnorm": ccnorm(y_rep, prediction, multioutput="raw_values"),
        "feve": feve(y_rep, prediction, multioutput="raw_values"),
        "d2_poisson": d2_poisson_score(test.y, prediction, multioutput="raw_values"),
    }
    out = {}
    for name, values in per_neuron.items():
        finite = np.isfinite(values)
        out[name] = float(values[finite].mean()) if finite.any() else float("nan")
        out[f"{name}_median"] = float(np.median(values[finite])) if finite.any() else float("nan")
        out[f"{name}_n_neurons"] = int(finite.sum())
    return out


def models(args, data, train_valid, n_train):
    """The estimators to fit, by name: ``(estimator, trials it is fitted on)``."""
    duration_s = float(np.sum(data.n_bins[data.split["train"]]) * data.dt_ms / 1000.0)
    params = small_data_params(duration_s, audio_fs=data.audio_fs, dt_ms=data.dt_ms,
                               n_neurons=len(data.neuron_names))
    test_fold = np.r_[np.full(n_train, -1), np.zeros(len(train_valid) - n_train, int)]
    params.update(train_split=ValidSplit(PredefinedSplit(test_fold)), device=args.device,
                  random_state=args.seed, verbose=0)
    strf = dict(audio_fs=data.audio_fs, dt_ms=data.dt_ms, n_bands=32, win_ms=20.0, lags_ms=100.0)
    members = args.members
    if args.quick:
        params.update(max_epochs=1, early_stopping_patience=None, batch_size=32)
        strf.update(n_bands=8, lags_ms=20.0)
        members = 2
    return {
        "ICNet": ICNetRegressor(**params),
        f"ICNetEnsemble ({members})": ICNetEnsemble(ICNetRegressor(**params), n_members=members,
                                                     random_state=args.seed),
        "PoissonSTRF": PoissonSTRFRegressor(**strf),
        "LinearSTRF": LinearSTRFRegressor(**strf),
    }


def check_release(args, argv):
    """What :func:`load_ns1` finds in the release: counts, repeats, bins, levels."""
    started = time.time()
    data = load_ns1(args.path, neurons="all")
    level_gap = (data.stimuli["level_db_spl"] - data.stimuli["nominal_level_db_spl"]).abs()
    times_ms = raw_spike_times_ms(args.path, data.neurons["file"])
    summary = {
        "command": "python benchmarks/public_datasets.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "n_neurons": len(data.neuron_names), "n_valid": int(data.neurons["valid"].sum()),
        "n_clips": len(data.X), "repeats_per_clip": sorted(set(data.n_repeats.tolist())),
        "bins_per_clip": sorted(set(data.n_bins.tolist())), "dt_ms": data.dt_ms,
        "audio_fs": data.audio_fs, "source_fs": sorted(set(data.source_fs.tolist())),
        "clip_s": [round(float(v), 5) for v in sorted(set(data.durations_s.tolist()))],
        "nominal_levels_db_spl": sorted(set(data.stimuli["nominal_level_db_spl"].tolist())),
        "max_level_minus_nominal_db": round(float(level_gap.max()), 3),
        "spikes_in_trials": int(np.nansum(data.y_repeats)),
        "first_spike_ms": round(float(times_ms.min()), 1),
        "last_spike_ms": round(float(times_ms.max()), 1),
        "spikes_after_last_bin": int(data.dropped["after"].sum()),
        "spikes_before_onset": int(data.dropped["before"].sum()),
        "files_named_as_metadata": int((data.neurons["file"].str.replace(os.sep, "/")
                                        == data.neurons["path"]).sum()),
        "split": {k: v.tolist() for k, v in data.split.items()},
        "read_s": round(time.time() - started, 1), "machine": platform.platform(),
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
        print(f"written to {args.out}")
    RESULTS.update(release=_release_figures(summary), read_s=summary["read_s"], **_cited())
    return summary


def raw_spike_times_ms(path, files):
    """Every spike time of the neuron files as stored (ms from the stimulus onset, all 32
    stimuli, before any binning): the evidence for the unit."""
    from sk_icnet.data._ns1 import _read_neuron

    return np.concatenate([t for file in files
                           for _, repeats in _read_neuron(os.path.join(path, "spikesandwav", file))
                           for t in repeats])


def _release_figures(summary):
    """The summary's figures as numbers (the results tool stores no lists): each list of
    distinct values (sorted) as its smallest, its largest, its count and each value (``v0``,
    ``v1``, ...), the split's sizes and ranges."""
    out = {}
    for key, value in summary.items():
        if key in ("command", "machine", "read_s"):
            continue
        if key == "split":
            for part, clips in value.items():
                out[f"split_{part}"] = {"clips": len(clips), "first": min(clips),
                                        "last": max(clips)}
        elif isinstance(value, list):
            out[key] = {"min": min(value), "max": max(value), "distinct": len(value),
                        **{f"v{i}": v for i, v in enumerate(value)}}
        else:
            out[key] = value
    return out


def main(argv=None):
    args = parse_args(argv)
    RESULTS_NEEDS[:] = [os.path.abspath(args.path)]
    if args.check_release:
        return check_release(args, argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    data = load_ns1(args.path, neurons=args.neurons)
    train, valid, test = (data.subset(p) for p in ("train", "validation", "test"))
    # training clips first, then the validation clips (held out by the split, for early stopping)
    order = np.r_[data.split["train"], data.split["validation"]]
    fit_X, fit_y = data.X[order], data.y[order]
    rows = {}
    for name, est in models(args, data, order, len(train.X)).items():
        t0 = time.time()
        est.fit(fit_X, fit_y)
        prediction = np.asarray(est.predict(test.X), dtype=np.float64)
        rows[name] = {**scores(test, prediction), "fit_s": round(time.time() - t0, 1)}
        print(f"  {name}: fitted in {rows[name]['fit_s']} s", file=sys.stderr)
    peers = PEERS[args.dataset]
    print(f"\n{data.dataset}: {len(data.neuron_names)} neurons; train {len(train.X)}, validation "
          f"{len(valid.X)}, test {len(test.X)} clips; {data.dt_ms:g} ms bins; scores on the test "
          "clips, mean over neurons\n")
    print("| model | CCnorm % | FEVE % | D² % | source |")
    print("| --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {100 * row['ccnorm']:.1f} | {100 * row['feve']:.1f} | "
              f"{100 * row['d2_poisson']:.1f} | this run |")
    for name, row in peers["models"].items():
        print(f"| {name} | {row['ccnorm']:.1f} | - | - | {peers['source']} |")
    command = "python benchmarks/public_datasets.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    print(f"\ncommand: {command}")
    result = {"command": command, "dataset": args.dataset, "source": data.dataset,
              "neurons": args.neurons, "n_neurons": len(data.neuron_names), "quick": args.quick,
              "dt_ms": data.dt_ms, "audio_fs": data.audio_fs, "machine": platform.platform(),
              "processor": platform.processor() or platform.machine(), "device": args.device,
              "torch_threads": torch.get_num_threads(), "wall_s": round(time.time() - started, 1),
              "models": rows, "peers": peers}
    RESULTS.update(_cited())
    RESULTS.update(n_neurons=result["n_neurons"], quick=args.quick, wall_s=result["wall_s"],
                   models={name.split(" ")[0]: dict(row)
                           for name, row in rows.items()},
                   members=args.members if not args.quick else 2)
    out = args.out or (None if args.quick else DEFAULT_OUT)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "a") as f:
            f.write(json.dumps(result) + "\n")
        print(f"results appended to {out}")
    return result


if __name__ == "__main__":
    main()
