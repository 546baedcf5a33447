"""Every decoder in one encoder pass: ICNet.forward(..., "all") and recording="all" in the estimator."""

import numpy as np
import pytest
import torch

from sk_icnet import ICNet, load_published_icnet
from tests.icnet._keras_fixtures import keras_icnet, write_release

T0 = 7200.0


def _routed(**kwargs):
    kwargs = {"out_neurons": (2, 3), **kwargs}
    return ICNet(audio_fs=8000.0, dt_ms=4.0, n_filters=4, sincnet_kernel_size=16, encoder_channels=8,
                 encoder_kernel_size=4, n_encoder_layers=2, bottleneck_channels=4, **kwargs)


@pytest.mark.parametrize("kwargs", [
    {}, {"n_classes": 4}, {"time_input": True, "time_layer": "prelu"},
    {"time_input": True, "time_layer": "gain"},
    # decoders of one size run as one batched product
    {"time_input": True, "time_layer": "prelu", "out_neurons": (3, 3)},
    {"time_input": True, "time_layer": "linear", "time_combine": "add", "n_classes": 3,
     "out_neurons": (2, 2, 2)},
])
def test_all_decoders_equal_each_decoder_in_turn_concatenated(kwargs):
    torch.manual_seed(0)
    model = _routed(**kwargs).eval()
    D = len(model.neurons_per_decoder)
    if kwargs.get("time_input"):  # away from the identity it starts as
        with torch.no_grad():
            model.time_gain.normal_()
            if hasattr(model, "time_bias"):
                model.time_bias.normal_()
    x = torch.randn(3, 1, 320)
    time_s = torch.tensor([1.0, 50.0, 300.0]) if kwargs.get("time_input") else None
    with torch.no_grad():
        every = model(x, "all", time_s=time_s)
        each = torch.cat([model(x, d, time_s=time_s) for d in range(D)], dim=1)
    assert every.shape[1] == model.out_neurons and every.shape == each.shape
    torch.testing.assert_close(every, each, rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A three-animal model in the published layout: time input, five-class head."""
    model = keras_icnet(np.random.default_rng(0), n_decoders=3)
    folder = write_release(str(tmp_path_factory.mktemp("release") / "DNN"), model)
    return load_published_icnet(folder), model["spb"]


def test_predict_and_predict_proba_of_all_recordings_equal_the_per_recording_calls(published):
    est, spb = published
    sound = np.random.default_rng(1).standard_normal((3, 40 * spb)) * 0.5
    names = est.recording_names_
    proba = est.predict_proba(sound, recording="all", time_s=T0)
    assert proba.shape == (3, est.n_neurons_, 40, 5)
    np.testing.assert_allclose(proba, np.concatenate(
        [est.predict_proba(sound, recording=n, time_s=T0) for n in names], axis=1), rtol=1e-6)
    rates = est.predict(sound, recording="all", time_s=T0)
    each = np.concatenate([est.predict(sound, recording=n, time_s=T0) for n in names], axis=1)
    np.testing.assert_allclose(rates, each, rtol=1e-6)
    # one trial per time: each trial's time applies to every decoder
    times = np.array([10.0, T0, 4e4])
    np.testing.assert_allclose(
        est.predict(sound, recording="all", time_s=times),
        np.concatenate([est.predict(sound, recording=n, time_s=times) for n in names], axis=1),
        rtol=1e-6)
    # streamed in chunks of 7 bins: still one pass over the whole sound
    est.set_params(predict_chunk_bins=7)
    try:
        np.testing.assert_allclose(est.predict(sound, recording="all", time_s=T0), each,
                                   rtol=1e-5, atol=1e-6)
    finally:
        est.set_params(predict_chunk_bins=4096)
    counts = est.sample(sound, random_state=0, recording="all", time_s=T0)
    assert counts.shape == rates.shape and counts.dtype == np.int64
    assert set(np.unique(counts)) <= set(range(5))


def test_an_unnamed_recording_is_refused_naming_the_names_and_all(published):
    est, spb = published
    with pytest.raises(ValueError, match="recording"):
        est.predict(np.zeros((1, 8 * spb)), time_s=T0)
    with pytest.raises(ValueError, match="animal_4|unknown|not one of"):
        est.predict(np.zeros((1, 8 * spb)), recording="animal_4", time_s=T0)
