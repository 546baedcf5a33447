import math

import numpy as np
import pytest
import torch

from sk_icnet.icnet._layers import SincFilterbank, factor_strides, symlog
from sk_icnet.icnet._module import ICNet

PAPER_FS = 24414.0625
PAPER_DT = 1.31072

TINY = dict(audio_fs=8000.0, dt_ms=4.0, n_filters=4, sincnet_kernel_size=16,
            encoder_channels=6, encoder_kernel_size=5, n_encoder_layers=3,
            bottleneck_channels=4)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("n_neurons", [1, 7])
def test_paper_configuration_parameter_count(n_neurons):
    model = ICNet(audio_fs=PAPER_FS, out_neurons=n_neurons, dt_ms=PAPER_DT)
    assert model.samples_per_bin == 32
    assert model.encoder_strides == [2, 2, 2, 2, 2]
    assert n_params(model) == 5_113_312 + 65 * n_neurons
    assert model.receptive_field == 4033


def test_defaults_are_the_paper_configuration():
    model = ICNet()
    assert (model.audio_fs, model.dt_ms, model.samples_per_bin) == (PAPER_FS, PAPER_DT, 32)
    assert n_params(model) == 5_113_312 + 65


@pytest.mark.parametrize("total, n_layers, expected", [
    (32, 5, [2, 2, 2, 2, 2]), (80, 5, [2, 2, 2, 2, 5]), (240, 5, [2, 2, 2, 2, 15]),
    (13, 3, [1, 1, 13]), (8, 5, [2, 2, 2, 1, 1]), (1, 2, [1, 1]), (12, 1, [12]),
])
def test_factor_strides(total, n_layers, expected):
    strides = factor_strides(total, n_layers)
    assert strides == expected
    assert math.prod(strides) == total


def test_output_shape_and_non_negative_rates():
    torch.manual_seed(0)
    model = ICNet(out_neurons=3, **TINY)
    x = torch.randn(2, 1, 32 * 20)
    out = model(x)
    assert out.shape == (2, 3, 20)
    assert (out >= 0).all()
    # (B, T) input is accepted too
    assert torch.equal(model(x[:, 0]), out)


def test_causality_future_samples_do_not_change_past_bins():
    torch.manual_seed(0)
    model = ICNet(out_neurons=2, **TINY).eval()
    spb = model.samples_per_bin
    x = torch.randn(1, 1, spb * 40)
    base = model(x)
    t = 25  # perturb every sample after the end of bin t
    x2 = x.clone()
    x2[..., (t + 1) * spb:] += 3 * torch.randn_like(x2[..., (t + 1) * spb:])
    out = model(x2)
    assert torch.equal(out[..., : t + 1], base[..., : t + 1])
    assert not torch.allclose(out[..., t + 1:], base[..., t + 1:])


def test_receptive_field_is_exact():
    torch.manual_seed(0)
    model = ICNet(out_neurons=1, **TINY).eval().double()
    spb, rf = model.samples_per_bin, model.receptive_field
    # 1 + 15 (sinc) + 4*(1 + 2 + 4) (strided) + 4*32 (bottleneck)
    assert rf == 1 + 15 + 4 * (1 + 2 + 4) + 4 * 32
    n_bins = 20
    x = torch.randn(1, 1, spb * n_bins, dtype=torch.float64)
    t = 15
    last = (t + 1) * spb - 1
    first = last - rf + 1
    base = model(x)[0, 0, t]
    inside = x.clone()
    inside[..., first] += 5.0
    assert model(inside)[0, 0, t] != base
    outside = x.clone()
    outside[..., : first] += 5.0
    assert model(outside)[0, 0, t] == base


def test_context_bins():
    model = ICNet()
    assert model.context_bins == math.ceil((4033 - 32) / 32)


@pytest.mark.parametrize("kwargs, match", [
    (dict(encoder_strides=[2, 2, 2, 2, 4]), r"encoder_strides.*multiply.*32.*\[2, 2, 2, 2, 4\].*64"),
    (dict(encoder_strides=[2, 16]), r"encoder_strides must have n_encoder_layers=5"),
    (dict(dt_ms=1.0), r"whole number.*audio_fs=24414.0625.*dt_ms=1.0"),
    (dict(audio_fs=-8000.0), r"audio_fs must be a finite number > 0; received -8000.0"),
    (dict(dt_ms=0), r"dt_ms must be a finite number > 0; received 0"),
    (dict(out_neurons=0), r"out_neurons must be an integer >= 1; received 0"),
    (dict(audio_fs=200.0, dt_ms=10.0), r"audio_fs is too low.*200.0"),
])
def test_impossible_configurations_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ICNet(**kwargs)


def test_type_errors_name_the_parameter():
    with pytest.raises(TypeError, match="encoder_channels must be an integer"):
        ICNet(encoder_channels=12.5)
    with pytest.raises(TypeError, match="encoder_strides must be a sequence"):
        ICNet(encoder_strides=32)


def test_explicit_strides_are_used():
    model = ICNet(audio_fs=8000.0, dt_ms=4.0, encoder_strides=[4, 8], n_encoder_layers=2,
                  n_filters=4, sincnet_kernel_size=8, encoder_channels=4,
                  encoder_kernel_size=4, bottleneck_channels=4)
    assert model.encoder_strides == [4, 8]
    assert model(torch.randn(1, 320)).shape == (1, 1, 10)


def test_forward_rejects_partial_bins():
    model = ICNet(**TINY)
    with pytest.raises(ValueError, match="multiple of samples_per_bin=32"):
        model(torch.randn(1, 100))


def test_sincnet_mel_initialisation_and_passbands():
    fs = 16000.0
    bank = SincFilterbank(fs, n_filters=12, kernel_size=129)
    low, high = (t.detach().numpy() for t in bank.cutoffs_hz())
    assert low[0] == pytest.approx(50.0)
    assert np.all(np.diff(low) > 0) and np.all(high > low)
    # mel spacing: the bands widen with frequency
    assert np.all(np.diff(high - low) > 0)
    assert high[-1] <= fs / 2
    # each filter's frequency response peaks inside its pass band with unit gain
    filters = bank.filters().detach().numpy()[:, 0]
    freqs = np.fft.rfftfreq(4096, 1 / fs)
    response = np.abs(np.fft.rfft(filters, 4096, axis=1))
    for i in range(2, 12):
        peak = freqs[np.argmax(response[i])]
        assert low[i] <= peak <= high[i]
        assert response[i].max() == pytest.approx(1.0, abs=0.15)


def test_sincnet_filters_are_learnable():
    bank = SincFilterbank(8000.0, n_filters=4, kernel_size=16)
    out = bank(torch.randn(2, 1, 64)).sum()
    out.backward()
    assert bank.low_hz.grad is not None and torch.isfinite(bank.low_hz.grad).all()
    assert bank.band_hz.grad is not None and bank.band_hz.grad.abs().sum() > 0


def test_symlog():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0])
    expected = torch.sign(x) * torch.log(1 + x.abs())
    assert torch.allclose(symlog(x), expected)


def test_autocast_keeps_the_front_end_and_decoder_in_float32():
    model = ICNet(audio_fs=8000.0, dt_ms=4.0, out_neurons=2, n_filters=4, sincnet_kernel_size=16,
                  encoder_channels=8, encoder_kernel_size=4, n_encoder_layers=2,
                  bottleneck_channels=4)
    seen = {}
    for name in ("sincnet", "bottleneck"):
        getattr(model, name).register_forward_hook(
            lambda mod, inp, out, name=name: seen.__setitem__(name, out.dtype))
    decode = model._decode  # the decoder rows are applied with F.linear (routing slices them)

    def recording_decode(z, first, last):
        with torch.autocast("cpu", enabled=torch.is_autocast_enabled("cpu"), dtype=torch.bfloat16):
            out = decode(z, first, last)
        seen["decoder"] = out.dtype
        return out

    model._decode = recording_decode
    x = torch.randn(2, 1, 256)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rates = model(x)
    assert seen == {"sincnet": torch.float32, "bottleneck": torch.bfloat16,
                    "decoder": torch.float32}
    assert rates.dtype == torch.float32
    rates.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    model(x)  # without autocast everything is float32
    assert set(seen.values()) == {torch.float32}


def _routed(**kwargs):
    return ICNet(audio_fs=8000.0, dt_ms=4.0, out_neurons=(2, 3), n_filters=4, sincnet_kernel_size=16,
                 encoder_channels=8, encoder_kernel_size=4, n_encoder_layers=2,
                 bottleneck_channels=4, **kwargs)


def test_routed_decoders_use_only_their_rows():
    torch.manual_seed(0)
    model = _routed()
    assert model.neurons_per_decoder == (2, 3) and model.decoder.out_features == 5
    x = torch.randn(4, 1, 320)
    full = torch.nn.functional.softplus(
        model.decoder(model.encode(x).transpose(1, 2))).transpose(1, 2)  # all 5 rows
    torch.testing.assert_close(model(x, decoder=0), full[:, :2])
    torch.testing.assert_close(model(x, decoder=torch.tensor([1, 1, 1, 1])), full[:, 2:])
    mixed = model(x, decoder=[0, 1, 1, 0])  # padded to 3 neurons, padding 0
    assert mixed.shape == (4, 3, 10)
    torch.testing.assert_close(mixed[[0, 3], :2], full[[0, 3], :2])
    torch.testing.assert_close(mixed[[1, 2]], full[[1, 2], 2:])
    assert torch.all(mixed[[0, 3], 2] == 0)
    # a window of recording 1 trains the encoder and rows 2..4 only
    model.zero_grad()
    model(x[:2], decoder=1).sum().backward()
    assert torch.all(model.decoder.weight.grad[:2] == 0)
    assert model.decoder.weight.grad[2:].abs().sum() > 0
    assert model.encoder[0].conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("decoder, message", [
    (None, "2 decoders .* pass decoder"),
    (2, r"decoder indices must be in \[0, 2\)"),
    ([0, 1], "one entry per window"),
    ("first", "an index, one per window, or 'all'"),
])
def test_a_wrong_decoder_index_is_refused(decoder, message):
    with pytest.raises(ValueError, match=message):
        _routed()(torch.randn(4, 1, 320), decoder=decoder)


def test_all_decoders_in_one_encoder_pass():
    torch.manual_seed(0)
    model = _routed(time_input=True, time_scale_s=100.0)
    with torch.no_grad():
        model.time_gain.normal_()
    x, t = torch.randn(3, 1, 320), torch.tensor([0.0, 30.0, 60.0])
    both = model(x, decoder="all", time_s=t)
    assert both.shape == (3, 5, 10)  # decoder 0's two neurons, then decoder 1's three
    torch.testing.assert_close(both[:, :2], model(x, decoder=0, time_s=t))
    torch.testing.assert_close(both[:, 2:], model(x, decoder=1, time_s=t))
    logits = ICNet(audio_fs=8000.0, dt_ms=4.0, out_neurons=(1, 2), n_filters=4,
                   sincnet_kernel_size=16, encoder_channels=8, encoder_kernel_size=4,
                   n_encoder_layers=2, bottleneck_channels=4, n_classes=5)(x, decoder="all")
    assert logits.shape == (3, 3, 5, 10)


def test_the_former_recording_keyword_still_routes_with_a_future_warning():
    torch.manual_seed(0)
    model, x = _routed(), torch.randn(2, 1, 320)
    with pytest.warns(FutureWarning, match="recording=.* is now decoder="):
        old = model(x, recording=1)
    torch.testing.assert_close(old, model(x, decoder=1))
    with pytest.raises(TypeError, match="decoder= only"):
        model(x, decoder=1, recording=1)


def test_time_input_starts_as_identity_and_needs_time():
    torch.manual_seed(0)
    plain = _routed()
    torch.manual_seed(0)
    timed = _routed(time_input=True, time_scale_s=100.0)
    assert timed.time_gain.shape == (2, 4) and not timed.time_gain.any()
    x = torch.randn(2, 1, 320)
    torch.testing.assert_close(timed(x, decoder=1, time_s=torch.tensor([5.0, 50.0])),
                               plain(x, decoder=1))
    with pytest.raises(ValueError, match="time_input=True.*needs time_s"):
        timed(x, decoder=1)
    with torch.no_grad():  # a gain that grows with time: later windows see a scaled bottleneck
        timed.time_gain.fill_(1.0)
    z = timed.encode(x)
    early = timed._time_gain(z, [1, 1], torch.tensor([0.0, 0.0]))
    late = timed._time_gain(z, [1, 1], torch.tensor([100.0, 100.0]))
    torch.testing.assert_close(early[..., 0], z[..., 0])  # tau = 0 at the first bin
    torch.testing.assert_close(late[..., 0], 2 * z[..., 0])  # tau = 1
    with pytest.raises(TypeError, match="time_input must be a bool"):
        _routed(time_input="yes")


def _to_deepstrf_layout(model):
    """An sk_icnet ICNet's weights in deepSTRF's key layout (its SincNet without floors)."""
    s = model.state_dict()
    bank = model.sincnet
    out = {"wav2spec.sincnet.low_hz_": s["sincnet.low_hz"].abs() + bank.min_low_hz,
           "wav2spec.sincnet.band_hz_": s["sincnet.band_hz"].abs() + bank.min_band_hz,
           "wav2spec.sincnet._n": bank._n.clone(),
           "wav2spec.sincnet._window": bank._window.clone(),
           "decoder.weight": s["decoder.weight"], "decoder.bias": s["decoder.bias"],
           "readout.weight": s["decoder.weight"], "readout.bias": s["decoder.bias"]}
    for name in ("encoder.0", "encoder.1", "bottleneck"):
        out[f"wav2spec.{name}.conv.weight"] = s[f"{name}.conv.weight"]
        out[f"wav2spec.{name}.conv.bias"] = s[f"{name}.conv.bias"]
        out[f"wav2spec.{name}.activation.weight"] = s[f"{name}.act.weight"]
    return out


def test_import_a_deepstrf_checkpoint():
    torch.manual_seed(0)
    kwargs = dict(n_filters=6, encoder_channels=8, encoder_kernel_size=4, n_encoder_layers=2,
                  bottleneck_channels=4, sincnet_kernel_size=16)
    source = ICNet(audio_fs=8000.0, dt_ms=4.0, out_neurons=3, **kwargs)
    with torch.no_grad():  # trained-looking weights
        for p in source.parameters():
            p.add_(0.1 * torch.randn_like(p))
    state = _to_deepstrf_layout(source)
    imported = ICNet.from_deepstrf(state, audio_fs=8000.0, dt_ms=4.0)
    assert (imported.out_neurons, imported.sincnet.n_filters, imported.encoder_strides,
            imported.sincnet.kernel_size) == (3, 6, [2, 16], 16)
    x = torch.randn(2, 1, 640)
    torch.testing.assert_close(imported(x), source(x), rtol=1e-6, atol=1e-7)
    low = dict(state)
    low["wav2spec.sincnet.low_hz_"] = low["wav2spec.sincnet.low_hz_"].clone()
    low["wav2spec.sincnet.low_hz_"][2] = 30.0  # deepSTRF allows it; sk_icnet's floor is 50 Hz
    with pytest.raises(ValueError, match="filter 2 has a low cut-off of 30 Hz, below sk_icnet's "
                                         "floor of 50 Hz"):
        ICNet.from_deepstrf(low, audio_fs=8000.0, dt_ms=4.0)
    assert ICNet.from_deepstrf(low, audio_fs=8000.0, dt_ms=4.0, sincnet_min_low_hz=20.0)
    with pytest.raises(ValueError, match=r"keys a deepSTRF ICNet does not: \['extra'\]"):
        ICNet.from_deepstrf({**state, "extra": torch.zeros(1)}, audio_fs=8000.0, dt_ms=4.0)
    with pytest.raises(ValueError, match="not a deepSTRF ICNet checkpoint"):
        ICNet.from_deepstrf({"decoder.weight": torch.zeros(3, 4)}, audio_fs=8000.0, dt_ms=4.0)
    broken = {k: v for k, v in state.items() if k != "wav2spec.encoder.1.conv.bias"}
    with pytest.raises(ValueError, match=r"no tensor for \['encoder.1.conv.bias'\]"):
        ICNet.from_deepstrf(broken, audio_fs=8000.0, dt_ms=4.0)


def test_the_encoder_config_names_what_encoder_transfer_needs_equal():
    import json

    a = _routed()
    b = ICNet(audio_fs=8000.0, dt_ms=4.0, out_neurons=4, n_filters=4, sincnet_kernel_size=16,
              encoder_channels=8, encoder_kernel_size=4, n_encoder_layers=2,
              bottleneck_channels=4, n_classes=5)  # other decoders, the same encoder
    assert ICNet.encoder_prefixes == ("sincnet.", "encoder.", "bottleneck.")
    assert a.encoder_config() == b.encoder_config()
    config = json.loads(json.dumps(a.encoder_config()))
    assert config["encoder_strides"] == a.encoder_strides and config["samples_per_bin"] == 32
    assert config["padding"] == ["causal"] * 4 and config["n_filters"] == 4
    other = _routed(padding="same").encoder_config()
    assert {k for k in config if config[k] != other[k]} == {"padding"}
