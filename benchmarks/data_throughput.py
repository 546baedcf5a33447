"""Read throughput and memory of the lazy data layer at the paper's format.

Writes synthetic paper-format recordings (24,414.0625 Hz audio, 512 channels of
counts at 1.31072 ms, about 150 spikes/s per channel) of each ``--minutes`` to
zarr stores with :meth:`sk_icnet.data.Recording.save`, then, each in a fresh
process, reads one full epoch of the paper's windows (10,240 samples, 2,048 of
context) in shuffled batches of 16 through a ``DataLoader`` with 0, 1 and 2
workers, as :class:`~sk_icnet.ICNetRegressor` does (``WindowBatchSampler``,
``collate_windows``). Throughput is audio-seconds of recording per second of
wall time (an epoch of a 60-minute recording is 3,600 audio-s), over the whole
epoch and, "steady", after the first batch arrived (worker start-up excluded).
Memory is the peak resident set of the reading process and the peak summed
proportional set size (PSS: a page shared by k processes counts 1/k in each) of
it and its workers, the memory the reading really takes (summed RSS would count
the shared torch libraries once per worker); both are sampled every 0.25 s with
psutil (a PSS sample costs about 2 ms per process).

With ``--train`` it also fits one epoch of a small ICNet from each store (one
loader worker) and reports the peak RSS, to show that memory does not grow with
the recording's length.

    python benchmarks/data_throughput.py                      # 10 and 60 minutes
    python benchmarks/data_throughput.py --minutes 10 --workers 2
    python benchmarks/data_throughput.py --train

``python docs/_results.py run benchmarks/data_throughput.py --train`` writes the figures the
user guide quotes to ``docs/results/data_throughput.json`` (``--name data_throughput_lz4`` for
the ``--compression lz4`` run): per store length ``m<minutes>``, the store's size and, per
worker count ``workers<k>``, the read figures above, and ``train`` with ``--train``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

FS, DT, N_CHANNELS = 24414.0625, 1.31072, 512
RESULTS = {}  # the figures the docs quote (docs/_results.py writes them to docs/results/)
#: the reads and fits run in child processes, which the results tracer does not see
RESULTS_CODE = ["sk_icnet/data/*.py", "sk_icnet/icnet/_estimator.py", "sk_icnet/icnet/_training.py",
                "sk_icnet/icnet/_callbacks.py"]


def write_recording(path, minutes, seed=0, chunk_bins=4096, compression=None):
    from sk_icnet.data import Recording

    spb = 32
    n_bins = int(minutes * 60 * FS) // spb
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    audio = (0.05 * rng.standard_normal(n_bins * spb, dtype=np.float32))
    # ~150 spikes/s per channel: P(spike in a 1.31 ms bin) = 0.2, occasionally 2
    counts = (rng.integers(0, 256, (N_CHANNELS, n_bins), dtype=np.uint8) < 51).astype(np.uint8)
    counts[:, ::97] *= 2
    rec = Recording(audio, counts, audio_fs=FS, dt_ms=DT, name=f"sim{minutes}min")
    rec.save(path, overwrite=True, chunk_bins=chunk_bins, compression=compression)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return dict(minutes=minutes, write_s=round(time.perf_counter() - t0, 1),
                store_mb=round(size / 2**20), n_bins=n_bins)


class PeakRSS:
    """Peak RSS of this process and of this process plus its children, sampled in a thread."""

    def __init__(self, interval=0.25):
        import psutil

        self.proc = psutil.Process()
        self.interval, self.main, self.tree = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        main = self.proc.memory_info().rss
        tree = 0
        for proc in [self.proc, *self.proc.children(recursive=True)]:
            try:
                tree += proc.memory_full_info().pss
            except Exception:  # a worker that just exited
                pass
        self.main, self.tree = max(self.main, main), max(self.tree, tree)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def read_epoch(path, workers, batch_size=16, seed=0):
    import torch

    from sk_icnet.data import WindowBatchSampler, WindowDataset, collate_windows

    torch.set_num_threads(1)
    with PeakRSS() as rss:
        ds = WindowDataset(path)
        sampler = WindowBatchSampler(ds, batch_size, shuffle=True,
                                     generator=torch.Generator().manual_seed(seed))
        loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_windows,
                                             num_workers=workers,
                                             persistent_workers=False)
        t0 = time.perf_counter()
        n = n_first = 0
        checksum = 0
        for X, (counts, _observed) in loader:
            if n == 0:
                t_first, n_first = time.perf_counter(), X["x"].shape[0]
            n += X["x"].shape[0]
            checksum += int(counts[:, :, -1].sum())  # touch the batch
        elapsed = time.perf_counter() - t0
    hop_s = (ds.window_samples - ds.context_samples) / FS
    steady = (n - n_first) * hop_s / (t0 + elapsed - t_first)
    return dict(workers=workers, windows=n, epoch_s=round(elapsed, 2),
                first_batch_s=round(t_first - t0, 3), audio_s_per_s=round(n * hop_s / elapsed),
                steady_audio_s_per_s=round(steady), windows_per_s=round(n / elapsed),
                peak_rss_mb=round(rss.main / 2**20), peak_pss_tree_mb=round(rss.tree / 2**20))


def train_epoch(path, workers=1):
    import torch

    from sk_icnet import ICNetRegressor, WindowDataset

    torch.set_num_threads(1)
    small = dict(module__n_filters=8, module__sincnet_kernel_size=32, module__encoder_channels=8,
                 module__encoder_kernel_size=8, module__bottleneck_channels=8)
    with PeakRSS() as rss:
        ds = WindowDataset(path)
        est = ICNetRegressor(max_epochs=1, batch_size=16, lr=1e-3, train_split=None, verbose=0,
                             random_state=0, iterator_train__num_workers=workers, **small)
        t0 = time.perf_counter()
        est.fit(ds)
        elapsed = time.perf_counter() - t0
    return dict(workers=workers, train_epoch_s=round(elapsed, 1),
                train_loss=round(float(est.history[-1, "train_loss"]), 4),
                audio_s_per_s=round(len(ds) * (ds.window_samples - ds.context_samples) / FS / elapsed),
                peak_rss_mb=round(rss.main / 2**20), peak_pss_tree_mb=round(rss.tree / 2**20))


def child(args):
    workers = args.workers[0]
    result = read_epoch(args.path, workers) if args.child == "read" else train_epoch(args.path, workers)
    print(json.dumps(result))


def run_child(kind, path, workers):
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--path", path,
                          "--workers", str(workers)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the {kind} child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dir", default=None, help="where to write the stores (default: a temp dir)")
    parser.add_argument("--train", action="store_true", help="also fit one epoch of a small ICNet")
    parser.add_argument("--chunk-bins", type=int, default=4096)
    parser.add_argument("--compression", default="none", choices=["none", "lz4"])
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--child", choices=["read", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    import shutil

    # what the paper's data would take as dense float32 windows in memory: 7.8 h of sound per
    # animal, 512 channels, windows of 320 bins of which 64 are context (1.25x the scored bins)
    paper_hours, window_bins, context_bins = 7.8, 10240 // 32, 2048 // 32
    dense = (paper_hours * 3600 / (DT / 1000) * window_bins / (window_bins - context_bins)
             * N_CHANNELS * 4)
    RESULTS["paper"] = {"hours_per_animal": paper_hours, "dense_y_gb": dense / 1e9}
    print(f"the paper's {paper_hours} h per animal as dense float32 windows: "
          f"{dense / 1e9:.0f} GB of y")
    base = args.dir or tempfile.mkdtemp(prefix="sk_icnet_bench_")
    os.makedirs(base, exist_ok=True)
    try:
        for minutes in args.minutes:
            path = os.path.join(base, f"sim{minutes:g}min.zarr")
            compression = None if args.compression == "none" else args.compression
            info = write_recording(path, minutes, chunk_bins=args.chunk_bins, compression=compression)
            info.update(chunk_bins=args.chunk_bins, compression=args.compression)
            print(json.dumps({"write": info}), flush=True)
            figures = RESULTS.setdefault(f"m{minutes:g}", {"store_mb": info["store_mb"]})
            for workers in args.workers:
                read = run_child("read", path, workers)
                print(json.dumps({"minutes": minutes, "read": read}), flush=True)
                figures[f"workers{workers}"] = {k: v for k, v in read.items() if k != "workers"}
            if args.train:
                train = run_child("train", path, 1)
                print(json.dumps({"minutes": minutes, "train": train}), flush=True)
                figures["train"] = train
            if not args.keep:
                shutil.rmtree(path)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
