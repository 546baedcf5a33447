"""The ICNet family: the network, its losses, the scikit-learn estimator and the published model.

``ICNet``
    The PyTorch module: SincNet front end, strided causal convolutions, a bottleneck and one
    decoder per recording.
``ICNetRegressor``
    The skorch estimator that fits it with a Poisson (or categorical-count) loss.
``ICNetFeatures``
    A transformer giving an ICNet's bottleneck as features.
``ICNetEnsemble``
    A seed ensemble of ICNetRegressors predicting their mean rate.
``small_data_params``, ``transfer_params``
    Constructor parameters for minutes of data, and for a pretrained encoder.
``load_published_icnet``, ``describe_keras``, ``PublishedICNet``
    The authors' released Keras model, read without TensorFlow, and the module that executes
    its graph.
"""

from . import _model_file  # noqa: F401  (registers ICNetRegressor for model files)
from ._callbacks import (
    AtomicCheckpoint,
    BestWeights,
    CheckpointMetadata,
    DidNotLearnCheck,
    GatherDistributedLosses,
    PendingLoss,
    ResolvePendingLosses,
    TrainingDiverged,
    TrimHeap,
)
from ._ensemble import ICNetEnsemble
from ._estimator import ICNetRegressor
from ._features import ICNetFeatures
from ._layers import SincFilterbank, cpu_supports_bf16
from ._losses import CategoricalCountLoss, PoissonLoss, masked_mean
from ._module import ICNet
from ._published import PublishedICNet, describe_keras, load_published_icnet
from ._recipe import estimate_fit_seconds, small_data_params, transfer_params

__all__ = ["ICNet", "ICNetRegressor", "ICNetEnsemble", "small_data_params", "transfer_params",
           "ICNetFeatures", "PoissonLoss", "CategoricalCountLoss", "SincFilterbank",
           "cpu_supports_bf16", "describe_keras", "load_published_icnet", "PublishedICNet",
           "masked_mean",
           "AtomicCheckpoint", "BestWeights", "CheckpointMetadata", "DidNotLearnCheck",
           "GatherDistributedLosses",
           "PendingLoss", "ResolvePendingLosses", "TrainingDiverged", "TrimHeap",
           "estimate_fit_seconds"]
