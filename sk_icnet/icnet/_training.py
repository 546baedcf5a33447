"""How :class:`~sk_icnet.icnet.ICNetRegressor` trains: the module's parameters, the encoder
transfer, the loaders' settings, the train/validation split, sharding over ranks, seeding,
trial weights, the decoder's starting bias, the loss and the summary of what a model was
trained on.

The estimator's methods own its state and run skorch's loop; the functions here take values
(parameters, arrays, datasets, torch modules) and return values, like scikit-learn's
``_ridge._solve_*``.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import threading
import uuid
import warnings
from collections.abc import Mapping

import numpy as np
import torch
import torch.distributed as dist
from sklearn.utils import check_random_state
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from .._core.timebase import Timebase
from .._core.validation import check_positive_int
from ..audio import SPECTRUM_TRIALS, sound_summary
from ..data import WindowBatchSampler, WindowDataset, collate_windows
from . import _callbacks as cb
from . import _checks
from ._checkpoints import FITTED_METADATA
from ._distributed import broadcast_object, setup_distributed, teardown_distributed
from ._losses import CategoricalCountLoss, PoissonLoss
from ._module import ICNet

#: module parameters that the estimator owns and sets itself
OWNED_MODULE_PARAMS = ("audio_fs", "dt_ms")
#: the parts of an ICNet that ``encoder_from`` transfers
_ENCODER_PREFIXES = ICNet.encoder_prefixes


# ---------------------------------------------------------------------------- data helpers
def n_trials(X):
    """Trials of training input (arrays with trial weights travel as a dict)."""
    return len(X["x"]) if isinstance(X, Mapping) else len(X)


def to_device(data, device):
    """A tensor on ``device``; host tensors in pinned memory are copied asynchronously."""
    if not isinstance(data, torch.Tensor):
        return torch.as_tensor(data, device=device)
    return data.to(device, non_blocking=data.is_pinned())


def with_weights(X, weights):
    """Array batches carry the trial weights along (the loss reads them)."""
    return X if weights is None else {"x": X, "sample_weight": weights}


# -------------------------------------------------------------------------- initialisation
def fit_state(distributed, device, random_state, checkpoint_dir, resume_dir):
    """What each fit starts from, ``(dist context, random seed, checkpoint directory)``: under
    ``torchrun`` the process group is joined, the seed drawn from ``random_state`` (one for
    every rank) and the fit's checkpoint directory named (created when a fit starts)."""
    ctx = setup_distributed(distributed, _checks.device_type(device))
    seed = None if random_state is None else \
        int(check_random_state(random_state).randint(2**31 - 1))
    if ctx is not None and seed is None:  # one shuffle for all ranks
        seed = broadcast_object(int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1)))
    if resume_dir is not None:
        dirname = resume_dir
    elif checkpoint_dir is not None:  # a unique name; created when a fit starts
        dirname = os.path.join(os.fspath(checkpoint_dir), f"icnet-{uuid.uuid4().hex[:12]}")
    else:
        dirname = None
    if ctx is not None:
        dirname = broadcast_object(dirname)  # rank 0's name
    return ctx, seed, dirname


def data_parallel(module, ctx, device):
    """Under ``torchrun``, the module wrapped for data-parallel training (the wrapper broadcasts
    rank 0's initial weights to every rank); None otherwise."""
    if ctx is None:
        return None
    device_ids = [ctx.local_rank] if _checks.device_type(device) == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def distributed_failure(exc, ctx):
    """The error to raise for ``exc`` in a distributed fit (every rank leaves the group), or
    None to re-raise it as it is."""
    if ctx is None:
        return None
    teardown_distributed()  # every rank of a failed fit leaves the group cleanly
    if not isinstance(exc, (RuntimeError, dist.DistBackendError)):  # e.g. divergence
        return None
    return RuntimeError(
        f"the distributed fit failed on rank {ctx.rank} of {ctx.world_size}: a peer process "
        f"died or stopped answering ({type(exc).__name__}: {str(exc)[:300]}). Checkpoints "
        "written before stay loadable (load_checkpoint).")


def monitor(net):
    """The loss that best-weight tracking and early stopping watch (the recipe reads it too)."""
    return "valid_loss" if net.train_split is not None else "train_loss"


def default_callbacks(skorch_defaults, ctx, watched, patience, checkpoint_dir):
    """skorch's defaults plus pending-loss resolution (first), heap trimming, best-weight
    tracking, early stopping and checkpoints (only rank 0 prints and writes)."""
    callbacks = [("resolve_losses", cb.ResolvePendingLosses())]
    if ctx is not None:  # every rank's batch losses, before the epoch means are taken
        callbacks.append(("gather_losses", cb.GatherDistributedLosses()))
    callbacks += [*skorch_defaults, ("trim_heap", cb.TrimHeap())]
    if ctx is not None and not ctx.is_main:  # only rank 0 prints
        callbacks = [(name, cb) for name, cb in callbacks if name != "print_log"]
    callbacks.append(("best_weights", cb.BestWeights(monitor=watched, restore=patience is not None)))
    if patience is not None:
        check_positive_int(patience, "early_stopping_patience")
        callbacks.append(("early_stopping", EarlyStopping(monitor=watched, patience=patience)))
    if checkpoint_dir is not None and (ctx is None or ctx.is_main):  # only rank 0 writes
        callbacks.append(("checkpoint_metadata",
                          cb.CheckpointMetadata(checkpoint_dir, FITTED_METADATA)))
        callbacks.append(("checkpoint", cb.AtomicCheckpoint(
            monitor=f"{watched}_best", dirname=checkpoint_dir, f_params="params.pt",
            f_optimizer="optimizer.pt", f_criterion=None, f_history="history.json")))
    return callbacks


def check_owned_params(module_params):
    """The estimator's own module parameters (the rates) may not come as ``module__*``."""
    for key in OWNED_MODULE_PARAMS:
        if key in module_params:
            raise ValueError(f"Set {key} on the estimator (ICNetRegressor({key}=...)), not "
                             f"as module__{key}; received module__{key}={module_params[key]!r}.")


def module_kwargs(module_params, audio_fs, dt_ms, head, n_neurons, neurons_per_recording):
    """The module's parameters: ``module__*`` with the estimator's rates, head and neurons
    (``neurons_per_recording`` None: one decoder; ``n_neurons`` None: not fitted yet)."""
    kwargs = dict(module_params)
    kwargs["audio_fs"], kwargs["dt_ms"] = audio_fs, dt_ms
    if head == "categorical":
        kwargs.setdefault("n_classes", 5)
    elif kwargs.get("n_classes") is not None:
        raise ValueError("module__n_classes needs head='categorical'; received "
                         f"module__n_classes={kwargs['n_classes']!r} with head='poisson'.")
    if n_neurons is not None:
        given = kwargs.get("out_neurons", n_neurons)
        if not isinstance(given, (list, tuple)) and given != n_neurons:
            raise ValueError(f"module__out_neurons={given!r} disagrees with y, which has "
                             f"{n_neurons} neuron(s); leave out_neurons unset.")
        if neurons_per_recording is not None:
            n_neurons = tuple(neurons_per_recording)  # one decoder per recording
        kwargs["out_neurons"] = n_neurons
    return kwargs


def encoder_source(encoder_from, freeze_encoder, estimator_cls):
    """The module whose encoder ``encoder_from`` names, or None."""
    source = encoder_from
    if source is None:
        if freeze_encoder:
            raise ValueError("freeze_encoder=True needs encoder_from, a fitted model whose "
                             "encoder to keep; received encoder_from=None.")
        return None
    if isinstance(source, estimator_cls):
        if not hasattr(source, "module_"):
            raise ValueError("encoder_from must be a fitted ICNetRegressor or a module; received "
                             "an unfitted estimator (GridSearchCV and clone unfit estimators: "
                             "build the parameters with sk_icnet.transfer_params, which stores "
                             "the module).")
        source = source.module_
    source = getattr(source, "_orig_mod", source)
    if not isinstance(source, torch.nn.Module) or not (
            isinstance(source, ICNet) or hasattr(source, "encoder_prefixes")):
        raise TypeError(f"encoder_from must be a fitted ICNetRegressor or its module (an ICNet "
                        f"or PublishedICNet); received {type(source).__name__}.")
    return source


def _encoder_prefixes(module):
    return tuple(getattr(module, "encoder_prefixes", _ENCODER_PREFIXES))


def _encoder_config(module):
    """What must match for the encoder's weights to be copied: the module class and the
    module's ``encoder_config()`` (or, without one, the encoder tensors' shapes)."""
    config = {"module": type(module).__name__}
    if hasattr(module, "encoder_config"):
        config.update(module.encoder_config())
    else:
        prefixes = _encoder_prefixes(module)
        config.update({key: list(value.shape) for key, value in module.state_dict().items()
                       if key.startswith(prefixes)})
    config.pop("audio_fs", None), config.pop("dt_ms", None)  # compared through the timebase
    return config


def transfer_encoder(source, module, freeze):
    """Copy (and with ``freeze``, freeze) the encoder of ``source`` into ``module``; a
    mismatch names every differing entry of the encoder's configuration."""
    ours = Timebase(module.audio_fs, module.dt_ms)
    for name, here, there in ours.mismatches(source.audio_fs, source.dt_ms)[:1]:
        raise ValueError(f"encoder_from was fitted with {name}={there!r}, "
                         f"but this model has {name}={here!r}; build the parameters with "
                         "sk_icnet.transfer_params(source, duration_s), which copies its rates.")
    theirs, ours = _encoder_config(source), _encoder_config(module)
    differ = [key for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
    if differ:
        listed = "; ".join(f"{key}: {str(theirs.get(key, '(none)'))[:60]} in encoder_from, "
                           f"{str(ours.get(key, '(none)'))[:60]} here" for key in differ[:20])
        more = f" (and {len(differ) - 20} more)" if len(differ) > 20 else ""
        raise ValueError(f"encoder_from has another encoder architecture than this model: "
                         f"{listed}{more}. "
                         "Build the parameters with sk_icnet.transfer_params(source, duration_s),"
                         " which copies the encoder's architecture and rates.")
    prefixes = _encoder_prefixes(module)
    state = {k: v for k, v in source.state_dict().items() if k.startswith(prefixes)}
    module.load_state_dict(state, strict=False)
    if freeze:
        for name, param in module.named_parameters():
            if name.startswith(prefixes):
                param.requires_grad_(False)


def criterion_class(head, criterion):
    """The criterion; the default Poisson loss becomes cross-entropy for the categorical head."""
    if head == "categorical" and criterion is PoissonLoss:
        return CategoricalCountLoss
    return criterion


# --------------------------------------------------------------------------------- seeding
def offset_seed(value, offset=0):
    """The fit's seed moved by ``offset`` (None stays None)."""
    return None if value is None else (value + offset) % (2**63 - 1)


#: held while torch's global generator is seeded: estimators fitted in threads (an ensemble's
#: members under joblib's threading backend) would otherwise draw from each other's seeds
_GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(value):
    """Run with torch's global generator seeded with ``value`` (None: unseeded), then restored;
    one thread at a time."""
    if value is None:
        yield
        return
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(value)
        yield


# --------------------------------------------------------------------------------- loaders
def array_loader_kwargs(kwargs, dataset, training, batch_size, seed, ctx, device):
    """The DataLoader arguments for arrays: training batches shuffled (seeded, with a generator
    of the loader's own, so the global torch random state is never consumed); under
    ``torchrun`` this rank's share of the trials, one permutation for all ranks."""
    kwargs = dict(kwargs)
    kwargs.setdefault("batch_size", batch_size)
    if kwargs["batch_size"] == -1:
        kwargs["batch_size"] = len(dataset)
    if training:
        kwargs.setdefault("shuffle", True)
    if _checks.device_type(device) == "cuda":
        kwargs.setdefault("pin_memory", True)  # lets batches be copied without a sync
    if ctx is not None:  # this rank's share of the trials, one permutation for all ranks
        kwargs["sampler"] = DistributedSampler(
            dataset, num_replicas=ctx.world_size, rank=ctx.rank,
            shuffle=kwargs.pop("shuffle", False), seed=seed or 0)
        kwargs.pop("generator", None)
    elif seed is not None and "generator" not in kwargs:
        kwargs["generator"] = torch.Generator().manual_seed(seed)
    return kwargs


def window_loader_kwargs(kwargs, data, training, batch_size, seed, ctx, device):
    """The DataLoader arguments for routed windows: batches of neighbouring windows
    (:class:`~sk_icnet.data.WindowBatchSampler`), shuffled with a seeded generator."""
    kwargs = dict(kwargs)
    batch_size = kwargs.pop("batch_size", batch_size)
    batch_size = len(data) if batch_size == -1 else batch_size
    shuffle = kwargs.pop("shuffle", training)
    generator = kwargs.pop("generator", None)
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(seed)
    kwargs["batch_sampler"] = WindowBatchSampler(
        data, batch_size, shuffle=shuffle, generator=generator,
        drop_last=kwargs.pop("drop_last", False), num_replicas=ctx.world_size if ctx else 1,
        rank=ctx.rank if ctx else 0)
    kwargs.setdefault("collate_fn", collate_windows)
    if kwargs.get("num_workers", 0) > 0:  # workers keep their open stores between epochs
        kwargs.setdefault("persistent_workers", True)
    if _checks.device_type(device) == "cuda":
        kwargs.setdefault("pin_memory", True)
    return kwargs


def split_windows(X, split):
    """The default ``ValidSplit`` of a WindowDataset: the first fraction of every recording's
    windows held out (so every decoder trains); None for anything else (skorch's split)."""
    if isinstance(split, ValidSplit) and isinstance(split.cv, numbers.Integral) \
            and not isinstance(X, WindowDataset) and n_trials(X) < split.cv:
        raise ValueError(
            f"train_split=ValidSplit({split.cv}) holds out 1/{split.cv} of the trials for the "
            f"validation loss and needs at least {split.cv} trials; received {n_trials(X)}. Pass "
            "train_split=None to train on all trials, or a ValidSplit with fewer folds.")
    if isinstance(X, WindowDataset) and isinstance(split, ValidSplit) and not split.stratified:
        cv = split.cv
        if isinstance(cv, (numbers.Integral, float)):
            fraction = 1.0 / cv if isinstance(cv, numbers.Integral) else float(cv)
            return X.split_valid(fraction)
    return None


def check_shards(ctx, train_set, valid_set, batch_size):
    """Under ``torchrun``: every rank needs a batch, and every rank the same data."""
    if ctx is not None:
        _check_shards(ctx, train_set, valid_set, batch_size)


def _check_shards(ctx, train_set, valid_set, batch_size):
    """Every rank needs a batch, and every rank the same data (unequal data would deadlock)."""
    from ._distributed import check_same_data

    data = _checks.as_data(train_set)
    windows = data is not None  # windows come in whole batches per process
    needed = ctx.world_size * (max(batch_size, 1) if windows else 1)
    if len(train_set) < needed:  # local, before any collective
        raise ValueError(
            f"a distributed fit over {ctx.world_size} processes needs at least {needed} "
            f"training {'windows' if windows else 'trials'} (a batch per process); "
            f"received {len(train_set)}. Use fewer processes or more data.")
    check_same_data(train_set, valid_set, data)


# ---------------------------------------------------------------------------- steps, loss
def window_inputs(x, fit_params, device):
    """A window batch's module inputs: the waveform (and time) on ``device``, the decoder
    index left on the host (routing), trial weights dropped (they are for the loss only)."""
    x = {key: value for key, value in {**x, **fit_params}.items() if key != "sample_weight"}
    x["x"] = to_device(x["x"], device)
    if x.get("time_s") is not None:
        x["time_s"] = to_device(x["time_s"], device)
    return x


def defer(step, callbacks):
    """A step's loss left on the device as :class:`PendingLoss` (resolved once per epoch)."""
    if callbacks != "disable":  # the resolving callback is a default callback
        step["loss"] = cb.PendingLoss(step["loss"])
    return step


def _masked_targets(y_true, device, skip_bins):
    """Targets on ``device`` with the first ``skip_bins`` bins of each trial set to NaN."""
    y_true = to_device(y_true, device)
    if skip_bins:
        y_true = y_true.clone()
        y_true[..., :skip_bins] = float("nan")
    return y_true


def batch_loss(criterion, y_pred, y_true, X, skip_bins):
    """Loss on one batch, the first ``skip_bins`` bins of each trial left out; window batches
    carry ``(counts, observed)``, weighted array batches their trial weights."""
    if isinstance(X, Mapping) and X.get("sample_weight") is not None:
        return _weighted_loss(criterion, y_pred, y_true, X["sample_weight"], skip_bins)
    if isinstance(y_true, (tuple, list)):
        counts, observed = (to_device(t, y_pred.device) for t in y_true)
        if skip_bins:
            observed = observed.clone()
            observed[..., :skip_bins] = False
        return criterion(y_pred, counts.float(), mask=observed)
    return criterion(y_pred, _masked_targets(y_true, y_pred.device, skip_bins))


def _weighted_loss(criterion, y_pred, y_true, weights, skip_bins):
    """The criterion per trial, averaged with weight ``weight * observed bins`` per trial:
    every observed bin of a trial counts ``weight`` times (the unweighted loss for equal
    weights)."""
    y_true = _masked_targets(to_device(y_true, y_pred.device).float(), y_pred.device, skip_bins)
    weights = to_device(weights, y_pred.device).float()
    observed = (~torch.isnan(y_true)).reshape(y_true.shape[0], -1).sum(dim=1).float()
    per_trial = torch.stack([criterion(y_pred[i: i + 1], y_true[i: i + 1])
                             for i in range(y_true.shape[0])])
    share = weights * observed
    return (share * per_trial).sum() / share.sum().clamp_min(1e-12)


# ------------------------------------------------------------------ decoder bias, summary
def init_decoder_bias(module, y3, weights, skip_bins):
    """Start ``module``'s decoder at each neuron's mean response (see :meth:`ICNetRegressor.fit`)."""
    decoder = getattr(module, "decoder", None)
    if not isinstance(decoder, torch.nn.Linear) or decoder.bias is None:
        return
    y = np.array(y3, dtype=np.float64)
    if skip_bins:
        y[..., :skip_bins] = np.nan
    observed = np.isfinite(y)
    w = observed * (1.0 if weights is None else weights.astype(np.float64)[:, None, None])
    total = w.sum(axis=(0, 2))  # per neuron
    y = np.where(observed, y, 0.0)
    n_classes = module.n_classes
    if decoder.bias.numel() != y.shape[1] * (n_classes or 1):
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        if n_classes is None:
            mean = np.clip((w * y).sum(axis=(0, 2)) / total, 1e-4, None)
            bias = mean + np.log(-np.expm1(-mean))  # softplus(bias) = mean
        else:
            classes = np.clip(np.round(y), 0, n_classes - 1)
            counts = np.stack([(w * (classes == c)).sum(axis=(0, 2))
                               for c in range(n_classes)], axis=1)  # (neurons, classes)
            freq = (counts + 0.5) / (total[:, None] + 0.5 * n_classes)
            bias = np.log(freq).reshape(-1)
    keep = np.repeat(total > 0, n_classes or 1)
    with torch.no_grad():
        current = decoder.bias.detach().cpu().numpy()
        decoder.bias.copy_(torch.as_tensor(np.where(keep, bias, current),
                                           dtype=decoder.bias.dtype))


def training_summary(timebase, n_neurons, X=None, y3=None, data=None, names=None,
                     neurons_per_recording=None):
    """What the model was trained on, JSON-serialisable (see ``training_summary_``): arrays
    ``X, y3``, or the windows ``data`` of recordings ``names``."""
    from .._version import __version__

    summary = {"sk_icnet_version": __version__, "audio_fs": float(timebase.audio_fs),
               "dt_ms": float(timebase.dt_ms), "n_neurons": int(n_neurons)}
    if data is not None:
        summary.update(_windows_summary(timebase, n_neurons, data, names, neurons_per_recording))
        return summary
    waves = X.reshape(X.shape[0], -1)
    count, n_samples = waves.shape
    summary.update(n_trials=int(count), duration_s=float(n_samples * count / timebase.audio_fs))
    summary.update(sound_summary(waves, timebase.audio_fs))
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(y3, axis=(0, 2), dtype=np.float64) / timebase.dt_s
    summary["mean_rate_hz"] = [float(v) if np.isfinite(v) else None for v in mean]
    return summary


def _windows_summary(timebase, n_neurons, data, names, neurons_per_recording):
    """The summary's data part for recordings, read lazily: up to 256 windows, evenly spaced."""
    summary = {"n_windows": len(data),
               "duration_s": float(len(data) * data.window_samples / timebase.audio_fs)}
    pick = np.unique(np.linspace(0, len(data) - 1, min(SPECTRUM_TRIALS, len(data))).astype(int))
    items = data.__getitems__(pick)
    waves = np.concatenate([np.asarray(x["x"], np.float64).reshape(1, -1) for x, _ in items])
    summary.update(sound_summary(waves, timebase.audio_fs))
    picked = list(data.windows["recording"].iloc[pick])
    offsets = dict(zip(names, np.cumsum([0, *neurons_per_recording]), strict=False))
    sums, counts = np.zeros(n_neurons), np.zeros(n_neurons)
    for (_, (y, observed)), name in zip(items, picked, strict=True):
        first = offsets[name]
        y = np.asarray(y, np.float64)
        sums[first: first + y.shape[0]] += np.where(observed, y, 0.0).sum(axis=1)
        counts[first: first + y.shape[0]] += np.asarray(observed).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts / timebase.dt_s
    summary["mean_rate_hz"] = [float(v) if np.isfinite(v) else None for v in mean]
    return summary
