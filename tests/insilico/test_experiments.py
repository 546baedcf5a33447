"""In-silico physiology: recovery of known tuning from simulated neurons, and runs on fitted models."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sk_icnet import LinearSTRFRegressor, insilico
from sk_icnet.simulate import TunedNeurons, make_tuned_neurons
from tests.conftest import tiny_estimator

EXPERIMENTS = {
    "frequency_response_area": {},
    "rate_level": {},
    "modulation_transfer": {},
    "forward_masking": {},
    "dynamic_range_adaptation": dict(n_segments=60, skip_segments=5),
}


@pytest.fixture(scope="module")
def neurons():
    """Eight neurons with random known tuning and forward suppression (paper audio rate)."""
    return make_tuned_neurons(8, forward_suppression=True, random_state=0)


@pytest.fixture(scope="module")
def fra(neurons):
    return insilico.frequency_response_area(neurons)


def test_fra_recovers_cf_threshold_and_q10(neurons, fra):
    truth, found = neurons.tuning_, fra.summary
    assert np.all(np.abs(np.log2(found.cf_hz / truth.cf_hz)) <= 1 / 6)
    assert np.all(np.abs(found.threshold_db - truth.threshold_db) <= 5.0)
    np.testing.assert_allclose(found.q10, truth.q10, rtol=0.25)  # suppression narrows a little
    assert set(fra.responses.columns) == {"neuron", "frequency_hz", "level_db", "rate_hz",
                                          "driven_hz"}
    np.testing.assert_allclose(found.spont_hz, truth.spont_rate_hz, rtol=0.05)


def test_fra_threshold_is_set_by_the_criterion():
    # no suppression: at the CF, 10 % of the driven range is reached exactly at threshold_db
    nrn = TunedNeurons(cf_hz=[3000.0], threshold_db=[22.0], q10=[3.0])
    found = insilico.frequency_response_area(nrn, frequencies=[3000.0], levels=np.arange(0, 91, 1))
    assert abs(found.summary.threshold_db[0] - 22.0) < 1.0
    assert np.isnan(found.summary.q10[0])  # one frequency: the bandwidth runs off the grid


def test_rate_level_recovers_threshold_and_dynamic_range(neurons):
    truth = neurons.tuning_
    found = insilico.rate_level(neurons, stimulus=truth.cf_hz.to_numpy()).summary
    assert np.all(np.abs(found.threshold_db - truth.threshold_db) <= 5.0)
    assert np.all(np.abs(found.dynamic_range_db - truth.dynamic_range_db) <= 6.0)
    np.testing.assert_allclose(found.saturation_db, found.threshold_db + found.dynamic_range_db)
    assert (found.monotonicity > 0.95).all()
    noise = insilico.rate_level(neurons).summary
    assert (noise.threshold_db > found.threshold_db).all()  # a tone at CF is the best stimulus


def test_forward_masking_recovers_the_time_constant(neurons):
    cf = neurons.tuning_.cf_hz.to_numpy()
    found = insilico.forward_masking(neurons, masker=cf, probe=cf)
    np.testing.assert_allclose(found.summary.tau_ms, neurons.tuning_.suppression_tau_ms,
                               rtol=0.25)
    rel = found.responses.pivot(index="gap_ms", columns="neuron", values="relative_response")
    assert (rel.iloc[0] < rel.iloc[-1]).all() and (rel.iloc[-1] > 0.9).all()
    # without suppression nothing is left to recover once the masker's filter ringing is over
    unsuppressed = clone(neurons).set_params(suppression=0.0)
    none = insilico.forward_masking(unsuppressed, masker=cf, probe=cf,
                                    gaps_ms=(8, 16, 32, 64, 128)).summary
    assert none.tau_ms.isna().all() and (none.max_masking < 0.1).all()


def test_dynamic_range_adaptation_recovers_the_shift():
    cf = np.array([2500.0, 3500.0, 4500.0])
    adapting = TunedNeurons(cf_hz=cf, q10=3.0, threshold_db=20.0, adaptation_db_per_db=0.5,
                            adaptation_tau_ms=400.0)
    found = insilico.dynamic_range_adaptation(adapting, carrier=cf, means_db=(40, 55, 70),
                                              level_range_db=(10, 100)).summary
    slopes = found.groupby("neuron").slope_db_per_db.first()
    # measured a little below k: the counted part of each segment is itself in the running mean
    # level (about 10 % of its weight for a 400 ms time constant), which no distribution shifts
    np.testing.assert_allclose(slopes, 0.5, rtol=0.3)
    assert (found.groupby("neuron").shift_db.apply(lambda s: np.all(np.diff(s) > 0))).all()
    fixed = insilico.dynamic_range_adaptation(clone(adapting).set_params(adaptation_db_per_db=0.0),
                                              carrier=cf, means_db=(40, 55, 70),
                                              level_range_db=(10, 100)).summary
    assert (fixed.groupby("neuron").slope_db_per_db.first().abs() < 0.05).all()


class _PowerEnvelope:
    """A 'fitted model' whose rate is the stimulus power per bin (its envelope squared)."""

    audio_fs, samples_per_bin_ = 16000.0, 32

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return (X.reshape(X.shape[0], 1, -1, 32) ** 2).mean(axis=-1) / 4e-10 + 1e-3


def test_vector_strength_of_a_known_modulation():
    # rate = (1 + sin)^2 = 1.5 + 2 sin - 0.5 cos 2: vector strength (2 / 2) / 1.5, times the
    # sinc attenuation of bins 2 ms wide
    fms = np.array([4.0, 16.0, 64.0])
    found = insilico.modulation_transfer(_PowerEnvelope(), modulation_frequencies=fms,
                                         carrier=2000.0, latency_ms=0.0, ramp_ms=2.0)
    expected = (1 / 1.5) * np.sinc(fms * 0.002)
    np.testing.assert_allclose(found.responses.vector_strength, expected, atol=0.01)
    assert found.summary.sync_bmf_hz[0] == 4.0


def test_mtf_synchrony_falls_with_the_envelope_cutoff():
    nrn = TunedNeurons(cf_hz=[3000.0, 3000.0], q10=1.5, threshold_db=20.0,
                       envelope_cutoff_hz=[40.0, 400.0])
    found = insilico.modulation_transfer(nrn, level_db=45.0)
    vs = found.responses.pivot(index="modulation_hz", columns="neuron", values="vector_strength")
    assert (vs[0].iloc[-3:] < vs[1].iloc[-3:]).all()
    cut = found.summary.sync_cutoff_hz
    assert cut[0] < cut[1] or np.isnan(cut[1])
    assert ((vs >= 0) & (vs <= 1)).all().all()


@pytest.fixture(scope="module")
def fitted_models(tiny_data):
    icnet = tiny_estimator(max_epochs=1).fit(tiny_data.X[:24], tiny_data.y[:24])
    strf = LinearSTRFRegressor(audio_fs=tiny_data.audio_fs, dt_ms=tiny_data.dt_ms, n_bands=16,
                               lags_ms=40.0).fit(tiny_data.X[:24], tiny_data.y[:24])
    return {"ICNet": icnet, "STRF": strf}


def test_fitted_models_are_models_under_test(fitted_models):
    assert all(isinstance(m, insilico.ModelUnderTest) for m in fitted_models.values())


@pytest.mark.parametrize("model", ["ICNet", "STRF"])
@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_runs_on_fitted_models_with_finite_results(fitted_models, model, experiment):
    est = fitted_models[model]
    result = getattr(insilico, experiment)(est, **EXPERIMENTS[experiment])
    assert isinstance(result, insilico.PhysiologyResult)
    assert sorted(result.summary.neuron.unique()) == [0, 1, 2]
    numeric = result.responses.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy()[:, numeric.columns != "relative_response"]).all()
    assert result.summary.shape[0] >= 3


def test_per_neuron_stimuli_and_predict_params(fitted_models):
    est = fitted_models["ICNet"]
    found = insilico.rate_level(est, stimulus=[500.0, 1000.0, 500.0], levels=[20, 60])
    assert list(found.summary.stimulus) == ["500 Hz", "1000 Hz", "500 Hz"]
    with pytest.raises(TypeError, match="unexpected keyword"):
        insilico.rate_level(est, levels=[20, 60], predict_params={"bogus": 1})


def test_bad_inputs(fitted_models, neurons):
    with pytest.raises(TypeError, match="estimator must be a fitted model with a predict"):
        insilico.rate_level(object())
    with pytest.raises(NotFittedError):
        insilico.rate_level(tiny_estimator())
    with pytest.raises(ValueError, match="audio rate"):
        insilico.rate_level(type("NoRate", (), {"predict": lambda self, X: X})())
    with pytest.raises(ValueError, match="levels must be a non-empty, strictly increasing"):
        insilico.rate_level(neurons, levels=[60, 20])
    with pytest.raises(ValueError, match="below half the bin rate"):
        insilico.modulation_transfer(neurons, modulation_frequencies=[8, 500])
    with pytest.raises(ValueError, match="at least two cycles"):
        insilico.modulation_transfer(neurons, modulation_frequencies=[2, 8], duration_ms=300)
    with pytest.raises(ValueError, match="one frequency or one per neuron"):
        insilico.rate_level(neurons, stimulus=[1000.0, 2000.0])
    with pytest.raises(ValueError, match=r"stimulus must be \"noise\" or a frequency"):
        insilico.rate_level(neurons, stimulus="pink")
    with pytest.raises(ValueError, match="criterion must be a number in"):
        insilico.frequency_response_area(neurons, criterion=1.5)
    with pytest.raises(ValueError, match="gaps_ms must differ by at least one bin"):
        insilico.forward_masking(neurons, gaps_ms=[1.0, 1.2, 8.0])
    with pytest.raises(ValueError, match="means_db must lie within level_range_db"):
        insilico.dynamic_range_adaptation(neurons, means_db=(40, 120))
    with pytest.raises(ValueError, match=r"frequencies must be below audio_fs / 2"):
        insilico.frequency_response_area(neurons, frequencies=[1000, 20000])
    with pytest.raises(ValueError, match="latency_ms must be"):
        insilico.rate_level(neurons, latency_ms=-1)


def test_plots(neurons, fra):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cf = neurons.tuning_.cf_hz.to_numpy()
    rl = insilico.rate_level(neurons, stimulus=cf)
    mtf = insilico.modulation_transfer(neurons, modulation_frequencies=[8, 32, 128])
    fm = insilico.forward_masking(neurons, masker=cf, probe=cf)
    dra = insilico.dynamic_range_adaptation(neurons, n_segments=60, skip_segments=5)
    axes = [
        insilico.plot_fra(fra, neuron=1),
        insilico.plot_rate_level({"true": rl, "again": rl}, neuron=2),
        insilico.plot_mtf(mtf, measure="rate_hz"),
        insilico.plot_forward_masking({"true": fm}),
        insilico.plot_dynamic_range_adaptation(dra),
    ]
    assert all(isinstance(ax, matplotlib.axes.Axes) for ax in axes)
    assert "tau" in axes[3].get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="neuron 99 is not in"):
        insilico.plot_rate_level(rl, neuron=99)
    with pytest.raises(TypeError, match="results must be a PhysiologyResult"):
        insilico.plot_mtf([mtf])
    with pytest.raises(ValueError, match="measure must be"):
        insilico.plot_mtf(mtf, measure="phase")
    plt.close("all")


def test_summary_tables_are_tidy(fra):
    assert isinstance(fra.summary, pd.DataFrame) and fra.summary.neuron.is_unique
    assert fra.responses.groupby("neuron").size().nunique() == 1
