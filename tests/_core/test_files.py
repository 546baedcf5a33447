"""The core's one rule for readers of untrusted files (sk_icnet._core.files): regular files
only, no link that leaves the folder a file was found in or the HDF5 file that holds it,
and values quoted in messages as short prefixes."""

import os
import time

import numpy as np
import pytest

from sk_icnet._core.files import (
    MAX_QUOTE,
    check_hdf5_links,
    check_tree,
    checked_path,
    open_regular,
    quote,
    regular_file,
)
from tests._fifo import refusal

fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
dev_zero = pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")

# ------------------------------------------------------------ quote
def test_quote_summarises_a_value_that_would_format_to_gigabytes_in_microseconds():
    bomb = [1] * 9
    for _ in range(12):  # 9**13 elements through shared references: repr would never end
        bomb = [bomb] * 9
    start = time.perf_counter()
    text = quote(bomb)
    assert time.perf_counter() - start < 0.1
    assert text.startswith("[[[[") and len(text) <= MAX_QUOTE + 40


def test_quote_keeps_a_prefix_of_a_long_string_and_says_it_was_cut():
    text = quote("abc" + "x" * 10_000)
    assert text.startswith("'abcxxx") and text.endswith(f"(cut at {MAX_QUOTE} characters)")
    assert len(text) < MAX_QUOTE + 40
    assert quote("short") == "'short'" and quote(3) == "3"


# ------------------------------------------------------------ paths and regular files
def test_a_path_with_a_nul_character_is_refused_naming_the_argument_and_the_path():
    with pytest.raises(ValueError, match=r"config 'a\\x00b.yaml' holds a NUL character"):
        checked_path("a\x00b.yaml", "a config file", "config")
    with pytest.raises(TypeError, match=r"cfs must be a str or path-like naming a CF file; "
                                        r"received 3 \(int\)"):
        checked_path(3, "a CF file", "cfs")
    assert checked_path(b"x.wav", "a sound file") == "x.wav"


@fifo_only
def test_a_fifo_is_refused_at_once_never_opened_for_a_writer(tmp_path):
    fifo = tmp_path / "f.wav"
    os.mkfifo(fifo)
    raised, elapsed = refusal(open_regular, fifo, "a sound file", fifos=[fifo], after_s=5)
    assert isinstance(raised, ValueError) and "f.wav' is a FIFO (named pipe), not a sound file: " \
        "only regular files are read" in str(raised), raised
    assert elapsed < 4


@dev_zero
def test_a_device_a_directory_and_a_missing_file_are_refused_naming_what_they_are(tmp_path):
    with pytest.raises(ValueError, match="path '/dev/zero' is a character device, not an NWB"):
        regular_file("/dev/zero", "an NWB file")
    with pytest.raises(ValueError, match="is a directory, not a CF file"):
        regular_file(tmp_path, "a CF file", argument="cfs")
    with pytest.raises(ValueError, match="absent.mat' is not a readable CF file"):
        regular_file(tmp_path / "absent.mat", "a CF file")


def test_a_file_larger_than_its_kind_ever_needs_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(ValueError, match="has 1,001 bytes, more than the 1,000"):
        open_regular(path, "a config file", max_bytes=1000)
    f, where = open_regular(path, "a config file", max_bytes=1001)
    with f:
        assert where == str(path) and f.read() == b"x" * 1001
    assert regular_file(path, "a config file") == (str(path), 1001)


def test_a_link_that_leaves_the_folder_is_refused_but_one_the_user_names_is_followed(tmp_path):
    folder, outside = tmp_path / "release", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (outside / "m.hdf5").write_bytes(b"weights")
    (folder / "kept.hdf5").write_bytes(b"own")
    os.symlink(outside / "m.hdf5", folder / "m.hdf5")
    os.symlink("kept.hdf5", folder / "inner.hdf5")
    with pytest.raises(ValueError, match="m.hdf5' is a link that resolves to .*elsewhere/m.hdf5'"
                                         ", outside its folder .*release'"):
        open_regular(folder / "m.hdf5", "a Keras file", within=folder)
    assert regular_file(folder / "m.hdf5", "a Keras file")[1] == 7  # named by the user
    assert regular_file(folder / "inner.hdf5", "a Keras file", within=folder)[1] == 3


# ------------------------------------------------------------ folders
@fifo_only
def test_a_folder_holding_a_fifo_a_device_link_or_a_link_out_is_refused(tmp_path):
    store = tmp_path / "store"
    (store / "a" / "c").mkdir(parents=True)
    (store / "a" / "c" / "0").write_bytes(b"chunk")
    os.symlink("0", store / "a" / "c" / "1")  # inside: accepted
    assert check_tree(store, "the store") == 4
    os.mkfifo(store / "a" / "c" / "2")
    with pytest.raises(ValueError, match="c/2' of the store .* is a FIFO \\(named pipe\\): only "
                                         "regular files and folders are read"):
        check_tree(store, "the store")
    os.remove(store / "a" / "c" / "2")
    os.symlink(tmp_path, store / "a" / "up")
    with pytest.raises(ValueError, match="up' is a link that resolves to .*, outside its folder"):
        check_tree(store, "the store")
    os.remove(store / "a" / "up")
    os.symlink(store / "nothing", store / "a" / "dangling")
    with pytest.raises(ValueError, match="dangling' of the store .* is a link to nothing readable"):
        check_tree(store, "the store")
    os.remove(store / "a" / "dangling")
    with pytest.raises(ValueError, match="holds more than 3 entries"):
        check_tree(store, "the store", max_entries=3)


# ------------------------------------------------------------ HDF5 links and references
try:
    import h5py
except ImportError:  # the optional extra: the HDF5 tests skip, the others run
    h5py = None
needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py is not installed")


def _hdf5(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("g/sub/w", data=np.ones(3, np.float32))
        f.create_dataset("g/other", data=np.zeros(3, np.float32))
    return path


def _refusal(path, **kwargs):
    with h5py.File(path, "r") as f:
        try:
            check_hdf5_links(f, "the file", **kwargs)
        except ValueError as exc:
            return str(exc)
    return None


@pytest.mark.parametrize("make, allowed, expected", [
    (lambda f, tmp: f["g"].__setitem__("x", h5py.ExternalLink(str(tmp / "o.h5"), "/a")),
     dict(soft_links=True, references=True), "object 'g/x' is an external link (to '"),
    (lambda f, tmp: f["g/sub"].__setitem__("x", h5py.SoftLink("/g/other")),
     {}, "object 'g/sub/x' is a soft link (to '/g/other'), so it would read another"),
    (lambda f, tmp: f["g"].attrs.__setitem__("p", f["g/other"].ref),
     dict(soft_links=True), "attribute 'p' of 'g' holds HDF5 object references"),
    (lambda f, tmp: f.attrs.__setitem__("p", f["g/other"].ref),
     {}, "root attribute 'p' holds HDF5 object references"),
    (lambda f, tmp: f.create_dataset("r", data=[f["g"].ref], dtype=h5py.ref_dtype),
     dict(soft_links=True), "dataset 'r' holds HDF5 object references"),
    (lambda f, tmp: f.create_dataset("e", shape=(4,), dtype="f4",
                                     external=[(str(tmp / "raw.bin"), 0, 16)]),
     dict(soft_links=True, references=True), "dataset 'e' is stored outside the file"),
], ids=["external_link", "soft_link", "attribute_reference", "root_attribute_reference",
        "dataset_of_references", "external_storage"])
@needs_h5py
def test_every_way_an_hdf5_file_reaches_outside_itself_is_refused(tmp_path, make, allowed,
                                                                   expected):
    path = _hdf5(tmp_path / "m.h5")
    with h5py.File(path, "r+") as f:
        make(f, tmp_path)
    assert expected in (_refusal(path, **allowed) or "accepted")


@needs_h5py
def test_soft_links_and_references_pass_only_when_the_format_has_them(tmp_path):
    path = _hdf5(tmp_path / "m.h5")
    with h5py.File(path, "r+") as f:
        f["g/alias"] = h5py.SoftLink("/g/other")
        f["g"].attrs["p"] = f["g/other"].ref
    assert _refusal(path, soft_links=True, references=True) is None
    assert "soft link" in _refusal(path, references=True)
    assert "object references" in _refusal(path, soft_links=True)
    with h5py.File(path, "r") as f:
        assert check_hdf5_links(f, "the file", soft_links=True, references=True) == 5
        with pytest.raises(ValueError, match="the file: holds more than 4 HDF5 links"):
            check_hdf5_links(f, "the file", soft_links=True, references=True, max_links=4)
