"""Time to load an ensemble model file as its member count grows (issue 28, defect 6).

Run:  python benchmarks/ensemble_load.py [--members 24,96,384]          # prints a row per count
      python docs/_results.py run benchmarks/ensemble_load.py     # and writes docs/results/ensemble_load.json

Fits one tiny ICNet member (8 kHz, 4 ms bins, 3 neurons, one epoch), writes ensemble files of
``n`` copies of it (the copies' weights are stored as separate tensors, as ``save_model`` stores
distinct members), and times ``ICNetEnsemble.load_model`` on each, with the file size and the
number of tensor reads. Loading checks every member's header, shapes and weights, so the time
grows with the member count; with the file read once it grows linearly (0.4.0 read every
tensor once per member: 384 members did not load in 280 s). The figures are left in
``RESULTS``, one entry per member count (``n24``: file size, load time, tensor reads).
"""

import argparse
import json
import os
import tempfile
import time

#: the figures the docs quote (``docs/_results.py`` writes them to ``docs/results/``)
RESULTS = {}
#: tensor reads are counts: exact (times and sizes, ``*_s`` and ``*_mb``, are timings)
RESULTS_TOLERANCE = {"*tensor_reads": {"abs": 0}}


def _ensemble_file(member_file, n, path):
    """An ensemble file of ``n`` copies of the one-member ensemble in ``member_file``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(member_file, framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    header = json.loads(meta["header"])
    header["fitted"]["members"] = header["fitted"]["members"] * n
    header["fitted"]["seeds"] = list(range(n))
    header["params"]["n_members"] = n
    meta["header"] = json.dumps(header)
    out = {k.replace("member.0.", f"member.{i}.", 1): v.clone()
           for i in range(n) for k, v in tensors.items()}
    save_file(out, path, metadata=meta)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", default="24,96,384")
    args = parser.parse_args()

    from sk_icnet import ICNetEnsemble, ICNetRegressor, io
    from sk_icnet.simulate import make_auditory_dataset

    data = make_auditory_dataset(n_trials=24, duration_s=0.5, audio_fs=8000.0, dt_ms=4.0,
                                 n_neurons=3, random_state=0)
    member = ICNetRegressor(audio_fs=8000.0, dt_ms=4.0, max_epochs=1, verbose=0, random_state=0,
                            module__n_filters=8, module__sincnet_kernel_size=32,
                            module__encoder_channels=16, module__encoder_kernel_size=8,
                            module__n_encoder_layers=3, module__bottleneck_channels=8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one = os.path.join(tmp, "one.safetensors")
        ICNetEnsemble(member, n_members=1, random_state=0).fit(data.X, data.y).save_model(one)
        reads = []
        real = io._load_tensors
        io._load_tensors = lambda *a: reads.append(1) or real(*a)
        for n in (int(v) for v in args.members.split(",")):
            path = os.path.join(tmp, f"ens{n}.safetensors")
            _ensemble_file(one, n, path)
            reads.clear()
            start = time.perf_counter()
            loaded = ICNetEnsemble.load_model(path)
            seconds = time.perf_counter() - start
            assert len(loaded.estimators_) == n
            rows.append({"members": n, "file_mb": round(os.path.getsize(path) / 1e6, 2),
                         "load_s": round(seconds, 2), "tensor_reads": len(reads)})
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.update({f"n{row['members']}": {k: v for k, v in row.items() if k != "members"}
                    for row in rows})
    return RESULTS


if __name__ == "__main__":
    main()
