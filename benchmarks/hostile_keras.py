"""Time, peak memory and message length of the published-ICNet reader's refusals of hostile
release folders (issue 28: links to another file and to another layer, FIFOs, a YAML alias
bomb). Each case runs in a fresh process, so its peak resident memory is its own; the
process's memory after importing sk_icnet is reported beside it. Run from a checkout::

    python benchmarks/hostile_keras.py

and it writes ``benchmarks/results/hostile_keras.json``. A case that does not answer within
``--timeout`` seconds is recorded as timed out (a FIFO that blocks the reader).
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

CASES = ("external_link_to_another_file", "soft_link_to_another_layer", "external_link_to_a_fifo",
         "fifo_named_model_weights_hdf5", "yaml_alias_bomb_9_levels")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "hostile_keras.json"))
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
        print(case, json.dumps(results[case])[:300])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"command": "python benchmarks/hostile_keras.py", "cases": results}, fh,
                  indent=2)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
