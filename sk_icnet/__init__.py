"""sk_icnet: a scikit-learn estimator for ICNet, the auditory-midbrain encoding model.

ICNet (Drakopoulos et al. 2025, Nature Machine Intelligence 7:1478-1493) maps raw
sound waveforms to spike counts of inferior-colliculus neurons.
"""

from . import data, datasets, insilico, metrics, recordings
from . import interpret
from ._version import __version__
from .compare import compare
from .data import Recording, WindowDataset
from .estimator import ICNetRegressor
from .features import ICNetFeatures
from .losses import PoissonLoss
from .model import ICNet
from .strf import LinearSTRFRegressor, PoissonSTRFRegressor

__all__ = [
    "ICNet",
    "ICNetFeatures",
    "ICNetRegressor",
    "LinearSTRFRegressor",
    "PoissonLoss",
    "PoissonSTRFRegressor",
    "Recording",
    "WindowDataset",
    "compare",
    "data",
    "datasets",
    "insilico",
    "interpret",
    "metrics",
    "recordings",
    "__version__",
]
