"""``ICNetRegressor``: ICNet as a scikit-learn estimator, through skorch."""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import os
import tempfile
import uuid
import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
import torch.distributed as dist
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
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from skorch.utils import to_numpy, to_tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler, Subset

from .._core.exceptions import (  # the paper's rates, which "auto" means for arrays
    PAPER_AUDIO_FS,
    PAPER_DT_MS,
    _rates_note,
    _reworded,
    _warn_rates_assumed,
)
from .._core.validation import (
    MAX_COUNT,
    _as_numeric_array,
    check_consistent_trials,
    check_positive_int,
    check_positive_number,
    check_prediction_shape,
    check_responses,
    check_waveforms,
    check_whole_bins,
    recording_time_ok,
    resolve_samples_per_bin,
    samples_per_bin_of,
    to_layout,
)
from ..audio import _SPECTRUM_TRIALS, _sound_summary
from ..data import Recording, WindowBatchSampler, WindowDataset, collate_windows, decoder_indices
from ..metrics import PoissonD2Accumulator, d2_poisson_score
from ._callbacks import (
    METADATA_FILE,
    AtomicCheckpoint,
    BestWeights,
    CheckpointMetadata,
    GatherDistributedLosses,
    PendingLoss,
    ResolvePendingLosses,
    TrimHeap,
)
from ._distributed import broadcast_object, setup_distributed, teardown_distributed
from ._losses import CategoricalCountLoss, PoissonLoss
from ._module import ICNet, cpu_supports_bf16

__all__ = ["ICNetRegressor"]

#: module parameters that the estimator owns and sets itself
_OWNED_MODULE_PARAMS = ("audio_fs", "dt_ms")


#: fitted attributes that a checkpoint records to rebuild the module
_FITTED_METADATA = ("n_neurons_", "samples_per_bin_", "y_ndim_", "n_features_in_", "audio_fs_",
                    "dt_ms_", "recording_names_", "neurons_per_recording_")


_HEADS = ("poisson", "categorical")
_PRECISIONS = ("float32", "bfloat16")
#: checkpoint files that load_checkpoint needs
_CHECKPOINT_FILES = ("params.pt", "optimizer.pt", "history.json")


def _is_categorical(self):
    return self.head == "categorical"


def _as_data(X):
    """A :class:`WindowDataset` for recordings and windows (views of Subsets too), else None."""
    if isinstance(X, Subset) and isinstance(X.dataset, WindowDataset):
        return X.dataset[np.asarray(X.indices)]
    if isinstance(X, WindowDataset):
        return X
    if isinstance(X, Recording) or (isinstance(X, (list, tuple)) and X
                                    and all(isinstance(r, Recording) for r in X)):
        return WindowDataset(X)
    return None


def _check_finite_predictions(rates):
    if not np.isfinite(rates).all():
        raise ValueError("the model's predictions are not finite (NaN or inf): its weights hold NaN "
                         "or inf values, as after a fit that diverged; refit with a lower lr.")
    return rates


def _same_param(a, b):
    """Whether two parameter values are equal (estimators and plain objects by their state)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, type):
        return False
    if hasattr(a, "get_params") and not isinstance(a, type):
        pa, pb = a.get_params(deep=False), b.get_params(deep=False)
        return pa.keys() == pb.keys() and all(_same_param(pa[k], pb[k]) for k in pa)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_param(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (numbers.Number, str, bytes, os.PathLike, type(None))):
        return a == b
    if hasattr(a, "__dict__") and not isinstance(a, torch.nn.Module):
        return vars(a).keys() == vars(b).keys() and all(
            _same_param(vars(a)[k], vars(b)[k]) for k in vars(a))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _short_repr(value):
    """A parameter value for ``repr``: classes by name, plain objects by their state."""
    if isinstance(value, type):
        return value.__name__
    text = repr(value)
    if " object at 0x" in text and hasattr(value, "__dict__"):  # the default repr
        state = ", ".join(f"{k}={_short_repr(v)}" for k, v in vars(value).items()
                          if not k.startswith("_"))
        return f"{type(value).__name__}({state})"
    return text


def _refuse_a_tabular_scorer(max_depth=8):
    """Inside a scikit-learn scorer built on one of scikit-learn's own metrics (``scoring="r2"``,
    ``"neg_mean_squared_error"``, ...), refuse 3-D responses with a clear error: those metrics
    take 1-D or 2-D targets, and the scorer would fail with a message about dimensions (a NaN
    score in ``cross_val_score``). Scorers on sk_icnet's metrics and direct calls pass."""
    import sys

    try:  # private to scikit-learn: without it, scikit-learn's own error stands
        from sklearn.metrics._scorer import _BaseScorer
    except ImportError:
        return
    frame = sys._getframe(2)
    for _ in range(max_depth):
        if frame is None:
            return
        scorer = frame.f_locals.get("self")
        if isinstance(scorer, _BaseScorer):
            func = getattr(scorer, "_score_func", None)
            module = getattr(func, "__module__", "") or ""
            if module.startswith("sklearn."):
                name = getattr(func, "__name__", repr(func))
                raise ValueError(
                    f"scikit-learn's {name} (a scoring string such as 'r2') takes 1-D or 2-D "
                    "targets, but this model predicts (n_trials, n_neurons, n_bins), the layout "
                    "of its 3-D y. Use sk_icnet's scorers, which score each neuron over its "
                    "observed bins: scoring=sk_icnet.metrics.SCORERS (or one of its entries, "
                    "'d2_poisson', 'pearson_r', 'neg_poisson_deviance', by "
                    "sk_icnet.metrics.get_scorer), or fit on 2-D y (one neuron).")
            return
        frame = frame.f_back


class _ReadProgress:
    """A tqdm bar advanced by the reads of streamed prediction: ``wrap(read, offset)`` gives a
    ``read(first, stop)`` that moves the bar to ``offset + stop`` bins; closed at the end."""

    def __init__(self, total, desc, enabled):
        self.total, self.bar = int(total), None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=desc, unit="bin", leave=False)

    def wrap(self, read, offset=0):
        if self.bar is None:
            return read

        def progressed(first, stop):
            out = read(first, stop)
            self.bar.update(max(0, offset + stop - self.bar.n))
            if self.bar.n >= self.total:
                self.bar.close()
            return out

        return progressed


def _n_trials(X):
    """Trials of training input (arrays with trial weights travel as a dict)."""
    return len(X["x"]) if isinstance(X, Mapping) else len(X)


def _to_device(data, device):
    """A tensor on ``device``; host tensors in pinned memory are copied asynchronously."""
    if not isinstance(data, torch.Tensor):
        return torch.as_tensor(data, device=device)
    return data.to(device, non_blocking=data.is_pinned())


class ICNetRegressor(NeuralNetRegressor):
    """ICNet encoding model from sound waveforms to spike counts.

    A :class:`skorch.NeuralNetRegressor` around :class:`~sk_icnet.model.ICNet`
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
        of 2,048 samples; see :func:`sk_icnet.recordings.make_windows`).
    precision : {"float32", "bfloat16"}, default="float32"
        ``"bfloat16"`` runs the encoder under ``torch.autocast`` with bfloat16
        (on CPUs that support it and on CUDA); the SincNet front end, the
        decoder and the loss stay float32.
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
        required; ``False``: never). See :mod:`sk_icnet.distributed`;
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
    audio_fs_, dt_ms_ : float
        The rates used: resolved from ``audio_fs``/``dt_ms`` and the data.
    samples_per_bin_ : int
        Audio samples per response bin.
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
    device as :class:`~sk_icnet.callbacks.PendingLoss` until the epoch ends,
    when one transfer turns them into floats (``float()`` of a pending entry
    reads it at once); on CUDA, batches come from pinned memory and are copied
    asynchronously. Prediction runs without autograd.

    Examples
    --------
    >>> from sk_icnet import ICNetRegressor
    >>> from sk_icnet.datasets import make_auditory_dataset
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

    # ------------------------------------------------------------ validation
    def _resolve_rates(self, data=None):
        """``(audio_fs, dt_ms)`` from the parameters and, when it carries them, the data."""
        rates = {}
        for name, value, paper in (("audio_fs", self.audio_fs, PAPER_AUDIO_FS),
                                   ("dt_ms", self.dt_ms, PAPER_DT_MS)):
            if isinstance(value, str) and value != "auto":
                raise ValueError(f"{name} must be a number > 0 or 'auto'; received {value!r}.")
            explicit = None if isinstance(value, str) or (value is None and name == "dt_ms") \
                else check_positive_number(value, name)
            if data is None:
                rates[name] = paper if value == "auto" else explicit
                continue
            carried = getattr(data, name)
            if explicit is not None and not math.isclose(explicit, carried, rel_tol=1e-9):
                raise ValueError(
                    f"{name}={explicit!r} was set on {type(self).__name__}, but the data carry "
                    f"{name}={carried!r}; leave {name}='auto' to use the data's, or resample the data.")
            rates[name] = carried
        return rates["audio_fs"], rates["dt_ms"]

    def _check_no_time_input(self):
        if self.get_params_for("module").get("time_input"):
            raise ValueError("module__time_input=True needs the recording time of every window: "
                             "fit a WindowDataset of Recordings; arrays carry no time.")

    def _validate_fit_data(self, X, y, reset):
        self._check_options()  # the parameters first, then the data
        X = check_waveforms(X, name="X")
        y3, y_ndim = check_responses(y, name="y", max_value=MAX_COUNT)
        check_consistent_trials(X, y3)
        if reset or not hasattr(self, "samples_per_bin_"):
            audio_fs, dt_ms = self._resolve_rates()
            note = _rates_note(self.audio_fs, self.dt_ms, audio_fs, dt_ms)
            with _reworded(note):
                spb = resolve_samples_per_bin(audio_fs, dt_ms, X.shape[1], y3.shape[2])
        else:
            spb = self.samples_per_bin_
            note = (f"(this model was fitted with audio_fs_={self.audio_fs_!r} Hz and "
                    f"dt_ms_={self.dt_ms_!r} ms.)")
        with _reworded(note):
            check_whole_bins(X.shape[1], spb, n_bins=y3.shape[2], estimator=type(self).__name__)
        if reset:
            _warn_rates_assumed(self.audio_fs, self.dt_ms, audio_fs, dt_ms, spb, type(self).__name__)
        self._check_skip_bins(y3.shape[2])
        if reset:
            self._check_no_time_input()
            self.n_features_in_ = X.shape[1]
            self.samples_per_bin_ = spb
            self.audio_fs_ = audio_fs
            self.dt_ms_ = dt_ms if dt_ms is not None else spb * 1000.0 / audio_fs
            self.n_neurons_ = y3.shape[1]
            self.neurons_per_recording_ = [self.n_neurons_]
            self.recording_names_ = None
            self.y_ndim_ = y_ndim
        else:
            if getattr(self, "recording_names_", None) is not None:
                raise ValueError("this model was fitted on recordings (a WindowDataset); continue "
                                 "training it on a WindowDataset, not on arrays.")
            if y3.shape[1] != self.n_neurons_:
                raise ValueError(f"y has {y3.shape[1]} neuron(s), but {type(self).__name__} "
                                 f"was fitted with {self.n_neurons_}.")
        return X[:, None, :], y3

    def _check_data_rates(self, data):
        """Data given after fit must have the fitted rates."""
        for name in ("audio_fs", "dt_ms"):
            fitted, carried = getattr(self, name + "_"), getattr(data, name)
            if not math.isclose(fitted, carried, rel_tol=1e-9):
                raise ValueError(f"the data carry {name}={carried!r}, but this model was fitted "
                                 f"with {name}={fitted!r}.")

    def _validate_dataset(self, data, reset):
        """Check a WindowDataset against the parameters (``reset``) or the fitted model."""
        if len(data) == 0:
            raise ValueError("the WindowDataset holds no window.")
        self._check_options()
        if reset:
            self.audio_fs_, self.dt_ms_ = self._resolve_rates(data)
            self._check_skip_bins(data.window_bins)
            self.samples_per_bin_ = data.samples_per_bin
            self.n_features_in_ = data.window_samples
            self.recording_names_ = data.recording_names
            self.neurons_per_recording_ = data.neurons_per_recording
            self.n_neurons_ = sum(self.neurons_per_recording_)
            self.y_ndim_ = 3
        else:
            check_is_fitted(self, ["samples_per_bin_"])
            self._check_data_rates(data)
            self._route(data)
        return data

    def _check_options(self):
        """Validate the parameters (own and inherited) before they are used."""
        params = {key: getattr(self, key) for key in self._parameter_constraints}
        validate_parameter_constraints(self._parameter_constraints, params,
                                       caller_name=type(self).__name__)
        self._validate_device()
        self._check_checkpoint_dir()
        if self.precision == "bfloat16" and self._device_type() == "cpu" \
                and cpu_supports_bf16() is False:
            warnings.warn("precision='bfloat16' on a CPU without native bfloat16 instructions "
                          "(avx512_bf16/amx_bf16): autocast emulates them, several times slower "
                          "than float32 here; use precision='float32' on this machine.",
                          UserWarning, stacklevel=3)

    def _check_skip_bins(self, n_bins):
        if self.skip_bins >= n_bins:
            raise ValueError(f"skip_bins must be smaller than the number of bins per trial "
                             f"({n_bins}); received skip_bins={self.skip_bins}.")

    def _validate_device(self):
        if self.device is None:
            return
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ValueError(f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; "
                             f"received {self.device!r} ({exc}).") from None
        if device.type == "cuda":
            available = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if available == 0 or (device.index is not None and device.index >= available):
                raise ValueError(f"device={self.device!r} is not available: this machine has "
                                 f"{available} CUDA device(s); use device='cpu' or another index.")

    def _check_checkpoint_dir(self):
        if self.checkpoint_dir is None:
            return
        path = os.fspath(self.checkpoint_dir)
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"checkpoint_dir must be a directory; received {path!r}, which is a "
                             "file.")
        try:
            os.makedirs(path, exist_ok=True)
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as exc:
            raise ValueError(f"checkpoint_dir must be a writable directory; received {path!r} "
                             f"({exc.strerror or exc}).") from None

    def _validate_X(self, X):
        check_is_fitted(self, ["module_", "samples_per_bin_"])
        X = check_waveforms(X, name="X")
        with _reworded(f"(this model was fitted with audio_fs_={self.audio_fs_!r} Hz and "
                      f"dt_ms_={self.dt_ms_!r} ms.)"):
            check_whole_bins(X.shape[1], self.samples_per_bin_, estimator=type(self).__name__)
        return X[:, None, :]

    # ------------------------------------------------------------- seeding
    def _seed(self, offset=0):
        seed = getattr(self, "random_seed_", None)
        return None if seed is None else (seed + offset) % (2**63 - 1)

    @contextlib.contextmanager
    def _seeded(self, offset=0):
        seed = self._seed(offset)
        if seed is None:
            yield
            return
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

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
        parts = [f"{key}={_short_repr(value)}"
                 for key, value in self.get_params(deep=False).items()
                 if key not in defaults or not _same_param(value, defaults[key])]
        head = f"{type(self).__name__}("
        one_line = head + ", ".join(parts) + ")"
        if len(one_line) <= 100:
            return one_line
        return head + (",\n" + " " * len(head)).join(parts) + ")"

    # ------------------------------------------------------------ skorch hooks
    def initialize(self):
        """Initialise the module, criterion and optimizer (seeded by ``random_state``); under
        ``torchrun``, join the process group and wrap the module for data-parallel training."""
        self.dist_ = setup_distributed(self.distributed, self._device_type())
        if self.random_state is None:
            self.random_seed_ = None
        else:
            self.random_seed_ = int(check_random_state(self.random_state).randint(2**31 - 1))
        if self.dist_ is not None and self.random_seed_ is None:  # one shuffle for all ranks
            self.random_seed_ = broadcast_object(int(np.random.SeedSequence().generate_state(1)[0]
                                                     % (2**31 - 1)))
        resume_dir = self.__dict__.pop("_resume_dir", None)
        if resume_dir is not None:
            self.checkpoint_dir_ = resume_dir
        elif self.checkpoint_dir is not None:  # a unique name; created when a fit starts
            self.checkpoint_dir_ = os.path.join(os.fspath(self.checkpoint_dir),
                                                f"icnet-{uuid.uuid4().hex[:12]}")
        else:
            self.checkpoint_dir_ = None
        if self.dist_ is not None:
            self.checkpoint_dir_ = broadcast_object(self.checkpoint_dir_)  # rank 0's name
        super().initialize()
        ddp = None
        if self.dist_ is not None:  # broadcasts rank 0's initial weights to every rank
            device_ids = [self.dist_.local_rank] if self._device_type() == "cuda" else None
            ddp = DistributedDataParallel(self.module_, device_ids=device_ids)
        # a view of module_ for training steps, not a component of the net: skorch does not
        # save, move or re-initialise it, so it is set past skorch's attribute checks
        object.__setattr__(self, "_ddp_module_", ddp)
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_ddp_module_", None)  # a process-group handle: not part of the model
        return state

    def _monitor(self):
        return "valid_loss" if self.train_split is not None else "train_loss"

    def get_default_callbacks(self):
        """skorch's defaults plus pending-loss resolution (first), heap trimming (long fits
        keep a flat memory footprint), best-weight tracking, early stopping and checkpoints."""
        ctx = getattr(self, "dist_", None)
        callbacks = [("resolve_losses", ResolvePendingLosses())]
        if ctx is not None:  # every rank's batch losses, before the epoch means are taken
            callbacks.append(("gather_losses", GatherDistributedLosses()))
        callbacks += [*super().get_default_callbacks(), ("trim_heap", TrimHeap())]
        if ctx is not None and not ctx.is_main:  # only rank 0 prints
            callbacks = [(name, cb) for name, cb in callbacks if name != "print_log"]
        monitor = self._monitor()
        patience = self.early_stopping_patience
        callbacks.append(("best_weights", BestWeights(monitor=monitor, restore=patience is not None)))
        if patience is not None:
            check_positive_int(patience, "early_stopping_patience")
            callbacks.append(("early_stopping", EarlyStopping(monitor=monitor, patience=patience)))
        dirname = getattr(self, "checkpoint_dir_", None)
        if dirname is not None and (ctx is None or ctx.is_main):  # only rank 0 writes
            callbacks.append(("checkpoint_metadata", CheckpointMetadata(dirname, _FITTED_METADATA)))
            callbacks.append(("checkpoint", AtomicCheckpoint(
                monitor=f"{monitor}_best", dirname=dirname, f_params="params.pt",
                f_optimizer="optimizer.pt", f_criterion=None, f_history="history.json")))
        return callbacks

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
        import pickle

        from skorch.history import History

        from .._core.files import read_json_file
        from .._core.validation import check_fitted_metadata
        from ..io import RefusedPickle, check_checkpoint_history, check_fitted_rates

        dirname = os.fspath(dirname)
        meta_path = os.path.join(dirname, METADATA_FILE)
        if not os.path.isfile(meta_path):
            raise ValueError(f"dirname must be a checkpoint directory holding {METADATA_FILE}; "
                             f"received {dirname!r}.")
        missing = [name for name in _CHECKPOINT_FILES
                   if not os.path.isfile(os.path.join(dirname, name))]
        if missing:
            raise ValueError(f"the checkpoint in {dirname!r} is incomplete: {missing} missing (a fit "
                             "stopped before its first checkpoint, or files were removed).")
        source = f"the checkpoint metadata {meta_path!r}"
        raw = read_json_file(meta_path, "checkpoint metadata", allow_nan=True)
        meta = check_fitted_metadata(raw, _FITTED_METADATA, source)
        self._check_checkpoint_rates(meta)
        check_fitted_rates(meta, source)
        history_path = os.path.join(dirname, "history.json")
        history = check_checkpoint_history(
            read_json_file(history_path, "checkpoint history", allow_nan=True), history_path)
        for key, value in meta.items():
            setattr(self, key, value)
        self._resume_dir = dirname
        self.initialize()
        module = self.module_
        if getattr(module, "samples_per_bin", meta["samples_per_bin_"]) != meta["samples_per_bin_"] \
                or not math.isclose(getattr(module, "audio_fs", meta["audio_fs_"]), meta["audio_fs_"],
                                    rel_tol=1e-9):
            raise ValueError(f"{source}: the network runs at {module.audio_fs!r} Hz with "
                             f"{module.samples_per_bin} samples per bin, but the checkpoint was "
                             f"fitted at {meta['audio_fs_']!r} Hz with {meta['samples_per_bin_']}.")
        hyper = [{k: v for k, v in group.items() if k != "params"}
                 for group in self.optimizer_.param_groups]
        explicit = self.torch_load_kwargs
        self.torch_load_kwargs = {"weights_only": True}  # nothing here may run code
        try:
            self.load_params(f_params=os.path.join(dirname, "params.pt"),
                             f_optimizer=os.path.join(dirname, "optimizer.pt"))
        except pickle.UnpicklingError as exc:
            raise RefusedPickle(dirname, exc) from None
        except (RuntimeError, ValueError, EOFError, OSError, KeyError, IndexError, TypeError,
                AttributeError) as exc:
            raise ValueError(f"the checkpoint in {dirname!r} could not be loaded ({type(exc).__name__}:"
                             f" {exc}); a file is truncated or corrupt, or the estimator's parameters"
                             " differ from those of the fit that wrote it.") from exc
        finally:
            self.torch_load_kwargs = explicit
        bad = [name for name, value in self.module_.state_dict().items()
               if value.is_floating_point() and not torch.isfinite(value).all()]
        if bad:
            raise ValueError(f"the checkpoint in {dirname!r}: the weights {bad} in params.pt hold "
                             "NaN or infinite values.")
        for group, values in zip(self.optimizer_.param_groups, hyper, strict=True):
            group.update(values)  # this estimator's lr and optimizer__* settings
        for state in self.optimizer_.state.values():
            for key, value in state.items():
                if torch.is_tensor(value) and value.is_floating_point() \
                        and not torch.isfinite(value).all():
                    raise ValueError(f"the checkpoint in {dirname!r}: the optimizer state {key!r} in "
                                     "optimizer.pt holds NaN or infinite values.")
        self.history = History(history)
        return self

    def _check_checkpoint_rates(self, meta):
        """The estimator's rates, where set, must be those the checkpoint was fitted with."""
        if "audio_fs_" not in meta:  # written before the rates were recorded
            audio_fs, dt_ms = self._resolve_rates()
            spb = samples_per_bin_of(audio_fs, dt_ms)
            if spb is not None and spb != meta["samples_per_bin_"]:
                raise ValueError(f"the checkpoint was fitted with {meta['samples_per_bin_']} samples "
                                 f"per bin, but audio_fs={audio_fs!r} and dt_ms={dt_ms!r} give {spb}.")
            meta["audio_fs_"] = audio_fs
            meta["dt_ms_"] = dt_ms if dt_ms is not None else meta["samples_per_bin_"] * 1e3 / audio_fs
            return
        for name in ("audio_fs", "dt_ms"):
            value = getattr(self, name)
            if isinstance(value, str) or value is None:
                continue
            fitted = meta[name + "_"]
            if not math.isclose(float(value), fitted, rel_tol=1e-9):
                raise ValueError(f"the checkpoint was fitted with {name}={fitted!r}, but this estimator "
                                 f"has {name}={value!r}; build it with the checkpoint's rate or "
                                 f"{name}='auto'.")

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
                f_params = self._adapt_to_params(f_params)
                if args:
                    args = (f_params, *args[1:])
                else:
                    kwargs["f_params"] = f_params
            return super().load_params(*args, **kwargs)
        finally:
            self.torch_load_kwargs = explicit

    def _adapt_to_params(self, f_params):
        """Before weights are loaded into an initialised estimator: size the decoder from the
        file (``initialize()`` builds one neuron's decoder until a fit has seen ``y``), and
        give an estimator that was initialised but never fitted the fitted attributes the
        file implies. Returns what to pass on to skorch (a file object is read once here)."""
        if hasattr(f_params, "read"):
            f_params = io.BytesIO(f_params.read())
        try:
            state = torch.load(f_params, map_location="cpu", **self.torch_load_kwargs)
        except Exception:  # noqa: BLE001  (skorch reads it again and reports the failure)
            return f_params
        finally:
            if hasattr(f_params, "seek"):
                f_params.seek(0)
        if not isinstance(state, Mapping) or "decoder.weight" not in state \
                or not isinstance(self.module_, ICNet):
            return f_params
        ours = self.module_.state_dict()
        resized = ("decoder.weight", "decoder.bias")
        wrong = [k for k in ours if k not in resized and (
            k not in state or tuple(state[k].shape) != tuple(ours[k].shape))]
        if wrong or set(state) != set(ours):
            first = (wrong or sorted(set(state) ^ set(ours)))[0]
            raise ValueError(f"f_params holds the weights of another architecture (first mismatch: "
                             f"{first}); build the estimator with the module__ parameters and "
                             "rates of the one that saved them.")
        weight, bias = state["decoder.weight"], state["decoder.bias"]
        per_neuron = self.module_.n_classes or 1
        rows = weight.shape[0] if weight.ndim == 2 else -1
        if weight.ndim != 2 or weight.shape[1] != ours["decoder.weight"].shape[1] \
                or tuple(bias.shape) != (rows,) or rows < 1 or rows % per_neuron:
            raise ValueError(f"f_params has a decoder of shape {tuple(weight.shape)} (bias "
                             f"{tuple(bias.shape)}), which fits no number of neurons of this "
                             f"model ({per_neuron} output(s) per neuron, "
                             f"{ours['decoder.weight'].shape[1]} bottleneck channels).")
        n_neurons = rows // per_neuron
        if len(self.module_.neurons_per_decoder) > 1 and n_neurons != self.module_.out_neurons:
            raise ValueError(f"f_params has decoders for {n_neurons} neurons, but this model has "
                             f"{self.module_.out_neurons} over several recordings; use "
                             "load_checkpoint or load_model, which know the recordings.")
        fitted = hasattr(self, "samples_per_bin_")
        if fitted and n_neurons != self.n_neurons_:
            raise ValueError(f"f_params has decoders for {n_neurons} neuron(s), but this estimator "
                             f"was fitted on {self.n_neurons_}; load them into a new estimator "
                             "(initialize(), then load_params).")
        if not fitted:  # initialize() without fit: what predict needs, from the module and file
            self.samples_per_bin_ = self.module_.samples_per_bin
            self.audio_fs_, self.dt_ms_ = self.module_.audio_fs, self.module_.dt_ms
            self.n_neurons_ = n_neurons
            self.neurons_per_recording_ = [n_neurons]
            self.recording_names_ = None
            self.y_ndim_ = 3
        if n_neurons != self.module_.out_neurons:
            self.n_neurons_ = n_neurons
            self.neurons_per_recording_ = [n_neurons]
            self.initialize()  # the module, and an optimizer over its new parameters
        return f_params

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop; records the epochs asked for (``BestWeights`` tells a run that
        ended early from ``partial_fit(epochs=k)``)."""
        self._epochs_requested_ = epochs if epochs is not None else self.max_epochs
        self._in_fit_loop_ = True
        ctx = getattr(self, "dist_", None)
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
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
            self._in_fit_loop_ = False

    def initialize_module(self):
        """Build ICNet with the estimator's ``audio_fs``, ``dt_ms`` and neuron count."""
        kwargs = self.get_params_for("module")
        for key in _OWNED_MODULE_PARAMS:
            if key in kwargs:
                raise ValueError(f"Set {key} on the estimator (ICNetRegressor({key}=...)), not "
                                 f"as module__{key}; received module__{key}={kwargs[key]!r}.")
        if hasattr(self, "audio_fs_"):
            audio_fs, dt_ms = self.audio_fs_, self.dt_ms_
        else:
            audio_fs, dt_ms = self._resolve_rates()
            if dt_ms is None:
                raise ValueError("dt_ms=None infers the bin width from the data: call fit(X, y) "
                                 "rather than initialize().")
        self._check_options()
        kwargs["audio_fs"], kwargs["dt_ms"] = audio_fs, dt_ms
        if self.head == "categorical":
            kwargs.setdefault("n_classes", 5)
        elif kwargs.get("n_classes") is not None:
            raise ValueError("module__n_classes needs head='categorical'; received "
                             f"module__n_classes={kwargs['n_classes']!r} with head='poisson'.")
        n_neurons = getattr(self, "n_neurons_", None)
        if n_neurons is not None:
            given = kwargs.get("out_neurons", n_neurons)
            if not isinstance(given, (list, tuple)) and given != n_neurons:
                raise ValueError(f"module__out_neurons={given!r} disagrees with y, which has "
                                 f"{n_neurons} neuron(s); leave out_neurons unset.")
            if getattr(self, "recording_names_", None) is not None:
                n_neurons = tuple(self.neurons_per_recording_)  # one decoder per recording
            kwargs["out_neurons"] = n_neurons
        if isinstance(self.module, torch.nn.Module):
            module = self.module
        else:
            with self._seeded():
                module = self.module(**kwargs)
        self._transfer_encoder(module)
        self.module_ = module
        return self

    def _transfer_encoder(self, module):
        """Copy (and optionally freeze) the encoder of ``encoder_from`` into ``module``."""
        source = self.encoder_from
        if source is None:
            if self.freeze_encoder:
                raise ValueError("freeze_encoder=True needs encoder_from, a fitted model whose "
                                 "encoder to keep; received encoder_from=None.")
            return
        if isinstance(source, ICNetRegressor):
            if not hasattr(source, "module_"):
                raise ValueError("encoder_from must be a fitted ICNetRegressor (or its module_; "
                                 "GridSearchCV clones estimators unfitted, so pass est.module_ "
                                 "there); received an unfitted estimator.")
            source = source.module_
        if not isinstance(source, ICNet):
            raise TypeError(f"encoder_from must be a fitted ICNetRegressor or an ICNet; received "
                            f"{type(source).__name__}.")
        for name in ("audio_fs", "dt_ms"):
            if not math.isclose(getattr(source, name), getattr(module, name), rel_tol=1e-9):
                raise ValueError(f"encoder_from was fitted with {name}={getattr(source, name)!r}, "
                                 f"but this model has {name}={getattr(module, name)!r}.")
        prefixes = ("sincnet.", "encoder.", "bottleneck.")
        theirs = {k: v for k, v in source.state_dict().items() if k.startswith(prefixes)}
        ours = {k: v for k, v in module.state_dict().items() if k.startswith(prefixes)}
        wrong = [k for k in ours if k not in theirs or theirs[k].shape != ours[k].shape]
        if wrong or set(theirs) != set(ours):
            raise ValueError(f"encoder_from has another encoder architecture (first mismatch: "
                             f"{(wrong or sorted(set(theirs) ^ set(ours)))[0]}); give this model "
                             "the same module__ parameters.")
        module.load_state_dict(theirs, strict=False)
        if self.freeze_encoder:
            for name, param in module.named_parameters():
                if name.startswith(prefixes):
                    param.requires_grad_(False)

    def initialize_criterion(self):
        """The criterion; the default Poisson loss becomes cross-entropy for the categorical head."""
        criterion = self.criterion
        if self.head == "categorical" and criterion is PoissonLoss:
            criterion = CategoricalCountLoss
        self.criterion_ = self.initialized_instance(criterion, self.get_params_for("criterion"))
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Loss on one batch; the first ``skip_bins`` bins of each trial are left out.

        Batches of a :class:`~sk_icnet.data.WindowDataset` carry ``(counts,
        observed)``: unsigned counts converted to float on the device, and the
        mask of observed bins (context, padding and missing bins excluded).
        """
        if isinstance(X, Mapping) and X.get("sample_weight") is not None:
            return self._weighted_loss(y_pred, y_true, X["sample_weight"])
        if isinstance(y_true, (tuple, list)):
            counts, observed = (_to_device(t, y_pred.device) for t in y_true)
            if self.skip_bins:
                observed = observed.clone()
                observed[..., : self.skip_bins] = False
            return self.criterion_(y_pred, counts.float(), mask=observed)
        y_true = _to_device(y_true, y_pred.device)
        if self.skip_bins:
            y_true = y_true.clone()
            y_true[..., : self.skip_bins] = float("nan")
        return self.criterion_(y_pred, y_true)

    def _weighted_loss(self, y_pred, y_true, weights):
        """The criterion per trial, averaged with weight ``weight * observed bins`` per trial:
        every observed bin of a trial counts ``weight`` times (the unweighted loss for equal
        weights)."""
        y_true = _to_device(y_true, y_pred.device).float()
        if self.skip_bins:
            y_true = y_true.clone()
            y_true[..., : self.skip_bins] = float("nan")
        weights = _to_device(weights, y_pred.device).float()
        observed = (~torch.isnan(y_true)).reshape(y_true.shape[0], -1).sum(dim=1).float()
        per_trial = torch.stack([self.criterion_(y_pred[i: i + 1], y_true[i: i + 1])
                                 for i in range(y_true.shape[0])])
        share = weights * observed
        return (share * per_trial).sum() / share.sum().clamp_min(1e-12)

    def _training_summary(self, X=None, y3=None, data=None):
        """What the model was trained on, JSON-serialisable (see ``training_summary_``)."""
        from .._version import __version__

        summary = {"sk_icnet_version": __version__, "audio_fs": float(self.audio_fs_),
                   "dt_ms": float(self.dt_ms_), "n_neurons": int(self.n_neurons_)}
        if data is not None:  # recordings are read lazily: up to 256 windows, evenly spaced
            summary.update(n_windows=len(data), duration_s=float(
                len(data) * data.window_samples / self.audio_fs_))
            pick = np.unique(np.linspace(0, len(data) - 1, min(_SPECTRUM_TRIALS, len(data)))
                             .astype(int))
            items = data.__getitems__(pick)
            waves = np.concatenate([np.asarray(x["x"], np.float64).reshape(1, -1)
                                    for x, _ in items])
            summary.update(_sound_summary(waves, self.audio_fs_))
            names = list(data.windows["recording"].iloc[pick])
            offsets = dict(zip(self.recording_names_, np.cumsum([0, *self.neurons_per_recording_]),
                               strict=False))
            sums, counts = np.zeros(self.n_neurons_), np.zeros(self.n_neurons_)
            for (_, (y, observed)), name in zip(items, names, strict=True):
                first = offsets[name]
                y = np.asarray(y, np.float64)
                sums[first: first + y.shape[0]] += np.where(observed, y, 0.0).sum(axis=1)
                counts[first: first + y.shape[0]] += np.asarray(observed).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = sums / counts / (self.dt_ms_ / 1000.0)
            summary["mean_rate_hz"] = [float(v) if np.isfinite(v) else None for v in mean]
            return summary
        waves = X.reshape(X.shape[0], -1)
        n_trials, n_samples = waves.shape
        summary.update(n_trials=int(n_trials), duration_s=float(n_samples * n_trials / self.audio_fs_))
        summary.update(_sound_summary(waves, self.audio_fs_))
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(y3, axis=(0, 2), dtype=np.float64) / (self.dt_ms_ / 1000.0)
        summary["mean_rate_hz"] = [float(v) if np.isfinite(v) else None for v in mean]
        return summary

    def _device_type(self):
        return torch.device(self.device if self.device else "cpu").type

    def _autocast(self):
        if self.precision != "bfloat16":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self._device_type(), dtype=torch.bfloat16)

    def infer(self, x, **fit_params):
        """Module forward on one batch, under bfloat16 autocast if ``precision="bfloat16"``."""
        module = self._training_module()
        if isinstance(x, Mapping):  # windows: the decoder index stays on the host (routing)
            x = {key: value for key, value in {**x, **fit_params}.items()
                 if key != "sample_weight"}  # trial weights are for the loss only
            device = self.device or "cpu"
            x["x"] = _to_device(x["x"], device)
            if x.get("time_s") is not None:
                x["time_s"] = _to_device(x["time_s"], device)
            with self._autocast():
                return module(**x)
        if self.device is not None and isinstance(x, torch.Tensor):  # the rest: skorch's to_tensor
            x = _to_device(x, self.device)
        if module is not self.module_:
            with self._autocast():
                return module(to_tensor(x, device=self.device), **fit_params)
        with self._autocast():
            return super().infer(x, **fit_params)

    def _training_module(self):
        """The DDP wrapper for training steps of a data-parallel fit (it averages the
        gradients over ranks), the plain module otherwise."""
        ddp = getattr(self, "_ddp_module_", None)
        if ddp is not None and self.module_.training and torch.is_grad_enabled():
            return ddp
        return self.module_

    def _defer(self, step):
        if self.callbacks != "disable":  # the resolving callback is a default callback
            step["loss"] = PendingLoss(step["loss"])
        return step

    def train_step(self, batch, **fit_params):
        """One optimisation step; the batch loss stays on the device (:class:`PendingLoss`).

        skorch records every batch loss with ``.item()``, which would wait for
        the GPU after each batch; the losses of an epoch are read back together
        at its end instead (:class:`~sk_icnet.callbacks.ResolvePendingLosses`).
        """
        return self._defer(super().train_step(batch, **fit_params))

    def validation_step(self, batch, **fit_params):
        """Loss on one validation batch, left on the device like :meth:`train_step`'s."""
        return self._defer(super().validation_step(batch, **fit_params))

    def get_iterator(self, dataset, training=False):
        """DataLoader for ``dataset``; training batches are shuffled (seeded) by default.

        With an int ``random_state`` every loader gets its own seeded generator,
        so the global torch random state is never consumed.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        windows = _as_data(dataset)
        if windows is not None:
            return self._window_iterator(windows, training, kwargs)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        if training:
            kwargs.setdefault("shuffle", True)
        if self._device_type() == "cuda":
            kwargs.setdefault("pin_memory", True)  # lets batches be copied without a sync
        seed = self._epoch_seed()
        ctx = self._shard_context()
        if ctx is not None:  # this rank's share of the trials, one permutation for all ranks
            kwargs["sampler"] = DistributedSampler(
                dataset, num_replicas=ctx.world_size, rank=ctx.rank,
                shuffle=kwargs.pop("shuffle", False), seed=seed or 0)
            kwargs.pop("generator", None)
        elif seed is not None and "generator" not in kwargs:
            kwargs["generator"] = torch.Generator().manual_seed(seed)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, **kwargs)

    def _epoch_seed(self):
        """The shuffling seed of the coming epoch (None without ``random_state``)."""
        return self._seed(offset=len(self.history_) if self.history_ is not None else 0)

    def _shard_context(self):
        """The distributed context while a fit's batches are drawn (prediction is not sharded)."""
        return getattr(self, "dist_", None) if getattr(self, "_in_fit_loop_", False) else None

    def _route(self, data):
        """``data`` with every window pointing at its recording's decoder."""
        return data.route(getattr(self, "recording_names_", None), self.neurons_per_recording_)

    def _decoder_of_recording(self, rec):
        return int(decoder_indices([rec], getattr(self, "recording_names_", None),
                                   self.neurons_per_recording_)[0])

    def _window_iterator(self, data, training, kwargs):
        """Batches of neighbouring windows (:class:`~sk_icnet.data.WindowBatchSampler`)."""
        data = self._route(data)
        batch_size = kwargs.pop("batch_size", self.batch_size)
        batch_size = len(data) if batch_size == -1 else batch_size
        shuffle = kwargs.pop("shuffle", training)
        generator = kwargs.pop("generator", None)
        seed = self._epoch_seed()
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(seed)
        ctx = self._shard_context()
        sampler = WindowBatchSampler(data, batch_size, shuffle=shuffle, generator=generator,
                                     drop_last=kwargs.pop("drop_last", False),
                                     num_replicas=ctx.world_size if ctx else 1,
                                     rank=ctx.rank if ctx else 0)
        kwargs.setdefault("collate_fn", collate_windows)
        if kwargs.get("num_workers", 0) > 0:  # workers keep their open stores between epochs
            kwargs.setdefault("persistent_workers", True)
        if self._device_type() == "cuda":
            kwargs.setdefault("pin_memory", True)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(data, batch_sampler=sampler, **kwargs)

    def get_split_datasets(self, X, y=None, **fit_params):
        """Train/validation split; a WindowDataset under the default ``ValidSplit`` holds out
        the first fraction of every recording's windows (so every decoder trains)."""
        split = self.train_split
        if isinstance(split, ValidSplit) and isinstance(split.cv, numbers.Integral) \
                and not isinstance(X, WindowDataset) and _n_trials(X) < split.cv:
            raise ValueError(
                f"train_split=ValidSplit({split.cv}) holds out 1/{split.cv} of the trials for the "
                f"validation loss and needs at least {split.cv} trials; received {_n_trials(X)}. Pass "
                "train_split=None to train on all trials, or a ValidSplit with fewer folds.")
        train, valid = None, None
        if isinstance(X, WindowDataset) and isinstance(split, ValidSplit) and not split.stratified:
            cv = split.cv
            if isinstance(cv, numbers.Integral) or isinstance(cv, float):
                fraction = 1.0 / cv if isinstance(cv, numbers.Integral) else float(cv)
                train, valid = X.split_valid(fraction)
        if train is None:
            train, valid = super().get_split_datasets(X, y, **fit_params)
        ctx = getattr(self, "dist_", None)
        if ctx is not None:
            from ._distributed import check_same_data  # ranks with unequal data would deadlock

            data = _as_data(train)
            windows = data is not None  # windows come in whole batches per process
            needed = ctx.world_size * (max(self.batch_size, 1) if windows else 1)
            if len(train) < needed:  # local, before any collective
                raise ValueError(
                    f"a distributed fit over {ctx.world_size} processes needs at least {needed} "
                    f"training {'windows' if windows else 'trials'} (a batch per process); "
                    f"received {len(train)}. Use fewer processes or more data.")
            check_same_data(train, valid, data)
        return train, valid

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
            Passed on to :meth:`skorch.NeuralNet.fit`.

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
        data = _as_data(X)
        if data is not None:
            self._check_no_target(y)
            self._check_no_weights(sample_weight)
            X, y = data, None
        if self.warm_start and self.initialized_ and hasattr(self, "n_neurons_"):
            return self.partial_fit(X, y, sample_weight=sample_weight, **fit_params)
        weights = None
        if data is not None:
            self._validate_dataset(data, reset=True)
            self.training_summary_ = self._training_summary(data=data)
        else:
            X, y = self._validate_fit_data(X, y, reset=True)
            weights = self._check_sample_weight(sample_weight, X.shape[0])
            self.training_summary_ = self._training_summary(X, y)
        if not self.warm_start or not self.initialized_:
            self.initialize()
            if data is None:
                self._init_decoder_bias(y, weights)
        self.partial_fit(self._with_weights(X, weights), y, _routing_method="fit", **fit_params)
        return self

    @staticmethod
    def _check_no_target(y):
        if y is not None:
            raise ValueError("y must be None when X is a WindowDataset or Recording: the "
                             f"responses come with the recordings; received {type(y).__name__}.")

    @staticmethod
    def _check_no_weights(sample_weight):
        if sample_weight is not None:
            raise ValueError("sample_weight weighs the trials of array X; recordings (a "
                             "WindowDataset or Recording) take none: select the windows instead.")

    @staticmethod
    def _check_sample_weight(sample_weight, n_trials):
        """``sample_weight`` as float32 ``(n_trials,)``, checked; None stays None."""
        if sample_weight is None:
            return None
        w = _as_numeric_array(sample_weight, "sample_weight")
        if w.shape != (n_trials,):
            raise ValueError(f"sample_weight must have one weight per trial, shape ({n_trials},); "
                             f"received shape {w.shape}.")
        w = w.astype(np.float64)
        if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise ValueError("sample_weight must be finite, non-negative and not all zero; "
                             f"received values from {w.min()!r} to {w.max()!r}.")
        return w.astype(np.float32)

    @staticmethod
    def _with_weights(X, weights):
        """Array batches carry the trial weights along (the loss reads them)."""
        return X if weights is None else {"x": X, "sample_weight": weights}

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Continue training on ``X, y`` (or recordings) without re-initialising the network.

        ``sample_weight`` as for :meth:`fit`.
        """
        routing = fit_params.get("_routing_method")
        data = _as_data(X)
        if data is not None:
            self._check_no_target(y)
            self._check_no_weights(sample_weight)
            X = data
        if routing != "fit":  # direct call: validate here (fit already did)
            reset = not (self.initialized_ and hasattr(self, "n_neurons_"))
            if data is not None:
                self._validate_dataset(data, reset=reset)
            else:
                X, y = self._validate_fit_data(X, y, reset=reset)
                X = self._with_weights(X, self._check_sample_weight(sample_weight, X.shape[0]))
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def _init_decoder_bias(self, y3, weights):
        """Start the decoder at each neuron's mean response (see :meth:`fit`)."""
        decoder = getattr(self.module_, "decoder", None)
        if not isinstance(decoder, torch.nn.Linear) or decoder.bias is None:
            return
        y = np.array(y3, dtype=np.float64)
        if self.skip_bins:
            y[..., : self.skip_bins] = np.nan
        observed = np.isfinite(y)
        w = observed * (1.0 if weights is None else weights.astype(np.float64)[:, None, None])
        total = w.sum(axis=(0, 2))  # per neuron
        y = np.where(observed, y, 0.0)
        n_classes = self.module_.n_classes
        n_neurons = y.shape[1]
        if decoder.bias.numel() != n_neurons * (n_classes or 1):
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

    def _expected_counts(self, out):
        """Module output -> expected counts, time last: (B, N, T)."""
        if self.module_.n_classes is None:
            return out.float()
        p = self._probabilities(out)
        counts = torch.arange(p.shape[2], dtype=p.dtype, device=p.device)
        return torch.einsum("bnct,c->bnt", p, counts)

    def _probabilities(self, out):
        return torch.softmax(out.float(), dim=2)

    def _decoder_of(self, recording):
        """Decoder index for array input: ``recording`` names one of ``recording_names_``."""
        names = getattr(self, "recording_names_", None)
        if names is None:
            if recording is not None:
                raise ValueError("recording selects a decoder of a model fitted on recordings; "
                                 f"this model was fitted on arrays; received recording={recording!r}.")
            return 0
        if recording is None:
            if len(names) == 1:
                return 0
            raise ValueError(f"this model has one decoder per recording {names}: pass "
                             "recording=<name> to predict arrays.")
        if recording not in names:
            raise ValueError(f"recording {recording!r} is unknown to this model, which was fitted "
                             f"on recordings {names}.")
        return names.index(recording)

    def _trial_times(self, time_s, n_trials):
        """Recording time of each trial's first bin (only for a model with a time input)."""
        if not self.module_.time_input:
            if time_s is not None:
                raise ValueError("time_s is used only by a model with module__time_input=True; "
                                 f"received time_s={time_s!r}.")
            return np.zeros(n_trials)
        if time_s is None:
            raise ValueError("this model has a recording-time input (module__time_input=True): "
                             "pass time_s, the recording time (s) to simulate.")
        times = np.broadcast_to(np.asarray(time_s, dtype=np.float64), (n_trials,)) \
            if np.ndim(time_s) <= 1 and np.size(time_s) in (1, n_trials) else None
        if times is None or not np.isfinite(times).all() or not recording_time_ok(times):
            raise ValueError(f"time_s must be a finite recording time within 1e9 s, one number or "
                             f"one per trial ({n_trials}); received {time_s!r}.")
        return times

    def _forward_numpy(self, X, convert, decoder=0, time_s=None):
        """Run the module on validated ``X`` (n, 1, T); ``convert`` maps outputs (time last)."""
        times = self._trial_times(time_s, X.shape[0])
        n_bins = X.shape[-1] // self.samples_per_bin_
        if n_bins <= self.predict_chunk_bins:
            inputs = {"x": X, "recording": np.full(X.shape[0], decoder), "time_s": times}
            return np.concatenate([to_numpy(convert(out))
                                   for out in self.forward_iter(inputs, training=False)], axis=0)
        bar = self._progress(n_bins * X.shape[0], "predict")
        return np.concatenate([
            self._stream(bar.wrap(self._trial_reader(trial), k * n_bins), n_bins, convert,
                         decoder, t0)[None]
            for k, (trial, t0) in enumerate(zip(X, times, strict=True))], axis=0)

    def _progress(self, n_bins, desc):
        """A progress bar over ``n_bins`` streamed bins (tqdm on stderr), shown when ``verbose``
        and the input is streamed (longer than ``predict_chunk_bins``)."""
        return _ReadProgress(n_bins, f"{type(self).__name__}.{desc}",
                             enabled=bool(self.verbose) and n_bins > self.predict_chunk_bins)

    def _trial_reader(self, trial):
        """``read(first, stop)`` over one validated trial ``(1, n_samples)``, for streaming."""
        spb = self.samples_per_bin_
        return lambda first, stop: trial[:, first * spb: stop * spb]

    def _stream(self, read, n_bins, convert, decoder, t0, encode=False):
        """Predict (or with ``encode``, embed) one long waveform chunk by chunk, float32."""
        return np.concatenate([out for _, _, out in self._stream_chunks(
            read, n_bins, convert, decoder, t0, encode=encode)], axis=-1)

    def _stream_chunks(self, read, n_bins, convert, decoder, t0, encode=False):
        """Yield ``(start, stop, output)`` chunk by chunk, each with the receptive field's
        worth of left context (and right context for non-causal padding); ``read(first,
        stop)`` gives the waveform of those bins. ``encode=True`` yields the bottleneck
        latents instead of the network's output."""
        module, dt_s = self.module_, self.dt_ms_ / 1000.0
        context, right = module.context_bins, getattr(module, "right_context_bins", 0)
        step = getattr(module, "chunk_multiple_bins", 1)  # whole windows in windowed mode
        chunk = max(step, self.predict_chunk_bins - self.predict_chunk_bins % step)
        inside = getattr(module, "context_samples", 0) // self.samples_per_bin_
        module.eval()
        for start in range(0, n_bins, chunk):
            stop = min(start + chunk, n_bins)
            first = max(0, start - context)
            # past the start, the bins before the chunk are the context the module crops
            kwargs, lead = ({"prepend_context": False}, first + inside) if inside and first \
                else ({}, first)
            x = torch.as_tensor(np.asarray(read(first, min(n_bins, stop + right)),
                                           np.float32)).reshape(1, 1, -1)
            with torch.inference_mode(), self._autocast():
                if encode:
                    out = module.encode(x.to(self.device), **kwargs).float()
                else:
                    out = convert(module(x.to(self.device), recording=decoder,
                                         time_s=t0 + lead * dt_s, **kwargs))
            yield start, stop, _check_finite_predictions(
                to_numpy(out[0, ..., start - lead: stop - lead].float()).astype(np.float32))

    def predict_rates(self, X, *, recording=None, time_s=None):
        """Predicted rates as ``(n_trials, n_neurons, n_bins)`` float64, whatever the fit layout."""
        X = self._validate_X(X)
        decoder = self._decoder_of(recording)
        rates = self._forward_numpy(X, self._expected_counts, decoder, time_s).astype(np.float64)
        return _check_finite_predictions(rates)

    def _recording_chunks(self, rec, time_s=None, convert=None):
        """Expected counts of a recording, chunk by chunk, read from its store as needed."""
        check_is_fitted(self, ["module_", "samples_per_bin_"])
        self._check_data_rates(rec)
        decoder = self._decoder_of_recording(rec)
        t0 = rec.start_s if time_s is None else self._trial_times(time_s, 1)[0]
        read = self._progress(rec.n_bins, "predict").wrap(rec.read_audio)
        return self._stream_chunks(read, rec.n_bins, convert or self._expected_counts,
                                   decoder, t0)

    def _predict_recording(self, rec, time_s=None):
        return np.concatenate([out for _, _, out in self._recording_chunks(rec, time_s)], axis=-1)

    def _predict_windows(self, data):
        """Expected counts of every window of a WindowDataset, in the dataset's order."""
        self._validate_dataset(data, reset=False)
        loader = self.get_iterator(data, training=False)
        order = [i for batch in loader.batch_sampler for i in batch]
        outputs, n_per = [], self.neurons_per_recording_
        for batch in loader:
            rates = to_numpy(self._expected_counts(self.evaluation_step(batch, training=False)))
            _check_finite_predictions(rates)
            for row, d in zip(rates, batch[0]["recording"].tolist(), strict=True):
                outputs.append(row[: n_per[d]].astype(np.float32))
        result = [None] * len(order)
        for i, out in zip(order, outputs, strict=True):
            result[i] = out
        return result

    def predict(self, X, *, recording=None, time_s=None):
        """Predict spike rates (expected counts per bin).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples), Recording or WindowDataset
            Waveforms (``n_samples`` a whole number of bins; it may differ from
            fit; trials longer than ``predict_chunk_bins`` are streamed), a
            :class:`~sk_icnet.data.Recording` (streamed from its store), or a
            :class:`~sk_icnet.data.WindowDataset`.
        recording : str, optional
            For arrays and a model fitted on several recordings: whose decoder
            to use.
        time_s : float or array-like, optional
            With ``module__time_input=True``: the recording time (s) of the
            first bin to simulate (for arrays, one per trial or one for all).
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
            return self._predict_recording(X, time_s)
        data = _as_data(X)
        if data is not None:
            return self._predict_windows(data)
        if getattr(self, "y_ndim_", None) == 3:
            _refuse_a_tabular_scorer()
        return to_layout(self.predict_rates(X, recording=recording, time_s=time_s), self.y_ndim_)

    def _score_data(self, data):
        """Poisson D² over the observed, scored bins of recordings or windows, streamed."""
        check_is_fitted(self, ["module_", "samples_per_bin_"])
        acc = PoissonD2Accumulator(self.n_neurons_)
        offsets = np.concatenate([[0], np.cumsum(self.neurons_per_recording_)])
        skip = self.skip_bins
        if isinstance(data, Recording):  # memory bounded by one chunk, like predict
            d = self._decoder_of_recording(data)
            neurons = np.arange(offsets[d], offsets[d + 1])
            for lo, hi, rates in self._recording_chunks(data):
                _, counts, observed = data.read(lo, hi)
                acc.update(counts[None], rates[None], observed[None], neurons)
        else:
            self._validate_dataset(data, reset=False)
            for batch in self.get_iterator(data, training=False):
                rates = to_numpy(self._expected_counts(self.evaluation_step(batch, training=False)))
                counts, observed = (t.numpy() for t in batch[1])
                if skip:
                    observed = observed.copy()
                    observed[..., :skip] = False
                for k, d in enumerate(batch[0]["recording"].tolist()):
                    n = self.neurons_per_recording_[d]
                    acc.update(counts[k: k + 1, :n], rates[k: k + 1, :n],
                               observed[k: k + 1, : min(n, observed.shape[1])],
                               np.arange(offsets[d], offsets[d] + n))
        return acc.result()

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
            read = self._progress(X.n_bins, "embed").wrap(X.read_audio)
            return self._stream(read, X.n_bins, None, 0, 0.0, encode=True)
        X = self._validate_X(X)
        n_bins = X.shape[-1] // self.samples_per_bin_
        bar = self._progress(n_bins * X.shape[0], "embed")
        return np.stack([self._stream(bar.wrap(self._trial_reader(trial), k * n_bins), n_bins,
                                      None, 0, 0.0, encode=True)
                         for k, trial in enumerate(X)])

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
            proba = np.concatenate([out for _, _, out in self._recording_chunks(
                X, time_s, self._probabilities)], axis=-1)[None]  # (1, N, C, T)
            layout = 3
        else:
            Xv = self._validate_X(X)
            proba = self._forward_numpy(Xv, self._probabilities, self._decoder_of(recording),
                                        time_s)
            layout = self.y_ndim_
        proba = np.moveaxis(proba, 2, -1)  # (n, N, T, C)
        draws = rng.random_sample(proba.shape[:-1] + (1,))
        counts = np.minimum((draws > np.cumsum(proba, axis=-1)).sum(axis=-1), proba.shape[-1] - 1)
        counts = counts.astype(np.int64)
        return counts[0] if isinstance(X, Recording) else to_layout(counts, layout)

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
        proba = np.moveaxis(self._forward_numpy(X, self._probabilities, self._decoder_of(recording),
                                                time_s), 2, -1)
        return proba[:, 0] if self.y_ndim_ < 3 and proba.shape[1] == 1 else proba

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
            neurons ``y`` holds, as in :meth:`predict`.
        time_s : float or array-like of shape (n_trials,), optional
            For arrays and a model with a time input: the recording time of the
            first bin of each trial, as in :meth:`predict`.

        Returns
        -------
        float
            1 is a perfect prediction, 0 is a constant rate; NaN if no neuron fires.
            The first ``skip_bins`` bins of each trial are left out.
        """
        data = X if isinstance(X, Recording) else _as_data(X)
        if data is not None:
            self._check_no_target(y)
            if sample_weight is not None:
                raise ValueError("sample_weight is not supported for recordings; received one.")
            if recording is not None or time_s is not None:
                raise ValueError("recording= and time_s= are for arrays: recordings carry their "
                                 f"own name and start time; received recording={recording!r}, "
                                 f"time_s={time_s!r}.")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return self._score_data(data)
        y_pred = self.predict(X, recording=recording, time_s=time_s)
        check_responses(y, name="y")
        check_prediction_shape(y_pred, y)
        if self.skip_bins and np.ndim(y) >= 2:
            y = np.array(y, dtype=np.float64)
            y[..., : self.skip_bins] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return d2_poisson_score(y, y_pred, sample_weight=sample_weight)
