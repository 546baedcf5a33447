"""Data-parallel training of ICNet on several processes (CPU cores or GPUs).
=========================================================================

Launch it with torchrun; nothing in the script is specific to several processes:

    torchrun --nproc_per_node=2 examples/train_distributed.py            # 2 CPU processes (gloo)
    torchrun --nproc_per_node=8 examples/train_distributed.py --device cuda   # 8 GPUs (NCCL)

Every process builds the same data (here simulated; in practice a WindowDataset
of the same stores), ``ICNetRegressor`` wraps its module in
DistributedDataParallel, each rank trains on its own share of the batches, the
losses in ``history_`` are those of all ranks, and only rank 0 prints and
writes checkpoints, into ``sk_icnet_distributed_example`` in the system's temporary
directory: each run keeps its own checkpoint there (printed) and removes earlier runs'.
About 1 minute with 2 CPU processes.
"""

import argparse
import os
import shutil
import tempfile
import time

from sk_icnet import ICNetRegressor
from sk_icnet.simulate import make_auditory_dataset

SMALL = dict(module__n_filters=16, module__sincnet_kernel_size=32, module__encoder_channels=24,
             module__encoder_kernel_size=16, module__n_encoder_layers=3,
             module__bottleneck_channels=16)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    rank = int(os.environ.get("RANK", 0))
    data = make_auditory_dataset(n_trials=160, duration_s=1.0, audio_fs=16000.0, dt_ms=2.0,
                                 n_neurons=4, neuron_kinds="mixed", random_state=0)
    X, y, X_test, y_test = data.X[:128], data.y[:128], data.X[128:], data.y[128:]
    checkpoints = os.path.join(tempfile.gettempdir(), "sk_icnet_distributed_example")
    est = ICNetRegressor(audio_fs=16000.0, dt_ms=2.0, lr=3e-3, batch_size=16,
                         max_epochs=args.epochs, random_state=0, device=args.device,
                         checkpoint_dir=checkpoints, verbose=int(rank == 0), **SMALL)
    t0 = time.perf_counter()
    est.fit(X, y)  # batch_size is per process: the global batch is batch_size * world size
    score = est.score(X_test, y_test)  # every rank holds the same weights: the same score
    if rank == 0:
        world = est.dist_.world_size if est.dist_ else 1
        # every fit writes a new icnet-<id> folder: keep this run's, remove earlier runs'
        current = os.path.basename(est.checkpoint_dir_)
        for name in os.listdir(checkpoints):
            if name.startswith("icnet-") and name != current:
                shutil.rmtree(os.path.join(checkpoints, name), ignore_errors=True)
        print(f"{world} process(es): fit {time.perf_counter() - t0:.0f} s, held-out D² {score:.3f}, "
              f"checkpoint in {est.checkpoint_dir_} (earlier runs' checkpoints removed)")


if __name__ == "__main__":
    main()
