"""How :class:`~sk_icnet.icnet.ICNetRegressor` trains: the module it builds, its loaders, the
train/validation split, sharding over ranks, seeding, trial weights, the decoder's starting
bias, the loss and the summary of what a model was trained on.

The estimator's skorch hooks are one-line calls into this module; the training loop itself
is skorch's.
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
from skorch.utils import to_tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler, Subset

from .._core.exceptions import _warn_rates_assumed
from .._core.timebase import Timebase, rates_agree
from .._core.validation import check_positive_int
from ..audio import SPECTRUM_TRIALS, sound_summary
from ..data import Recording, WindowBatchSampler, WindowDataset, collate_windows
from . import _callbacks as cb
from . import _checks
from ._checkpoints import FITTED_METADATA
from ._distributed import broadcast_object, setup_distributed, teardown_distributed
from ._losses import CategoricalCountLoss, PoissonLoss
from ._module import ICNet

#: module parameters that the estimator owns and sets itself
OWNED_MODULE_PARAMS = ("audio_fs", "dt_ms")
#: the parts of an ICNet that ``encoder_from`` transfers
_ENCODER_PREFIXES = ("sincnet.", "encoder.", "bottleneck.")


# ---------------------------------------------------------------------------- data helpers
def as_data(X):
    """A :class:`WindowDataset` for recordings and windows (views of Subsets too), else None."""
    if isinstance(X, Subset) and isinstance(X.dataset, WindowDataset):
        return X.dataset[np.asarray(X.indices)]
    if isinstance(X, WindowDataset):
        return X
    if isinstance(X, Recording) or (isinstance(X, (list, tuple)) and X
                                    and all(isinstance(r, Recording) for r in X)):
        return WindowDataset(X)
    return None


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


def route(est, data):
    """``data`` with every window pointing at its recording's decoder."""
    return data.route(getattr(est, "recording_names_", None), est.neurons_per_recording_)


# -------------------------------------------------------------------------- fit, partial_fit
def fit(est, X, y, sample_weight, fit_params):
    """Validate, (re)initialise, start the decoder at the mean response, then train."""
    data = as_data(X)
    if data is not None:
        _checks.check_no_target(y)
        _checks.check_no_weights(sample_weight)
        X, y = data, None
    if est.warm_start and est.initialized_ and hasattr(est, "n_neurons_"):
        return est.partial_fit(X, y, sample_weight=sample_weight, **fit_params)
    weights = None
    if data is not None:
        _checks.validate_dataset(est, data, reset=True, training=True)
        est.training_summary_ = training_summary(est, data=data)
    else:
        X, y = _checks.validate_fit_data(est, X, y, reset=True)
        _warn_rates_assumed(*_checks.warn_rates_assumed(est))  # pointing at the user's fit
        weights = _checks.check_sample_weight(sample_weight, X.shape[0])
        est.training_summary_ = training_summary(est, X, y)
    if not est.warm_start or not est.initialized_:
        est.initialize()
        if data is None:
            init_decoder_bias(est, y, weights)
    return train(est, with_weights(X, weights), y, fit_params)


def partial_fit(est, X, y, sample_weight, fit_params):
    """Validate against the fitted model (or the parameters, before any fit), then train."""
    data = as_data(X)
    reset = not (est.initialized_ and hasattr(est, "n_neurons_"))
    if data is not None:
        _checks.check_no_target(y)
        _checks.check_no_weights(sample_weight)
        X = _checks.validate_dataset(est, data, reset=reset, training=True)
    else:
        X, y = _checks.validate_fit_data(est, X, y, reset=reset)
        if reset:
            _warn_rates_assumed(*_checks.warn_rates_assumed(est))
        X = with_weights(X, _checks.check_sample_weight(sample_weight, X.shape[0]))
    return train(est, X, y, fit_params)


def train(est, X, y, fit_params):
    """Train on validated data with skorch's public hooks: ``initialize`` (if needed),
    ``on_train_begin``, :meth:`fit_loop`, ``on_train_end``; an interrupt ends training in
    order. What ``skorch.NeuralNet.partial_fit`` does, without its private arguments."""
    if not est.initialized_:
        est.initialize()
    est.notify("on_train_begin", X=X, y=y)
    try:
        est.fit_loop(X, y, **fit_params)
    except KeyboardInterrupt:
        pass
    est.notify("on_train_end", X=X, y=y)
    return est


def fit_loop(est, run, epochs):
    """Run skorch's loop (``run()``), recording the epochs asked for (``BestWeights`` tells a
    run that ended early from ``partial_fit(epochs=k)``); a distributed fit that fails
    leaves the process group on every rank and says which rank failed."""
    est._epochs_requested_ = epochs if epochs is not None else est.max_epochs
    est._in_fit_loop_ = True
    ctx = getattr(est, "dist_", None)
    try:
        return run()
    except KeyboardInterrupt:  # early stopping or Ctrl-C: an orderly end of training
        raise
    except BaseException as exc:
        if ctx is None:
            raise
        teardown_distributed()  # every rank of a failed fit leaves the group cleanly
        if not isinstance(exc, (RuntimeError, dist.DistBackendError)):  # e.g. divergence
            raise
        raise RuntimeError(
            f"the distributed fit failed on rank {ctx.rank} of {ctx.world_size}: a peer process "
            f"died or stopped answering ({type(exc).__name__}: {str(exc)[:300]}). Checkpoints "
            "written before stay loadable (load_checkpoint).") from exc
    finally:
        est._in_fit_loop_ = False


# -------------------------------------------------------------------------- initialisation
def begin_initialize(est):
    """Before skorch builds the components: join the process group under ``torchrun``, draw
    the fit's seed and name its checkpoint directory (created when a fit starts)."""
    est.dist_ = setup_distributed(est.distributed, _checks.device_type(est))
    if est.random_state is None:
        est.random_seed_ = None
    else:
        est.random_seed_ = int(check_random_state(est.random_state).randint(2**31 - 1))
    if est.dist_ is not None and est.random_seed_ is None:  # one shuffle for all ranks
        est.random_seed_ = broadcast_object(int(np.random.SeedSequence().generate_state(1)[0]
                                                % (2**31 - 1)))
    resume_dir = est.__dict__.pop("_resume_dir", None)
    if resume_dir is not None:
        est.checkpoint_dir_ = resume_dir
    elif est.checkpoint_dir is not None:  # a unique name; created when a fit starts
        est.checkpoint_dir_ = os.path.join(os.fspath(est.checkpoint_dir),
                                           f"icnet-{uuid.uuid4().hex[:12]}")
    else:
        est.checkpoint_dir_ = None
    if est.dist_ is not None:
        est.checkpoint_dir_ = broadcast_object(est.checkpoint_dir_)  # rank 0's name


def end_initialize(est):
    """After skorch built the components: under ``torchrun`` wrap the module for data-parallel
    training (the wrapper broadcasts rank 0's initial weights to every rank)."""
    ddp = None
    if est.dist_ is not None:
        device_ids = [est.dist_.local_rank] if _checks.device_type(est) == "cuda" else None
        ddp = DistributedDataParallel(est.module_, device_ids=device_ids)
    # a view of module_ for training steps, not a component of the net: skorch does not
    # save, move or re-initialise it, so it is set past skorch's attribute checks
    object.__setattr__(est, "_ddp_module_", ddp)


def monitor(est):
    return "valid_loss" if est.train_split is not None else "train_loss"


def default_callbacks(est, skorch_defaults):
    """skorch's defaults plus pending-loss resolution (first), heap trimming, best-weight
    tracking, early stopping and checkpoints (only rank 0 prints and writes)."""
    ctx = getattr(est, "dist_", None)
    callbacks = [("resolve_losses", cb.ResolvePendingLosses())]
    if ctx is not None:  # every rank's batch losses, before the epoch means are taken
        callbacks.append(("gather_losses", cb.GatherDistributedLosses()))
    callbacks += [*skorch_defaults, ("trim_heap", cb.TrimHeap())]
    if ctx is not None and not ctx.is_main:  # only rank 0 prints
        callbacks = [(name, cb) for name, cb in callbacks if name != "print_log"]
    watched = monitor(est)
    patience = est.early_stopping_patience
    callbacks.append(("best_weights", cb.BestWeights(monitor=watched, restore=patience is not None)))
    if patience is not None:
        check_positive_int(patience, "early_stopping_patience")
        callbacks.append(("early_stopping", EarlyStopping(monitor=watched, patience=patience)))
    dirname = getattr(est, "checkpoint_dir_", None)
    if dirname is not None and (ctx is None or ctx.is_main):  # only rank 0 writes
        callbacks.append(("checkpoint_metadata", cb.CheckpointMetadata(dirname, FITTED_METADATA)))
        callbacks.append(("checkpoint", cb.AtomicCheckpoint(
            monitor=f"{watched}_best", dirname=dirname, f_params="params.pt",
            f_optimizer="optimizer.pt", f_criterion=None, f_history="history.json")))
    return callbacks


def module_kwargs(est):
    """The module's parameters: ``module__*`` with the estimator's rates, head and neurons."""
    kwargs = est.get_params_for("module")
    for key in OWNED_MODULE_PARAMS:
        if key in kwargs:
            raise ValueError(f"Set {key} on the estimator (ICNetRegressor({key}=...)), not "
                             f"as module__{key}; received module__{key}={kwargs[key]!r}.")
    if hasattr(est, "audio_fs_"):
        audio_fs, dt_ms = est.audio_fs_, est.dt_ms_
    else:
        audio_fs, dt_ms = _checks.resolve_rates(est)
        if dt_ms is None:
            raise ValueError("dt_ms=None infers the bin width from the data: call fit(X, y) "
                             "rather than initialize().")
    _checks.check_params(est)
    kwargs["audio_fs"], kwargs["dt_ms"] = audio_fs, dt_ms
    if est.head == "categorical":
        kwargs.setdefault("n_classes", 5)
    elif kwargs.get("n_classes") is not None:
        raise ValueError("module__n_classes needs head='categorical'; received "
                         f"module__n_classes={kwargs['n_classes']!r} with head='poisson'.")
    n_neurons = getattr(est, "n_neurons_", None)
    if n_neurons is not None:
        given = kwargs.get("out_neurons", n_neurons)
        if not isinstance(given, (list, tuple)) and given != n_neurons:
            raise ValueError(f"module__out_neurons={given!r} disagrees with y, which has "
                             f"{n_neurons} neuron(s); leave out_neurons unset.")
        if getattr(est, "recording_names_", None) is not None:
            n_neurons = tuple(est.neurons_per_recording_)  # one decoder per recording
        kwargs["out_neurons"] = n_neurons
    return kwargs


def build_module(est, estimator_cls):
    """ICNet with the estimator's rates and neuron count (seeded), the encoder transferred
    (``encoder_from`` may be an ``estimator_cls`` or its module)."""
    kwargs = module_kwargs(est)
    if isinstance(est.module, torch.nn.Module):
        module = est.module
    else:
        with seeded(est):
            module = est.module(**kwargs)
    transfer_encoder(est, module, estimator_cls)
    return module


def _encoder_source(est, estimator_cls):
    """The ICNet whose encoder ``encoder_from`` names, or None."""
    source = est.encoder_from
    if source is None:
        if est.freeze_encoder:
            raise ValueError("freeze_encoder=True needs encoder_from, a fitted model whose "
                             "encoder to keep; received encoder_from=None.")
        return None
    if isinstance(source, estimator_cls):
        if not hasattr(source, "module_"):
            raise ValueError("encoder_from must be a fitted ICNetRegressor (or its module_; "
                             "GridSearchCV clones estimators unfitted, so pass est.module_ "
                             "there); received an unfitted estimator.")
        source = source.module_
    if not isinstance(source, ICNet):
        raise TypeError(f"encoder_from must be a fitted ICNetRegressor or an ICNet; received "
                        f"{type(source).__name__}.")
    return source


def transfer_encoder(est, module, estimator_cls):
    """Copy (and optionally freeze) the encoder of ``encoder_from`` into ``module``."""
    source = _encoder_source(est, estimator_cls)
    if source is None:
        return
    for name in ("audio_fs", "dt_ms"):
        if not rates_agree(getattr(source, name), getattr(module, name)):
            raise ValueError(f"encoder_from was fitted with {name}={getattr(source, name)!r}, "
                             f"but this model has {name}={getattr(module, name)!r}.")
    theirs = {k: v for k, v in source.state_dict().items() if k.startswith(_ENCODER_PREFIXES)}
    ours = {k: v for k, v in module.state_dict().items() if k.startswith(_ENCODER_PREFIXES)}
    wrong = [k for k in ours if k not in theirs or theirs[k].shape != ours[k].shape]
    if wrong or set(theirs) != set(ours):
        raise ValueError(f"encoder_from has another encoder architecture (first mismatch: "
                         f"{(wrong or sorted(set(theirs) ^ set(ours)))[0]}); give this model "
                         "the same module__ parameters.")
    module.load_state_dict(theirs, strict=False)
    if est.freeze_encoder:
        for name, param in module.named_parameters():
            if name.startswith(_ENCODER_PREFIXES):
                param.requires_grad_(False)


def criterion_class(est):
    """The criterion; the default Poisson loss becomes cross-entropy for the categorical head."""
    if est.head == "categorical" and est.criterion is PoissonLoss:
        return CategoricalCountLoss
    return est.criterion


# --------------------------------------------------------------------------------- seeding
def seed(est, offset=0):
    value = getattr(est, "random_seed_", None)
    return None if value is None else (value + offset) % (2**63 - 1)


#: held while torch's global generator is seeded: estimators fitted in threads (an ensemble's
#: members under joblib's threading backend) would otherwise draw from each other's seeds
_GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(est, offset=0):
    """Run with torch's global generator seeded from ``random_state``, then restored; one
    thread at a time."""
    value = seed(est, offset)
    if value is None:
        yield
        return
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(value)
        yield


def epoch_seed(est):
    """The shuffling seed of the coming epoch (None without ``random_state``)."""
    return seed(est, offset=len(est.history_) if est.history_ is not None else 0)


def shard_context(est):
    """The distributed context while a fit's batches are drawn (prediction is not sharded)."""
    return getattr(est, "dist_", None) if getattr(est, "_in_fit_loop_", False) else None


# --------------------------------------------------------------------------------- loaders
def get_iterator(est, dataset, training):
    """DataLoader for ``dataset``; training batches are shuffled (seeded) by default, with a
    seeded generator per loader so the global torch random state is never consumed."""
    kwargs = est.get_params_for("iterator_train" if training else "iterator_valid")
    windows = as_data(dataset)
    if windows is not None:
        return _window_iterator(est, windows, training, kwargs)
    kwargs.setdefault("batch_size", est.batch_size)
    if kwargs["batch_size"] == -1:
        kwargs["batch_size"] = len(dataset)
    if training:
        kwargs.setdefault("shuffle", True)
    if _checks.device_type(est) == "cuda":
        kwargs.setdefault("pin_memory", True)  # lets batches be copied without a sync
    value = epoch_seed(est)
    ctx = shard_context(est)
    if ctx is not None:  # this rank's share of the trials, one permutation for all ranks
        kwargs["sampler"] = DistributedSampler(
            dataset, num_replicas=ctx.world_size, rank=ctx.rank,
            shuffle=kwargs.pop("shuffle", False), seed=value or 0)
        kwargs.pop("generator", None)
    elif value is not None and "generator" not in kwargs:
        kwargs["generator"] = torch.Generator().manual_seed(value)
    iterator = est.iterator_train if training else est.iterator_valid
    return iterator(dataset, **kwargs)


def _window_iterator(est, data, training, kwargs):
    """Batches of neighbouring windows (:class:`~sk_icnet.data.WindowBatchSampler`)."""
    data = route(est, data)
    batch_size = kwargs.pop("batch_size", est.batch_size)
    batch_size = len(data) if batch_size == -1 else batch_size
    shuffle = kwargs.pop("shuffle", training)
    generator = kwargs.pop("generator", None)
    value = epoch_seed(est)
    if generator is None and value is not None:
        generator = torch.Generator().manual_seed(value)
    ctx = shard_context(est)
    sampler = WindowBatchSampler(data, batch_size, shuffle=shuffle, generator=generator,
                                 drop_last=kwargs.pop("drop_last", False),
                                 num_replicas=ctx.world_size if ctx else 1,
                                 rank=ctx.rank if ctx else 0)
    kwargs.setdefault("collate_fn", collate_windows)
    if kwargs.get("num_workers", 0) > 0:  # workers keep their open stores between epochs
        kwargs.setdefault("persistent_workers", True)
    if _checks.device_type(est) == "cuda":
        kwargs.setdefault("pin_memory", True)
    iterator = est.iterator_train if training else est.iterator_valid
    return iterator(data, batch_sampler=sampler, **kwargs)


def split_datasets(est, X, y, skorch_split):
    """Train/validation split; a WindowDataset under the default ``ValidSplit`` holds out the
    first fraction of every recording's windows (so every decoder trains). ``skorch_split()``
    is skorch's split, for everything else."""
    split = est.train_split
    if isinstance(split, ValidSplit) and isinstance(split.cv, numbers.Integral) \
            and not isinstance(X, WindowDataset) and n_trials(X) < split.cv:
        raise ValueError(
            f"train_split=ValidSplit({split.cv}) holds out 1/{split.cv} of the trials for the "
            f"validation loss and needs at least {split.cv} trials; received {n_trials(X)}. Pass "
            "train_split=None to train on all trials, or a ValidSplit with fewer folds.")
    train_set, valid_set = None, None
    if isinstance(X, WindowDataset) and isinstance(split, ValidSplit) and not split.stratified:
        cv = split.cv
        if isinstance(cv, (numbers.Integral, float)):
            fraction = 1.0 / cv if isinstance(cv, numbers.Integral) else float(cv)
            train_set, valid_set = X.split_valid(fraction)
    if train_set is None:
        train_set, valid_set = skorch_split()
    ctx = getattr(est, "dist_", None)
    if ctx is not None:
        _check_shards(ctx, train_set, valid_set, est.batch_size)
    return train_set, valid_set


def _check_shards(ctx, train_set, valid_set, batch_size):
    """Every rank needs a batch, and every rank the same data (unequal data would deadlock)."""
    from ._distributed import check_same_data

    data = as_data(train_set)
    windows = data is not None  # windows come in whole batches per process
    needed = ctx.world_size * (max(batch_size, 1) if windows else 1)
    if len(train_set) < needed:  # local, before any collective
        raise ValueError(
            f"a distributed fit over {ctx.world_size} processes needs at least {needed} "
            f"training {'windows' if windows else 'trials'} (a batch per process); "
            f"received {len(train_set)}. Use fewer processes or more data.")
    check_same_data(train_set, valid_set, data)


# ---------------------------------------------------------------------------- steps, loss
def autocast(est):
    if est.precision != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=_checks.device_type(est), dtype=torch.bfloat16)


def training_module(est):
    """The DDP wrapper for training steps of a data-parallel fit (it averages the gradients
    over ranks), the plain module otherwise."""
    ddp = getattr(est, "_ddp_module_", None)
    if ddp is not None and est.module_.training and torch.is_grad_enabled():
        return ddp
    return est.module_


def infer(est, x, fit_params, skorch_infer):
    """Module forward on one batch, under bfloat16 autocast if ``precision="bfloat16"``;
    ``skorch_infer(x)`` is skorch's forward for arrays on the plain module."""
    module = training_module(est)
    if isinstance(x, Mapping):  # windows: the decoder index stays on the host (routing)
        x = {key: value for key, value in {**x, **fit_params}.items()
             if key != "sample_weight"}  # trial weights are for the loss only
        device = est.device or "cpu"
        x["x"] = to_device(x["x"], device)
        if x.get("time_s") is not None:
            x["time_s"] = to_device(x["time_s"], device)
        with autocast(est):
            return module(**x)
    if est.device is not None and isinstance(x, torch.Tensor):  # the rest: skorch's to_tensor
        x = to_device(x, est.device)
    with autocast(est):
        if module is not est.module_:
            return module(to_tensor(x, device=est.device), **fit_params)
        return skorch_infer(x)


def defer(est, step):
    """A step's loss left on the device as :class:`PendingLoss` (resolved once per epoch)."""
    if est.callbacks != "disable":  # the resolving callback is a default callback
        step["loss"] = cb.PendingLoss(step["loss"])
    return step


def _masked_targets(est, y_true, device):
    """Targets on ``device`` with the first ``skip_bins`` bins of each trial set to NaN."""
    y_true = to_device(y_true, device)
    if est.skip_bins:
        y_true = y_true.clone()
        y_true[..., : est.skip_bins] = float("nan")
    return y_true


def get_loss(est, y_pred, y_true, X):
    """Loss on one batch, the first ``skip_bins`` bins of each trial left out; window batches
    carry ``(counts, observed)``, weighted array batches their trial weights."""
    if isinstance(X, Mapping) and X.get("sample_weight") is not None:
        return _weighted_loss(est, y_pred, y_true, X["sample_weight"])
    if isinstance(y_true, (tuple, list)):
        counts, observed = (to_device(t, y_pred.device) for t in y_true)
        if est.skip_bins:
            observed = observed.clone()
            observed[..., : est.skip_bins] = False
        return est.criterion_(y_pred, counts.float(), mask=observed)
    return est.criterion_(y_pred, _masked_targets(est, y_true, y_pred.device))


def _weighted_loss(est, y_pred, y_true, weights):
    """The criterion per trial, averaged with weight ``weight * observed bins`` per trial:
    every observed bin of a trial counts ``weight`` times (the unweighted loss for equal
    weights)."""
    y_true = _masked_targets(est, to_device(y_true, y_pred.device).float(), y_pred.device)
    weights = to_device(weights, y_pred.device).float()
    observed = (~torch.isnan(y_true)).reshape(y_true.shape[0], -1).sum(dim=1).float()
    per_trial = torch.stack([est.criterion_(y_pred[i: i + 1], y_true[i: i + 1])
                             for i in range(y_true.shape[0])])
    share = weights * observed
    return (share * per_trial).sum() / share.sum().clamp_min(1e-12)


# ------------------------------------------------------------------ decoder bias, summary
def init_decoder_bias(est, y3, weights):
    """Start the decoder at each neuron's mean response (see :meth:`ICNetRegressor.fit`)."""
    decoder = getattr(est.module_, "decoder", None)
    if not isinstance(decoder, torch.nn.Linear) or decoder.bias is None:
        return
    y = np.array(y3, dtype=np.float64)
    if est.skip_bins:
        y[..., : est.skip_bins] = np.nan
    observed = np.isfinite(y)
    w = observed * (1.0 if weights is None else weights.astype(np.float64)[:, None, None])
    total = w.sum(axis=(0, 2))  # per neuron
    y = np.where(observed, y, 0.0)
    n_classes = est.module_.n_classes
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


def training_summary(est, X=None, y3=None, data=None):
    """What the model was trained on, JSON-serialisable (see ``training_summary_``)."""
    from .._version import __version__

    summary = {"sk_icnet_version": __version__, "audio_fs": float(est.audio_fs_),
               "dt_ms": float(est.dt_ms_), "n_neurons": int(est.n_neurons_)}
    if data is not None:
        summary.update(_windows_summary(est, data))
        return summary
    waves = X.reshape(X.shape[0], -1)
    count, n_samples = waves.shape
    summary.update(n_trials=int(count), duration_s=float(n_samples * count / est.audio_fs_))
    summary.update(sound_summary(waves, est.audio_fs_))
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(y3, axis=(0, 2), dtype=np.float64) / _timebase(est).dt_s
    summary["mean_rate_hz"] = [float(v) if np.isfinite(v) else None for v in mean]
    return summary


def _timebase(est):
    return Timebase(est.audio_fs_, est.dt_ms_)


def _windows_summary(est, data):
    """The summary's data part for recordings, read lazily: up to 256 windows, evenly spaced."""
    summary = {"n_windows": len(data),
               "duration_s": float(len(data) * data.window_samples / est.audio_fs_)}
    pick = np.unique(np.linspace(0, len(data) - 1, min(SPECTRUM_TRIALS, len(data))).astype(int))
    items = data.__getitems__(pick)
    waves = np.concatenate([np.asarray(x["x"], np.float64).reshape(1, -1) for x, _ in items])
    summary.update(sound_summary(waves, est.audio_fs_))
    names = list(data.windows["recording"].iloc[pick])
    offsets = dict(zip(est.recording_names_, np.cumsum([0, *est.neurons_per_recording_]),
                       strict=False))
    sums, counts = np.zeros(est.n_neurons_), np.zeros(est.n_neurons_)
    for (_, (y, observed)), name in zip(items, names, strict=True):
        first = offsets[name]
        y = np.asarray(y, np.float64)
        sums[first: first + y.shape[0]] += np.where(observed, y, 0.0).sum(axis=1)
        counts[first: first + y.shape[0]] += np.asarray(observed).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts / _timebase(est).dt_s
    summary["mean_rate_hz"] = [float(v) if np.isfinite(v) else None for v in mean]
    return summary
