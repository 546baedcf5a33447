"""The model under test (sk_icnet.insilico.ModelUnderTest) and the adapter the experiments use."""

import warnings

import numpy as np
import pytest

from sk_icnet import LinearSTRFRegressor, insilico
from sk_icnet.exceptions import OutsideTrainingRangeWarning
from sk_icnet.insilico import ModelUnderTest
from sk_icnet.simulate import TunedNeurons


class _Ensemble:
    """A model of the user's own: the mean prediction of several models of the same neurons."""

    def __init__(self, models):
        self.models = models
        self.audio_fs_ = models[0].audio_fs_
        self.samples_per_bin_ = models[0].samples_per_bin_

    def predict(self, X):
        return np.mean([m.predict(X) for m in self.models], axis=0)


def test_models_follow_the_protocol_by_their_members(tiny_data):
    strf = LinearSTRFRegressor(audio_fs=tiny_data.audio_fs, dt_ms=tiny_data.dt_ms, n_bands=8,
                               lags_ms=20.0).fit(tiny_data.X[:8], tiny_data.y[:8])
    ensemble = _Ensemble([TunedNeurons(cf_hz=[2000.0], threshold_db=t) for t in (20.0, 30.0)])
    for model in (TunedNeurons(), strf, ensemble):
        assert isinstance(model, ModelUnderTest)
    assert not isinstance(object(), ModelUnderTest)
    assert not isinstance(type("PredictOnly", (), {"predict": lambda self, X: X})(),
                          ModelUnderTest)


def test_an_experiment_runs_on_a_model_of_ones_own():
    members = [TunedNeurons(cf_hz=[2000.0], threshold_db=t) for t in (20.0, 30.0)]
    found = insilico.rate_level(_Ensemble(members), stimulus=2000.0, levels=range(0, 91, 5))
    alone = [insilico.rate_level(m, stimulus=2000.0, levels=range(0, 91, 5)) for m in members]
    np.testing.assert_allclose(found.responses.rate_hz,
                               np.mean([a.responses.rate_hz for a in alone], axis=0))
    assert 20.0 < found.summary.threshold_db[0] < 30.0
    assert {"max_rate_hz", "implausible_rate"} <= set(found.summary)


def test_warnings_name_the_callers_line():
    wild = TunedNeurons(cf_hz=[1000.0], max_rate_hz=5000.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        insilico.rate_level(wild, stimulus=1000.0, levels=[20, 60])
    implausible = [w for w in caught if issubclass(w.category, OutsideTrainingRangeWarning)]
    assert implausible and all(w.filename == __file__ for w in implausible)


def test_the_adapter_refuses_what_is_no_model_under_test():
    with pytest.raises(TypeError, match="estimator must be a fitted model with a predict"):
        insilico.frequency_response_area(object())
    with pytest.raises(ValueError, match=r"audio rate \(audio_fs_ or audio_fs, Hz\) and bin width"):
        insilico.rate_level(type("NoBins", (), {"audio_fs_": 8000.0,
                                                "predict": lambda self, X: X})())


def test_the_implausible_rate_warning_names_a_few_neurons_and_counts_the_rest():
    from sk_icnet.insilico._protocol import _TestedModel

    neurons = TunedNeurons(cf_hz=[1000.0], audio_fs=8000.0, dt_ms=2.0)
    tested = _TestedModel(neurons)
    rates = np.full((1, 4608, 10), 0.001)
    rates[0, ::2, 3] = 10.0  # 5,000 spikes/s in 2 ms bins, on every other of 4,608 neurons
    with pytest.warns(OutsideTrainingRangeWarning, match="implausible rates") as caught:
        tested._check_rates(rates)
    message = str(caught[0].message)
    assert "2304 of 4608 neuron(s): 0, 2, 4, 6, 8, 10, 12, 14, ... (2296 more)" in message, message
    assert len(message) < 500, f"the warning grows with the number of neurons: {len(message)} chars"
