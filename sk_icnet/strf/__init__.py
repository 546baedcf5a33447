"""Linear spectro-temporal receptive field (STRF) baselines on the ICNet data contract.

Both estimators share the front end of :mod:`sk_icnet.spectral`: a log-compressed
mel spectrogram at the neural bin rate (``torch.stft`` with a hop of one bin, mel
triangles), whose frame for bin ``t`` ends on the last audio sample of bin ``t``;
and strictly causal lags ``0 .. n_lags - 1`` bins that never cross trial
boundaries (each trial's lagged features are zero-padded at its start, as in
MNE-Python's ``ReceptiveField``).

* :class:`LinearSTRFRegressor`: ridge regression, penalty chosen in closed
  form by K-fold cross-validation over trials from accumulated normal
  equations (one eigendecomposition per fold, all neurons and penalties at once).
* :class:`PoissonSTRFRegressor`: the linear-nonlinear Poisson model (GLM with an
  exponential link), fitted with scikit-learn's ``PoissonRegressor``
  (``solver="newton-cholesky"``).

Both are registered for model files (:func:`sk_icnet.io.save_model`); their payload is
written and read by ``sk_icnet.strf._model_file``. The front end's functions
(``log_mel_spectrogram``, ``mel_filterbank``, ``lag_features``) are documented in
:mod:`sk_icnet.spectral`, their home since 0.5, and stay importable from here.
"""

from ..spectral import lag_features, log_mel_spectrogram, mel_filterbank  # noqa: F401  (0.4's path)
from ._estimators import LinearSTRFRegressor, PoissonSTRFRegressor

__all__ = ["LinearSTRFRegressor", "PoissonSTRFRegressor"]
