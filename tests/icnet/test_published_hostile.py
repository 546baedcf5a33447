"""The published-ICNet reader against hostile release folders: HDF5 links and references at
every level of the file, FIFOs and devices where files are expected, a YAML alias bomb,
damaged files and malformed attributes, and CF files of the wrong kind.

Each case is refused with a ValueError or TypeError that names the file and the rule,
within seconds, without expanding what the file declares, and with a short message.
A case that could block (a FIFO) runs with a deadline: a helper process unblocks the
FIFO after a few seconds, so a regression fails on its time instead of hanging the suite.
"""

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("yaml")

from sk_icnet import describe_keras, load_published_icnet  # noqa: E402
from tests._fifo import refusal  # noqa: E402

from ._keras_fixtures import keras_icnet, release_config, write_keras, write_release  # noqa: E402

fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")

#: a refusal's message is at most this long, whatever the file holds
MAX_MESSAGE = 2000
#: seconds after which a helper process unblocks a reader waiting on a FIFO (tests/_fifo.py)
UNBLOCK_AFTER_S = 6.0

def model_of(strides=(2, 2)):
    return keras_icnet(np.random.default_rng(0), strides=strides)


def release(tmp_path, model=None, **kwargs):
    return write_release(str(tmp_path / "DNN"), model or model_of(), **kwargs)


def weights_file(folder):
    return Path(folder, "model_weights.hdf5")


def assert_refused(raised, kind, *fragments):
    assert isinstance(raised, kind), repr(raised)
    text = str(raised)
    assert len(text) < MAX_MESSAGE, len(text)
    for fragment in fragments:
        assert fragment in text, text


# ------------------------------------------------------------ links and references
def _other_file(tmp_path):
    """A second Keras file with the same layout and other weights (the foreign weights)."""
    return write_keras(tmp_path / "foreign.hdf5", keras_icnet(np.random.default_rng(1),
                                                              strides=(2, 2)))


def _link(path, name, link):
    with h5py.File(path, "r+") as f:
        del f[name]
        f[name] = link


@pytest.mark.parametrize("describe", [False, True])
def test_a_layer_group_linked_to_another_file_is_refused(tmp_path, describe):
    folder = release(tmp_path)
    foreign = _other_file(tmp_path)
    _link(weights_file(folder), "model_weights/encoder_1",
          h5py.ExternalLink(str(foreign), "/model_weights/encoder_1"))
    raised, elapsed = refusal(describe_keras if describe else load_published_icnet, folder)
    assert_refused(raised, ValueError, "model_weights.hdf5", "model_weights/encoder_1",
                   "external link", "foreign.hdf5")
    assert elapsed < 5


def test_model_weights_itself_linked_to_another_file_is_refused(tmp_path):
    folder = release(tmp_path)
    foreign = _other_file(tmp_path)
    _link(weights_file(folder), "model_weights", h5py.ExternalLink(str(foreign), "/model_weights"))
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "'model_weights' is an external link")


def test_a_layer_soft_linked_to_another_layer_of_the_same_shape_is_refused(tmp_path):
    # encoder_1 and encoder_2 have the same shapes: 0.4.0 loaded encoder_2's weights twice
    folder = release(tmp_path, model_of(strides=(2, 2, 2)))
    _link(weights_file(folder), "model_weights/encoder_1", h5py.SoftLink("/model_weights/encoder_2"))
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "'model_weights/encoder_1' is a soft link",
                   "'/model_weights/encoder_2'")


def test_a_soft_link_deep_inside_a_layer_group_is_refused(tmp_path):
    folder = release(tmp_path, model_of(strides=(2, 2, 2)))
    _link(weights_file(folder), "model_weights/encoder_1/encoder_1",
          h5py.SoftLink("/model_weights/encoder_2/encoder_2"))
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "'model_weights/encoder_1/encoder_1' is a soft link")


def test_object_references_anywhere_in_the_file_are_refused(tmp_path):
    folder = release(tmp_path)
    with h5py.File(weights_file(folder), "r+") as f:
        ref = f["model_weights/encoder_1"].ref
        f["model_weights/encoder_0"].attrs["pointer"] = ref
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "attribute 'pointer' of 'model_weights/encoder_0'",
                   "object references")
    with h5py.File(weights_file(folder), "r+") as f:
        del f["model_weights/encoder_0"].attrs["pointer"]
        f.create_dataset("extra/refs", data=[ref], dtype=h5py.ref_dtype)
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "dataset 'extra/refs' holds HDF5 object references")


@fifo_only
def test_a_layer_linked_to_a_fifo_is_refused_without_waiting(tmp_path):
    folder = release(tmp_path)
    fifo = tmp_path / "pipe.hdf5"
    os.mkfifo(fifo)
    _link(weights_file(folder), "model_weights/encoder_1", h5py.ExternalLink(str(fifo), "/g"))
    for call in (load_published_icnet, describe_keras):
        raised, elapsed = refusal(call, folder, fifos=[fifo], after_s=UNBLOCK_AFTER_S)
        assert elapsed < UNBLOCK_AFTER_S - 1, elapsed  # refused, the FIFO never opened
        assert_refused(raised, ValueError, "external link", "pipe.hdf5")


def test_a_layer_linked_to_dev_zero_is_a_clear_error(tmp_path):
    folder = release(tmp_path)
    _link(weights_file(folder), "model_weights/encoder_1", h5py.ExternalLink("/dev/zero", "/g"))
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "model_weights.hdf5", "external link", "/dev/zero")


# ------------------------------------------------------------ FIFOs and devices as files
@fifo_only
@pytest.mark.parametrize("name", ["model_weights.hdf5", "weights.hdf5"])
def test_a_fifo_that_the_folder_search_finds_is_refused_without_waiting(tmp_path, name):
    folder = release(tmp_path)
    os.remove(weights_file(folder))
    os.mkfifo(Path(folder, name))
    raised, elapsed = refusal(load_published_icnet, folder, fifos=[Path(folder, name)],
                              after_s=UNBLOCK_AFTER_S)
    assert elapsed < UNBLOCK_AFTER_S - 1, elapsed
    assert_refused(raised, ValueError, name, "is a FIFO (named pipe)", "only regular files")


@fifo_only
@pytest.mark.parametrize("name, argument", [("config.yaml", "config"),
                                            ("channel_CFs.mat", "cfs")])
def test_a_fifo_as_config_or_cf_file_is_refused_without_waiting(tmp_path, name, argument):
    folder = release(tmp_path)
    os.remove(Path(folder, name))
    os.mkfifo(Path(folder, name))
    raised, elapsed = refusal(load_published_icnet, folder, fifos=[Path(folder, name)],
                              after_s=UNBLOCK_AFTER_S)
    assert elapsed < UNBLOCK_AFTER_S - 1, elapsed
    assert_refused(raised, ValueError, f"{argument} ", name, "is a FIFO (named pipe)")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize("argument", ["path", "config", "cfs"])
def test_dev_zero_in_place_of_any_release_file_is_refused(tmp_path, argument):
    folder = release(tmp_path)
    kwargs = {argument: "/dev/zero"}
    path = kwargs.pop("path", folder)
    raised, elapsed = refusal(load_published_icnet, path, **kwargs)
    assert elapsed < 5
    assert_refused(raised, ValueError, f"{argument} '/dev/zero' is a character device")


def test_a_release_folder_whose_only_hdf5_entry_is_a_directory_is_refused(tmp_path):
    folder = release(tmp_path)
    os.remove(weights_file(folder))
    os.mkdir(Path(folder, "weights.hdf5"))
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "weights.hdf5' is a directory", "only regular files")


def test_a_model_file_linked_from_outside_the_release_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = release(tmp_path)
    os.replace(weights_file(folder), outside / "model_weights.hdf5")
    os.symlink(outside / "model_weights.hdf5", weights_file(folder))
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "resolves to", "outside its folder", "pass its own path")
    est = load_published_icnet(outside / "model_weights.hdf5", config=Path(folder, "config.yaml"),
                               cfs=Path(folder, "channel_CFs.mat"))
    assert est.recording_names_ == ["animal_1", "animal_2"]  # named by the user: followed


@pytest.mark.parametrize("call", [load_published_icnet, describe_keras])
def test_a_path_with_a_nul_byte_is_refused_naming_it(call):
    raised, _ = refusal(call, "DNN\x00/model_weights.hdf5")
    assert_refused(raised, ValueError, "'DNN\\x00/model_weights.hdf5'", "NUL character")


# ------------------------------------------------------------ config.yaml
def _alias_bomb(levels):
    """YAML whose ``decoder_channels`` is ``9 ** levels`` ones through nested aliases."""
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\ndecoder_channels: *l{levels - 1}\n"


def test_a_yaml_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    model = model_of()
    folder = release(tmp_path, model)
    plain = release_config(model)
    plain.pop("decoder_channels")
    import yaml

    text = yaml.safe_dump(plain) + _alias_bomb(7)  # 4.8 million ones; 0.4.0 formatted them all
    assert len(text) < 1000
    Path(folder, "config.yaml").write_text(text)
    tracemalloc.start()
    try:
        raised, elapsed = refusal(load_published_icnet, folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_refused(raised, ValueError, "config.yaml", "anchor", "alias")
    assert elapsed < 5 and peak < 50e6, (elapsed, peak)


@pytest.mark.parametrize("value, received", [
    ("[" + ", ".join(["512"] * 5_000) + "]", "list [512, 512, 512"),
    ("{a: 1}", "dict {'a': 1}"),
    ("'" + "9" * 100_000 + "'", "str '9999"),
    ("1" * 4000, "int 1111"),
    ("true", "bool True"),
], ids=["list", "mapping", "long_string", "4000_digit_int", "bool"])
def test_a_checked_config_key_that_is_not_a_number_is_refused_with_a_short_quote(
        tmp_path, value, received):
    model = model_of()
    folder = release(tmp_path, model)
    config = Path(folder, "config.yaml")
    config.write_text(config.read_text().replace(f"decoder_channels: {model['units']}",
                                                 f"decoder_channels: {value}"))
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "config.yaml", "decoder_channels must be a number",
                   f"received {received}")


# ------------------------------------------------------------ damaged files, odd attributes
@pytest.mark.parametrize("damage", ["random", "empty", "truncated"])
def test_a_damaged_hdf5_file_is_a_value_error_naming_it(tmp_path, damage):
    folder = release(tmp_path)
    path = weights_file(folder)
    data = path.read_bytes()
    path.write_bytes({"random": np.random.default_rng(0).bytes(4096), "empty": b"",
                      "truncated": data[:len(data) // 3]}[damage])
    for call in (load_published_icnet, describe_keras):
        raised, _ = refusal(call, folder)
        assert_refused(raised, ValueError, "model_weights.hdf5", "not a readable")


@pytest.mark.parametrize("group, attr", [("model_weights", "layer_names"),
                                         ("model_weights/encoder_1", "weight_names")])
def test_a_scalar_names_attribute_is_refused_naming_it(tmp_path, group, attr):
    folder = release(tmp_path)
    with h5py.File(weights_file(folder), "r+") as f:
        f[group].attrs[attr] = np.int64(3)
    # describe_keras lists the graph's layers, and reads only weight_names
    for call in (load_published_icnet,) + ((describe_keras,) if attr == "weight_names" else ()):
        raised, _ = refusal(call, folder)
        assert_refused(raised, ValueError, f"{attr} must be a list of names", "int64")


@pytest.mark.parametrize("value, kind, match", [
    ("abc", TypeError, "max_parameters must be a whole number >= 1; received str 'abc'"),
    (float("nan"), TypeError, "max_parameters must be a whole number >= 1; received float nan"),
    (0, ValueError, "max_parameters must be a whole number >= 1; received 0"),
    (2.5, TypeError, "max_parameters must be a whole number >= 1; received float 2.5"),
])
def test_max_parameters_that_is_not_a_count_is_refused_naming_it(tmp_path, value, kind, match):
    raised, _ = refusal(load_published_icnet, release(tmp_path), max_parameters=value)
    assert_refused(raised, kind, match)


def test_max_parameters_given_as_a_float_count_still_works(tmp_path):
    est = load_published_icnet(release(tmp_path), max_parameters=1e8)
    assert est.recording_names_ == ["animal_1", "animal_2"]


# ------------------------------------------------------------ channel_CFs.mat
def _cf_release(tmp_path, cfs):
    return release(tmp_path, cfs=cfs)


def test_complex_cfs_are_refused(tmp_path):
    cfs = np.geomspace(300.0, 3000.0, 6) + 1j
    raised, _ = refusal(load_published_icnet, _cf_release(tmp_path, cfs))
    assert_refused(raised, ValueError, "channel_CFs.mat", "complex")


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.int32])
def test_integer_cfs_are_read_as_hz(tmp_path, dtype):
    cfs = np.array([100, 200, 300, 400, 500, 120]).astype(dtype)
    est = load_published_icnet(_cf_release(tmp_path, cfs))
    np.testing.assert_array_equal(est.neurons_["animal_2"]["cf_hz"], [400.0, 500.0, 120.0])
    assert est.neurons_["animal_1"]["reliable"].all()


def test_integer_cfs_in_a_matlab_v73_file_are_read_as_hz(tmp_path):
    folder = release(tmp_path)
    path = Path(folder, "channel_CFs.mat")
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("channel_CFs", data=np.arange(1, 7, dtype=np.uint32)[:, None] * 1000)
        # MATLAB stores a cell array as object references: they stay inside the file
        f.create_dataset("#refs#/cell", data=[f["channel_CFs"].ref], dtype=h5py.ref_dtype)
    est = load_published_icnet(folder)
    np.testing.assert_array_equal(est.neurons_["animal_1"]["cf_hz"], [1000.0, 2000.0, 3000.0])


def test_a_matlab_v73_cf_file_linking_outside_itself_is_refused(tmp_path):
    folder = release(tmp_path)
    path = Path(folder, "channel_CFs.mat")
    with h5py.File(tmp_path / "other.mat", "w") as f:
        f.create_dataset("channel_CFs", data=np.full((6, 1), 1000.0))
    with h5py.File(path, "w", userblock_size=512) as f:
        f["channel_CFs"] = h5py.ExternalLink(str(tmp_path / "other.mat"), "/channel_CFs")
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "channel_CFs.mat", "'channel_CFs' is an external link")


def test_a_cf_matrix_is_refused_as_a_matrix_not_for_its_count(tmp_path):
    model = keras_icnet(np.random.default_rng(0), n_decoders=3, units=6)
    folder = write_release(str(tmp_path / "DNN"), model)
    from scipy.io import savemat

    savemat(Path(folder, "channel_CFs.mat"), {"channel_CFs": np.full((3, 6), 1000.0)})
    raised, _ = refusal(load_published_icnet, folder)
    assert_refused(raised, ValueError, "channel_CFs has shape (3, 6)", "one row or one column")
    assert "but the model has 18 units" not in str(raised)


def test_a_cf_file_of_another_count_still_says_both_counts(tmp_path):
    raised, _ = refusal(load_published_icnet, _cf_release(tmp_path, np.full(5, 1000.0)))
    assert_refused(raised, ValueError, "(1, 5)", "5 CFs", "6 units")
