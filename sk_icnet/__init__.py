"""sk_icnet: a scikit-learn estimator for ICNet, the auditory-midbrain encoding model.

ICNet (Drakopoulos et al. 2025, Nature Machine Intelligence 7:1478-1493) maps raw
sound waveforms to spike counts of inferior-colliculus neurons.
"""

import importlib

from . import (  # noqa: F401 - interpret: deprecated, its names warn
    compare,
    data,
    exceptions,
    icnet,
    insilico,
    interpret,
    metrics,
    simulate,
    spectral,
    strf,
)
from ._version import __version__
from .compare import compare_models
from .data import Recording, WindowDataset, load_trials
from .exceptions import RatesAssumedWarning
from .icnet import (
    ICNet,
    ICNetEnsemble,
    ICNetFeatures,
    ICNetRegressor,
    PoissonLoss,
    describe_keras,
    load_published_icnet,
    small_data_params,
    transfer_params,
)
from .strf import LinearSTRFRegressor, PoissonSTRFRegressor

__all__ = [
    "ICNet",
    "ICNetEnsemble",
    "ICNetFeatures",
    "ICNetRegressor",
    "LinearSTRFRegressor",
    "PoissonLoss",
    "PoissonSTRFRegressor",
    "RatesAssumedWarning",
    "Recording",
    "WindowDataset",
    "compare",
    "compare_models",
    "data",
    "describe_keras",
    "exceptions",
    "icnet",
    "insilico",
    "load_published_icnet",
    "load_trials",
    "metrics",
    "small_data_params",
    "transfer_params",
    "simulate",
    "spectral",
    "strf",
    "__version__",
]

#: 0.3's modules, kept until 0.6: each warns when a name is taken from it (FutureWarning)
_DEPRECATED_MODULES = frozenset({"estimator", "model", "losses", "callbacks", "features", "published",
                                 "distributed", "trials", "recordings", "datasets"})


def __getattr__(name):
    """``sk_icnet.datasets`` and the other 0.3 modules, imported on first use."""
    if name in _DEPRECATED_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
