"""load_trials: a folder of WAVs and a spike-time table into trials for fit, compare and ceilings."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from sk_icnet import load_trials
from sk_icnet.audio import load_audio
from tests.conftest import tiny_estimator

soundfile = pytest.importorskip("soundfile")

FS, DT = 8000.0, 4.0  # 32 samples per bin
BIN_S = 0.004


def _wav(folder, name, seconds, fs, seed=0):
    x = 0.05 * np.random.default_rng(seed).standard_normal(int(round(seconds * fs)))
    path = os.path.join(folder, name)
    soundfile.write(path, x, int(fs), subtype="FLOAT")
    return path


@pytest.fixture
def sounds(tmp_path):
    """a.wav: 0.2 s at 16 kHz (50 bins); b.wav: 0.1 s at 44.1 kHz (25 bins)."""
    _wav(tmp_path, "a.wav", 0.2, 16000, seed=1)
    _wav(tmp_path, "b.wav", 0.1, 44100, seed=2)
    return tmp_path


def _table(rows):
    return pd.DataFrame(rows, columns=["stimulus", "repeat", "neuron", "time"])


# mid-bin times: bin k is [4k, 4k + 4) ms
SPIKES = _table([
    ("a", 1, "n1", 0.0010),   # bin 0
    ("a", 1, "n1", 0.0030),   # bin 0
    ("a", 1, "n2", 0.0410),   # bin 10
    ("a", 2, "n1", 0.1990),   # bin 49, the last
    ("b", 1, "n2", 0.0050),   # bin 1
    ("b", 2, "n2", 0.0050),   # bin 1
    ("b", 3, "n1", 0.0990),   # bin 24, the last
])


def test_load_trials_counts_each_spike_in_the_bin_of_its_time_across_file_rates(sounds):
    data = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT)
    assert data.stimulus_names == ["a", "b"] and data.neuron_names == ["n1", "n2"]
    assert data.X.shape == (2, 50 * 32) and data.y_repeats.shape == (2, 3, 2, 50)
    np.testing.assert_array_equal(data.source_fs, [16000.0, 44100.0])
    np.testing.assert_allclose(data.durations_s, [0.2, 0.1], atol=1e-4)
    # the sounds are load_audio's resampling, exactly
    for i, name in enumerate(["a", "b"]):
        x = load_audio(os.path.join(sounds, f"{name}.wav"), FS)
        np.testing.assert_array_equal(data.X[i, : x.size], x)
        assert not data.X[i, x.size:].any()
    yr = data.y_repeats
    assert yr[0, 0, 0, 0] == 2 and yr[0, 0, 1, 10] == 1 and yr[0, 1, 0, 49] == 1
    assert yr[1, 0, 1, 1] == 1 and yr[1, 1, 1, 1] == 1 and yr[1, 2, 0, 24] == 1
    assert np.nansum(yr) == len(SPIKES)
    # y is the mean over each stimulus' repeats
    assert data.y[0, 0, 0] == pytest.approx(1.0) and data.y[1, 1, 1] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(data.n_repeats, [2, 3])
    assert data.rates == {"audio_fs": FS, "dt_ms": DT}
    assert list(data.groups) == ["a", "b"]
    assert data.dropped[["before", "after"]].to_numpy().sum() == 0


def test_shorter_stimuli_are_padded_with_nan_targets_and_a_false_mask(sounds):
    data = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT)
    np.testing.assert_array_equal(data.mask.sum(axis=1), [50, 25])
    np.testing.assert_array_equal(data.n_bins, [50, 25])
    assert np.isnan(data.y[1, :, 25:]).all() and np.isfinite(data.y[1, :, :25]).all()
    assert np.isnan(data.y_repeats[1, :, :, 25:]).all()
    assert np.isfinite(data.y[0]).all()
    assert data.X.shape[1] % 32 == 0


def test_missing_repeats_are_nan_slots_after_the_packed_real_ones(sounds):
    # stimulus a presented as repeats 3 and 7, b as 1, 2, 3 (numbers need not start at 0 or 1)
    table = SPIKES.assign(repeat=SPIKES["repeat"].where(SPIKES.stimulus == "b",
                                                        SPIKES["repeat"].map({1: 3, 2: 7})))
    data = load_trials(sounds, table, audio_fs=FS, dt_ms=DT)
    assert np.isnan(data.y_repeats[0, 2]).all()           # a has two repeats: slot 2 is missing
    assert np.isfinite(data.y_repeats[0, :2, :, :50]).all()
    assert data.y_repeats[0, 0, 0, 0] == 2 and data.y_repeats[0, 1, 0, 49] == 1
    complete = data.y_repeats[:, : data.n_repeats.min()]
    assert np.isfinite(complete[:, :, :, :25]).all()


def test_n_repeats_counts_presentations_without_spikes(sounds):
    data = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, n_repeats={"a": 4, "b": 3})
    np.testing.assert_array_equal(data.n_repeats, [4, 3])
    assert data.y[0, 0, 0] == pytest.approx(2 / 4)  # two silent presentations count as zeros
    assert (data.y_repeats[0, 2:, :, :50] == 0).all()
    with pytest.raises(ValueError, match="'b' has 3 distinct repeat numbers in the spike table, "
                                         "more than n_repeats=2"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, n_repeats=2)


def test_spikes_outside_the_trials_are_dropped_counted_and_warned_unless_pre_and_post_include_them(
        sounds):
    table = pd.concat([SPIKES, _table([("a", 1, "n1", -0.0050), ("b", 1, "n1", 0.1010),
                                       ("b", 1, "n1", 0.5), ("b", 2, "n2", 1e300)])],
                      ignore_index=True)
    with pytest.warns(UserWarning, match=r"4 of 11 spikes \(36.4 %\) fall outside their trials "
                                         r"and were dropped: 1 before the onset, 3 after"):
        data = load_trials(sounds, table, audio_fs=FS, dt_ms=DT)
    assert data.dropped.set_index("stimulus").to_dict("index") == {
        "a": {"before": 1, "after": 0}, "b": {"before": 0, "after": 3}}
    assert np.nansum(data.y_repeats) == len(SPIKES)
    with pytest.warns(UserWarning, match="2 after"):
        wide = load_trials(sounds, table, audio_fs=FS, dt_ms=DT, pre_s=0.008, post_s=0.02)
    assert wide.pre_s == pytest.approx(0.008)
    # 2 bins of silence before each sound, 5 after
    np.testing.assert_array_equal(wide.n_bins, [57, 32])
    assert not wide.X[:, :64].any()
    assert wide.y_repeats[0, 0, 0, 0] == 1      # -5 ms: bin 0, [-8, -4) ms, of the silence
    assert wide.y_repeats[0, 0, 0, 1] == 0 and wide.y_repeats[0, 0, 0, 2] == 2  # 1 and 3 ms
    assert wide.y_repeats[1, 0, 0, 25 + 2] == 1  # 101 ms: after b's end, inside post_s


def test_all_spikes_outside_the_trials_is_an_error_that_suggests_the_time_unit(sounds):
    in_ms = SPIKES.assign(time=SPIKES.time * 1000 + 150)
    with pytest.raises(ValueError, match="none of the 7 spikes falls inside its trial .*time_unit"):
        load_trials(sounds, in_ms, audio_fs=FS, dt_ms=DT)


@pytest.mark.parametrize("time_unit, per_unit", [("ms", 1.0), ("s", 1000.0)])
def test_a_spike_on_a_bin_edge_is_in_the_bin_that_starts_there(sounds, time_unit, per_unit):
    # whole-ms times on the 4 ms grid, as a CSV gives them (0.012 s): 3 * 0.004 is
    # 0.012000000000000002 in floating point, so a comparison with computed edges misplaces them
    edges_ms = 4.0 * np.arange(50)
    table = _table([("a", 1, "n1", t / per_unit) for t in edges_ms] + [("b", 1, "n1", 0.0)])
    data = load_trials(sounds, table, audio_fs=FS, dt_ms=DT, time_unit=time_unit)
    np.testing.assert_array_equal(data.y_repeats[0, 0, 0], np.ones(50))


def test_times_in_ms_give_the_same_counts_as_seconds(sounds):
    in_s = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT)
    in_ms = load_trials(sounds, SPIKES.assign(time=SPIKES.time * 1000), audio_fs=FS, dt_ms=DT,
                        time_unit="ms")
    np.testing.assert_array_equal(in_s.y_repeats, in_ms.y_repeats)


def test_a_csv_path_with_other_column_names_and_file_extensions_in_the_stimulus_column(sounds):
    table = SPIKES.rename(columns={"stimulus": "sound", "time": "t_ms", "neuron": "unit"})
    table["t_ms"] *= 1000
    table["sound"] = table["sound"] + ".wav"
    path = sounds / "spikes.csv"
    table.to_csv(path, index=False)
    data = load_trials(sounds, path, audio_fs=FS, dt_ms=DT, time_unit="ms",
                       columns={"stimulus": "sound", "time": "t_ms", "neuron": "unit"})
    reference = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT)
    np.testing.assert_array_equal(data.y_repeats, reference.y_repeats)


def test_one_neuron_and_one_presentation_without_those_columns(sounds):
    table = SPIKES[["stimulus", "time"]]
    data = load_trials(sounds, table, audio_fs=FS, dt_ms=DT,
                       columns={"repeat": None, "neuron": None})
    assert data.y_repeats.shape == (2, 1, 1, 50)
    assert data.y[0, 0, 0] == 2 and data.y[0, 0, 49] == 1 and data.y[1, 0, 1] == 2


def test_neurons_in_the_given_order_with_silent_ones_as_zeros(sounds):
    data = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, neurons=["n2", "silent", "n1"])
    assert data.neuron_names == ["n2", "silent", "n1"]
    assert data.y_repeats[0, 0, 2, 0] == 2 and np.nansum(data.y_repeats[:, :, 1]) == 0


def test_numeric_neuron_labels_are_sorted_as_numbers(sounds):
    data = load_trials(sounds, SPIKES.assign(neuron=SPIKES.neuron.map({"n1": 10, "n2": 9})),
                       audio_fs=FS, dt_ms=DT)
    assert data.neuron_names == ["9", "10"]


def test_a_sound_file_that_is_not_in_the_table_needs_stimuli_and_n_repeats(sounds):
    _wav(sounds, "c.wav", 0.05, 8000)
    with pytest.raises(ValueError, match=r"sound files \['c.wav'\] .* have no spike in the table"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match=r"stimuli \['c'\] have no spike .* pass n_repeats="):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, stimuli=["c", "a", "b"])
    data = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, stimuli=["c", "a", "b"],
                       n_repeats={"a": 2, "b": 3, "c": 5})
    assert data.stimulus_names == ["c", "a", "b"] and data.y_repeats.shape[:2] == (3, 5)
    assert np.nansum(data.y[0]) == 0 and data.n_bins[0] == 12


def test_stimulus_files_and_table_must_match(sounds):
    with pytest.raises(ValueError, match=r"stimuli \['zz'\] of the spike table have no .wav file"):
        load_trials(sounds, pd.concat([SPIKES, _table([("zz", 1, "n1", 0.01)])]),
                    audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match=r"spikes for stimuli \['b'\] that are not in stimuli="):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, stimuli=["a"])
    with pytest.raises(ValueError, match=r"stimuli \['q'\] have no .wav file"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, stimuli=["a", "b", "q"])


def test_bad_columns_are_refused_naming_the_column(sounds):
    with pytest.raises(ValueError, match=r"no column 'time' \(for time\); its columns are"):
        load_trials(sounds, SPIKES.drop(columns="time"), audio_fs=FS, dt_ms=DT)
    with pytest.raises(TypeError, match="column 'time' of the spike table must hold numbers"):
        load_trials(sounds, SPIKES.assign(time="0.1"), audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="column 'time' .* 1 missing value"):
        load_trials(sounds, SPIKES.assign(time=SPIKES.time.where(SPIKES.index != 3)),
                    audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="column 'repeat' .* integer repeat numbers; received 1.5"):
        load_trials(sounds, SPIKES.assign(repeat=SPIKES["repeat"] + 0.5), audio_fs=FS, dt_ms=DT)
    with pytest.raises(TypeError, match="column 'repeat' .* must hold numbers"):
        load_trials(sounds, SPIKES.assign(repeat="first"), audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['spike'\]"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, columns={"spike": "time"})
    with pytest.raises(ValueError, match="time_unit must be 's' or 'ms'"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, time_unit="us")


def test_neuron_names_must_be_unique(sounds):
    mixed = SPIKES.assign(neuron=pd.Series([1, "1", 2, 2, 2, 2, 2], dtype=object))
    with pytest.raises(ValueError, match="two neuron labels that are both '1' as text"):
        load_trials(sounds, mixed, audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match=r"neurons has duplicate name\(s\) \['n1'\]"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, neurons=["n1", "n2", "n1"])
    with pytest.raises(ValueError, match=r"neurons \['n2'\] that are not in neurons="):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, neurons=["n1"])


def test_only_regular_sound_files_inside_the_folder_are_read(sounds, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    target = _wav(outside, "c.wav", 0.05, 8000)
    os.symlink(target, sounds / "c.wav")
    table = pd.concat([SPIKES, _table([("c", 1, "n1", 0.01)])])
    with pytest.raises(ValueError, match="c.wav' is not a regular file .* only regular files "
                                         "inside sound_dir"):
        load_trials(sounds, table, audio_fs=FS, dt_ms=DT)
    (sounds / "c.wav").unlink()
    (sounds / "._a.wav").write_bytes(b"AppleDouble junk")  # hidden: ignored
    (sounds / "c.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="c.wav' is not a readable sound file"):
        load_trials(sounds, table, audio_fs=FS, dt_ms=DT)
    (sounds / "c.wav").unlink()
    _wav(sounds, "a.WAV", 0.05, 8000)
    with pytest.raises(ValueError, match="two files for stimulus 'a'"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT)


def test_folder_table_and_rates_are_checked(sounds, tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        load_trials(tmp_path / "nowhere", SPIKES, audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="holds no .flac file"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, extension=".flac")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trials(sounds, tmp_path / "none.csv", audio_fs=FS, dt_ms=DT)
    with pytest.raises(TypeError, match="spikes must be a pandas DataFrame or the path"):
        load_trials(sounds, SPIKES.to_numpy(), audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="whole number of audio samples"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=1.01)
    with pytest.raises(ValueError, match="lasts 0.2 s, more than max_duration_s=0.15"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, max_duration_s=0.15)


def test_level_db_spl_sets_each_sounds_level(sounds):
    from sk_icnet.audio import level_db_spl

    data = load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, level_db_spl={"a": 60.0, "b": 75.0})
    assert level_db_spl(data.X[0, :1600]) == pytest.approx(60.0, abs=0.01)
    assert level_db_spl(data.X[1, :800]) == pytest.approx(75.0, abs=0.01)
    soundfile.write(sounds / "a.wav", np.zeros(1600), 16000)
    with pytest.raises(ValueError, match="'a.wav' in .* is silent .* level_db_spl=60.0"):
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT, level_db_spl={"a": 60.0, "b": 75.0})


def _simulated(tmp_path, n_stimuli=6, n_repeats=4, seed=0):
    """Sounds of different lengths and rates, and Poisson spikes of known neurons to them."""
    from sk_icnet.simulate._neurons import TunedNeurons, make_stimuli

    rng = np.random.default_rng(seed)
    neurons = TunedNeurons(cf_hz=[700.0, 2000.0], threshold_db=10.0, audio_fs=FS, dt_ms=DT)
    rows = []
    for i in range(n_stimuli):
        fs = (16000, 44100)[i % 2]
        seconds = 0.4 + 0.04 * i
        x = make_stimuli(1, seconds, fs, random_state=i)[0]
        soundfile.write(tmp_path / f"s{i}.wav", x, fs, subtype="FLOAT")
        wave = load_audio(tmp_path / f"s{i}.wav", FS)
        n = wave.size // 32 * 32
        rate = neurons.predict(wave[None, :n])[0]  # (neurons, bins)
        for r in range(n_repeats):
            counts = rng.poisson(rate)
            for j, k in zip(*np.nonzero(counts), strict=True):
                for _ in range(counts[j, k]):
                    rows.append((f"s{i}", r + 1, f"u{j}", (k + rng.uniform()) * BIN_S))
    return _table(rows)


def test_padding_is_not_trained_on_and_fit_compare_and_ceilings_run_on_the_trials(tmp_path):
    from sklearn.model_selection import KFold

    from sk_icnet import LinearSTRFRegressor
    from sk_icnet import compare_models as compare
    from sk_icnet.metrics import split_half_ceiling

    table = _simulated(tmp_path)
    data = load_trials(tmp_path, table, audio_fs=FS, dt_ms=DT)
    assert len(set(data.n_bins)) > 1 and (~data.mask).any()
    est = tiny_estimator(max_epochs=1, train_split=None).fit(data.X, data.y)
    # noise in the padding changes nothing in the fit: padded bins are NaN (out of the loss)
    # and the model is causal, so the padding never reaches a real bin's prediction
    noisy = data.X.copy()
    for i, n in enumerate(data.n_bins):
        noisy[i, n * 32:] = np.random.default_rng(i).standard_normal(noisy.shape[1] - n * 32)
    other = tiny_estimator(max_epochs=1, train_split=None).fit(noisy, data.y)
    pred, pred_noisy = est.predict(data.X), other.predict(noisy)
    mask3 = np.broadcast_to(data.mask[:, None, :], pred.shape)
    np.testing.assert_allclose(pred[mask3], pred_noisy[mask3], rtol=1e-4, atol=1e-6)
    # and the padding's NaN targets do not enter the score
    assert np.isfinite(est.score(data.X, data.y))

    complete = data.y_repeats[:, : data.n_repeats.min()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = compare({"STRF": LinearSTRFRegressor(**data.rates, n_bands=8)}, data.X, data.y,
                         cv=KFold(3), y_repeats=complete, scoring=["d2_poisson", "ccnorm"],
                         verbose=0)
    assert np.isfinite(result.summary["mean"]).all()
    pred = result.predictions["STRF"]
    assert np.isfinite(pred[mask3]).all()
    ceiling = split_half_ceiling(complete, random_state=0)
    assert 0.0 < ceiling <= 1.0


# ------------------------------------------------------------ labels that lie (issue 28.11)
@pytest.mark.parametrize("first, second", [(-2.0**63, 2.0**63), (1e19, 2e19),
                                           (2**63, 2**63 + 1)])
def test_repeat_numbers_beyond_exact_integers_are_refused_not_merged(sounds, first, second):
    repeats = pd.Series([first, first, first, second, first, first, second])
    if isinstance(first, int) and first >= 0:
        repeats = repeats.astype(np.uint64)  # both fit a uint64 column, not a float
    with pytest.raises(ValueError, match=r"column 'repeat' .* integer repeat numbers from "
                                         r"-2\*\*53 to 2\*\*53; received "):
        load_trials(sounds, SPIKES.assign(repeat=repeats), audio_fs=FS, dt_ms=DT)


def test_complex_spike_times_are_refused(sounds):
    with pytest.raises(TypeError, match=r"column 'time' of the spike table must hold real numbers "
                                        r"\(spike times\); received dtype complex128"):
        load_trials(sounds, SPIKES.assign(time=SPIKES.time + 1e-3j), audio_fs=FS, dt_ms=DT)


@pytest.mark.parametrize("one, other, texts", [(1.0, 1, r"'1.0' and '1'"),
                                               (True, 1, r"'True' and '1'")])
def test_neuron_labels_equal_as_values_but_not_as_text_are_refused_clearly(sounds, one, other,
                                                                            texts):
    labels = pd.Series([one, one, other, other, one, other, one], dtype=object)
    with pytest.raises(ValueError, match=rf"column 'neuron' .* two neuron labels that are equal "
                                         rf"as values but not as text \({texts}\)"):
        load_trials(sounds, SPIKES.assign(neuron=labels), audio_fs=FS, dt_ms=DT)


def test_stimulus_names_that_differ_only_in_unicode_normalisation_are_named_as_such(sounds):
    import unicodedata

    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    _wav(sounds, f"{nfc}.wav", 0.05, 8000)
    table = pd.concat([SPIKES, _table([(nfd, 1, "n1", 0.01)])], ignore_index=True)
    with pytest.raises(ValueError, match=r"differ only in Unicode normalisation.*NFD.*NFC"):
        load_trials(sounds, table, audio_fs=FS, dt_ms=DT)
    both = pd.concat([table, _table([(nfc, 1, "n1", 0.01)])], ignore_index=True)
    with pytest.raises(ValueError, match=r"column 'stimulus' .* two stimulus labels that differ "
                                         r"only in Unicode normalisation"):
        load_trials(sounds, both, audio_fs=FS, dt_ms=DT)


# ------------------------------------------------------------ first-hour mistakes (issue 30.3)
def test_the_column_error_proposes_the_tables_closest_columns_and_names_each_missing_once(sounds):
    table = SPIKES.rename(columns={"time": "spike_times", "neuron": "unit_id"})
    with pytest.raises(ValueError) as info:
        load_trials(sounds, table, audio_fs=FS, dt_ms=DT,
                    columns={"time": "spike_time", "neuron": "unit"})
    message = str(info.value)
    assert "columns={'neuron': 'unit_id', 'time': 'spike_times'}" in message
    assert message.count("'spike_time'") == 1 and "{'time': 'spike_time', ...}" not in message
    with pytest.raises(ValueError) as info:  # one missing name for two roles: said once
        load_trials(sounds, SPIKES, audio_fs=FS, dt_ms=DT,
                    columns={"time": "t", "stimulus": "t"})
    assert str(info.value).count("'t'") == 1


def test_spike_times_in_ms_read_as_seconds_are_refused_with_the_unit_hint(sounds):
    in_ms = SPIKES.assign(time=SPIKES.time * 1000)  # 1 to 199: only the 1 ms spike... as 1 s
    in_ms.loc[0, "time"] = 0.001  # one spike happens to fall inside
    with pytest.raises(ValueError, match=r"6 of 7 spikes .* past the end of every stimulus.*"
                                         r"time_unit='ms'"):
        load_trials(sounds, in_ms, audio_fs=FS, dt_ms=DT)


def test_a_missing_csv_is_a_file_not_found_error(sounds, tmp_path):
    with pytest.raises(FileNotFoundError, match="none.csv' does not exist"):
        load_trials(sounds, tmp_path / "none.csv", audio_fs=FS, dt_ms=DT)
