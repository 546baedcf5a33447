"""ICNet's bottleneck as features for other scikit-learn models.

The paper presents ICNet's encoder as a "foundation core": its bottleneck
latents are a compact representation of sound for new neurons and other
models. :class:`ICNetFeatures` puts them into a scikit-learn ``Pipeline``::

    Pipeline([("icnet", ICNetFeatures(fitted_icnet)), ("ridge", Ridge())])
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils._param_validation import StrOptions, validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted

__all__ = ["ICNetFeatures"]


class ICNetFeatures(TransformerMixin, BaseEstimator):
    """Transform waveforms into a fitted ICNet's bottleneck latents.

    The wrapped estimator is held *frozen*, as :class:`sklearn.frozen.FrozenEstimator`
    holds its own: :func:`sklearn.base.clone` (which ``cross_val_score``,
    ``GridSearchCV`` and every other scikit-learn tool call) gives a new, unfitted
    ``ICNetFeatures`` around the *same* fitted estimator, neither copied nor
    refitted, so ``Pipeline([("icnet", ICNetFeatures(fitted)), ("ridge", Ridge())])``
    cross-validates as it is. The folds share that estimator: it was fitted before
    the cross-validation, on data of your choosing (keep the test trials out of it
    for an honest score).

    Parameters
    ----------
    estimator : ICNetRegressor
        A fitted estimator; it is not refitted or cloned (the encoder stays frozen).
    output : {"flat", "mean"}, default="flat"
        ``"flat"``: every channel at every bin, ``(n_trials, n_channels *
        n_bins)`` (trials of the length seen at fit); ``"mean"``: each
        channel's mean over time, ``(n_trials, n_channels)``.

    Attributes
    ----------
    n_features_in_ : int
        Samples per trial seen at fit.
    n_channels_ : int
    """

    _parameter_constraints = {"output": [StrOptions({"flat", "mean"})]}

    def __init__(self, estimator, output="flat"):
        self.estimator = estimator
        self.output = output

    def __sklearn_clone__(self):
        """An unfitted copy holding the same fitted ``estimator`` (frozen, not cloned)."""
        params = {key: clone(value, safe=False)
                  for key, value in self.get_params(deep=False).items() if key != "estimator"}
        return type(self)(estimator=self.estimator, **params)

    def fit(self, X, y=None):
        """Check the estimator is fitted and record the trial length; ``y`` is ignored.

        No latents are computed here (``fit_transform`` computes them once, in
        :meth:`transform`).
        """
        validate_parameter_constraints(self._parameter_constraints, {"output": self.output},
                                       caller_name=type(self).__name__)
        X = self.estimator._validate_X(X)  # checks the estimator is fitted, and X's shape
        self.n_features_in_ = X.shape[-1]
        module = self.estimator.module_
        self.n_channels_ = getattr(module, "embedding_channels", None) or \
            module.bottleneck.conv.out_channels
        self._n_bins = X.shape[-1] // self.estimator.samples_per_bin_
        return self

    def transform(self, X):
        """Latents of ``X``, shaped as ``output`` says."""
        check_is_fitted(self, ["n_channels_"])
        Z = self.estimator.embed(X)
        if self.output == "mean":
            return Z.mean(axis=2)
        if Z.shape[2] != self._n_bins:
            raise ValueError(f"X has trials of {Z.shape[2]} bins, but ICNetFeatures was fitted on "
                             f"{self._n_bins}-bin trials (output='flat' needs one length); use "
                             "output='mean' for trials of any length.")
        return Z.reshape(Z.shape[0], -1)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, ["n_channels_"])
        if self.output == "mean":
            return np.array([f"latent{c}" for c in range(self.n_channels_)], dtype=object)
        return np.array([f"latent{c}_bin{t}" for c in range(self.n_channels_)
                         for t in range(self._n_bins)], dtype=object)
