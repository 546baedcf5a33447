"""The published model's graph executed as a plan (``icnet/_published/_graph.py``): wirings the
authors' layer classes build, each checked against an independent numpy forward of the graph
(``_keras_reference``), streamed in small chunks, saved and loaded, and the bounds on every
size the graph or a model file declares."""

import numpy as np
import pytest
import torch

pytest.importorskip("h5py")
pytest.importorskip("yaml")

from sk_icnet import ICNetRegressor, load_published_icnet  # noqa: E402
from sk_icnet.icnet._published._graph import MAX_KERNEL, PublishedICNet  # noqa: E402

from ._keras_fixtures import release_config, wired_icnet, write_release  # noqa: E402
from ._keras_reference import numpy_forward  # noqa: E402

T0 = 7200.0
N_BINS = 16

WIRINGS = {
    # a single decoder layer of every kernel size from 1 to 6 (odd and even 'same' padding)
    **{f"head_kernel_{k}": dict(head=((k, 1),)) for k in range(1, 7)},
    # decoders of two and three layers (ConvEncoderBlocks, then the class layer)
    "two_layer_head": dict(head=((3, 1), (2, 1))),
    "three_layer_head": dict(head=((4, 1), (1, 1), (5, 1))),
    # time branches of two and three layers with kernels > 1, joined by Add
    "two_layer_time_add": dict(time=((1, 1), (3, 1)), combine="Add"),
    "three_layer_time": dict(time=((2, 1), (1, 1), (4, 1)), head=((2, 1),)),
    # the crop after the join (the time input then has the context's frames too)
    "crop_after_join": dict(crop="after", head=((3, 1), (1, 1))),
    "crop_after_join_add": dict(crop="after", head=((2, 1), (3, 1)), combine="Add"),
    # strides larger than the kernel, odd strides, a kernel per encoder layer, no time input
    "strides_and_kernels_per_layer": dict(encoder=((5, 2, 3), (7, 5, 2)), bottleneck=(4, 3),
                                          context=12, time=None, head=((2, 1),)),
    # Keras' causal padding everywhere, an even decoder kernel
    "causal": dict(padding="causal", head_padding="causal", time_padding="causal",
                   head=((4, 1),), time=((2, 1),)),
}


def authors_inputs(model, sound, t0=T0, shift=0):
    """The network inputs as the authors build them: context zeros and x 0.04; per time input one
    value per frame of the tensor it joins, frame ``j`` at the time of bin ``j - shift``."""
    ctx, spb = model["context"], model["spb"]
    audio = np.concatenate([np.zeros((len(sound), ctx)), sound * 0.04], axis=1)[..., None]
    n_bins = sound.shape[1] // spb
    tau = (t0 + (np.arange(n_bins + shift) - shift) * spb / model["fs"]) / 36000.0
    names = [layer["name"] for layer in model["layers"] if layer["name"].startswith("time_input")]
    return audio, {name: np.broadcast_to(tau[None, :, None], (len(sound), n_bins + shift, 1))
                   for name in names}


def reference(model, sound, wiring):
    shift = model["context"] // model["spb"] if wiring.get("crop") == "after" else 0
    values = numpy_forward(model, *authors_inputs(model, sound, shift=shift))
    probs = [values[o[0]].transpose(0, 2, 1, 3) for o in model["outputs"]]  # (B, U, T, C)
    z = values["cropped_output"] if "cropped_output" in values else \
        values["bottleneck"][:, shift:]
    return probs, z.transpose(0, 2, 1)


def load(tmp_path, model, **kwargs):
    return load_published_icnet(write_release(str(tmp_path / "DNN"), model, **kwargs))


@pytest.mark.parametrize("name", sorted(WIRINGS))
def test_each_wiring_equals_the_numpy_forward_of_its_graph_in_one_pass_and_streamed(tmp_path,
                                                                                      name):
    wiring = WIRINGS[name]
    model = wired_icnet(np.random.default_rng(0), **wiring)
    est = load(tmp_path, model)
    sound = np.random.default_rng(1).standard_normal((2, N_BINS * model["spb"])) * 0.5
    probs, z = reference(model, sound, wiring)
    time_s = None if wiring.get("time", ((1, 1),)) is None else T0
    for d, expected in enumerate(probs):
        got = est.predict_proba(sound, recording=f"animal_{d + 1}", time_s=time_s)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(est.embed(sound), z, atol=1e-5, rtol=1e-5)
    # streamed in chunks of two bins: still one pass over the whole sound
    est.predict_chunk_bins = 2
    assert est.module_.streamable
    np.testing.assert_allclose(est.predict_proba(sound, recording="animal_2", time_s=time_s),
                               probs[1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(est.embed(sound), z, atol=1e-5, rtol=1e-5)


def test_all_decoders_in_one_pass_equal_each_decoder_alone(tmp_path):
    model = wired_icnet(np.random.default_rng(2), **WIRINGS["three_layer_time"], n_decoders=3)
    module = load(tmp_path, model).module_
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 16 * model["spb"]))).float()
    with torch.no_grad():
        every = module(x, decoder="all", time_s=[100.0, 9000.0])
        each = [module(x, decoder=d, time_s=[100.0, 9000.0]) for d in range(3)]
        mixed = module(x, decoder=[2, 0], time_s=[100.0, 9000.0])
    assert every.shape == (2, 9, 5, 16)
    torch.testing.assert_close(every, torch.cat(each, dim=1), atol=1e-6, rtol=0)
    torch.testing.assert_close(mixed[0], each[2][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(mixed[1], each[0][1], atol=1e-6, rtol=0)


def test_a_multi_layer_wiring_round_trips_through_a_model_file_exactly(tmp_path):
    model = wired_icnet(np.random.default_rng(4), **WIRINGS["crop_after_join_add"])
    est = load(tmp_path, model)
    path = tmp_path / "published.safetensors"
    est.save_model(path)
    again = ICNetRegressor.load_model(path)
    assert isinstance(again.module_, PublishedICNet)
    assert again.module__plan == est.module__plan and len(repr(again)) < 2000
    sound = np.random.default_rng(5).standard_normal((1, 12 * model["spb"]))
    for recording in ("animal_1", "animal_2"):
        np.testing.assert_array_equal(again.predict_proba(sound, recording=recording, time_s=60.0),
                                      est.predict_proba(sound, recording=recording, time_s=60.0))
    np.testing.assert_array_equal(again.embed(sound), est.embed(sound))


def test_a_model_file_whose_plan_claims_a_huge_kernel_is_refused_before_building(tmp_path):
    import json

    from tests.conftest import rewrite_model_file

    est = load(tmp_path, wired_icnet(np.random.default_rng(6)))
    path = tmp_path / "published.safetensors"
    est.save_model(path)

    def huge_sinc(header):
        plan = json.loads(header["params"]["module__plan"])
        plan["encoder"][0]["taps"] = 2 * 10**8 + 1
        header["params"]["module__plan"] = json.dumps(plan)

    rewrite_model_file(path, header=huge_sinc)
    with pytest.raises(ValueError, match=f"taps must be an integer from 1 to {MAX_KERNEL:,}"):
        ICNetRegressor.load_model(path)


def _edit(model, name, **config):
    next(layer for layer in model["layers"] if layer["name"] == name)["config"].update(config)
    return model


def test_a_sincnet_kernel_beyond_the_shared_bound_is_refused_at_once(tmp_path):
    model = _edit(wired_icnet(np.random.default_rng(7)), "sincnet", kernel_size=2 * 10**8)
    with pytest.raises(ValueError, match=r"'sincnet'.*'kernel_size' must be an integer from 1 to "
                                         r"65,535"):
        load(tmp_path, model)


@pytest.mark.parametrize("scale", [1e308, 1e-40])
def test_an_audio_normalisation_that_float32_cannot_carry_is_refused_at_load(tmp_path, scale):
    model = wired_icnet(np.random.default_rng(8))
    with pytest.raises(ValueError, match=r"config.yaml.*audio_normalisation=.* must be from 1e-30 "
                                         r"to 1e\+30"):
        load(tmp_path, model, config=release_config(model, audio_normalisation=scale))


@pytest.mark.parametrize("edit, match", [
    (dict(name="time_1_0", strides=2), r"'time_1_0'.*a time layer must keep the time input's "
                                       r"length"),
    (dict(name="decoder_1_0", activation="swish"), r"'decoder_1_0'.*activation 'swish' is not "
                                                   "supported"),
    (dict(name="cropped_output", cropping=[4, 2]), r"'output_1' gives \d+ output bins for \d+ "
                                                   r"bins of sound"),
])
def test_what_the_plan_cannot_run_is_refused_naming_the_layer_and_the_rule(tmp_path, edit, match):
    edit = dict(edit)
    model = wired_icnet(np.random.default_rng(9))
    with pytest.raises(ValueError, match=match):
        load(tmp_path, _edit(model, edit.pop("name"), **edit))


def test_a_layer_shared_by_two_decoders_after_the_embedding_is_refused(tmp_path):
    model = wired_icnet(np.random.default_rng(10), time=None, head=((1, 1),))
    # decoder 2 reads decoder 1's class layer: one layer in two decoders
    layer = next(la for la in model["layers"] if la["name"] == "output_2")
    layer["inbound_nodes"] = [[["decoder_1_0", 0, 0, {}]]]
    model["layers"] = [la for la in model["layers"] if la["name"] != "decoder_2_0"]
    model["weights"].pop("decoder_2_0")
    with pytest.raises(ValueError, match="'decoder_1_0'.*shared by the decoders of 'output_1' and "
                                         "'output_2'"):
        load(tmp_path, model)


def test_transfer_from_a_graph_that_crops_after_the_join_keeps_its_embedding(tmp_path):
    from sk_icnet import transfer_params

    est = load(tmp_path, wired_icnet(np.random.default_rng(11), **WIRINGS["crop_after_join"]))
    assert est.module_.embedding_crop == [4, 0]  # the bottleneck, cropped by each decoder
    rng = np.random.default_rng(12)
    X = rng.standard_normal((6, 10 * est.samples_per_bin_)).astype(np.float32)
    y = rng.poisson(1.0, (6, 2, 10)).astype(np.float32)
    params = transfer_params(est, 60, mode="frozen")
    new = ICNetRegressor(**{**params, "max_epochs": 1, "verbose": 0, "train_split": None}).fit(X, y)
    np.testing.assert_allclose(new.embed(X), est.embed(X), atol=1e-6)
    new.predict_chunk_bins = 2  # the new head streams like the graph
    np.testing.assert_allclose(new.embed(X), est.embed(X), atol=1e-6)
