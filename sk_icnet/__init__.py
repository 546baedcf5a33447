"""sk_icnet: a scikit-learn estimator for ICNet, the auditory-midbrain encoding model.

ICNet (Drakopoulos et al. 2025, Nature Machine Intelligence 7:1478-1493) maps raw
sound waveforms to spike counts of inferior-colliculus neurons.
"""

from . import data, datasets, exceptions, icnet, insilico, interpret, metrics, recordings, simulate  # noqa: F401, E501 - interpret: deprecated, its names warn
from ._version import __version__
from .compare import compare
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
    "data",
    "datasets",
    "describe_keras",
    "exceptions",
    "icnet",
    "insilico",
    "load_published_icnet",
    "load_trials",
    "metrics",
    "recordings",
    "small_data_params",
    "transfer_params",
    "simulate",
    "__version__",
]
