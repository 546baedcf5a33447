"""Receptive fields, optimal sounds and in-silico reliability (sk_icnet.insilico)."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from sk_icnet import LinearSTRFRegressor
from sk_icnet.audio import level_db_spl
from sk_icnet.insilico import (
    DynamicSTRF,
    ReceptiveField,
    dynamic_strf,
    frequency_response_area,
    gradient_strf,
    insilico_reliability,
    optimal_sound,
    plot_dstrf,
    plot_optimal_sound,
    plot_strf,
    strf_receptive_field,
)
from sk_icnet.insilico._receptive_fields import _FrontEnd
from sk_icnet.simulate import TunedNeurons, make_random_chords
from sk_icnet.spectral import log_mel_spectrogram
from tests.conftest import tiny_estimator

matplotlib.use("Agg")

FS, SPB = 8000.0, 32  # 4 ms bins
FRONT = dict(n_bands=12, fmin=300.0, fmax=3800.0, win_ms=16.0)
N_LAGS = 6


def _front():
    return _FrontEnd(FS, SPB, **FRONT)


def _true_strf():
    """A band-tuned STRF (bands x lags): excitation at band 6 after 1 bin, inhibition later."""
    bands, lags = np.arange(FRONT["n_bands"])[:, None], np.arange(N_LAGS)[None, :]
    tuning = np.exp(-0.5 * ((bands - 6) / 1.5) ** 2)
    kernel = np.exp(-0.5 * ((lags - 1) / 0.8) ** 2) - 0.5 * np.exp(-0.5 * ((lags - 4) / 0.8) ** 2)
    return tuning * kernel


class SpectrogramNeurons(torch.nn.Module):
    """Neurons that read the sound only through the package's log-mel spectrogram.

    ``kind="linear"``: rate = b + sum h * S (exactly linear in the spectrogram);
    ``"ln"``: exp of that (one filter and a static nonlinearity);
    ``"energy"``: the sum of the squares of two differently tuned filters (no
    single filter describes it).
    """

    audio_fs, samples_per_bin = FS, SPB

    def __init__(self, kernels, kind):
        super().__init__()
        self.front = _front()
        self.kernels = torch.as_tensor(np.asarray(kernels), dtype=torch.float64)  # (K, B, L)
        self.kind = kind

    def forward(self, x):
        S = self.front.log_mel_torch(x.double())  # (batch, T, B)
        S = S - S.detach().mean()  # a fixed offset: the gradient is the same
        T = S.shape[1]
        drive = []
        for h in self.kernels:
            d = sum(torch.nn.functional.pad(S[:, : T - lag], (0, 0, lag, 0)) @ h[:, lag]
                    for lag in range(h.shape[1]))
            drive.append(d)  # (batch, T)
        if self.kind == "linear":
            out = 5.0 + drive[0]
        elif self.kind == "ln":
            out = torch.exp(0.05 * drive[0])
        else:
            out = sum(d**2 for d in drive) * 1e-2
        return out[:, None, :].float()


@pytest.fixture(scope="module")
def chords():
    """Random chords over a quiet noise floor (a band without power has no gradient to see)."""
    X = make_random_chords(2, 0.3, FS, n_tones=16, fmin=250.0, fmax=3800.0, chord_ms=12.0,
                           random_state=0)
    return (X + 0.01 * np.random.default_rng(0).standard_normal(X.shape)).astype(np.float32)


def test_the_front_end_matches_the_strf_front_end_and_its_jacobian_matches_autograd(chords):
    front = _front()
    S_ref, center = log_mel_spectrogram(chords, FS, SPB * 1000.0 / FS, **FRONT)
    S, jac = front.log_mel_and_jacobian(chords[0].astype(np.float64))
    np.testing.assert_allclose(S, S_ref[0], atol=1e-3)
    np.testing.assert_allclose(front.center_hz, center)
    S_torch = front.log_mel_torch(torch.as_tensor(chords[:1], dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(S_torch, S, atol=1e-9)
    # the analytic Jacobian of frame 20 equals autograd's
    frame = torch.as_tensor(front.frames(chords[0].astype(np.float64))[20])
    w = torch.as_tensor(front.window)
    auto = torch.autograd.functional.jacobian(lambda f: torch.log(
        (torch.fft.rfft(f * w).abs() ** 2 / front.norm) @ torch.as_tensor(front.weights).T
        + front.log_floor), frame)
    np.testing.assert_allclose(jac[20], auto.numpy(), rtol=1e-6, atol=1e-9)


def test_dynamic_strf_recovers_a_linear_neurons_strf_with_no_nonlinearity(chords):
    truth = _true_strf()
    model = SpectrogramNeurons([truth], "linear")
    result = dynamic_strf(model, chords, n_lags=N_LAGS, step=3, **FRONT)
    assert isinstance(result, DynamicSTRF)
    assert result.dstrf.shape[2:] == (1,) + truth.shape
    r = np.corrcoef(result.mean.values[0].ravel(), truth.ravel())[0, 1]
    assert r >= 0.99
    np.testing.assert_allclose(result.mean.values[0], truth, atol=0.05 * np.abs(truth).max())
    assert result.nonlinearity_index[0] < 0.01
    assert result.gain_cv[0] < 0.05  # the same filter at every bin
    assert np.nanmin(result.explained) > 0.95  # the gradient is a spectrogram gradient


def test_an_ln_neuron_has_one_filter_and_a_gain_that_changes(chords):
    truth = _true_strf()
    result = dynamic_strf(SpectrogramNeurons([truth], "ln"), chords, n_lags=N_LAGS, step=3, **FRONT)
    assert np.corrcoef(result.components[0, 0].ravel(), truth.ravel())[0, 1] >= 0.99
    assert result.nonlinearity_index[0] < 0.01
    assert result.gain_cv[0] > 0.05


def test_a_two_filter_energy_neuron_is_flagged_as_nonlinear(chords):
    truth = _true_strf()
    other = np.roll(truth, 4, axis=0) * np.array([1, -1, 1, -1, 1, -1])[None, :]
    linear = dynamic_strf(SpectrogramNeurons([truth], "linear"), chords, n_lags=N_LAGS, step=3,
                          **FRONT)
    energy = dynamic_strf(SpectrogramNeurons([truth, other], "energy"), chords, n_lags=N_LAGS,
                          step=3, **FRONT)
    assert energy.nonlinearity_index[0] > 0.1 > 100 * linear.nonlinearity_index[0]
    assert energy.explained_variance_ratio[0, :2].sum() > 0.95  # two filters explain it


def test_the_gradient_strf_of_a_module_equals_a_fitted_strfs_coefficients(chords):
    """A fitted ridge STRF, written as a torch module, gives back its coef_ through gradient_strf."""
    X = make_random_chords(12, 0.3, FS, n_tones=16, fmin=250.0, fmax=3800.0, chord_ms=12.0,
                           random_state=1)
    S, _ = log_mel_spectrogram(X, FS, 4.0, **FRONT)
    y = np.random.default_rng(0).poisson(np.exp(0.3 * np.tanh(S[..., 6] - S[..., 6].mean())))
    strf = LinearSTRFRegressor(FS, 4.0, n_lags=N_LAGS, alphas=1.0, **FRONT).fit(X, y)
    coef = strf.coef_[0]
    rf = gradient_strf(SpectrogramNeurons([coef], "linear"), chords, like=strf, step=4)
    reference = strf_receptive_field(strf)
    assert isinstance(rf, ReceptiveField) and rf.values.shape == reference.values.shape
    np.testing.assert_allclose(rf.band_frequencies_hz, reference.band_frequencies_hz)
    np.testing.assert_allclose(rf.lags_ms, reference.lags_ms)
    assert np.corrcoef(rf.values.ravel(), reference.values.ravel())[0, 1] > 0.99


def test_dynamic_strf_of_a_fitted_icnet_runs_on_every_neuron(small_xy):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X[:8], y[:8])
    result = dynamic_strf(est, X[:1, :1984], n_lags=5, step=12, n_bands=8, fmin=200.0,
                          win_ms=8.0, audio_fs=8000.0)
    assert result.dstrf.shape == (1, len(result.bins), 3, 8, 5)
    assert np.isfinite(result.dstrf).all() and np.abs(result.dstrf).max() > 0
    assert ((result.explained > 0) & (result.explained <= 1 + 1e-9)).all()
    np.testing.assert_allclose(result.rates[0, :, 0],
                               est.predict(X[:1, :1984])[0, 0, result.bins], rtol=1e-4, atol=1e-6)


def test_receptive_fields_refuse_models_without_gradients_and_sounds_of_another_rate(chords):
    with pytest.raises(TypeError, match="must be differentiable.*TunedNeurons"):
        dynamic_strf(TunedNeurons(audio_fs=FS, dt_ms=4.0), chords)
    strf = LinearSTRFRegressor(FS, 4.0, n_lags=3, alphas=1.0, **FRONT)
    with pytest.raises(TypeError, match="strf_receptive_field"):
        dynamic_strf(strf.fit(chords, np.ones((2, 75))), chords)
    model = SpectrogramNeurons([_true_strf()], "linear")
    with pytest.raises(ValueError, match="audio_fs=16000 Hz, but the model takes sound at 8000"):
        dynamic_strf(model, chords, audio_fs=16000.0)
    with pytest.raises(ValueError, match="whole number|multiple"):
        dynamic_strf(model, chords[:, :-5])
    with pytest.raises(ValueError, match="neurons must be"):
        dynamic_strf(model, chords, neurons=[3], **FRONT)

    class Detached(torch.nn.Module):
        audio_fs, samples_per_bin = FS, SPB

        def forward(self, x):
            return torch.ones(x.shape[0], 1, x.shape[1] // SPB)

    with pytest.raises(TypeError, match="does not depend differentiably"):
        dynamic_strf(Detached(), chords)
    with pytest.raises(ValueError, match="without the attributes audio_fs"):
        dynamic_strf(torch.nn.Linear(2, 2), chords)


def test_receptive_field_plots(chords):
    result = dynamic_strf(SpectrogramNeurons([_true_strf()], "ln"), chords, n_lags=N_LAGS, step=6,
                          **FRONT)
    ax = plot_strf(result)
    assert ax.images[0].get_array().shape == (FRONT["n_bands"], N_LAGS)
    axes = plot_dstrf(result, n_components=2)
    assert len(axes) == 4 and "PC 1" in axes[1].get_title() and len(axes[3].lines) >= 1
    with pytest.raises(ValueError, match="neuron must be in"):
        plot_strf(result, neuron=2)
    with pytest.raises(TypeError, match="ReceptiveField"):
        plot_strf(np.zeros((3, 3)))


class TunedEnergyNeuron(torch.nn.Module):
    """A neuron tuned to ``cf``: band-pass (Gaussian-windowed cosine), energy per bin, log."""

    audio_fs, samples_per_bin = FS, SPB

    def __init__(self, cf):
        super().__init__()
        t = (np.arange(96) - 48) / FS
        kernel = np.exp(-0.5 * (t / 0.003) ** 2) * np.cos(2 * np.pi * cf * t)
        self.kernel = torch.as_tensor(kernel[None, None], dtype=torch.float32)

    def forward(self, x):
        y = torch.nn.functional.conv1d(x[:, None], self.kernel, padding=48)[:, 0, : x.shape[1]]
        energy = (y**2).reshape(x.shape[0], -1, SPB).mean(-1)
        return torch.nn.functional.softplus(torch.log(energy / 1e-6 + 1e-3))[:, None]


def _peak_hz(x):
    power = np.abs(np.fft.rfft(x)) ** 2
    return np.fft.rfftfreq(x.size, 1 / FS)[np.argmax(power)]


def test_the_optimal_sound_of_a_tuned_neuron_peaks_at_its_cf():
    cf = 1300.0
    result = optimal_sound(TunedEnergyNeuron(cf), duration_ms=120.0, level_db=50.0,
                           band_hz=(100.0, 3900.0), n_steps=60, lr=0.1, random_state=0)
    assert abs(np.log2(_peak_hz(result.sound) / cf)) < 1 / 3
    assert abs(np.log2(_peak_hz(result.initial) / cf)) > 1 / 3 or result.objective[0] < \
        result.objective[-1]
    assert result.objective[-1] > result.objective[0] * 1.1
    assert level_db_spl(result.sound) == pytest.approx(50.0, abs=0.01)
    assert result.sound.size == 30 * SPB and result.response.size == 30 + 12
    # the band is respected: nothing outside 100-3900 Hz
    spectrum = np.abs(np.fft.rfft(result.sound)) ** 2
    freqs = np.fft.rfftfreq(result.sound.size, 1 / FS)
    assert spectrum[freqs > 3950].sum() < 1e-3 * spectrum.sum()
    axes = plot_optimal_sound(result)
    assert len(axes[1].lines) == 2


def test_the_most_suppressive_sound_moves_power_away_from_the_cf_of_a_given_start():
    cf = 1300.0

    def near_cf(x):  # fraction of the power within 1/6 octave of the CF
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.maximum(np.fft.rfftfreq(x.size, 1 / FS), 1.0)
        return power[np.abs(np.log2(freqs / cf)) < 1 / 6].sum() / power.sum()

    start = np.sin(2 * np.pi * cf * np.arange(640) / FS)
    result = optimal_sound(TunedEnergyNeuron(cf), init=start, level_db=50.0, maximize=False,
                           n_steps=40, lr=0.2, audio_fs=FS)
    assert result.objective[-1] < 0.7 * result.objective[0]
    assert near_cf(result.initial) > 0.99 and near_cf(result.sound) < 0.8


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(level_db=200.0), ValueError, "level_db must be a sound level in dB SPL"),
    (dict(level_db=-50.0), ValueError, "level_db must be a sound level"),
    (dict(band_hz=(100.0, 9000.0)), ValueError, "band_hz must be"),
    (dict(init=np.zeros(64)), ValueError, "silent"),
    (dict(init=np.ones(50)), ValueError, "whole number|multiple"),
    (dict(init="tone"), ValueError, 'init must be "noise"'),
    (dict(audio_fs=44100.0), ValueError, "resample"),
    (dict(neuron=2), ValueError, "neuron must be in"),
    (dict(latency_ms=-3.0), ValueError, "latency_ms must be a number of ms"),
    (dict(latency_ms=40.0), ValueError, "leaves no response window"),
])
def test_optimal_sound_refuses_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        optimal_sound(TunedEnergyNeuron(1000.0), n_steps=1, duration_ms=40.0, **kwargs)


def test_optimal_sound_refuses_a_model_without_gradients():
    with pytest.raises(TypeError, match="must be differentiable"):
        optimal_sound(TunedNeurons(audio_fs=FS, dt_ms=4.0))


def _three_fits():
    """`TunedNeurons` standing for three fits of two neurons (the second's CFs spread more),
    and their FRA reliability table at a CF tolerance of 0.25 octave."""
    cfs = [[1000.0, 2000.0], [1050.0, 2600.0], [980.0, 2300.0]]
    models = {f"fold {i}": TunedNeurons(cf_hz=cf, threshold_db=[20.0 + i, 30.0], audio_fs=FS,
                                        dt_ms=4.0) for i, cf in enumerate(cfs)}
    table = insilico_reliability(frequency_response_area, models,
                                 frequencies=np.geomspace(500, 3500, 25), levels=range(0, 61, 3),
                                 tolerance={"cf_hz": 0.25})
    return models, table


def test_insilico_reliability_reports_median_spread_and_flags():
    models, table = _three_fits()
    assert {"neuron", "parameter", "median", "spread", "tolerance", "unreliable"} <= set(table)
    cf = table[table.parameter == "cf_hz"].set_index("neuron")
    measured = {j: [frequency_response_area(m, frequencies=np.geomspace(500, 3500, 25),
                                            levels=range(0, 61, 3)).summary.cf_hz[j]
                    for m in models.values()] for j in (0, 1)}
    for j in (0, 1):
        assert cf.loc[j, "median"] == pytest.approx(np.median(measured[j]))
        assert cf.loc[j, "spread"] == pytest.approx(np.log2(max(measured[j]) / min(measured[j])))
        assert cf.loc[j, "n_models"] == 3 and cf.loc[j, "spread_unit"] == "octaves"
    assert not cf.loc[0, "unreliable"] and cf.loc[1, "unreliable"]  # 0.07 vs 0.38 octaves
    # an unreliable row says which rule failed: the spread against the tolerance, in its unit
    assert cf.loc[0, "reason"] == ""
    assert cf.loc[1, "reason"] == f"spread {cf.loc[1, 'spread']:.3g} octaves > tolerance 0.25 octaves"
    thr = table[table.parameter == "threshold_db"].set_index("neuron")
    assert thr.loc[0, "tolerance"] == 5.0 and thr.loc[0, "spread_unit"] == "dB"


def test_insilico_reliability_takes_cross_validate_results_and_refuses_bad_input():
    from sk_icnet.insilico import rate_level

    models = [TunedNeurons(cf_hz=[1000.0], audio_fs=FS, dt_ms=4.0, threshold_db=t) for t in (20, 21)]
    table = insilico_reliability(rate_level, {"estimator": models, "test_score": [0, 0]},
                                 levels=range(0, 91, 5), stimulus=1000.0, tolerance=10.0)
    assert set(table.tolerance) == {10.0} and not table.unreliable.any()
    assert isinstance(table, pd.DataFrame) and (table.n_models == 2).all()
    with pytest.raises(ValueError, match="at least 2 fitted models"):
        insilico_reliability(rate_level, models[:1])
    with pytest.raises(ValueError, match="not parameters of this experiment"):
        insilico_reliability(rate_level, models, tolerance={"nope": 1.0})
    with pytest.raises(TypeError, match="experiment must be"):
        insilico_reliability("rate_level", models)


def test_icnet_gradients_from_receptive_field_windows_equal_those_of_whole_trials(small_xy):
    """ICNet's gradients come from windows of one receptive field (fast); a module that hides
    its receptive field gets them from whole trials: the two agree."""
    from sk_icnet import ICNet
    from sk_icnet.insilico._differentiable import _Differentiable
    from sk_icnet.insilico._receptive_fields import _bin_gradients, _trial_gradients

    torch.manual_seed(0)
    net = ICNet(audio_fs=FS, dt_ms=4.0, out_neurons=2, n_filters=8, sincnet_kernel_size=32,
                encoder_channels=16, encoder_kernel_size=8, n_encoder_layers=3,
                bottleneck_channels=8)
    x = small_xy[0][0, :1600].astype(np.float64)
    bins, neurons = np.arange(5, 50, 8), np.array([0, 1])
    with _Differentiable(net) as model:
        fast, rates, path = _bin_gradients(model, x, bins, neurons, 8)
        slow, rates_slow = _trial_gradients(model, x, bins, neurons, 64)
    assert path == "window"
    assert net.receptive_field < 1600 and np.abs(fast).max() > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-6 * np.abs(slow).max())
    np.testing.assert_allclose(rates, rates_slow, rtol=1e-5)
    # nothing before the receptive field of a bin
    first = (bins[-1] + 1) * SPB - net.receptive_field
    assert np.all(fast[-1, :, : max(first, 0)] == 0)


class _WrappedModule:
    """An estimator of the user's own around a fitted torch module, with the members gradient
    analyses use (no ICNetRegressor)."""

    def __init__(self, module):
        self.module_ = module
        self.audio_fs_, self.samples_per_bin_ = module.audio_fs, module.samples_per_bin

    def decoder_index(self, recording):
        return None

    def expected_counts(self, output):
        return output


def test_gradient_analyses_take_an_estimator_by_its_members(chords):
    module = SpectrogramNeurons([_true_strf()], "linear")
    direct = dynamic_strf(module, chords, n_lags=N_LAGS, step=6, **FRONT)
    wrapped = dynamic_strf(_WrappedModule(module), chords, n_lags=N_LAGS, step=6, **FRONT)
    np.testing.assert_allclose(wrapped.dstrf, direct.dstrf)
    with pytest.raises(ValueError, match="ICNetRegressor that is not fitted"):
        dynamic_strf(tiny_estimator(), chords)


def test_a_row_undefined_in_some_models_says_in_how_many():
    from sk_icnet.insilico._reliability import _spread_row

    row = _spread_row(np.array([10.0, np.nan, 12.0]), "dB", 5.0)
    assert row["unreliable"] and row["reason"] == "undefined (NaN) in 1 of 3 models"
    row = _spread_row(np.array([0.0, 0.0, 1.0]), "relative", 0.25)
    assert row["reason"] == "spread infinite (median 0) > tolerance 0.25 (relative to the median)"


def test_time_input_icnet_gradients_from_windows_equal_those_of_whole_trials(small_xy):
    """The windows of a model with a recording-time input start at their own times."""
    from sk_icnet import ICNet
    from sk_icnet.insilico._differentiable import _Differentiable
    from sk_icnet.insilico._receptive_fields import _bin_gradients, _trial_gradients

    torch.manual_seed(1)
    net = ICNet(audio_fs=FS, dt_ms=4.0, out_neurons=2, n_filters=8, sincnet_kernel_size=32,
                encoder_channels=16, encoder_kernel_size=8, n_encoder_layers=3,
                bottleneck_channels=8, time_input=True, time_scale_s=10.0)
    with torch.no_grad():
        net.time_gain.normal_()
    x = small_xy[0][0, :800].astype(np.float64)
    bins, neurons = np.array([2, 8, 14, 24]), np.array([0, 1])  # before and after one window
    with _Differentiable(net, time_s=30.0) as model:
        fast, rates, path = _bin_gradients(model, x, bins, neurons, 4)
        slow, rates_slow = _trial_gradients(model, x, bins, neurons, 64)
    assert path == "window" and np.abs(fast).max() > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-6 * np.abs(slow).max())
    np.testing.assert_allclose(rates, rates_slow, rtol=1e-5)


def test_dynamic_strf_method_window_refuses_a_model_without_exact_windows(chords, capsys):
    model = SpectrogramNeurons([_true_strf()], "linear")
    with pytest.raises(ValueError, match="method='window' needs a causal module.*states no "
                                         "receptive_field"):
        dynamic_strf(model, chords, n_lags=N_LAGS, method="window", **FRONT)
    with pytest.raises(ValueError, match='method must be "auto", "window" or "trial"'):
        dynamic_strf(model, chords, method="fast", **FRONT)
    # the default path and the progress bar, which names it
    trial = dynamic_strf(model, chords, n_lags=N_LAGS, step=10, method="trial", **FRONT)
    auto = dynamic_strf(model, chords, n_lags=N_LAGS, step=10, **FRONT)
    np.testing.assert_array_equal(auto.dstrf, trial.dstrf)
    assert "dynamic_strf (whole trials)" in capsys.readouterr().err


def test_dynamic_strf_of_a_fitted_icnet_takes_the_exact_windows_by_default(small_xy, capsys):
    X, y = small_xy
    est = tiny_estimator(max_epochs=1).fit(X[:8], y[:8])
    from sk_icnet.insilico import DifferentiableModel

    assert isinstance(est, DifferentiableModel)
    kwargs = dict(n_lags=4, step=7, n_bands=8, fmin=200.0, win_ms=8.0, neurons=[0, 2])
    auto = dynamic_strf(est, X[:1, :1024], **kwargs)
    assert "dynamic_strf (receptive-field windows)" in capsys.readouterr().err
    trial = dynamic_strf(est, X[:1, :1024], method="trial", progress=False, **kwargs)
    assert capsys.readouterr().err == ""
    np.testing.assert_allclose(auto.dstrf, trial.dstrf, rtol=1e-3,
                               atol=1e-5 * np.abs(trial.dstrf).max())


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_bands=10**6), r"n_bands=1000000 x 6 lags = 6,000,000 unknowns per bin: use fewer "
                          r"bands"),
    (dict(n_bands=12, win_ms=1e7), r"n_bands=12 bands of every frame: use shorter trials"),
])
def test_dynamic_strf_refuses_what_it_cannot_finish_with_its_estimate_within_a_second(
        chords, kwargs, match):
    import time

    model = SpectrogramNeurons([_true_strf()], "linear")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"dynamic_strf would need about [0-9.,e+]+ GiB of memory "
                                         r"and about .* beyond the limits of 2 GiB and about 1 day; "
                                         r"most of it for " + match):
        dynamic_strf(model, chords, n_lags=N_LAGS, progress=False, **kwargs)
    assert time.perf_counter() - start < 1.0


def test_too_many_dstrfs_are_refused_naming_trials_step_and_neurons():
    from sk_icnet.insilico._receptive_fields import _check_cost, _dstrf_cost, _n_fft

    fits = _dstrf_cost((4, 2400), 74, 6, 12, 6, _n_fft(FS, SPB, 16.0), SPB)
    _check_cost(*fits, 12, 6)  # a guide-sized run passes
    assert sum(fits[0].values()) < 2**26 and fits[1] < 1.0  # 25 MB, well under a second
    too_many = _dstrf_cost((100_000, 2400), 74, 6, 12, 6, _n_fft(FS, SPB, 16.0), SPB)
    assert max(too_many[0], key=too_many[0].get) == "dstrf"
    with pytest.raises(ValueError, match=r"about 47.7 GiB of memory .* most of it for the number of "
                                         r"dSTRFs \(trials x used bins x neurons\): use fewer "
                                         r"trials of X, a larger step or fewer neurons"):
        _check_cost(*too_many, 12, 6)


def test_optimal_sound_refuses_a_sound_it_cannot_hold_with_its_estimate_within_a_second():
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"optimal_sound of 8,000,000,000 samples \(1e\+06 s; "
                                         r"duration_ms or init\) would need about [0-9.,]+ GiB "
                                         r".*use a shorter sound \(duration_ms"):
        optimal_sound(TunedEnergyNeuron(1000.0), duration_ms=1e9)
    assert time.perf_counter() - start < 1.0
    # the default takes a moment, far from the limits
    from sk_icnet.insilico._differentiable import _Differentiable
    from sk_icnet.insilico._optimal_sound import _check_cost

    with _Differentiable(TunedEnergyNeuron(1000.0)) as net:
        _check_cost(net, 1600, 50.0, 100)


def test_the_old_interpret_module_serves_every_name_with_a_future_warning():
    import sk_icnet.insilico
    import sk_icnet.interpret

    for name in sk_icnet.interpret._MOVED:
        with pytest.warns(FutureWarning, match=f"^sk_icnet.interpret is deprecated since 0.5 and "
                                               f"will be removed in 0.6; import {name} from "
                                               "sk_icnet.insilico$"):
            served = getattr(sk_icnet.interpret, name)
        assert served is getattr(sk_icnet.insilico, name)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        sk_icnet.interpret.nope  # noqa: B018
    assert "interpret" not in __import__("sk_icnet").__all__
