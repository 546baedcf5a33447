"""``ICNetRegressor``: ICNet as a scikit-learn estimator, through skorch."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
from skorch import NeuralNetRegressor
from skorch.utils import to_numpy
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._validation import (
    check_consistent_trials,
    check_positive_number,
    check_responses,
    check_waveforms,
    check_whole_bins,
    samples_per_bin,
    to_layout,
)
from .losses import PoissonLoss
from .metrics import d2_poisson_score
from .model import ICNet

__all__ = ["ICNetRegressor"]

#: module parameters that the estimator owns and sets itself
_OWNED_MODULE_PARAMS = ("audio_fs", "dt_ms")


def _never(self):
    return False


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
    audio_fs : float, default=24414.0625
        Sampling rate of the waveforms in ``X``, in Hz.
    dt_ms : float or None, default=1.31072
        Width of the response bins in ``y``, in ms. ``audio_fs * dt_ms / 1000``
        must be a whole number of samples. ``None`` infers the bin width at fit
        from the shapes: ``n_samples / n_bins`` samples per bin.
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
        Number of neurons, inferred from ``y`` at fit.
    samples_per_bin_ : int
        Audio samples per response bin.
    n_features_in_ : int
        Samples per trial seen at fit. ``predict`` accepts any whole number of
        bins, since the network is convolutional in time.
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

    def __init__(self, module=ICNet, *, audio_fs=24414.0625, dt_ms=1.31072,
                 criterion=PoissonLoss, optimizer=torch.optim.Adam, lr=1e-4,
                 max_epochs=10, batch_size=64, random_state=None, **kwargs):
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size, **kwargs)
        self.audio_fs = audio_fs
        self.dt_ms = dt_ms
        self.random_state = random_state

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
    def _resolve_samples_per_bin(self, n_samples=None, n_bins=None):
        """Samples per bin from (audio_fs, dt_ms), or from the shapes if dt_ms is None."""
        if self.dt_ms is not None:
            return samples_per_bin(self.audio_fs, self.dt_ms)
        check_positive_number(self.audio_fs, "audio_fs")
        if n_samples is None:
            return self.samples_per_bin_
        if n_samples % n_bins:
            raise ValueError(
                f"With dt_ms=None the bin width is n_samples / n_bins, which must be a "
                f"whole number; received X with {n_samples} samples and y with {n_bins} "
                f"bins per trial.")
        return n_samples // n_bins

    def _validate_fit_data(self, X, y, reset):
        X = check_waveforms(X, name="X")
        y3, y_ndim = check_responses(y, name="y")
        check_consistent_trials(X, y3)
        if reset or not hasattr(self, "samples_per_bin_"):
            spb = self._resolve_samples_per_bin(X.shape[1], y3.shape[2])
        else:
            spb = self.samples_per_bin_
        check_whole_bins(X.shape[1], spb, n_bins=y3.shape[2], estimator=type(self).__name__)
        if reset:
            self.n_features_in_ = X.shape[1]
            self.samples_per_bin_ = spb
            self.n_neurons_ = y3.shape[1]
            self.y_ndim_ = y_ndim
        else:
            if y3.shape[1] != self.n_neurons_:
                raise ValueError(f"y has {y3.shape[1]} neuron(s), but {type(self).__name__} "
                                 f"was fitted with {self.n_neurons_}.")
        return X[:, None, :], y3

    def _validate_X(self, X):
        check_is_fitted(self, ["module_", "samples_per_bin_"])
        X = check_waveforms(X, name="X")
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
        """Parameters of the estimator (skorch's bookkeeping attributes left out)."""
        params = super().get_params(deep=deep, **kwargs)
        params.pop("_params_to_validate", None)
        return params

    # ------------------------------------------------------------ skorch hooks
    def initialize(self):
        """Initialise the module, criterion and optimizer (seeded by ``random_state``)."""
        if self.random_state is None:
            self.random_seed_ = None
        else:
            self.random_seed_ = int(check_random_state(self.random_state).randint(2**31 - 1))
        return super().initialize()

    def initialize_module(self):
        """Build ICNet with the estimator's ``audio_fs``, ``dt_ms`` and neuron count."""
        kwargs = self.get_params_for("module")
        for key in _OWNED_MODULE_PARAMS:
            if key in kwargs:
                raise ValueError(f"Set {key} on the estimator (ICNetRegressor({key}=...)), not "
                                 f"as module__{key}; received module__{key}={kwargs[key]!r}.")
        spb = getattr(self, "samples_per_bin_", None)
        if self.dt_ms is None and spb is None:
            raise ValueError("dt_ms=None infers the bin width from the data: call fit(X, y) "
                             "rather than initialize().")
        kwargs["audio_fs"] = self.audio_fs
        kwargs["dt_ms"] = self.dt_ms if self.dt_ms is not None else spb * 1000.0 / self.audio_fs
        n_neurons = getattr(self, "n_neurons_", None)
        if n_neurons is not None:
            given = kwargs.get("out_neurons", n_neurons)
            if given != n_neurons:
                raise ValueError(f"module__out_neurons={given!r} disagrees with y, which has "
                                 f"{n_neurons} neuron(s); leave out_neurons unset.")
            kwargs["out_neurons"] = n_neurons
        if isinstance(self.module, torch.nn.Module):
            module = self.module
        else:
            with self._seeded():
                module = self.module(**kwargs)
        self.module_ = module
        return self

    def get_iterator(self, dataset, training=False):
        """DataLoader for ``dataset``; training batches are shuffled (seeded) by default.

        With an int ``random_state`` every loader gets its own seeded generator,
        so the global torch random state is never consumed.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        if training:
            kwargs.setdefault("shuffle", True)
        seed = self._seed(offset=len(self.history_) if self.history_ is not None else 0)
        if seed is not None and "generator" not in kwargs:
            kwargs["generator"] = torch.Generator().manual_seed(seed)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, **kwargs)

    # ------------------------------------------------------------- public API
    def fit(self, X, y, **fit_params):
        """Fit ICNet to waveforms ``X`` and responses ``y`` (see the class docstring).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples)
        y : array-like of shape (n_trials,), (n_trials, n_bins) or (n_trials, n_neurons, n_bins)
        **fit_params
            Passed on to :meth:`skorch.NeuralNet.fit`.

        Returns
        -------
        self
        """
        if self.warm_start and self.initialized_ and hasattr(self, "n_neurons_"):
            return self.partial_fit(X, y, **fit_params)
        X, y = self._validate_fit_data(X, y, reset=True)
        return super().fit(X, y, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training on ``X, y`` without re-initialising the network."""
        routing = fit_params.get("_routing_method")
        if routing != "fit":  # direct call: validate here (fit already did)
            reset = not (self.initialized_ and hasattr(self, "n_neurons_"))
            X, y = self._validate_fit_data(X, y, reset=reset)
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def predict_rates(self, X):
        """Predicted rates as ``(n_trials, n_neurons, n_bins)`` float64, whatever the fit layout."""
        X = self._validate_X(X)
        chunks = [to_numpy(yp) for yp in self.forward_iter(X, training=False)]
        return np.concatenate(chunks, axis=0).astype(np.float64)

    def predict(self, X):
        """Predict spike rates (expected counts per bin) for waveforms ``X``.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples)
            ``n_samples`` must be a whole number of bins; it may differ from fit.

        Returns
        -------
        ndarray
            Non-negative rates in the layout of the ``y`` used at fit:
            ``(n_trials,)``, ``(n_trials, n_bins)`` or ``(n_trials, n_neurons, n_bins)``.
        """
        return to_layout(self.predict_rates(X), self.y_ndim_)

    @available_if(_never)
    def predict_proba(self, X):  # pragma: no cover - hidden: a regressor of rates
        """Not offered: ICNetRegressor predicts rates, not class probabilities."""
        raise AttributeError("predict_proba")

    def score(self, X, y, sample_weight=None):
        """Poisson D², per neuron over observed bins, averaged over neurons.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples)
        y : array-like in any layout accepted by :meth:`fit`; NaN bins are ignored.
        sample_weight : array-like of shape (n_trials,), optional

        Returns
        -------
        float
            1 is a perfect prediction, 0 is a constant rate; NaN if no neuron fires.
        """
        y_pred = self.predict(X)
        y3, _ = check_responses(y, name="y")
        X_shape = np.shape(X)
        if y3.shape[0] != X_shape[0]:
            raise ValueError(f"X and y must have the same number of trials (first axis); "
                             f"received {X_shape[0]} and {y3.shape[0]}.")
        if np.shape(y_pred) != np.shape(y):
            raise ValueError(f"y must have the shape of the predictions for X, "
                             f"{np.shape(y_pred)}; received {np.shape(y)}.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return d2_poisson_score(y, y_pred, sample_weight=sample_weight)
