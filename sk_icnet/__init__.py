"""sk_icnet: a scikit-learn estimator for ICNet, the auditory-midbrain encoding model.

ICNet (Drakopoulos et al. 2025, Nature Machine Intelligence 7:1478-1493) maps raw
sound waveforms to spike counts of inferior-colliculus neurons.
"""

from . import data, datasets, exceptions, insilico, interpret, metrics, recordings
from ._recipe import small_data_params, transfer_params
from ._version import __version__
from .compare import compare
from .data import Recording, WindowDataset
from .ensemble import ICNetEnsemble
from .estimator import ICNetRegressor
from .exceptions import RatesAssumedWarning
from .features import ICNetFeatures
from .losses import PoissonLoss
from .model import ICNet
from .published import describe_keras, load_published_icnet
from .strf import LinearSTRFRegressor, PoissonSTRFRegressor
from .trials import load_trials

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
    "insilico",
    "interpret",
    "load_published_icnet",
    "load_trials",
    "metrics",
    "recordings",
    "small_data_params",
    "transfer_params",
    "__version__",
]
