"""The authors' published ICNet: Keras HDF5 files read without TensorFlow.

Every fidelity check compares the loaded estimator with a numpy forward written in the test
helpers (``_keras_reference``) from the format's description (Keras padding rules, the
authors' SincNet filters, PReLU, symlog, CrossEntropyBlock), interpreting the file's graph
layer by layer;
the shared TensorFlow-written reference is used when it is present.
"""

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("yaml")

from sk_icnet import ICNetRegressor, describe_keras, load_published_icnet  # noqa: E402
from sk_icnet._core.timebase import Timebase  # noqa: E402
from sk_icnet.icnet._module import ICNet  # noqa: E402
from sk_icnet.icnet._published._graph import PublishedICNet  # noqa: E402

from ._keras_fixtures import keras_icnet, release_config, write_keras, write_release  # noqa: E402
from ._keras_reference import keras_conv, numpy_forward  # noqa: E402

T0 = 7200.0


def authors_inputs(model, sound, t0=T0, first_bin=0):
    """The network inputs as the authors build them: context zeros, x 0.04; time per bin / 36000."""
    ctx, spb = model["context"], model["spb"]
    audio = np.concatenate([np.zeros((len(sound), ctx)), sound * 0.04], axis=1)[..., None]
    n_bins = sound.shape[1] // spb
    tau = (t0 + (first_bin + np.arange(n_bins)) * spb / model["fs"]) / 36000.0
    times = {f"time_input_{d}": np.broadcast_to(tau[None, :, None], (len(sound), n_bins, 1))
             for d in range(1, model["n_decoders"] + 1)}
    return audio, times


def reference_outputs(model, sound, t0=T0):
    values = numpy_forward(model, *authors_inputs(model, sound, t0))
    probs = [values[o[0]] for o in model["outputs"]]  # (B, T, U, C) each
    return probs, values


def embedding_name(model):
    names = [layer["name"] for layer in model["layers"]]
    return "cropped_output" if "cropped_output" in names else [
        n for n in names if n.startswith("bottleneck")][-1]


def release(tmp_path, model, **kwargs):
    return write_release(str(tmp_path / "DNN"), model, **kwargs)


# ------------------------------------------------------------------ fidelity
VARIANTS = {
    # the authors' layout: same padding, even kernels, ConvEncoderBlocks, PReLU time block
    "same_even_kernel": dict(kernel=4, strides=(2, 2), padding="same", context=16),
    # Keras causal, odd kernels, a stride of 3, standard layers, Dense time layer added
    "causal_odd_kernel_standard_layers": dict(
        kernel=5, strides=(2, 3), padding="causal", context=12, stages="conv_prelu", sinc="conv",
        time="dense_prelu", combine="Add", head="softmax", decoder="dense"),
    # one mode per layer, a kernel shorter than its stride, linear time layer, no context
    "mixed_paddings_short_kernel": dict(
        kernel=3, strides=(4, 1), padding=["same", "causal", "same", "same"], context=0,
        time="conv", sinc_kernel=6),
    # valid padding: the context is consumed by the convolutions, the crop takes the rest
    "valid": dict(kernel=4, strides=(2, 2), padding="valid", context=32, sinc_kernel=4, time=None),
}


def build(variant, seed=0):
    kwargs = dict(VARIANTS[variant])
    if kwargs.get("padding") == "valid":  # find the crop that leaves one bin per bin of sound
        probe = keras_icnet(np.random.default_rng(seed), crop=0, **kwargs)
        n = 20 * probe["spb"]
        frames = numpy_forward(probe, np.zeros((1, probe["context"] + n, 1)), {})["bottleneck"]
        kwargs["crop"] = frames.shape[1] - 20
    return keras_icnet(np.random.default_rng(seed), **kwargs)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_loaded_model_equals_an_independent_numpy_forward_of_the_keras_graph(tmp_path, variant):
    model = build(variant)
    est = load_published_icnet(release(tmp_path, model))
    rng = np.random.default_rng(1)
    sound = rng.standard_normal((2, 40 * model["spb"])) * 0.5
    probs, values = reference_outputs(model, sound)
    has_time = variant != "valid"
    time_s = T0 if has_time else None
    assert est.recording_names_ == ["animal_1", "animal_2"]
    for d, expected in enumerate(probs):
        got = est.predict_proba(sound, recording=f"animal_{d + 1}", time_s=time_s)
        assert got.shape == (2, model["units"], 40, 5)
        np.testing.assert_allclose(got, expected.transpose(0, 2, 1, 3), atol=1e-5)
        counts = est.predict(sound, recording=f"animal_{d + 1}", time_s=time_s)
        np.testing.assert_allclose(counts, (expected * np.arange(5)).sum(-1).transpose(0, 2, 1),
                                   atol=5e-5)
    np.testing.assert_allclose(est.embed(sound), values[embedding_name(model)].transpose(0, 2, 1),
                               atol=1e-5)
    # a long sound streamed in small chunks is still one pass over the whole sound
    est.predict_chunk_bins = 3
    got = est.predict_proba(sound, recording="animal_2", time_s=time_s)
    np.testing.assert_allclose(got, probs[1].transpose(0, 2, 1, 3), atol=1e-5)
    np.testing.assert_allclose(est.embed(sound), values[embedding_name(model)].transpose(0, 2, 1),
                               atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 2, 5, 13])
def test_streaming_a_non_causal_model_equals_one_pass_whatever_the_chunk(tmp_path, chunk):
    model = build("same_even_kernel")
    est = load_published_icnet(release(tmp_path, model))
    assert est.module_.right_context_bins > 0
    sound = np.random.default_rng(2).standard_normal((1, 50 * model["spb"]))
    probs, _ = reference_outputs(model, sound, t0=30.0)
    est.predict_chunk_bins = chunk
    got = est.predict_proba(sound, recording="animal_1", time_s=30.0)
    np.testing.assert_allclose(got, probs[0].transpose(0, 2, 1, 3), atol=1e-5)


def test_windowed_mode_gives_independent_windows_each_with_its_own_left_context(tmp_path):
    model = build("same_even_kernel")
    spb, ctx = model["spb"], model["context"]
    window = 8 * spb
    est = load_published_icnet(release(tmp_path, model), window_samples=window)
    sound = np.random.default_rng(3).standard_normal((2, 30 * spb))  # 3.75 windows
    n_win = -(-sound.shape[1] // window)
    padded = np.concatenate([np.zeros((2, ctx)), sound, np.zeros((2, n_win * window - sound.shape[1]))],
                            axis=1)
    expected, latents = [], []
    for k in range(n_win):  # window k: samples k W - ctx .. (k + 1) W, zeros outside the sound
        audio = padded[:, k * window: k * window + ctx + window, None] * 0.04
        _, times = authors_inputs(model, np.zeros((2, window)), first_bin=k * window // spb)
        values = numpy_forward(model, audio, times)
        expected.append(values["output_1"])
        latents.append(values["cropped_output"])
    expected = np.concatenate(expected, axis=1)[:, : sound.shape[1] // spb]
    latents = np.concatenate(latents, axis=1)[:, : sound.shape[1] // spb]
    got = est.predict_proba(sound, recording="animal_1", time_s=T0)
    np.testing.assert_allclose(got, expected.transpose(0, 2, 1, 3), atol=1e-5)
    est.predict_chunk_bins = 3  # streamed: whole windows per chunk
    np.testing.assert_allclose(est.predict_proba(sound, recording="animal_1", time_s=T0),
                               expected.transpose(0, 2, 1, 3), atol=1e-5)
    np.testing.assert_allclose(est.embed(sound), latents.transpose(0, 2, 1), atol=1e-5)
    with pytest.raises(ValueError, match="window_samples must be a positive multiple of the model's 4"):
        load_published_icnet(release(tmp_path, model), window_samples=window + 1)
    # and it is not the one-pass computation
    one_pass = reference_outputs(model, sound)[0][0].transpose(0, 2, 1, 3)
    assert np.abs(got - one_pass).max() > 1e-3


def _shared_reference():
    env = os.environ.get("SK_ICNET_SHARED")
    roots = [Path(env)] if env else []
    roots += [parent / "shared" for parent in Path(__file__).resolve().parents]
    for root in roots:
        folder = root / "published_icnet" / "small_same"
        if (folder / "reference.npz").is_file():
            return folder
    return None


def test_file_written_by_tensorflow_gives_tensorflows_outputs_to_1e_5():
    folder = _shared_reference()
    if folder is None:
        pytest.skip("the shared TensorFlow reference (shared/published_icnet/small_same) is absent")
    ref = np.load(folder / "reference.npz")
    est = load_published_icnet(folder)
    n_dec = ref["probs"].shape[0]
    assert est.recording_names_ == [f"animal_{d + 1}" for d in range(n_dec)]
    for d in range(n_dec):
        got = est.predict_proba(ref["sound_pa"], recording=f"animal_{d + 1}", time_s=T0)
        np.testing.assert_allclose(got, ref["probs"][d].transpose(0, 2, 1, 3), atol=1e-5, rtol=0)
    z, expected = est.embed(ref["sound_pa"]), ref["bottleneck"].transpose(0, 2, 1)
    np.testing.assert_allclose(z, expected, atol=1e-5, rtol=0)
    assert np.abs(z - expected).max() <= 1e-5 * np.abs(expected).max()  # 1e-5 relative
    assert isinstance(est.module_, PublishedICNet)
    table = est.neurons_["animal_1"]
    assert list(table.columns) == ["unit", "cf_hz", "reliable"]
    assert table["reliable"].tolist() == np.isfinite(table["cf_hz"]).tolist()


# ------------------------------------------------------------------ the fitted estimator
def test_loader_returns_a_fitted_estimator_with_cfs_names_and_layer_names(tmp_path):
    model = build("same_even_kernel")
    cfs = np.geomspace(200.0, 4000.0, 6)
    cfs[[0, 4]] = np.inf
    est = load_published_icnet(release(tmp_path, model, cfs=cfs))
    assert isinstance(est, ICNetRegressor) and est.head == "categorical"
    assert est.audio_fs_ == model["fs"] and est.samples_per_bin_ == model["spb"]
    assert est.dt_ms_ == pytest.approx(1000 * model["spb"] / model["fs"])
    assert est.neurons_per_recording_ == [3, 3]
    np.testing.assert_array_equal(est.neurons_["animal_2"]["cf_hz"], cfs[3:])
    assert est.neurons_["animal_2"]["reliable"].tolist() == [True, False, True]
    assert est.keras_layers_["embedding"] == "cropped_output"
    assert est.keras_layers_["decoders"]["animal_2"]["output"] == "output_2"
    counts = est.sample(np.zeros((1, 8 * model["spb"])), random_state=0, recording="animal_1",
                        time_s=T0)
    assert counts.shape == (1, 3, 8) and counts.dtype == np.int64 and counts.max() <= 4


def test_save_model_round_trips_the_published_model_exactly(tmp_path):
    model = build("causal_odd_kernel_standard_layers")
    est = load_published_icnet(release(tmp_path, model))
    est.save_model(tmp_path / "published.safetensors")
    again = ICNetRegressor.load_model(tmp_path / "published.safetensors")
    sound = np.random.default_rng(4).standard_normal((1, 20 * model["spb"]))
    np.testing.assert_array_equal(again.predict_proba(sound, recording="animal_2", time_s=5.0),
                                  est.predict_proba(sound, recording="animal_2", time_s=5.0))
    # the neuron tables (CFs, reliability) and the graph's layer names travel with the model
    assert list(again.neurons_) == list(est.neurons_)
    for name, table in est.neurons_.items():
        pd.testing.assert_frame_equal(again.neurons_[name], table, check_dtype=False)
        assert again.neurons_[name]["reliable"].dtype == bool
    assert again.keras_layers_ == est.keras_layers_


def test_encoder_transfers_to_new_neurons_with_transfer_params(tmp_path):
    from sk_icnet import transfer_params

    model = build("same_even_kernel")
    est = load_published_icnet(release(tmp_path, model))
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, 16 * model["spb"])).astype(np.float32)
    y = rng.poisson(1.0, (8, 2, 16)).astype(np.float32)
    params = transfer_params(est, 8 * X.shape[1] / model["fs"], mode="frozen")
    new = ICNetRegressor(**{**params, "max_epochs": 1, "verbose": 0, "train_split": None,
                            "random_state": 0}).fit(X, y)
    np.testing.assert_allclose(new.embed(X), est.embed(X), atol=1e-6)
    assert new.predict(X).shape == (8, 2, 16) and new.head == "poisson"


# ------------------------------------------------------------------ describe_keras
def test_describe_keras_lists_the_graph_with_weight_shapes_and_support(tmp_path):
    model = build("same_even_kernel")
    model["layers"].insert(3, {"class_name": "BatchNormalization", "name": "bn",
                               "config": {"name": "bn", "axis": -1},
                               "inbound_nodes": [[["encoder_0", 0, 0, {}]]]})
    path = write_keras(tmp_path / "m.hdf5", model)
    table = describe_keras(path)
    assert list(table.columns) == ["layer", "class", "config", "inputs", "weights", "supported"]
    row = table.set_index("layer").loc["encoder_0"]
    assert row["class"] == "layers>ConvEncoderBlock" and "(4, 4, 6)" in row["weights"]
    assert "strides=2" in row["config"] and "padding=same" in row["config"]
    assert not table.set_index("layer").loc["bn", "supported"]
    assert table["supported"].sum() == len(table) - 1
    with pytest.raises(ValueError, match="'bn'.*BatchNormalization.*not supported"):
        load_published_icnet(path, config=_config_file(tmp_path, model))


# ------------------------------------------------------------------ hostile files
def _config_file(tmp_path, model, **overrides):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(release_config(model, **overrides)))
    return path


def _set_weight(model, layer, suffix, value=None, drop=False, add=None):
    entries = model["weights"][layer]
    for i, (path, arr) in enumerate(entries):
        if path.endswith(suffix) and (drop or value is not None):
            if drop:
                del entries[i]
            else:
                entries[i] = (path, value(arr) if callable(value) else value)
            break
    if add:
        entries.append(add)


def test_a_lambda_layer_is_refused_by_name(tmp_path):
    model = build("same_even_kernel")
    model["layers"].append({"class_name": "Lambda", "name": "evil", "inbound_nodes": [[[
        "cropped_output", 0, 0, {}]]], "config": {"name": "evil", "function": ["4wEAAAAA", None, None],
                                                  "function_type": "lambda"}})
    folder = release(tmp_path, model)
    with pytest.raises(ValueError, match="'evil'.*Lambda.*never runs code"):
        load_published_icnet(folder)
    table = describe_keras(folder).set_index("layer")  # shown, not run
    assert table.loc["evil", "class"] == "Lambda" and not table.loc["evil", "supported"]


def test_marshalled_code_inside_a_supported_layer_is_refused(tmp_path):
    model = build("same_even_kernel")
    model["layers"][2]["config"]["activity_regularizer"] = {
        "class_name": "function", "config": {"function_type": "lambda", "function": "4wEAAAAA"}}
    with pytest.raises(ValueError, match="encoder_0.*never runs code"):
        load_published_icnet(release(tmp_path, model))


@pytest.mark.parametrize("change, match", [
    (dict(drop=True), r"layer 'encoder_1'.*\['bias'\] are missing"),
    (dict(add=("encoder_1/encoder_1_conv/gamma:0", np.ones(6, np.float32))),
     r"layer 'encoder_1'.*\['gamma'\] that the layer's config does not use"),
    (dict(value=np.ones(7, np.float32)), r"layer 'encoder_1'.*'bias' has shape \(7,\).*needs \(6,\)"),
    (dict(value=lambda a: np.where(np.arange(a.size) == 2, np.nan, a).astype(np.float32)),
     r"layer 'encoder_1'.*'bias' holds NaN or inf"),
])
def test_missing_extra_misshaped_and_nan_weights_are_refused_naming_the_layer(tmp_path, change,
                                                                              match):
    model = build("same_even_kernel")
    _set_weight(model, "encoder_1", "bias:0", **change)
    with pytest.raises(ValueError, match=match):
        load_published_icnet(release(tmp_path, model))


def test_a_graph_claiming_a_billion_channels_is_refused_before_anything_is_allocated(
        tmp_path, monkeypatch):
    model = build("same_even_kernel")
    model["layers"][3]["config"]["channels"] = 10**6  # encoder_1; its stored kernel is small
    folder = release(tmp_path, model)

    def never(*args, **kwargs):
        raise AssertionError("the module was built")

    monkeypatch.setattr(PublishedICNet, "__init__", never)
    with pytest.raises(ValueError, match=r"'encoder_1'.*kernel.*needs \(4, 6, 1000000\)"):
        load_published_icnet(folder)
    model["layers"][3]["config"]["channels"] = 10**9  # beyond the bound on any channel count
    with pytest.raises(ValueError, match=r"'encoder_1'.*'channels' must be an integer from 1 to "
                                         r"1,048,576; received 1000000000"):
        load_published_icnet(release(tmp_path, model))


def test_a_config_claiming_a_billion_decoder_channels_is_refused(tmp_path, monkeypatch):
    model = build("same_even_kernel")
    folder = release(tmp_path, model, config=release_config(model, decoder_channels=10**9))
    monkeypatch.setattr(PublishedICNet, "__init__",
                        lambda *a, **k: pytest.fail("the module was built"))
    with pytest.raises(ValueError, match="config.yaml.*decoder_channels=1000000000 disagrees"):
        load_published_icnet(folder)


def test_more_parameters_than_allowed_are_refused_before_reading(tmp_path):
    model = build("same_even_kernel")
    with pytest.raises(ValueError, match="parameters, more than max_parameters=100"):
        load_published_icnet(release(tmp_path, model), max_parameters=100)


@pytest.mark.parametrize("overrides, match", [
    (dict(fs_MUA=333.0), "rates disagree"),
    (dict(fs_audio=16000.0, fs_MUA=None), "fs=8000.0 disagrees with fs_audio=16000.0"),
    (dict(ds_factor=8), "downsample by 4, but .* ds_factor=8"),
    (dict(context_size=10), "context_size=10 is not a whole number of bins"),
    (dict(n_classes=4), "n_classes=4 disagrees"),
])
def test_a_config_whose_rates_or_sizes_disagree_with_the_graph_is_refused(tmp_path, overrides,
                                                                          match):
    model = build("same_even_kernel")
    folder = release(tmp_path, model, config=release_config(model, **overrides))
    with pytest.raises(ValueError, match=match):
        load_published_icnet(folder)


def test_config_yaml_is_read_safely(tmp_path):
    model = build("same_even_kernel")
    folder = release(tmp_path, model)
    marker = tmp_path / "ran"
    Path(folder, "config.yaml").write_text(
        f"context_size: !!python/object/apply:os.system ['touch {marker}']\nfs_audio: 8000.0\n")
    with pytest.raises(ValueError, match="config.yaml.*not valid YAML.*safe_load"):
        load_published_icnet(folder)
    assert not marker.exists()


def test_a_cf_file_whose_length_differs_from_the_units_is_refused(tmp_path):
    model = build("same_even_kernel")
    folder = release(tmp_path, model, cfs=np.full(5, 1000.0))
    with pytest.raises(ValueError, match=r"channel_CFs.mat.*shape \(1, 5\).*6 units"):
        load_published_icnet(folder)


def test_a_matlab_v73_cf_file_is_read_with_h5py(tmp_path):
    model = build("same_even_kernel")
    folder = release(tmp_path, model)
    path = Path(folder, "channel_CFs.mat")
    cfs = np.array([[np.inf, 500.0, 1000.0, 2000.0, 4000.0, 8000.0]])
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("channel_CFs", data=cfs.T)  # MATLAB writes column-major
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, created by a test")
    est = load_published_icnet(folder)
    np.testing.assert_array_equal(est.neurons_["animal_2"]["cf_hz"], [2000.0, 4000.0, 8000.0])
    assert est.neurons_["animal_1"]["reliable"].tolist() == [False, True, True]


def test_weights_stored_outside_the_file_or_not_as_floats_are_refused(tmp_path):
    model = build("same_even_kernel")
    folder = release(tmp_path, model)
    path = Path(folder, "model_weights.hdf5")
    with h5py.File(tmp_path / "elsewhere.h5", "w") as f:
        f["x"] = np.ones(6, np.float32)
    with h5py.File(path, "r+") as f:
        group = f["model_weights/encoder_1/encoder_1/encoder_1_conv"]
        del group["bias:0"]
        group["bias:0"] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "/x")
    with pytest.raises(ValueError, match="encoder_1.*external link.*only what is stored in the file"):
        load_published_icnet(folder)
    with h5py.File(path, "r+") as f:
        group = f["model_weights/encoder_1/encoder_1/encoder_1_conv"]
        del group["bias:0"]
        group.create_dataset("bias:0", data=np.array([b"pickle"] * 6))
    with pytest.raises(ValueError, match="encoder_1.*dtype.*not floating point"):
        load_published_icnet(folder)


def test_a_file_without_a_graph_or_with_broken_wiring_is_refused(tmp_path):
    model = build("same_even_kernel")
    path = write_keras(tmp_path / "m.hdf5", model)
    config = _config_file(tmp_path, model)
    with h5py.File(path, "r+") as f:
        del f.attrs["model_config"]
    with pytest.raises(ValueError, match="no model_config.*weights-only"):
        load_published_icnet(path, config=config)
    model["layers"][3]["inbound_nodes"] = [[["nowhere", 0, 0, {}]]]
    path = write_keras(tmp_path / "m2.hdf5", model)
    with pytest.raises(ValueError, match="'encoder_1'.*reads 'nowhere'"):
        load_published_icnet(path, config=config)
    model["layers"][3]["inbound_nodes"] = [[["bottleneck", 0, 0, {}]]]  # a cycle
    path = write_keras(tmp_path / "m3.hdf5", model)
    with pytest.raises(ValueError, match="loops back to this layer"):
        load_published_icnet(path, config=config)


@pytest.mark.parametrize("mode", ["same", "keras_causal", "valid", "causal"])
@pytest.mark.parametrize("kernel, stride", [(3, 1), (4, 2), (5, 3), (2, 4)])
def test_each_padding_mode_convolves_as_keras_for_odd_and_even_kernels(mode, kernel, stride):
    import torch

    from sk_icnet.icnet._layers import CausalConvBlock

    torch.manual_seed(0)
    block = CausalConvBlock(2, 3, kernel, stride, mode)
    with torch.no_grad():
        block.act.weight.fill_(1.0)  # PReLU with slope 1: the convolution alone
    kern = block.conv.weight.detach().numpy().transpose(2, 1, 0).astype(np.float64)
    bias = block.conv.bias.detach().numpy()
    for length in (12, 13, 17):
        x = np.random.default_rng(length).standard_normal((1, length, 2))
        got = block(torch.from_numpy(x.transpose(0, 2, 1)).float()).detach().numpy()
        if mode == "causal":  # sk_icnet's own: kernel - stride zeros on the left
            pad = kernel - stride
            xp = np.pad(x, ((0, 0), (max(pad, 0), 0), (0, 0)))[:, max(-pad, 0):]
            expected = keras_conv(xp, kern, stride, "valid") + bias
        else:
            expected = keras_conv(x, kern, stride, mode.replace("keras_", "")) + bias
        np.testing.assert_allclose(got, expected.transpose(0, 2, 1), atol=1e-5)


def test_streamed_bfloat16_predictions_of_the_categorical_head_come_back_as_float32(tmp_path):
    model = build("same_even_kernel")
    est = load_published_icnet(release(tmp_path, model))
    sound = np.random.default_rng(6).standard_normal((1, 20 * model["spb"]))
    full = est.predict(sound, recording="animal_1", time_s=T0)
    est.set_params(precision="bfloat16", predict_chunk_bins=4)
    with warnings.catch_warnings():  # a CPU without native bfloat16 warns that it emulates it
        warnings.simplefilter("ignore", UserWarning)
        streamed = est.predict(sound, recording="animal_1", time_s=T0)
    assert streamed.dtype == np.float64 and streamed.shape == full.shape
    np.testing.assert_allclose(streamed, full, atol=0.1)


def test_insilico_experiments_run_on_a_chosen_animal_at_a_chosen_recording_time(tmp_path):
    from sk_icnet import insilico

    model = build("same_even_kernel")
    est = load_published_icnet(release(tmp_path, model))
    fra = {t: insilico.frequency_response_area(
        est, frequencies=[300, 600, 1200, 2400], levels=[20, 50, 80], tone_ms=40.0,
        silence_ms=40.0, predict_params={"recording": "animal_2", "time_s": t})
        for t in (0.0, 30000.0)}
    assert sorted(fra[0.0].summary.neuron) == [0, 1, 2]
    # the time layer is part of the model: another recording time, other responses
    assert not np.allclose(fra[0.0].responses["rate_hz"], fra[30000.0].responses["rate_hz"])


def test_score_of_arrays_takes_the_animal_and_the_recording_time(tmp_path):
    from sk_icnet.metrics import d2_poisson_score

    model = build("same_even_kernel")
    est = load_published_icnet(release(tmp_path, model))
    sound = np.random.default_rng(2).standard_normal((2, 40 * model["spb"])) * 0.5
    y = est.sample(sound, random_state=0, recording="animal_2", time_s=T0)
    expected = d2_poisson_score(y, est.predict(sound, recording="animal_2", time_s=T0))
    assert est.score(sound, y, recording="animal_2", time_s=T0) == pytest.approx(expected)
    assert est.score(sound, y, recording="animal_1", time_s=T0) != pytest.approx(expected)


@pytest.mark.parametrize("kwargs, match", [
    (dict(padding="full"), "padding must be one of"),
    (dict(padding=["same", "same"]), "a list of 5 of them"),
    (dict(context_samples=10), "context_samples must be a multiple of the samples per bin"),
    (dict(time_input=True, time_combine="add"), "time_combine='add' needs time_layer"),
    (dict(sincnet_style="keras", sincnet_kernel_size=16), "must be odd with sincnet_style='keras'"),
    (dict(padding="valid"), "gives .* output bins for .* bins of sound"),
])
def test_icnet_options_refuse_what_cannot_work_naming_the_option(kwargs, match):
    base = dict(audio_fs=8000.0, dt_ms=4.0, n_filters=4, sincnet_kernel_size=15, encoder_channels=4,
                encoder_kernel_size=4, n_encoder_layers=3, bottleneck_channels=4)
    with pytest.raises(ValueError, match=match):
        ICNet(**{**base, **kwargs})


def _mutate(layer, **config):
    layer["config"].update(config)


@pytest.mark.parametrize("variant, name, config, match", [
    ("same_even_kernel", "encoder_1", dict(activation="relu"),
     "'encoder_1'.*activation 'relu' is not supported .*prelu, symlog, softmax"),
    ("same_even_kernel", "cropped_output", dict(cropping=[4, 2]),
     "'output_1' gives .* output bins for .* bins of sound"),
    ("same_even_kernel", "sincnet", dict(kernel_size=7), "SincNet filters of 8 taps"),
    ("causal_odd_kernel_standard_layers", "encoder_0", dict(dilation_rate=[2]),
     "'encoder_0'.*dilated or grouped"),
    ("same_even_kernel", "encoder_0", dict(layer_normalization="batch"),
     "'encoder_0'.*layer_normalization"),
])
def test_graphs_the_reader_cannot_run_are_refused_naming_the_layer(tmp_path, variant, name,
                                                                    config, match):
    model = build(variant)
    _mutate(next(layer for layer in model["layers"] if layer["name"] == name), **config)
    with pytest.raises(ValueError, match=match):
        load_published_icnet(release(tmp_path, model))


@pytest.mark.slow
def test_the_published_icnet_example_runs_end_to_end_on_a_stand_in_release(tmp_path):
    import subprocess
    import sys

    folder = _shared_reference() or release(tmp_path, build("same_even_kernel"))
    out = tmp_path / "figure.png"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(root / "examples" / "published_icnet.py"), str(folder),
                           "--out", str(out)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MPLBACKEND": "Agg",
                                            "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.is_file() and out.stat().st_size > 10_000
    assert "neurogram" in proc.stdout.lower() or "embed" in proc.stdout.lower(), proc.stdout


def test_a_model_file_whose_neuron_table_disagrees_with_its_decoders_is_refused(tmp_path):
    from tests.conftest import rewrite_model_file

    est = load_published_icnet(release(tmp_path, build("same_even_kernel")))
    path = tmp_path / "published.safetensors"
    est.save_model(path)

    def drop_a_row(header):
        header["provenance"]["neurons"]["animal_1"]["data"].pop()

    rewrite_model_file(path, header=drop_a_row)
    with pytest.raises(ValueError, match=r"the neurons table of 'animal_1' has 2 rows, but the "
                                         r"model's decoders are"):
        ICNetRegressor.load_model(path)


def test_a_model_file_of_0_4_s_published_layout_still_loads_as_an_icnet(tmp_path):
    """0.4.0 mapped the published graph onto ICNet with Keras options; its files still load."""
    est = ICNetRegressor(head="categorical", audio_fs=8000.0, dt_ms=0.5, verbose=0,
                         train_split=None, module__n_filters=4, module__sincnet_kernel_size=9,
                         module__sincnet_style="keras", module__encoder_channels=6,
                         module__encoder_kernel_size=4, module__n_encoder_layers=2,
                         module__bottleneck_channels=5, module__encoder_strides=[2, 2],
                         module__n_classes=5, module__padding=["same"] * 4,
                         module__input_scale=0.04, module__context_samples=16,
                         module__time_input=True, module__time_layer="prelu",
                         module__time_combine="multiply", module__time_scale_s=36000.0)
    est.timebase_ = Timebase(8000.0, 0.5)
    est.n_neurons_, est.neurons_per_recording_ = 6, [3, 3]
    est.recording_names_, est.y_ndim_, est.n_features_in_ = ["animal_1", "animal_2"], 3, 16
    est.initialize()
    est.save_model(tmp_path / "old.safetensors")
    again = ICNetRegressor.load_model(tmp_path / "old.safetensors")
    assert type(again.module_) is ICNet and again.module_.padding == ["same"] * 4
    sound = np.random.default_rng(0).standard_normal((1, 40))
    np.testing.assert_array_equal(again.predict_proba(sound, recording="animal_2", time_s=9.0),
                                  est.predict_proba(sound, recording="animal_2", time_s=9.0))
