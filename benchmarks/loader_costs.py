"""What a ``DataLoader`` worker pays per batch beyond the read, at the paper's format.

Writes one synthetic paper-format recording (``data_throughput.write_recording``: 24,414 Hz
audio, 512 channels of counts at 1.31072 ms) of ``--minutes``, then measures in this process:

- the read and collate time per batch of 16 windows, from one epoch with no loader worker
  (``data_throughput.read_epoch``), and the audio-seconds per second it gives;
- allocating and filling one batch-sized block of shared memory, as a worker's collate does for
  every batch (``UntypedStorage._new_shared``), against private memory (medians of 200, the
  second of two interleaved passes);
- from these, the audio-seconds per second one worker could deliver on its own core.

    python benchmarks/loader_costs.py --minutes 10
    python docs/_results.py run benchmarks/loader_costs.py --minutes 10   # docs/results/loader_costs.json
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_throughput import FS, N_CHANNELS, read_epoch, write_recording  # noqa: E402

from sk_icnet.data import WindowDataset  # noqa: E402

RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)
#: rates and per-batch times are timings (never compared between runs)
RESULTS_TOLERANCE = {"*_ms": "timing", "*_ms_*": "timing", "*per_s": "timing"}
#: the reading helpers live in the sibling benchmark
RESULTS_CODE = ["benchmarks/data_throughput.py"]


def allocation_ms(nbytes, shared, repeats=200):
    """Median time to allocate and fill ``nbytes``, in shared or private memory."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        storage = torch.UntypedStorage._new_shared(nbytes) if shared else \
            torch.UntypedStorage(nbytes)
        torch.empty(0, dtype=torch.uint8).set_(storage).fill_(1)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def batch_costs(path, batch_size=16):
    read = read_epoch(path, 0, batch_size)
    torch.set_num_threads(1)
    ds = WindowDataset(path)
    bins = ds.window_samples // ds.timebase.samples_per_bin
    nbytes = batch_size * (ds.window_samples * 4 + N_CHANNELS * bins)  # float32 audio, uint8 counts
    costs = {}
    for shared in (False, True, False, True):  # interleaved, the second pass kept (warm)
        costs[shared] = allocation_ms(nbytes, shared)
    read_ms = 1000 * read["epoch_s"] / (read["windows"] / batch_size)
    audio_per_batch = batch_size * (ds.window_samples - ds.context_samples) / FS
    return dict(read_ms_per_batch=round(read_ms, 2),
                in_process_audio_s_per_s=read["audio_s_per_s"],
                batch_mb=round(nbytes / 2**20, 2),
                shared_alloc_ms=round(costs[True], 2), private_alloc_ms=round(costs[False], 2),
                worker_audio_s_per_s=round(audio_per_batch / ((read_ms + costs[True]) / 1000)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="sk_icnet_bench_")
    try:
        path = os.path.join(base, f"sim{args.minutes:g}min.zarr")
        info = write_recording(path, args.minutes)
        costs = batch_costs(path)
        print(json.dumps({"write": info, "batch_costs": costs}, indent=1))
        RESULTS[f"m{args.minutes:g}"] = costs
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
