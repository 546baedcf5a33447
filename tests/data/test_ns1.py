"""NS1 reader, on synthetic releases written in the release's structure (tests/data/ns1_files.py)."""

import os

import numpy as np
import pytest
from scipy.io import loadmat, savemat, wavfile

from sk_icnet.audio import resample
from sk_icnet.data import BenchmarkTrials, TrialData, _ns1, load_ns1

from .ns1_files import CLIP_FS, STIMULI, clip_name, spike_times_ms, write_ns1


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ns1")
    write_ns1(folder)
    return folder


@pytest.fixture(scope="module")
def data(release):
    return load_ns1(release)


def expected_counts(n_neurons=3, n_bins=40, dt_ms=5.0):
    """The planted spikes binned by hand: spike t (ms) in bin floor(t / dt), if inside."""
    y = np.zeros((20, 20, n_neurons, n_bins), np.float32)
    for s in range(20):
        for r in range(20):
            for n in range(n_neurons):
                for t in spike_times_ms(n, s, r):
                    k = int(t // dt_ms)
                    if k < n_bins:
                        y[s, r, n, k] += 1
    return y


def test_reader_recovers_the_planted_spike_counts_of_every_repeat(data):
    assert isinstance(data, BenchmarkTrials) and isinstance(data, TrialData)
    assert data.y_repeats.shape == (20, 20, 3, 40)  # 0.2 s clips in 5 ms bins
    np.testing.assert_array_equal(data.y_repeats, expected_counts())
    np.testing.assert_allclose(data.y, expected_counts().mean(axis=1))
    np.testing.assert_array_equal(data.n_repeats, np.full(20, 20))
    # the spike at 300 ms of every repeat lies past the 0.2 s clip: dropped, counted
    np.testing.assert_array_equal(data.dropped["after"], np.full(20, 20 * 3))
    assert data.mask.all() and data.rates == {"audio_fs": 24000.0, "dt_ms": 5.0}


def test_counts_follow_the_users_bin_width(release):
    fine = load_ns1(release, dt_ms=2.5, audio_fs=24000.0)
    np.testing.assert_array_equal(fine.y_repeats, expected_counts(n_bins=80, dt_ms=2.5))


def test_clips_keep_the_release_order_and_the_published_split(data):
    names = [clip_name(*s[:4]) for s in STIMULI[:20]]
    assert list(data.stimuli["file"]) == names  # source 1 frozen 1-12, then source 2 frozen 1-8
    np.testing.assert_array_equal(data.split["train"], np.arange(14))
    np.testing.assert_array_equal(data.split["validation"], [14, 15, 16])
    np.testing.assert_array_equal(data.split["test"], [17, 18, 19])
    assert list(data.stimuli["split"]) == ["train"] * 14 + ["validation"] * 3 + ["test"] * 3
    test = data.subset("test")
    assert type(test) is TrialData and test.stimulus_names == ["nat17", "nat18", "nat19"]
    np.testing.assert_array_equal(test.y_repeats, data.y_repeats[17:])
    np.testing.assert_array_equal(test.X, data.X[17:])


def test_sounds_are_read_in_pascals_at_their_nominal_level(release, data):
    np.testing.assert_allclose(data.stimuli["level_db_spl"], 80.0, atol=1e-4)  # as written
    _, wave = wavfile.read(release / "spikesandwav" / "SH.En.C" / clip_name(*STIMULI[0][:4]))
    np.testing.assert_allclose(data.X[0], resample(wave, CLIP_FS, 24000.0)[: 40 * 120],
                               rtol=1e-5, atol=1e-7)  # the file's pascals, resampled
    np.testing.assert_array_equal(data.source_fs, np.full(20, CLIP_FS))
    assert data.X.shape == (20, 40 * 120)  # 120 samples per 5 ms bin at 24 kHz


def test_neurons_table_carries_the_metadata_and_the_valid_selection(release, data):
    table = data.neurons
    assert list(table["name"]) == [f"exp{i}/P0{i}-SH.En.C/cluster.0{i + 1}" for i in range(3)]
    assert list(table["single_t"]) == ["Yes", "No", "Maybe"]
    assert list(table["depth_um"]) == [0, -50, 200]
    assert list(table["valid"]) == [True, False, True]  # Yes/Maybe at depth >= 0
    valid = load_ns1(release, neurons="valid")
    assert valid.neuron_names == [table["name"][0], table["name"][2]]
    np.testing.assert_array_equal(valid.y_repeats, data.y_repeats[:, :, [0, 2]])
    one = load_ns1(release, neurons=[table["name"][2]])
    np.testing.assert_array_equal(one.y_repeats, data.y_repeats[:, :, [2]])


def test_a_neuron_file_with_the_releases_underscore_one_suffix_is_found(tmp_path):
    write_ns1(tmp_path, n_neurons=1)
    folder = tmp_path / "spikesandwav" / "exp0" / "P00-SH.En.C"
    os.rename(folder / "cluster.01.data.mat", folder / "cluster.01.data_1.mat")
    data = load_ns1(tmp_path)
    assert data.neurons["file"][0] == os.path.join("exp0", "P00-SH.En.C", "cluster.01.data_1.mat")


def test_a_clip_off_its_nominal_level_warns(tmp_path):
    write_ns1(tmp_path, n_neurons=1, level_db=70.0)
    with pytest.warns(UserWarning, match="NominalLevel 80"):
        load_ns1(tmp_path)


# ---------------------------------------------------------------- malformed releases
def test_a_folder_without_the_metadata_names_what_to_give(tmp_path):
    with pytest.raises(ValueError, match="has no MetadataSHEnCneurons.mat"):
        load_ns1(tmp_path)
    with pytest.raises(TypeError, match="path must be the NS1 folder"):
        load_ns1(3)


@pytest.mark.parametrize("content, message", [
    (b"not a mat file at all" * 10, "not a MATLAB v5 .mat file"),
    (b"MATLAB 7.3 MAT-file" + b"\0" * 200, "v7.3 \\(HDF5\\)"),
])
def test_a_metadata_file_that_is_not_matlab_v5_is_refused(tmp_path, content, message):
    write_ns1(tmp_path, n_neurons=1)
    (tmp_path / "MetadataSHEnCneurons.mat").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_ns1(tmp_path)


def test_a_cut_short_neuron_file_is_refused_naming_it(tmp_path):
    write_ns1(tmp_path, n_neurons=1)
    file = tmp_path / "spikesandwav" / "exp0" / "P00-SH.En.C" / "cluster.01.data.mat"
    file.write_bytes(file.read_bytes()[:3000])
    with pytest.raises(ValueError, match="cluster.01.data.mat"):
        load_ns1(tmp_path)


def test_a_neuron_path_that_is_a_folder_is_refused(tmp_path):
    write_ns1(tmp_path, n_neurons=1)
    file = tmp_path / "spikesandwav" / "exp0" / "P00-SH.En.C" / "cluster.01.data.mat"
    file.unlink()
    file.mkdir()
    with pytest.raises(ValueError, match="is a directory, not a NS1 neuron file"):
        load_ns1(tmp_path)


def test_files_larger_than_the_release_ever_has_are_refused_before_reading(tmp_path, monkeypatch):
    write_ns1(tmp_path, n_neurons=1)
    monkeypatch.setattr(_ns1, "MAX_MAT_BYTES", 1000)
    with pytest.raises(ValueError, match="more than the 1000 such a file"):
        load_ns1(tmp_path)


def test_a_compressed_variable_that_unpacks_too_far_is_refused(tmp_path, monkeypatch):
    write_ns1(tmp_path, n_neurons=1)
    savemat(tmp_path / "MetadataSHEnCneurons.mat", {"neuron": np.zeros((2000, 2000))},
            do_compression=True)  # 32 MB of zeros in a few kB
    monkeypatch.setattr(_ns1, "MAX_MAT_UNPACKED", 1 << 20)
    with pytest.raises(ValueError, match="unpacks to more than 1048576 bytes"):
        load_ns1(tmp_path)


def test_a_metadata_path_escaping_the_release_is_refused(tmp_path):
    write_ns1(tmp_path, n_neurons=1, paths=["../outside.data.mat"])
    with pytest.raises(ValueError, match="expected a relative path"):
        load_ns1(tmp_path)


def test_neuron_files_listing_different_stimuli_are_refused(tmp_path):
    write_ns1(tmp_path, n_neurons=2)
    other = tmp_path / "other"
    write_ns1(other, n_neurons=1)
    # neuron 2's file replaced by one whose stimuli are in another order
    variables = loadmat(other / "spikesandwav" / "exp0" / "P00-SH.En.C" / "cluster.01.data.mat")
    sets = variables["data"][0, 0]["set"]
    variables["data"][0, 0]["set"] = sets[:, ::-1]
    savemat(tmp_path / "spikesandwav" / "exp1" / "P01-SH.En.C" / "cluster.02.data.mat",
            {"data": variables["data"]})
    with pytest.raises(ValueError, match="lists its stimuli or their repeats differently"):
        load_ns1(tmp_path)


def test_neuron_files_with_different_repeats_of_a_clip_are_refused(tmp_path):
    write_ns1(tmp_path, n_neurons=2)
    file = tmp_path / "spikesandwav" / "exp1" / "P01-SH.En.C" / "cluster.02.data.mat"
    variables = loadmat(file)
    sets = variables["data"][0, 0]["set"]
    sets[0, 3]["repeats"] = sets[0, 3]["repeats"][:, :19]  # clip 3 heard 19 times
    savemat(file, {"data": variables["data"]})
    with pytest.raises(ValueError, match="cluster.02.data.mat' lists its stimuli or their repeats"):
        load_ns1(tmp_path)


def test_a_missing_clip_is_named_in_the_error(tmp_path):
    write_ns1(tmp_path, n_neurons=1)
    os.remove(tmp_path / "spikesandwav" / "SH.En.C" / clip_name(2, 1, 0, 8))
    with pytest.raises(ValueError, match="19 stimuli of the neuron files have a clip"):
        load_ns1(tmp_path)


def test_a_neuron_file_without_the_documented_fields_is_refused(tmp_path):
    write_ns1(tmp_path, n_neurons=1)
    file = tmp_path / "spikesandwav" / "exp0" / "P00-SH.En.C" / "cluster.01.data.mat"
    savemat(file, {"data": np.array([[1.0]])})
    with pytest.raises(ValueError, match="is not a MATLAB struct array"):
        load_ns1(tmp_path)


def test_an_unknown_neuron_selection_is_refused(release):
    with pytest.raises(ValueError, match="neurons must be 'all', 'valid'"):
        load_ns1(release, neurons="good")
    with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
        load_ns1(release, neurons=["nope"])
    data = load_ns1(release, neurons="valid")
    with pytest.raises(ValueError, match="part must be one of"):
        data.subset("training")


@pytest.mark.skipif(not os.environ.get("SK_ICNET_NS1_PATH"), reason="needs the NS1 release: "
                    "set SK_ICNET_NS1_PATH to its folder")
def test_the_real_release_reads_as_documented():
    data = load_ns1(os.environ["SK_ICNET_NS1_PATH"])
    assert data.y_repeats.shape[:3] == (20, 20, 119)
    assert int(data.neurons["valid"].sum()) == 73
    np.testing.assert_allclose(data.stimuli["level_db_spl"], data.stimuli["nominal_level_db_spl"],
                               atol=0.5)
