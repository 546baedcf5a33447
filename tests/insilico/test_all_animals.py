"""Every animal of a multi-recording model in one call: predict_params={"recording": "all"}."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sk_icnet import insilico, load_published_icnet
from sk_icnet.exceptions import OutsideTrainingRangeWarning
from tests.icnet._keras_fixtures import keras_icnet, write_release

T0 = 7200.0
#: small grids: the point is the equality with the per-animal calls, not the physiology
GRIDS = {
    "frequency_response_area": dict(frequencies=[300.0, 800.0, 2000.0], levels=[20.0, 50.0, 80.0]),
    "rate_level": dict(levels=[20.0, 50.0, 80.0]),
    "modulation_transfer": dict(modulation_frequencies=[8.0, 32.0], duration_ms=300.0),
    "forward_masking": dict(gaps_ms=(2, 8, 32, 64)),
    "dynamic_range_adaptation": dict(n_segments=30, skip_segments=5),
}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Three animals of 3 units in the published layout (time input, five classes), with CFs."""
    model = keras_icnet(np.random.default_rng(0), n_decoders=3)
    folder = write_release(str(tmp_path_factory.mktemp("release") / "DNN"), model)
    return load_published_icnet(folder)


def _run(experiment, est, recording):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: implausible rates are flagged
        return getattr(insilico, experiment)(est, predict_params={"recording": recording,
                                                                  "time_s": T0},
                                             **GRIDS[experiment])


@pytest.mark.parametrize("experiment", sorted(GRIDS))
def test_all_animals_in_one_call_equal_the_animals_one_by_one(published, experiment):
    est = published
    every = _run(experiment, est, "all")
    one_by_one = [_run(experiment, est, name) for name in est.recording_names_]
    for part in ("responses", "summary"):
        got = getattr(every, part)
        expected = pd.concat([getattr(r, part) for r in one_by_one], ignore_index=True)
        keys = [c for c in ("recording", "unit", "mean_db", "frequency_hz", "level_db",
                            "modulation_hz", "gap_ms") if c in got]
        got = got.sort_values(keys, ignore_index=True)
        expected = expected.sort_values(keys, ignore_index=True)
        # the neuron numbers all units in recording_names_ order; one animal's start at 0
        assert sorted(got.neuron.unique()) == list(range(9))
        np.testing.assert_array_equal(got.neuron, 3 * got.recording.cat.codes + got.unit)
        for column in expected.columns.drop("neuron"):
            if pd.api.types.is_float_dtype(expected[column]):
                np.testing.assert_allclose(got[column], expected[column], rtol=1e-5,
                                           atol=1e-6, err_msg=column)
            else:
                assert (got[column].astype(str) == expected[column].astype(str)).all(), column


def test_the_tables_name_each_units_animal_and_cf(published):
    est = published
    summary = _run("frequency_response_area", est, "all").summary
    assert list(summary.columns[:5]) == ["neuron", "recording", "unit", "unit_cf_hz",
                                         "unit_reliable"]
    assert list(summary.recording.cat.categories) == est.recording_names_
    cfs = pd.concat([est.neurons_[name].cf_hz for name in est.recording_names_], ignore_index=True)
    np.testing.assert_array_equal(summary.sort_values("neuron").unit_cf_hz, cfs)
    assert not summary.unit_reliable[summary.neuron == 0].item()  # its CF is inf in the file


def test_reliability_keys_rows_by_unit_not_as_parameters(published):
    est = published
    with pytest.warns(OutsideTrainingRangeWarning, match="implausible rates"):  # random weights
        table = insilico.insilico_reliability(insilico.rate_level, [est, est], levels=[20.0, 80.0],
                                              predict_params={"recording": "all", "time_s": T0})
    assert {"recording", "unit", "unit_cf_hz"} <= set(table.columns)
    assert not {"unit", "unit_cf_hz"} & set(table.parameter)
    assert len(table[table.parameter == "threshold_db"]) == 9


def test_a_multi_recording_model_without_a_recording_is_refused_naming_predict_params(published):
    with pytest.raises(ValueError, match=r'predict_params=\{"recording": "animal_1"\}.*'
                                         r'predict_params=\{"recording": "all"\}'):
        insilico.rate_level(published, levels=[20.0, 80.0])


def test_dynamic_strf_of_all_animals_equals_each_animals(published):
    est = published
    X = np.random.default_rng(2).standard_normal((1, 30 * est.samples_per_bin_)) * 0.1
    kwargs = dict(n_bands=6, n_lags=3, step=9, win_ms=2.0, fmin=100.0, time_s=T0, progress=False)
    every = insilico.dynamic_strf(est, X, recording="all", neurons=[4, 8], **kwargs)
    second = insilico.dynamic_strf(est, X, recording="animal_2", neurons=[1], **kwargs)
    third = insilico.dynamic_strf(est, X, recording="animal_3", neurons=[2], **kwargs)
    np.testing.assert_allclose(every.dstrf[:, :, 0], second.dstrf[:, :, 0], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(every.dstrf[:, :, 1], third.dstrf[:, :, 0], rtol=1e-4, atol=1e-9)
    with pytest.raises(ValueError, match='recording="animal_1".*recording="all"'):
        insilico.dynamic_strf(est, X, time_s=T0, progress=False)
