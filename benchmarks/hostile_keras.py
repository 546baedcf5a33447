"""Time, peak memory and message length of the published-ICNet reader's refusals of hostile
release folders (issue 28: links to another file and to another layer, FIFOs, a YAML alias
bomb). Each case runs in a fresh process, so its peak resident memory is its own; the
process's memory after importing sk_icnet is reported beside it. Run from a checkout::

    python benchmarks/hostile_keras.py                          # prints each case
    python docs/_results.py run benchmarks/hostile_keras.py     # and writes docs/results/hostile_keras.json

A case that does not answer within ``--timeout`` seconds is recorded as timed out (a FIFO that
blocks the reader). The figures are left in ``RESULTS``: per case whether it was refused with a
``ValueError``, its time, its peak memory above the process's size after importing sk_icnet, and
the length of its message; and the worst of each over the cases. The cases run in child
processes, which the results tool does not trace, so ``RESULTS_CODE`` names the files they run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, os.pardir)

#: the child process: builds one case in a folder, loads it, prints what happened as JSON
CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
import h5py, numpy as np, yaml
from tests.icnet._keras_fixtures import keras_icnet, release_config, write_keras, write_release
from sk_icnet import load_published_icnet

case, tmp = sys.argv[2], sys.argv[3]
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
model = keras_icnet(np.random.default_rng(0), strides=(2, 2, 2))
folder = write_release(os.path.join(tmp, "DNN"), model)
weights = os.path.join(folder, "model_weights.hdf5")

def link(name, value):
    with h5py.File(weights, "r+") as f:
        del f[name]
        f[name] = value

if case == "external_link_to_another_file":
    other = write_keras(os.path.join(tmp, "foreign.hdf5"),
                        keras_icnet(np.random.default_rng(1), strides=(2, 2, 2)))
    link("model_weights/encoder_1", h5py.ExternalLink(other, "/model_weights/encoder_1"))
elif case == "soft_link_to_another_layer":
    link("model_weights/encoder_1", h5py.SoftLink("/model_weights/encoder_2"))
elif case == "external_link_to_a_fifo":
    os.mkfifo(os.path.join(tmp, "pipe.hdf5"))
    link("model_weights/encoder_1", h5py.ExternalLink(os.path.join(tmp, "pipe.hdf5"), "/g"))
elif case == "fifo_named_model_weights_hdf5":
    os.remove(weights)
    os.mkfifo(weights)
elif case == "yaml_alias_bomb_9_levels":
    config = release_config(model)
    config.pop("decoder_channels")
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = yaml.safe_dump(config) + "\n".join(lines) + "\ndecoder_channels: *l8\n"
    with open(os.path.join(folder, "config.yaml"), "w") as fh:
        fh.write(text)
before = rss()
start = time.perf_counter()
try:
    load_published_icnet(folder)
    outcome, message = "loaded", ""
except Exception as exc:
    outcome, message = type(exc).__name__, str(exc)
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - start,
                  "rss_after_import_mb": before, "peak_rss_mb": rss(),
                  "message_chars": len(message), "message_start": message[:300]}))
"""

#: the figures the docs quote (``docs/_results.py`` writes them to ``docs/results/``)
RESULTS = {}
#: message lengths and outcomes are exact; times and memory (``*_s``, ``*_mb``) are timings
RESULTS_TOLERANCE = {"*message_chars": {"abs": 0}, "*refused": {"abs": 0}}
#: what the child processes run: the published-model reader, the core's file rules, the fixtures
RESULTS_CODE = ["sk_icnet/icnet/_published/*.py", "sk_icnet/_core/files.py",
                "tests/icnet/_keras_fixtures.py"]

CASES = ("external_link_to_another_file", "soft_link_to_another_layer", "external_link_to_a_fifo",
         "fifo_named_model_weights_hdf5", "yaml_alias_bomb_9_levels")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    args = parser.parse_args(argv)
    results = {}
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                done = subprocess.run([sys.executable, "-c", CHILD, ROOT, case, tmp],
                                      capture_output=True, text=True, timeout=args.timeout,
                                      env={**os.environ, "OMP_NUM_THREADS": "1"})
                lines = done.stdout.strip().splitlines()
                results[case] = json.loads(lines[-1]) if lines else {
                    "outcome": f"crashed (exit {done.returncode})", "stderr": done.stderr[-500:]}
            except subprocess.TimeoutExpired:
                results[case] = {"outcome": f"timed out after {args.timeout:g} s"}
        print(case, json.dumps(results[case])[:300], flush=True)
    RESULTS.update(_figures(results))
    print(f"all refused with a ValueError: {RESULTS['all_refused']}; slowest refusal "
          f"{RESULTS['slowest_refusal_s']} s; peak memory at most "
          f"{RESULTS['largest_extra_peak_mb']} MB above {RESULTS['rss_after_import_mb']} MB; "
          f"messages at most {RESULTS['longest_message_chars']} characters")
    return RESULTS


def _figures(results):
    """The per-case figures and the worst over the cases (``None`` where a case gave none)."""
    cases = {}
    for case, row in results.items():
        measured = "seconds" in row
        cases[case] = {
            "outcome": row["outcome"][:60], "refused": row["outcome"] == "ValueError",
            "refusal_s": round(row["seconds"], 4) if measured else None,
            "extra_peak_mb": round(row["peak_rss_mb"] - row["rss_after_import_mb"], 2)
            if measured else None,
            "rss_after_import_mb": round(row["rss_after_import_mb"], 1) if measured else None,
            "message_chars": row.get("message_chars")}

    def worst(key):
        values = [c[key] for c in cases.values()]
        return None if None in values else max(values)

    return {"cases": cases, "all_refused": all(c["refused"] for c in cases.values()),
            "slowest_refusal_s": worst("refusal_s"),
            "largest_extra_peak_mb": worst("extra_peak_mb"),
            "rss_after_import_mb": worst("rss_after_import_mb"),
            "longest_message_chars": worst("message_chars")}


if __name__ == "__main__":
    main()
