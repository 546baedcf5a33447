"""skorch callbacks that keep long fits safe: best weights, checkpoints with metadata.

:class:`ICNetRegressor` adds these itself (see its ``early_stopping_patience``
and ``checkpoint_dir`` parameters); they are public for use with other skorch nets.
"""

from __future__ import annotations

import json
import math
import os

from skorch.callbacks import Callback

__all__ = ["BestWeights", "CheckpointMetadata", "METADATA_FILE"]

#: name of the JSON file that records what is needed to rebuild the module
METADATA_FILE = "sk_icnet_metadata.json"


class BestWeights(Callback):
    """Keep the best weights seen during a fit in memory and restore them when it ends.

    The weights are restored at the end of training if ``restore`` is True, or if
    training ended before ``max_epochs`` (early stopping, or Ctrl-C: skorch turns
    a ``KeyboardInterrupt`` into an orderly end of training), so an interrupted
    fit leaves the best model so far rather than the last, half-trained one.

    Parameters
    ----------
    monitor : str, default="valid_loss"
        History key to minimise; falls back to ``"train_loss"`` when the key is
        absent (no validation split).
    restore : bool, default=False
        Restore the best weights at the end of every fit, not only an early one.

    Attributes
    ----------
    best_score_ : float
    best_epoch_ : int or None
        1-based epoch of the best weights.
    """

    def __init__(self, monitor="valid_loss", restore=False):
        self.monitor = monitor
        self.restore = restore

    def initialize(self):
        self.best_score_ = math.inf
        self.best_epoch_ = None
        self._best_state = None
        self._epochs_at_start = 0
        return self

    def on_train_begin(self, net, **kwargs):
        self.initialize()
        self._epochs_at_start = len(net.history)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        key = self.monitor if self.monitor in row else "train_loss"
        score = row.get(key)
        if score is None or not math.isfinite(score) or score >= self.best_score_:
            return
        self.best_score_ = float(score)
        self.best_epoch_ = row["epoch"]
        self._best_state = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}

    def on_train_end(self, net, **kwargs):
        completed = sum(1 for row in net.history[self._epochs_at_start:] if "dur" in row)
        stopped_early = completed < net.max_epochs
        if self._best_state is not None and (self.restore or stopped_early):
            net.module_.load_state_dict(self._best_state)
        self._best_state = None  # do not carry a copy of the weights in pickles

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_best_state"] = None
        return state


class CheckpointMetadata(Callback):
    """Write the data-dependent attributes a checkpoint needs into its directory.

    Parameters
    ----------
    dirname : str
        Checkpoint directory.
    attributes : sequence of str
        Names of fitted attributes of the net to record (JSON-serialisable).
    """

    def __init__(self, dirname, attributes=()):
        self.dirname = dirname
        self.attributes = attributes

    def on_train_begin(self, net, **kwargs):
        meta = {name: getattr(net, name) for name in self.attributes if hasattr(net, name)}
        os.makedirs(self.dirname, exist_ok=True)
        with open(os.path.join(self.dirname, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=1)
