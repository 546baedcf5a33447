"""``ICNetRegressor``: ICNet as a scikit-learn estimator, through skorch.

The class owns its state: its parameters, skorch's hooks, the public API and every fitted
attribute (written in one place, ``_set_fitted``, from one list, ``FITTED_METADATA``). Its
methods call private module functions that take values (arrays, parameters, a timebase,
torch modules) and return values, as scikit-learn's estimators call ``_ridge._solve_*``:
``_checks`` (parameters, rates, data), ``_training`` (module parameters, encoder transfer,
loaders, split, sharding, seeding, weights, loss, summary), ``_inference`` (streamed
prediction, sampling, scores) and ``_checkpoints`` (checkpoint files and metadata).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetRegressor
from skorch.utils import to_tensor

from .._core.exceptions import _warn_rates_assumed
from .._core.timebase import Timebase
from .._core.validation import to_layout
from ..data import Recording
from . import _checkpoints, _checks, _inference, _training
from ._checkpoints import FITTED_METADATA as _FITTED_METADATA
from ._inference import _refuse_a_tabular_scorer
from ._layers import autocast
from ._losses import PoissonLoss
from ._module import ICNet
from ._repr import params_repr

__all__ = ["ICNetRegressor"]

_HEADS = ("poisson", "categorical")
_PRECISIONS = ("float32", "bfloat16")


def _is_categorical(self):
    return self.head == "categorical"


class ICNetRegressor(NeuralNetRegressor):
    """ICNet encoding model from sound waveforms to spike counts.

    A :class:`skorch.NeuralNetRegressor` around :class:`~sk_icnet.icnet.ICNet`
    trained with a Poisson negative log-likelihood on rates. With no arguments
    it is the paper configuration (Drakopoulos et al. 2025): 24,414.0625 Hz
    audio, 1.31072 ms bins (32 samples), 48 SincNet filters, five stride-2
    causal convolutions of 128 channels and a 64-channel bottleneck; Adam with
    learning rate 1e-4 and batches of 64 trials as in Sabesan et al. (2023).

    Parameters
    ----------
    module : type or torch.nn.Module, default=ICNet
        The network. Its hyperparameters are set with ``module__<name>``
        (e.g. ``module__encoder_channels=32``); ``audio_fs``, ``dt_ms`` and
        ``out_neurons`` are filled in by the estimator.
    audio_fs : float or "auto", default="auto"
        Sampling rate of the waveforms in Hz. ``"auto"``: the rate the data
        carry (:class:`~sk_icnet.data.Recording`, :class:`~sk_icnet.data.WindowDataset`),
        and the paper's 24,414.0625 Hz for arrays, which carry no rate: a fit on
        arrays that assumes it warns once (:class:`~sk_icnet.exceptions.RatesAssumedWarning`;
        pass the rate to silence it). A number must agree with the data's rate
        when the data carry one (``ValueError`` naming both otherwise).
    dt_ms : float, "auto" or None, default="auto"
        Width of the response bins in ms; ``audio_fs * dt_ms / 1000`` must be a
        whole number of samples. ``"auto"``: the data's, or the paper's 1.31072 ms
        for arrays (with the same warning). ``None`` infers the bin width of arrays at fit from the
        shapes (``n_samples / n_bins`` samples per bin).
    criterion : type, default=PoissonLoss
        Loss on (rates, counts); NaN targets are masked out.
    optimizer : type, default=torch.optim.Adam
    lr : float, default=1e-4
    max_epochs : int, default=10
    batch_size : int, default=64
        Trials per batch.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation and the shuffling of training trials,
        without touching the global torch random state. An int makes fits
        reproducible, also inside ``GridSearchCV(n_jobs=...)``.
    head : {"poisson", "categorical"}, default="poisson"
        ``"poisson"``: rates with a Poisson loss. ``"categorical"``: the paper's
        head, a softmax over counts {0, 1, 2, 3, >=4} (``module__n_classes=5``)
        trained with cross-entropy; ``predict`` returns the expected count
        (``>=4`` counted as 4) and ``predict_proba`` the class probabilities.
    skip_bins : int, default=0
        Leave the first ``skip_bins`` bins of every trial out of the loss and of
        ``score``: the left context of training windows (the paper used 64 bins
        of 2,048 samples; see :func:`sk_icnet.data.make_windows`).
    precision : {"float32", "bfloat16"}, default="float32"
        ``"bfloat16"`` runs the encoder under ``torch.autocast`` with bfloat16
        (on CPUs that support it and on CUDA); the SincNet front end, the
        decoder and the loss stay float32. Measured at the paper configuration
        on a 2-core CPU with AVX-512 BF16: about half the time per training
        step, and 0.015 to 0.040 lower held-out D² after 400 steps (two runs;
        see the long-recordings guide). Prefer float32 for final fits.
    predict_chunk_bins : int, default=4096
        Trials longer than this many bins are predicted in chunks of this size
        with the receptive field's worth of left context, so memory is bounded
        by the chunk size; the result equals one full-length pass.
    early_stopping_patience : int or None, default=None
        Stop when the validation loss (the training loss without a validation
        split) has not improved for this many epochs, and restore the best
        weights. Whatever this is, a fit that ends early (Ctrl-C included)
        leaves the best weights seen so far.
    checkpoint_dir : str, path or None, default=None
        If set, every fit writes checkpoints (best weights, optimizer state,
        history and data metadata) into its own new subdirectory of this
        directory, ``checkpoint_dir_``, so parallel workers never collide. Resume
        with :meth:`load_checkpoint` and ``partial_fit``.
    encoder_from : ICNetRegressor or ICNet, optional
        Start from the encoder (SincNet front end, strided layers, bottleneck)
        of an already fitted model, to fit new neurons' decoders on little data
        (the paper's "foundation core"). A fitted estimator, or its ``module_``
        (pass the module to ``GridSearchCV``, which clones estimators unfitted).
        The architecture and rates must match.
    freeze_encoder : bool, default=False
        With ``encoder_from``: train only the decoders (and the time gain).
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training when the script runs under ``torchrun`` with
        several processes (``"auto"``: whenever ``WORLD_SIZE > 1``; ``True``:
        required; ``False``: never). See the user guide's *Training on several devices*;
        ``batch_size`` is then per process.
    **kwargs
        Any other :class:`skorch.NeuralNet` parameter: ``device`` ("cpu",
        "cuda", "cuda:1"), ``train_split`` (default: the first 20 % of
        trials held out, unshuffled, for the validation loss; ``None`` trains on all),
        ``callbacks``, ``verbose``, ``iterator_train__shuffle`` (default True),
        ``optimizer__weight_decay``, ...

    Attributes
    ----------
    module_ : ICNet
        The fitted network.
    n_neurons_ : int
        Number of neurons, inferred from ``y`` at fit (all recordings' together).
    timebase_ : Timebase
        The rates used (:class:`~sk_icnet._core.timebase.Timebase`): resolved from
        ``audio_fs``/``dt_ms`` and the data.
    audio_fs_, dt_ms_ : float
        ``timebase_.audio_fs`` and ``timebase_.dt_ms`` (read-only).
    samples_per_bin_ : int
        Audio samples per response bin, ``timebase_.samples_per_bin`` (read-only).
    recording_names_ : list of str or None
        Recordings of a :class:`~sk_icnet.data.WindowDataset` fit, one decoder
        each (``None`` after a fit on arrays).
    neurons_per_recording_ : list of int
        Neurons of each decoder.
    n_features_in_ : int
        Samples per trial seen at fit. ``predict`` accepts any whole number of
        bins, since the network is convolutional in time.
    training_summary_ : dict
        What the model was trained on, JSON-serialisable: ``sk_icnet_version``,
        ``audio_fs``, ``dt_ms``, ``n_neurons``, ``n_trials`` (``n_windows`` for
        recordings), ``duration_s``, ``level_db_spl`` (the range of the trials'
        levels over their active frames), ``frame_level_db_spl_max`` (the loudest
        10 ms frame), ``band_hz`` (the band holding 99 % of the sound's power,
        from up to 256 trials) and ``mean_rate_hz`` (per neuron). For recordings
        the levels, band and rates come from up to 256 windows, evenly spaced.
        :mod:`sk_icnet.insilico` warns when an experiment leaves these ranges.
    history_ : skorch.History
        Per-epoch train and validation losses.

    Notes
    -----
    Data contract: ``X`` is ``(n_trials, n_samples)`` or ``(n_trials, 1,
    n_samples)`` (any real dtype, cast to float32); ``y`` is ``(n_trials,)``
    (one bin per trial), ``(n_trials, n_bins)`` (one neuron) or ``(n_trials,
    n_neurons, n_bins)``, non-negative, with NaN for missing bins;
    ``n_samples == n_bins * samples_per_bin``. ``predict`` returns the layout
    of the ``y`` used at fit.

    ``score`` is the Poisson D² (fraction of Poisson deviance explained),
    computed per neuron over its observed bins and averaged over neurons; see
    :mod:`sk_icnet.metrics`.

    Training adds no host synchronisation per batch: batch losses stay on the
    device as :class:`~sk_icnet.icnet.PendingLoss` until the epoch ends,
    when one transfer turns them into floats (``float()`` of a pending entry
    reads it at once); on CUDA, batches come from pinned memory and are copied
    asynchronously. Prediction runs without autograd.

    Examples
    --------
    >>> from sk_icnet import ICNetRegressor
    >>> from sk_icnet.simulate import make_auditory_dataset
    >>> data = make_auditory_dataset(n_trials=8, duration_s=0.25, audio_fs=8000,
    ...                              dt_ms=4.0, n_neurons=2, random_state=0)
    >>> est = ICNetRegressor(audio_fs=8000, dt_ms=4.0, max_epochs=1, verbose=0,
    ...                      module__n_filters=4, module__encoder_channels=4,
    ...                      module__encoder_kernel_size=4, module__n_encoder_layers=2,
    ...                      module__bottleneck_channels=4, random_state=0)
    >>> est.fit(data.X, data.y).predict(data.X).shape
    (8, 2, 62)
    """

    #: rules for the parameters (scikit-learn's validation; cross-parameter rules are in code)
    _parameter_constraints = {
        "audio_fs": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "dt_ms": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"}), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "head": [StrOptions(set(_HEADS))],
        "skip_bins": [Interval(Integral, 0, None, closed="left")],
        "precision": [StrOptions(set(_PRECISIONS))],
        "predict_chunk_bins": [Interval(Integral, 1, None, closed="left")],
        "early_stopping_patience": [None, Interval(Integral, 1, None, closed="left")],
        "checkpoint_dir": [None, str, os.PathLike],
        "distributed": [StrOptions({"auto"}), "boolean"],
        "freeze_encoder": ["boolean"],
    }

    def __init__(self, module=ICNet, *, audio_fs="auto", dt_ms="auto",
                 criterion=PoissonLoss, optimizer=torch.optim.Adam, lr=1e-4,
                 max_epochs=10, batch_size=64, random_state=None, head="poisson", skip_bins=0,
                 precision="float32", predict_chunk_bins=4096, early_stopping_patience=None,
                 checkpoint_dir=None, distributed="auto", encoder_from=None, freeze_encoder=False,
                 **kwargs):
        # a module here is a parameter, not a component of the net: set before skorch's
        # __init__, whose attribute checks would otherwise register it as one
        self.encoder_from = encoder_from
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size, **kwargs)
        self.audio_fs = audio_fs
        self.dt_ms = dt_ms
        self.random_state = random_state
        self.head = head
        self.skip_bins = skip_bins
        self.precision = precision
        self.predict_chunk_bins = predict_chunk_bins
        self.early_stopping_patience = early_stopping_patience
        self.checkpoint_dir = checkpoint_dir
        self.distributed = distributed
        self.freeze_encoder = freeze_encoder

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # non-negative counts
        tags.target_tags.multi_output = True   # y may be (n_trials, n_bins)
        tags.target_tags.single_output = True
        tags.regressor_tags.poor_score = True  # few epochs on tiny data in checks
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------ fitted state
    @property
    def audio_fs_(self):
        """The fitted audio rate in Hz (read-only: ``timebase_.audio_fs``)."""
        return self.timebase_.audio_fs

    @property
    def dt_ms_(self):
        """The fitted bin width in ms (read-only: ``timebase_.dt_ms``)."""
        return self.timebase_.dt_ms

    @property
    def samples_per_bin_(self):
        """Audio samples per bin (read-only: ``timebase_.samples_per_bin``)."""
        return self.timebase_.samples_per_bin

    def _set_fitted(self, values):
        """Write the fitted attributes: the one place they are set, from the one list
        :data:`FITTED_METADATA` (what checkpoints and model files record). The rates,
        ``audio_fs_`` and ``dt_ms_`` (or a ``timebase_``), become ``timebase_``; names
        left out are left as they are."""
        values = dict(values)
        timebase = values.pop("timebase_", None)
        audio_fs, dt_ms = values.pop("audio_fs_", None), values.pop("dt_ms_", None)
        spb = values.pop("samples_per_bin_", None)
        if timebase is None and audio_fs is not None:
            timebase = Timebase(audio_fs, dt_ms)
        if timebase is not None:
            if spb is not None and spb != timebase.samples_per_bin:
                raise ValueError(f"samples_per_bin_={spb} disagrees with the rates "
                                 f"{timebase!r} ({timebase.samples_per_bin} samples per bin).")
            self.timebase_ = timebase
        for name in _FITTED_METADATA:
            if name in values:
                setattr(self, name, values[name])
        return self

    def __setstate__(self, state):
        # pickles of 0.4 hold the rates as three loose attributes, now one timebase_
        rates = [state.pop(name, None) for name in ("audio_fs_", "dt_ms_", "samples_per_bin_")]
        if rates[0] is not None and "timebase_" not in state:
            state["timebase_"] = Timebase(rates[0], rates[1])
        super().__setstate__(state)

    # ------------------------------------------------------------ parameters
    def _resolve_rates(self, data=None):
        """``(audio_fs, dt_ms)`` from the parameters and, when it carries them, the data."""
        return _checks.resolve_rates(self.audio_fs, self.dt_ms, type(self).__name__, data)

    def _check_options(self):
        """Validate the parameters (own and inherited); reads only, creates nothing."""
        params = {key: getattr(self, key) for key in self._parameter_constraints}
        validate_parameter_constraints(self._parameter_constraints, params,
                                       caller_name=type(self).__name__)
        _checks.check_device(self.device)

    def _check_fit_options(self):
        """:meth:`_check_options`, and what only a fit needs: a writable checkpoint directory
        (created here) and a precision this CPU runs at speed (a warning otherwise)."""
        self._check_options()
        _checks.check_checkpoint_dir(self.checkpoint_dir)
        _checks.warn_slow_bfloat16(self.precision, self.device, stacklevel=4)

    def _validate_X(self, X):
        """Waveforms for the fitted model, ``(n_trials, 1, n_samples)``, in whole bins."""
        check_is_fitted(self, ["module_", "samples_per_bin_"])
        return _checks.check_X(X, self.timebase_, type(self).__name__)

    def _check_data_rates(self, data):
        _checks.check_data_rates(self.timebase_, data)

    def _take_arrays(self, X, y, reset):
        """Take arrays for training: checked, and at a fresh fit (``reset``) the fitted
        attributes set from them; else checked against the fitted model. Returns ``(X (n, 1,
        T), y (n, N, T))``."""
        self._check_fit_options()  # the parameters first, then the data
        keep = not reset and hasattr(self, "samples_per_bin_")
        X, y3, y_ndim, timebase = _checks.check_fit_arrays(
            X, y, self.audio_fs, self.dt_ms, self.skip_bins, type(self).__name__,
            self.timebase_ if keep else None)
        if reset:
            _checks.check_no_time_input(self.get_params_for("module"))
            self._set_fitted({"timebase_": timebase, "n_features_in_": X.shape[2],
                              "n_neurons_": y3.shape[1], "neurons_per_recording_": [y3.shape[1]],
                              "recording_names_": None, "y_ndim_": y_ndim})
            return X, y3
        if getattr(self, "recording_names_", None) is not None:
            raise ValueError("this model was fitted on recordings (a WindowDataset); continue "
                             "training it on a WindowDataset, not on arrays.")
        if y3.shape[1] != self.n_neurons_:
            raise ValueError(f"y has {y3.shape[1]} neuron(s), but {type(self).__name__} "
                             f"was fitted with {self.n_neurons_}.")
        return X, y3

    def _take_dataset(self, data, reset, training):
        """Take a WindowDataset: checked, and at a fresh fit (``reset``) the fitted attributes
        set from it; else checked against the fitted model. ``training`` adds the fit's checks."""
        _checks.check_has_windows(data)
        if training:
            self._check_fit_options()
        else:
            self._check_options()
        if not reset:
            check_is_fitted(self, ["samples_per_bin_"])
            return _checks.check_dataset(data, self.skip_bins, (
                self.timebase_, getattr(self, "recording_names_", None),
                self.neurons_per_recording_))
        audio_fs, dt_ms = self._resolve_rates(data)
        _checks.check_dataset(data, self.skip_bins)
        self._set_fitted({"audio_fs_": audio_fs, "dt_ms_": dt_ms,
                          "samples_per_bin_": data.samples_per_bin,
                          "n_features_in_": data.window_samples,
                          "recording_names_": data.recording_names,
                          "neurons_per_recording_": data.neurons_per_recording,
                          "n_neurons_": sum(data.neurons_per_recording), "y_ndim_": 3})
        return data

    def _warn_rates_assumed(self):
        """Warn, pointing at the user's fit, if the fit on arrays assumed the paper's rates."""
        _warn_rates_assumed(self.audio_fs, self.dt_ms, self.audio_fs_, self.dt_ms_,
                            self.samples_per_bin_, type(self).__name__)

    def get_params(self, deep=True, **kwargs):
        """Parameters of the estimator (skorch's bookkeeping attributes left out).

        With ``deep=True`` skorch adds every callback's attributes; the private
        ones (a leading underscore, such as the state a callback keeps during a
        fit: best weights, a C library handle) are not parameters and are left
        out, so ``copy.deepcopy(est.get_params())`` works on a fitted estimator.
        """
        params = super().get_params(deep=deep, **kwargs)
        params.pop("_params_to_validate", None)
        return {key: value for key, value in params.items()
                if not (key.startswith("callbacks__")
                        and any(part.startswith("_") for part in key.split("__")[2:]))}

    def __repr__(self):
        """``ICNetRegressor(...)`` with every parameter that differs from its default,
        ``module__`` ones included (as scikit-learn's estimators print)."""
        try:
            defaults = type(self)().get_params(deep=False)
        except Exception:  # a subclass with required arguments: print them all  # noqa: BLE001
            defaults = {}
        return params_repr(type(self).__name__, self.get_params(deep=False), defaults)

    # ------------------------------------------------------------ skorch hooks
    def initialize(self):
        """Initialise the module, criterion and optimizer (seeded by ``random_state``); under
        ``torchrun``, join the process group and wrap the module for data-parallel training."""
        self.dist_, self.random_seed_, self.checkpoint_dir_ = _training.fit_state(
            self.distributed, self.device, self.random_state, self.checkpoint_dir,
            self.__dict__.pop("_resume_dir", None))
        super().initialize()
        # a view of module_ for training steps, not a component of the net: skorch does not
        # save, move or re-initialise it, so it is set past skorch's attribute checks
        object.__setattr__(self, "_ddp_module_",
                           _training.data_parallel(self.module_, self.dist_, self.device))
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_ddp_module_", None)  # a process-group handle: not part of the model
        return state

    def get_default_callbacks(self):
        """skorch's defaults plus pending-loss resolution (first), heap trimming (long fits
        keep a flat memory footprint), best-weight tracking, early stopping and checkpoints."""
        return _training.default_callbacks(
            super().get_default_callbacks(), getattr(self, "dist_", None),
            _training.monitor(self), self.early_stopping_patience,
            getattr(self, "checkpoint_dir_", None))

    def initialize_module(self):
        """Build ICNet with the estimator's ``audio_fs``, ``dt_ms`` and neuron count."""
        module_params = self.get_params_for("module")
        _training.check_owned_params(module_params)
        if hasattr(self, "audio_fs_"):
            audio_fs, dt_ms = self.audio_fs_, self.dt_ms_
        else:
            audio_fs, dt_ms = self._resolve_rates()
            if dt_ms is None:
                raise ValueError("dt_ms=None infers the bin width from the data: call fit(X, y) "
                                 "rather than initialize().")
        self._check_options()
        names = getattr(self, "recording_names_", None)
        kwargs = _training.module_kwargs(
            module_params, audio_fs, dt_ms, self.head, getattr(self, "n_neurons_", None),
            None if names is None else self.neurons_per_recording_)
        if isinstance(self.module, torch.nn.Module):
            module = self.module
        else:
            with _training.seeded(self._seed()):
                module = self.module(**kwargs)
        source = _training.encoder_source(self.encoder_from, self.freeze_encoder, ICNetRegressor)
        if source is not None:
            _training.transfer_encoder(source, module, self.freeze_encoder)
        self.module_ = module
        return self

    def initialize_criterion(self):
        """The criterion; the default Poisson loss becomes cross-entropy for the categorical head."""
        self.criterion_ = self.initialized_instance(
            _training.criterion_class(self.head, self.criterion), self.get_params_for("criterion"))
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop; records the epochs asked for (``BestWeights`` tells a run that
        ended early from ``partial_fit(epochs=k)``)."""
        self._epochs_requested_ = epochs if epochs is not None else self.max_epochs
        self._in_fit_loop_ = True
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:  # early stopping or Ctrl-C: an orderly end of training
            raise
        except BaseException as exc:  # a distributed fit leaves the group, naming the rank
            error = _training.distributed_failure(exc, getattr(self, "dist_", None))
            if error is None:
                raise
            raise error from exc
        finally:
            self._in_fit_loop_ = False

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Loss on one batch; the first ``skip_bins`` bins of each trial are left out.

        Batches of a :class:`~sk_icnet.data.WindowDataset` carry ``(counts,
        observed)``: unsigned counts converted to float on the device, and the
        mask of observed bins (context, padding and missing bins excluded).
        """
        return _training.batch_loss(self.criterion_, y_pred, y_true, X, self.skip_bins)

    def infer(self, x, **fit_params):
        """Module forward on one batch, under bfloat16 autocast if ``precision="bfloat16"``."""
        module = self._training_module()
        with autocast(self.precision, self.device):
            if isinstance(x, Mapping):  # windows: the decoder index stays on the host (routing)
                return module(**_training.window_inputs(x, fit_params, self.device or "cpu"))
            if self.device is not None and isinstance(x, torch.Tensor):  # else skorch's to_tensor
                x = _training.to_device(x, self.device)
            if module is not self.module_:
                return module(to_tensor(x, device=self.device), **fit_params)
            return super().infer(x, **fit_params)

    def _training_module(self):
        """The DDP wrapper for training steps of a data-parallel fit (it averages the gradients
        over ranks), the plain module otherwise."""
        ddp = getattr(self, "_ddp_module_", None)
        if ddp is not None and self.module_.training and torch.is_grad_enabled():
            return ddp
        return self.module_

    def train_step(self, batch, **fit_params):
        """One optimisation step; the batch loss stays on the device (:class:`PendingLoss`).

        skorch records every batch loss with ``.item()``, which would wait for
        the GPU after each batch; the losses of an epoch are read back together
        at its end instead (:class:`~sk_icnet.icnet.ResolvePendingLosses`).
        """
        return _training.defer(super().train_step(batch, **fit_params), self.callbacks)

    def validation_step(self, batch, **fit_params):
        """Loss on one validation batch, left on the device like :meth:`train_step`'s."""
        return _training.defer(super().validation_step(batch, **fit_params), self.callbacks)

    def get_iterator(self, dataset, training=False):
        """DataLoader for ``dataset``; training batches are shuffled (seeded) by default.

        With an int ``random_state`` every loader gets its own seeded generator,
        so the global torch random state is never consumed.
        """
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        iterator = self.iterator_train if training else self.iterator_valid
        seed = self._seed(len(self.history_) if self.history_ is not None else 0)
        ctx = getattr(self, "dist_", None) if getattr(self, "_in_fit_loop_", False) else None
        windows = _checks.as_data(dataset)
        if windows is not None:  # every window to its recording's decoder
            windows = windows.route(getattr(self, "recording_names_", None),
                                    self.neurons_per_recording_)
            return iterator(windows, **_training.window_loader_kwargs(
                kwargs, windows, training, self.batch_size, seed, ctx, self.device))
        return iterator(dataset, **_training.array_loader_kwargs(
            kwargs, dataset, training, self.batch_size, seed, ctx, self.device))

    def _seed(self, offset=0):
        """The fit's seed (from ``random_state``) moved by ``offset``; None without one."""
        return _training.offset_seed(getattr(self, "random_seed_", None), offset)

    def get_split_datasets(self, X, y=None, **fit_params):
        """Train/validation split; a WindowDataset under the default ``ValidSplit`` holds out
        the first fraction of every recording's windows (so every decoder trains)."""
        split = _training.split_windows(X, self.train_split)
        train_set, valid_set = split if split is not None else \
            super().get_split_datasets(X, y, **fit_params)
        _training.check_shards(getattr(self, "dist_", None), train_set, valid_set, self.batch_size)
        return train_set, valid_set

    # ------------------------------------------------------------- public API
    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Fit ICNet to waveforms ``X`` and responses ``y``, or to recordings.

        Parameters
        ----------
        X : array-like, WindowDataset, Recording or list of Recording
            Waveforms ``(n_trials, n_samples)`` or ``(n_trials, 1, n_samples)``
            (see the class docstring), or recordings: a
            :class:`~sk_icnet.data.WindowDataset` (read lazily, one decoder per
            recording); recordings are cut into the paper's windows.
        y : array-like of shape (n_trials,), (n_trials, n_bins) or (n_trials, n_neurons, n_bins)
            Responses to array ``X``; None for recordings (they hold theirs).
        sample_weight : array-like of shape (n_trials,), optional
            Non-negative weight of each trial (arrays only) in the training and
            validation losses: each observed bin of a trial counts ``weight``
            times, so a zero weight leaves the trial out (it still takes a place
            in its batch).
        **fit_params
            Passed on to :meth:`skorch.NeuralNet.fit_loop`.

        Returns
        -------
        self

        Notes
        -----
        At a fresh fit on arrays the decoder's bias starts at each neuron's mean
        response (the inverse softplus of the mean count per bin for the
        Poisson head, the log class frequencies for the categorical head), so
        an untrained model predicts about the mean rate (D² near 0) instead of
        an arbitrary one. ``training_summary_`` records what the model was
        trained on.
        """
        data = _checks.as_data(X)
        if data is not None:
            _checks.check_no_target(y)
            _checks.check_no_weights(sample_weight)
            X, y = data, None
        if self.warm_start and self.initialized_ and hasattr(self, "n_neurons_"):
            return self.partial_fit(X, y, sample_weight=sample_weight, **fit_params)
        weights = None
        if data is not None:
            self._take_dataset(data, reset=True, training=True)
            self.training_summary_ = _training.training_summary(
                self.timebase_, self.n_neurons_, data=data, names=self.recording_names_,
                neurons_per_recording=self.neurons_per_recording_)
        else:
            X, y = self._take_arrays(X, y, reset=True)
            self._warn_rates_assumed()
            weights = _checks.check_sample_weight(sample_weight, X.shape[0])
            self.training_summary_ = _training.training_summary(self.timebase_, self.n_neurons_,
                                                                X, y)
        if not self.warm_start or not self.initialized_:
            self.initialize()
            if data is None:
                _training.init_decoder_bias(self.module_, y, weights, self.skip_bins)
        return self._train(_training.with_weights(X, weights), y, fit_params)

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Continue training on ``X, y`` (or recordings) without re-initialising the network.

        The data are checked against the fitted model (or, before any fit, against the
        parameters, as :meth:`fit` does). ``sample_weight`` as for :meth:`fit`; ``classes``
        is accepted for scikit-learn's API and unused.
        """
        data = _checks.as_data(X)
        reset = not (self.initialized_ and hasattr(self, "n_neurons_"))
        if data is not None:
            _checks.check_no_target(y)
            _checks.check_no_weights(sample_weight)
            X = self._take_dataset(data, reset=reset, training=True)
        else:
            X, y = self._take_arrays(X, y, reset=reset)
            if reset:
                self._warn_rates_assumed()
            X = _training.with_weights(X, _checks.check_sample_weight(sample_weight, X.shape[0]))
        return self._train(X, y, fit_params)

    def _train(self, X, y, fit_params):
        """Train on validated data with skorch's public hooks: ``initialize`` (if needed),
        ``on_train_begin``, :meth:`fit_loop`, ``on_train_end``; an interrupt ends training in
        order. What ``skorch.NeuralNet.partial_fit`` does, without its private arguments."""
        if not self.initialized_:
            self.initialize()
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            pass
        self.notify("on_train_end", X=X, y=y)
        return self

    def predict(self, X, *, recording=None, time_s=None):
        """Predict spike rates (expected counts per bin).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples), Recording or WindowDataset
            Waveforms (``n_samples`` a whole number of bins; it may differ from
            fit; trials longer than ``predict_chunk_bins`` are streamed), a
            :class:`~sk_icnet.data.Recording` (streamed from its store), or a
            :class:`~sk_icnet.data.WindowDataset`.
        recording : str or int, optional
            For arrays and a model fitted on several recordings: whose decoder
            to use, a name in ``recording_names_`` or its position there (an int),
            or ``"all"``: every decoder in one encoder pass, the neurons of all
            recordings concatenated in ``recording_names_`` order (``n_neurons_``
            of them). Recordings and windows carry their own.
        time_s : float or array-like, optional
            With ``module__time_input=True``: the recording time (s) of the
            first bin to simulate (for arrays, one per trial or one for all;
            with ``"all"``, each trial's time serves every decoder).
            A Recording defaults to its own times (``start_s`` onwards).

        Returns
        -------
        ndarray or list
            Arrays: non-negative rates in the layout of the ``y`` used at fit,
            ``(n_trials,)``, ``(n_trials, n_bins)`` or ``(n_trials, n_neurons,
            n_bins)``. A Recording: ``(n_neurons, n_bins)`` float32, continuous.
            A WindowDataset: a list with one ``(n_neurons, window_bins)``
            float32 array per window (context bins included).
        """
        if isinstance(X, Recording):
            return np.concatenate([out for _, _, out in _inference.recording_chunks(
                self, X, time_s)], axis=-1)
        data = _checks.as_data(X)
        if data is not None:
            return _inference.predict_windows(self, data)
        if getattr(self, "y_ndim_", None) == 3:
            _refuse_a_tabular_scorer()
        return to_layout(self.predict_rates(X, recording=recording, time_s=time_s), self.y_ndim_)

    def predict_rates(self, X, *, recording=None, time_s=None):
        """Predicted rates as ``(n_trials, n_neurons, n_bins)`` float64, whatever the fit layout."""
        X = self._validate_X(X)
        rates = _inference.forward_arrays(self, X, self.expected_counts,
                                          self.decoder_index(recording), time_s)
        return _inference.check_finite_predictions(rates.astype(np.float64))

    @available_if(_is_categorical)
    def predict_proba(self, X, *, recording=None, time_s=None):
        """Class probabilities of the categorical head (only with ``head="categorical"``).

        ``recording`` and ``time_s`` as for :meth:`predict`.

        Returns
        -------
        ndarray of shape (n_trials, n_neurons, n_bins, n_classes)
            For a 2-D ``y`` at fit, ``(n_trials, n_bins, n_classes)``. Class ``c``
            is a count of ``c`` spikes; the last class is ``>= n_classes - 1``.
        """
        X = self._validate_X(X)
        proba = np.moveaxis(_inference.forward_arrays(
            self, X, _inference.probabilities, self.decoder_index(recording), time_s), 2, -1)
        return proba[:, 0] if self.y_ndim_ < 3 and proba.shape[1] == 1 else proba

    def embed(self, X):
        """Bottleneck latents, the shared representation of all recordings' decoders.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples), or Recording

        Returns
        -------
        ndarray of shape (n_trials, bottleneck_channels, n_bins), float32
            For a Recording, ``(bottleneck_channels, n_bins)``. Streamed chunk by
            chunk like :meth:`predict` (equal to one full pass). With the
            recording-time input, these are the latents before the time gain.
        """
        check_is_fitted(self, ["module_", "samples_per_bin_"])
        if isinstance(X, Recording):
            self._check_data_rates(X)
        else:
            X = self._validate_X(X)
        return _inference.embed(self._runner(), X)

    def sample(self, X, random_state=None, *, recording=None, time_s=None):
        """Spike counts drawn from the fitted distribution, to simulate responses to new sounds.

        Poisson counts around :meth:`predict`'s rates for the Poisson head;
        draws from the class probabilities (counts 0 .. n_classes - 1) for the
        categorical head.

        Parameters
        ----------
        X : array-like or Recording
            As for :meth:`predict`.
        random_state : int, RandomState instance or None
        recording, time_s
            As for :meth:`predict`.

        Returns
        -------
        ndarray of int64
            The layout of :meth:`predict`.
        """
        rng = check_random_state(random_state)
        if self.head != "categorical":
            return rng.poisson(self.predict(X, recording=recording, time_s=time_s)).astype(np.int64)
        if isinstance(X, Recording):
            proba = np.concatenate([out for _, _, out in _inference.recording_chunks(
                self, X, time_s, _inference.probabilities)], axis=-1)[None]  # (1, N, C, T)
            layout = 3
        else:
            proba = _inference.forward_arrays(self, self._validate_X(X), _inference.probabilities,
                                              self.decoder_index(recording), time_s)
            layout = self.y_ndim_
        counts = _inference.draw_counts(np.moveaxis(proba, 2, -1), rng)  # (n, N, T, C) -> counts
        return counts[0] if isinstance(X, Recording) else to_layout(counts, layout)

    def score(self, X, y=None, sample_weight=None, *, recording=None, time_s=None):
        """Poisson D², per neuron over observed bins, averaged over neurons.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples), Recording or WindowDataset
            Waveforms, or recordings: their observed bins (for windows, the
            scored part after the context) are predicted and scored in a
            streamed pass, with every neuron of every recording pooled over bins.
        y : array-like in any layout accepted by :meth:`fit`; NaN bins are ignored.
            None for recordings.
        sample_weight : array-like of shape (n_trials,), optional
        recording : str or int, optional
            For arrays and a model with several decoders: the decoder whose
            neurons ``y`` holds, a name in ``recording_names_`` or its position
            there, as in :meth:`predict`.
        time_s : float or array-like of shape (n_trials,), optional
            For arrays and a model with a time input: the recording time of the
            first bin of each trial, as in :meth:`predict`.

        Returns
        -------
        float
            1 is a perfect prediction, 0 is a constant rate; NaN if no neuron fires.
            The first ``skip_bins`` bins of each trial are left out.
        """
        data = X if isinstance(X, Recording) else _checks.as_data(X)
        if data is None:
            return _inference.score_arrays(self.predict(X, recording=recording, time_s=time_s), y,
                                           self.skip_bins, sample_weight)
        _checks.check_no_target(y)
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported for recordings; received one.")
        if recording is not None or time_s is not None:
            raise ValueError("recording= and time_s= are for arrays: recordings carry their "
                             f"own name and start time; received recording={recording!r}, "
                             f"time_s={time_s!r}.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _inference.score_data(self, data)

    # the gradient protocol (sk_icnet.insilico.DifferentiableModel): receptive fields and
    # optimal sounds differentiate module_'s output, routed and converted by these two
    def expected_counts(self, output):
        """The module's output as expected counts per bin ``(B, N, T)``, differentiably: the
        Poisson head's rates, or the categorical head's expected class (``sum_c c * p_c``)."""
        return _inference.expected_counts(output, self.module_.n_classes)

    def decoder_index(self, recording):
        """What ``module_``'s forward takes as the decoder serving ``recording`` (a name of
        ``recording_names_``, its position, or None for one decoder); ``"all"`` (every
        decoder in one encoder pass) is returned as is."""
        return _inference.decoder_of(recording, getattr(self, "recording_names_", None))

    def _runner(self):
        """The fitted module and how it runs, for streamed prediction."""
        return _inference.Runner(self.module_, self.timebase_, self.predict_chunk_bins,
                                 self.device, self.precision, self.verbose, type(self).__name__)

    # -------------------------------------------------------- files, checkpoints
    def load_checkpoint(self, dirname):
        """Restore weights, optimizer state and history from a checkpoint directory.

        Build the estimator with the same parameters as the one that wrote the
        checkpoint, call this, then ``partial_fit`` to resume training (new
        checkpoints go to the same directory) or ``predict``.

        The optimizer's state (e.g. Adam's moment estimates) comes from the
        checkpoint, its hyperparameters (``lr``, ``optimizer__*``) from this
        estimator: resumed training uses ``est.lr``, whatever learning rate the
        checkpoint's optimizer state records. The files are untrusted input:
        weights and optimizer state are read with torch's safe loader
        (``weights_only=True``, whatever ``torch_load_kwargs`` says), the
        metadata and history are checked (types, rates, shape) and anything
        else raises ``ValueError`` naming the file.

        Parameters
        ----------
        dirname : str or path
            A ``checkpoint_dir_`` written by a fit with ``checkpoint_dir`` set.

        Returns
        -------
        self
        """
        return _checkpoints.load_checkpoint(self, dirname)

    def save_model(self, path, *, overwrite=False):
        """Write the fitted model to one safetensors file (weights and a JSON header with
        everything needed to predict); share models this way. An existing file is replaced
        only with ``overwrite=True``, and only if it is a model file. See :mod:`sk_icnet.io`."""
        from ..io import save_model

        save_model(self, path, overwrite=overwrite)

    @classmethod
    def load_model(cls, path, *, device="cpu"):
        """Read a file written by :meth:`save_model`: no data, no pickle, any device."""
        from ..io import load_model

        return load_model(path, cls, device=device)

    def load_params(self, *args, **kwargs):
        """skorch's ``load_params``, always with torch's safe loader (``weights_only=True``).

        skorch 1.1-1.3 pass ``weights_only=False`` with torch < 2.6; here the
        safe loader is used unless ``torch_load_kwargs`` says otherwise, so a
        weights file can never run code, whatever the allowed versions.

        The usual skorch reload works: ``est = ICNetRegressor(**same_params);
        est.initialize(); est.load_params(f_params=...)``. ``initialize()`` cannot
        know the neuron count (it comes from ``y`` at fit), so the decoder is
        sized from the file, after checking that every other weight has the
        shape of this architecture (``ValueError`` naming the first mismatch
        otherwise); the estimator then predicts ``(n_trials, n_neurons,
        n_bins)``. A fitted estimator accepts only files with its neuron count.
        """
        explicit = self.torch_load_kwargs
        if explicit is None:
            self.torch_load_kwargs = {"weights_only": True}
        try:
            f_params = kwargs.get("f_params", args[0] if args else None)
            if f_params is not None and self.initialized_ and not kwargs.get("use_safetensors"):
                f_params = _checkpoints.adapt_to_params(self, f_params)
                if args:
                    args = (f_params, *args[1:])
                else:
                    kwargs["f_params"] = f_params
            return super().load_params(*args, **kwargs)
        finally:
            self.torch_load_kwargs = explicit
