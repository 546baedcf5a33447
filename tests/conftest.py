"""Shared fixtures: tiny ICNet configurations and simulated data sets."""

import numpy as np
import pytest
import torch

from sk_icnet.simulate._neurons import make_auditory_dataset

torch.set_num_threads(2)

#: a CPU-sized ICNet: 8 kHz audio, 4 ms bins (32 samples), three strided layers
TINY_MODULE = dict(
    module__n_filters=8,
    module__sincnet_kernel_size=32,
    module__encoder_channels=16,
    module__encoder_kernel_size=8,
    module__n_encoder_layers=3,
    module__bottleneck_channels=8,
)
TINY_FS = 8000.0
TINY_DT = 4.0


def tiny_estimator(**kwargs):
    from sk_icnet import ICNetRegressor

    params = dict(audio_fs=TINY_FS, dt_ms=TINY_DT, lr=3e-3, batch_size=16, max_epochs=2,
                  verbose=0, random_state=0, **TINY_MODULE)
    params.update(kwargs)
    return ICNetRegressor(**params)


@pytest.fixture(scope="session")
def tiny_data():
    """96 half-second trials, 3 neurons (linear, on-off, linear), 125 bins each."""
    return make_auditory_dataset(n_trials=96, duration_s=0.5, audio_fs=TINY_FS, dt_ms=TINY_DT,
                                 n_neurons=3, neuron_kinds="mixed", random_state=0)


@pytest.fixture
def small_xy(tiny_data):
    return tiny_data.X[:24], tiny_data.y[:24]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def rewrite_model_file(path, header=None, metadata=None, tensors=None):
    """Rewrite a model file with a changed header (a function editing the parsed JSON), metadata
    (a dict merged in; a None value removes the key) or tensors (a function editing the dict)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        data = {k: f.get_tensor(k) for k in f.keys()}
    if header is not None:
        h = json.loads(meta["header"])
        header(h)
        meta["header"] = json.dumps(h)
    if metadata is not None:
        meta.update(metadata)
        meta = {k: v for k, v in meta.items() if v is not None}
    if tensors is not None:
        tensors(data)
    save_file(data, str(path), metadata=meta)
