"""The small-data recipe: ICNetRegressor parameters chosen from the amount of training sound.

:func:`small_data_params` returns constructor parameters for
:class:`~sk_icnet.ICNetRegressor` (``ICNetRegressor(**small_data_params(...))``);
:func:`transfer_params` the same for fitting new neurons on an encoder
pretrained on other recordings. Both return plain constructor parameters, so
every choice shows in ``get_params()`` and survives ``clone`` and
``GridSearchCV``; ``ICNetRegressor()`` with no arguments stays the paper
configuration.

The numbers below come from ``benchmarks/learning_curve.py --sweep`` and
``benchmarks/learning_curve.py`` (simulated inferior-colliculus-like neurons,
:mod:`sk_icnet.simulate`; 8 kHz audio, 2 ms bins, 8 neurons at 10-40
spikes/s, single trials, natural-like sound), see ``docs/user_guide/small_data.md``.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings

import numpy as np
import torch
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import ReduceLROnPlateau

from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, Timebase
from .._core.validation import _describe, check_positive_int, check_positive_number
from ._callbacks import DidNotLearnCheck
from ._module import factor_strides
from ._training import monitor

__all__ = ["small_data_params", "transfer_params", "SIZE_PRESETS", "SMALLER_PRESETS",
           "estimate_fit_seconds", "forward_flops_per_sample"]

#: network sizes (``module__`` parameters) by the minutes of training sound they suit:
#: ``(up to this many minutes, name, parameters)``; beyond the last, the paper's network
SIZE_PRESETS = (
    (120.0, "medium", dict(n_filters=32, encoder_channels=64, encoder_kernel_size=16,
                           n_encoder_layers=4, bottleneck_channels=32)),
)

#: smaller networks, measured worse at 3 minutes (``benchmarks/learning_curve.py --sweep``)
SMALLER_PRESETS = {
    "tiny": dict(n_filters=16, encoder_channels=16, encoder_kernel_size=8, n_encoder_layers=2,
                 bottleneck_channels=8),
    "small": dict(n_filters=32, encoder_channels=32, encoder_kernel_size=16, n_encoder_layers=3,
                  bottleneck_channels=16),
}

#: the recipe's optimiser settings (measured: see :func:`small_data_params`)
_LR = 3e-3
_WEIGHT_DECAY = 1e-2
_PLATEAU_FACTOR = 0.5
#: a whole pass over this many minutes of sound per ``max_epochs`` unit: epochs = this / minutes
_EPOCH_MINUTES = 300.0
_MIN_EPOCHS, _MAX_EPOCHS = 12, 100


#: sizes ``time_budget_s`` may choose, largest first, after the duration's own preset
_BUDGET_SIZES = ("medium", "small", "tiny")


def _monitored_loss(net):
    """The loss early stopping watches (``valid_loss``, or ``train_loss`` without a split);
    module-level, so the scheduler pickles into joblib workers."""
    return net.history[-1, monitor(net)]


def _check_duration(duration_s):
    if isinstance(duration_s, bool) or not isinstance(duration_s, numbers.Real) \
            or not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be the total training sound in seconds, a finite number "
                         f"> 0 (e.g. 600 for 10 minutes); received {_describe(duration_s)}.")
    return float(duration_s)


def _check_retries(retries):
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ValueError(f"retries must be an int >= 0 (extra fits from other seeds when a fit "
                         f"does not learn); received {_describe(retries)}. Use e.g. retries=1.")
    return int(retries)


def _default_retries(retries, time_budget_s):
    """One retry by default; none within a time budget (a retry doubles the fit's time)."""
    if retries is None:
        return 0 if time_budget_s is not None else 1
    return _check_retries(retries)


def _size_preset(minutes):
    for limit, name, params in SIZE_PRESETS:
        if minutes <= limit:
            return name, dict(params)
    return "paper", {}


def _schedule(minutes):
    """max_epochs, early-stopping patience and plateau patience for ``minutes`` of sound."""
    max_epochs = int(min(_MAX_EPOCHS, max(_MIN_EPOCHS, math.ceil(_EPOCH_MINUTES / minutes))))
    patience = max(4, max_epochs // 8)
    return max_epochs, patience, max(1, patience // 2)


def _plateau(patience):
    return LRScheduler(policy=ReduceLROnPlateau, monitor=_monitored_loss, mode="min",
                       factor=_PLATEAU_FACTOR, patience=patience)


def forward_flops_per_sample(module_params, audio_fs, dt_ms, n_neurons=8):
    """Forward FLOPs of an ICNet per audio sample (counted by torch's ``FlopCounterMode`` on
    two input lengths, so the context's fixed cost drops out).

    Parameters
    ----------
    module_params : dict
        ``module__`` parameters (with or without the prefix); empty: the paper's network.
    audio_fs, dt_ms : float
    n_neurons : int, default=8
    """
    from torch.utils.flop_counter import FlopCounterMode

    from ._module import ICNet

    kwargs = {key.removeprefix("module__"): value for key, value in module_params.items()}
    net = ICNet(audio_fs=audio_fs, dt_ms=dt_ms, out_neurons=n_neurons, **kwargs)
    counts = []
    with torch.no_grad():
        for bins in (16, 32):
            x = torch.zeros(1, 1, (bins + net.context_bins) * net.samples_per_bin)
            with FlopCounterMode(display=False) as counter:
                net(x)
            counts.append((counter.get_total_flops(), x.shape[-1]))
    (f1, n1), (f2, n2) = counts
    return (f2 - f1) / (n2 - n1)


def _epoch_seconds(module, audio_fs, dt_ms, seconds, n_neurons):
    # imported here: the benchmark that measures the constants never loads their file, so
    # updating them does not make its results file stale (docs/_results.py)
    from ._fit_cost import FIT_SECONDS_PER_FLOP, FIT_SECONDS_PER_SAMPLE

    flops = forward_flops_per_sample(module, audio_fs, dt_ms, n_neurons)
    return (FIT_SECONDS_PER_SAMPLE + FIT_SECONDS_PER_FLOP * flops) * seconds * audio_fs


def estimate_fit_seconds(params, duration_s, *, n_neurons=8):
    """Expected wall time (s) of a fit with ``params`` on ``duration_s`` of sound, if it runs
    all its ``max_epochs``: epochs times samples times (``FIT_SECONDS_PER_SAMPLE`` +
    ``FIT_SECONDS_PER_FLOP`` times the forward FLOPs per sample, in ``icnet/_fit_cost.py``).
    Calibrated on 2 threads of one machine (``benchmarks/fit_time.py``); other machines scale
    it by their speed.

    Parameters
    ----------
    params : dict
        Constructor parameters (``small_data_params``' for instance).
    duration_s : float
    n_neurons : int, default=8
    """
    module = {k: v for k, v in params.items() if k.startswith("module__")}
    fs = params.get("audio_fs", PAPER_AUDIO_FS)
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    per_epoch = _epoch_seconds(module, fs, params.get("dt_ms", PAPER_DT_MS),
                               _check_duration(duration_s), n_neurons)
    return per_epoch * params.get("max_epochs", 10)


def _within_budget(budget_s, seconds, timebase, module, max_epochs, n_neurons):
    """The largest size (from the duration's preset down) that affords ``_MIN_EPOCHS`` epochs
    in ``budget_s``, and its epochs: ``(module, max_epochs)``."""
    budget_s = check_positive_number(budget_s, "time_budget_s")
    names = ["paper", *_BUDGET_SIZES] if not module else list(_BUDGET_SIZES)
    sizes = {"paper": {}, "medium": dict(SIZE_PRESETS[0][2]), **SMALLER_PRESETS}
    for name in names:
        candidate = _fitted_strides(dict(sizes[name]), timebase, n_neurons)
        per_epoch = _epoch_seconds(candidate, timebase.audio_fs, timebase.dt_ms, seconds,
                                   n_neurons or 8)
        affordable = int(budget_s // per_epoch)
        if affordable >= min(_MIN_EPOCHS, max_epochs):
            return candidate, min(max_epochs, affordable)
        if name == names[-1]:
            if affordable < 1:
                raise ValueError(
                    f"time_budget_s={budget_s!r} is shorter than one epoch of the smallest network "
                    f"on {seconds:g} s of sound (about {per_epoch:.3g} s estimated at "
                    f"audio_fs={timebase.audio_fs:g} Hz); give a budget of at least "
                    f"{_MIN_EPOCHS * per_epoch:.3g} s, or less sound, or a lower audio rate.")
            warnings.warn(f"time_budget_s={budget_s!r} affords only {affordable} epoch(s) of the "
                          f"smallest network (about {per_epoch:.3g} s each): expect an undertrained "
                          "model.", UserWarning, stacklevel=3)
            return candidate, affordable
    raise AssertionError("unreachable")


def _fitted_strides(module, timebase, n_neurons):
    """Every stride within the kernel (no sample skipped by a strided layer); the bottleneck
    at least ``min(64, n_neurons)`` channels."""
    if not module:
        return module
    strides = factor_strides(timebase.samples_per_bin, module["n_encoder_layers"])
    module["encoder_kernel_size"] = max(module["encoder_kernel_size"], max(strides))
    if n_neurons is not None:
        module["bottleneck_channels"] = max(module["bottleneck_channels"], min(64, n_neurons))
    return module


def small_data_params(duration_s, *, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS, n_neurons=None,
                      retries=None, time_budget_s=None):
    """Parameters of :class:`~sk_icnet.ICNetRegressor` for a given amount of training sound.

    Use as ``ICNetRegressor(**small_data_params(600, audio_fs=fs, dt_ms=dt))``;
    override any entry by passing it after (``{**params, "max_epochs": 50}``).

    Parameters
    ----------
    duration_s : float
        Total duration of the training sound in seconds (all trials together,
        validation trials included; repeats of the same sound count once).
    audio_fs : float, default=24414.0625
        Sampling rate of the waveforms (Hz).
    dt_ms : float, default=1.31072
        Bin width (ms); ``audio_fs * dt_ms / 1000`` must be whole.
    n_neurons : int, optional
        Number of neurons fitted together; the bottleneck gets at least
        ``min(64, n_neurons)`` channels (a rule of thumb, not measured).
    retries : int, optional
        Fits that never beat the mean-rate model on their validation loss are
        detected (:class:`~sk_icnet.icnet.DidNotLearnCheck`, which warns with
        :class:`~sk_icnet.exceptions.DidNotLearnWarning`); with ``retries`` > 0
        such a fit is started again from another seed, up to this many times.
        Default: 1, or 0 with a ``time_budget_s`` (a retry doubles the fit's
        time). A retry costs nothing unless a fit fails: on an independent
        simulated population 2 of 7 fits of this recipe ended at the mean-rate
        model, while none of the 30 three-minute fits of the package's three
        families (10 seeds each) did (``benchmarks/learning_curve.py``).
    time_budget_s : float, optional
        Wall time the fit may take. The size and ``max_epochs`` are then chosen
        from a cost model (:func:`estimate_fit_seconds`: forward FLOPs per
        sample, counted, times one constant measured by
        ``benchmarks/fit_time.py`` on 2 threads): the largest network, from the
        duration's own preset down to the smaller ones (:data:`SMALLER_PRESETS`),
        that affords at least 12 epochs (the recipe's minimum), with as many
        epochs as the budget affords up to the recipe's. This rule is not
        measured: what the smaller size or fewer epochs cost in D² is not
        measured yet. Other machines differ in speed: on a faster one the
        budget is an upper bound.

    Returns
    -------
    dict
        Constructor parameters: ``audio_fs``, ``dt_ms``, the size preset as
        ``module__`` parameters, ``optimizer``, ``lr``,
        ``optimizer__weight_decay``, ``max_epochs``, ``batch_size``,
        ``early_stopping_patience`` and ``callbacks`` (a reduce-on-plateau
        learning-rate schedule named ``"lr_plateau"``, which watches the loss
        early stopping watches, and the check ``"did_not_learn"``).

    Notes
    -----
    Each choice, with the measurement behind it (``benchmarks/learning_curve.py
    --sweep``: 3 minutes of simulated IC-like neurons, see
    ``docs/user_guide/small_data.md``):

    * **Size**: ``"medium"`` (32 SincNet filters, four stride-2 layers of
      64 channels, a 32-channel bottleneck: 263 k parameters) up to 120
      minutes, the paper network (5.1 M) beyond, as the paper fitted it to
      hours. At 3 minutes the larger network fitted best on held-out data:
      54 % of the attainable D² against 48 % for a 58 k-parameter network and
      30 % for a 5 k one (:data:`SMALLER_PRESETS`), with early stopping
      keeping it from overfitting; it costs 2.4 times as much per epoch as the
      58 k one. Between 2 hours and the paper's 7.8, nothing was measured.
    * **Learning rate** 3e-3 with **AdamW** (decoupled weight decay 1e-2):
      at 3 minutes (5 k-parameter network, 100 epochs) 1e-3 reached 25 % of
      the attainable D², 3e-3 30 % and 1e-2 31 % (the paper's 1e-4 was not
      tried). Weight decay made no measurable difference there (29.8 % with
      and without); it is kept as a cheap guard for the larger network.
    * **Epochs**: ``300 / minutes`` (12 to 100), so a fit sees a similar number
      of steps whatever the duration; **early stopping** after
      ``max(4, max_epochs // 8)`` epochs without improvement of the validation
      loss, restoring the best weights.
    * **Reduce on plateau**: the learning rate halves after half that many
      epochs without improvement (the lab's recipe), so it drops before
      early stopping ends the fit (29.3 % without it, 29.8 % with, on the
      5 k network, which rarely plateaued).

    With this recipe, from scratch: 51 %, 68 % and 76 % of the attainable D²
    at 3, 10 and 30 minutes, against 42-44 % for a Poisson STRF.

    The choices were checked on two more families of simulated neurons
    (periphery-driven and level-coding, ``benchmarks/learning_curve.py
    --arms choices``, 3 minutes, one seed): a learning rate of 1e-2 lost
    more than 10 points of the attainable D² on every family, 1e-3 and twice
    the patience stayed within the spread between seeds, and the next smaller
    network was never better; no change raised the worst family. The IC-like
    family, the one the recipe was tuned on, stayed the hardest (a median of
    52 % of attainable at 3 minutes over 10 seeds, against 64-65 % for the
    other two).

    The default validation split (the first 20 % of trials) is kept: early
    stopping and the schedule watch it. Batches of 16 trials.

    Examples
    --------
    >>> from sk_icnet import ICNetRegressor, small_data_params
    >>> params = small_data_params(600, audio_fs=8000, dt_ms=2.0)
    >>> params["module__encoder_channels"], params["max_epochs"], params["lr"]
    (64, 30, 0.003)
    >>> est = ICNetRegressor(**params)
    """
    seconds = _check_duration(duration_s)
    timebase = Timebase(audio_fs, dt_ms)
    if n_neurons is not None:
        n_neurons = check_positive_int(n_neurons, "n_neurons")
    minutes = seconds / 60.0
    _, module = _size_preset(minutes)
    module = _fitted_strides(module, timebase, n_neurons)
    max_epochs, patience, plateau = _schedule(minutes)
    if time_budget_s is not None:
        module, max_epochs = _within_budget(time_budget_s, seconds, timebase, module, max_epochs,
                                            n_neurons)
        patience = max(4, max_epochs // 8)
        plateau = max(1, patience // 2)
    params = dict(audio_fs=timebase.audio_fs, dt_ms=timebase.dt_ms, optimizer=torch.optim.AdamW, lr=_LR,
                  optimizer__weight_decay=_WEIGHT_DECAY, max_epochs=max_epochs, batch_size=16,
                  early_stopping_patience=patience,
                  callbacks=[("lr_plateau", _plateau(plateau)),
                             ("did_not_learn", DidNotLearnCheck(retries=_default_retries(
                                 retries, time_budget_s)))])
    params.update({f"module__{key}": value for key, value in module.items()})
    return params


_TRANSFER_MODES = ("frozen", "slow", "full")
#: module parameters that describe the old model's outputs, not its encoder: never copied
_OUTPUT_PARAMS = ("out_neurons", "n_classes", "time_input", "time_scale_s", "time_layer",
                  "time_combine", "window_samples")


def _source_estimator(source, member):
    """The fitted ICNetRegressor whose encoder to copy (an ensemble's ``member``)."""
    from ._ensemble import ICNetEnsemble
    from ._estimator import ICNetRegressor

    if isinstance(source, ICNetEnsemble):
        members = getattr(source, "estimators_", None)
        if not members:
            raise TypeError("source is an ICNetEnsemble that is not fitted: fit it (or load it "
                            "with ICNetEnsemble.load_model) before transferring its encoder.")
        if isinstance(member, bool) or not isinstance(member, numbers.Integral) or \
                not 0 <= member < len(members):
            raise ValueError(f"member must be the index of one of the ensemble's "
                             f"{len(members)} members (0 to {len(members) - 1}); received "
                             f"{member!r}.")
        return members[int(member)]
    if member not in (None, 0):
        raise ValueError(f"member is for an ICNetEnsemble source; received member={member!r} "
                         f"with a {type(source).__name__}.")
    if not isinstance(source, ICNetRegressor) or not hasattr(source, "module_"):
        what = "an unfitted ICNetRegressor" if isinstance(source, ICNetRegressor) else \
            f"a {type(source).__name__}"
        raise TypeError(f"source must be a fitted ICNetRegressor or ICNetEnsemble (its encoder is "
                        f"copied); received {what}. Fit it first, load it with "
                        "ICNetRegressor.load_model, or load the published model with "
                        "sk_icnet.load_published_icnet.")
    return source


def _module_params(est, time_input):
    """The new model's module: its class and ``module__`` parameters, the encoder's own."""
    from ._published._graph import PublishedICNet, encoder_plan

    module = getattr(est.module_, "_orig_mod", est.module_)
    if isinstance(module, PublishedICNet):
        params = {"module": PublishedICNet, "module__plan": encoder_plan(module),
                  "module__input_scale": module.input_scale,
                  "module__context_samples": module.context_samples}
    else:
        params = {key: value for key, value in est.get_params(deep=False).items()
                  if key.startswith("module__") and key[len("module__"):] not in _OUTPUT_PARAMS}
        params["module"] = type(module)
    if time_input:
        params["module__time_input"] = True
    return params


def transfer_params(source, duration_s, *, mode="slow", encoder_lr_factor=0.1, member=None,
                    time_input=False):
    """Parameters of :class:`~sk_icnet.ICNetRegressor` that start from a pretrained encoder.

    The new model has the encoder of ``source`` (its architecture, rates and, for the
    published model, its input scaling and context), a new decoder for the neurons it is
    fitted to (Poisson head, rates), and the schedule of :func:`small_data_params` for
    ``duration_s`` of sound. It fits plain arrays at ``source``'s audio rate and bin width.

    The encoder is stored as a copy of the source's module (``encoder_from``), not as the
    fitted estimator: ``clone`` keeps a module, so the parameters work in ``GridSearchCV``,
    ``cross_val_score`` and joblib workers, and later changes to ``source`` do not leak in.

    Parameters
    ----------
    source : ICNetRegressor or ICNetEnsemble
        A fitted model: one fitted on other recordings, or the authors' published model
        (:func:`sk_icnet.load_published_icnet`).
    duration_s : float
        Training sound of the new neurons, in seconds.
    mode : {"frozen", "slow", "full"}, default="slow"
        ``"frozen"``: only the decoder trains (``freeze_encoder=True``).
        ``"slow"``: the encoder trains at ``encoder_lr_factor`` times the
        decoder's learning rate (``optimizer__param_groups``).
        ``"full"``: everything at the same learning rate.
    encoder_lr_factor : float, default=0.1
        For ``mode="slow"``.
    member : int, optional
        For an ensemble: the member whose encoder to copy (default 0). Members are not
        averaged: each member's encoder learned its own features (channel ``k`` of one
        member is not channel ``k`` of another), so an average of their weights is a network
        none of them is. To use every member, fit one transferred model per member and
        average their predictions (:class:`~sk_icnet.ICNetEnsemble` does that for models).
    time_input : bool, default=False
        Give the new decoders sk_icnet's recording-time gain (``module__time_input=True``;
        ``fit`` then needs the recording time of every window, so recordings, not arrays).
        The source's own time layers (the published model's) are never copied: they belong
        to its animals.

    Returns
    -------
    dict
        Constructor parameters: ``module`` and its ``module__`` parameters, ``audio_fs``,
        ``dt_ms``, ``head="poisson"``, ``encoder_from`` (a copy of the source's module),
        ``freeze_encoder`` and the schedule of :func:`small_data_params`.

    Examples
    --------
    >>> published = load_published_icnet("DNN/")                     # doctest: +SKIP
    >>> params = transfer_params(published, 180, mode="frozen")      # doctest: +SKIP
    >>> ICNetRegressor(**params).fit(X_new, y_new)                   # doctest: +SKIP
    """
    est = _source_estimator(source, member)
    if mode not in _TRANSFER_MODES:
        raise ValueError(f"mode must be one of {_TRANSFER_MODES}; received {mode!r}. Use 'frozen' "
                         "to train only the decoder, 'slow' for a slower encoder.")
    if not isinstance(time_input, (bool, np.bool_)):
        raise TypeError(f"time_input must be True or False; received {_describe(time_input)}.")
    factor = check_positive_number(encoder_lr_factor, "encoder_lr_factor")
    params = small_data_params(duration_s, audio_fs=est.audio_fs_, dt_ms=est.dt_ms_)
    params = {key: value for key, value in params.items() if not key.startswith("module__")}
    params.update(_module_params(est, bool(time_input)))
    encoder = copy.deepcopy(getattr(est.module_, "_orig_mod", est.module_)).to("cpu").eval()
    params.update(head="poisson", encoder_from=encoder, freeze_encoder=mode == "frozen")
    if mode == "slow":
        params["optimizer__param_groups"] = [(prefix + "*", {"lr": params["lr"] * factor})
                                             for prefix in encoder.encoder_prefixes] \
            if hasattr(encoder, "encoder_prefixes") else \
            [(pattern, {"lr": params["lr"] * factor}) for pattern in _ENCODER_PATTERNS]
    return params


#: encoder parameter names of ICNet (modules without ``encoder_prefixes``)
_ENCODER_PATTERNS = ("sincnet.*", "encoder.*", "bottleneck.*")
