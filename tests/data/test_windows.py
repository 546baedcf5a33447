"""WindowDataset and make_windows: lazily cut windows, views, groups (sk_icnet.data)."""

import pickle

import numpy as np
import pytest
from sklearn.utils import _safe_indexing

from sk_icnet.data import Recording, WindowDataset, make_windows
from tests.data.conftest import DT, FS, make_recording

pytest.importorskip("zarr")


def test_windows_match_make_windows_and_mask_the_context():
    rec = make_recording(n_bins=1000)
    ds = WindowDataset(rec, window_samples=320 * 32, context_samples=64 * 32)
    ref = make_windows(rec.audio, rec.counts, FS, DT, window_samples=320 * 32,
                       context_samples=64 * 32)
    assert len(ds) == len(ref.X) == 4 and ds.window_bins == 320 and ds.context_bins == 64
    for k in range(len(ds)):
        X, (counts, observed) = ds[k]
        np.testing.assert_array_equal(X["x"][0], ref.X[k])
        np.testing.assert_array_equal(np.where(observed[:, 64:], counts[:, 64:], np.nan),
                                      ref.y[k][:, 64:])
        assert not observed[:, :64].any()  # the context is never scored
        assert X["time_s"] == pytest.approx((k * 256 - 64) * DT / 1000)
    # materialised with the context visible, the windows equal make_windows exactly
    full = ds.materialize(mask_context=False)
    np.testing.assert_array_equal(full.X, ref.X)
    np.testing.assert_array_equal(full.y, ref.y)
    np.testing.assert_array_equal(full.starts, ref.starts)


def test_batched_reads_equal_single_reads():
    ds = WindowDataset([make_recording(seed=0, name="a"), make_recording(seed=1, name="b",
                                                                          n_neurons=2)],
                       window_samples=1280, context_samples=256)
    order = np.random.default_rng(0).permutation(len(ds))[:20]
    batch = ds.__getitems__(order)
    for i, (X, (counts, observed)) in zip(order, batch, strict=True):
        X1, (c1, o1) = ds[int(i)]
        np.testing.assert_array_equal(X["x"], X1["x"])
        np.testing.assert_array_equal(counts, c1)
        np.testing.assert_array_equal(observed, o1)
        assert X["decoder"] == X1["decoder"]


def test_views_for_scikit_learn_splitters():
    ds = WindowDataset([make_recording(name="a"), make_recording(name="b")],
                       window_samples=1280, context_samples=256, group_s=0.5)
    assert ds.shape == (len(ds),) == (64,)
    idx = np.array([3, 40, 41])
    view = _safe_indexing(ds, idx)
    assert isinstance(view, WindowDataset) and len(view) == 3
    np.testing.assert_array_equal(view[1][0]["x"], ds[40][0]["x"])
    np.testing.assert_array_equal(view.groups, ds.groups[idx])
    assert len(ds[ds.groups == ds.groups[0]]) == 4 and len(ds[5:9]) == 4
    assert list(ds.windows.columns) == ["recording", "start_bin", "start_s", "group"]
    assert ds.groups[0] == "a:0" and ds.groups[-1].startswith("b:")
    with pytest.raises(IndexError, match="out of range"):
        ds[64]
    with pytest.raises(IndexError, match="integers, slices or booleans"):
        ds[np.array([0.5])]


def test_blocks_group_the_same_stimulus_across_recordings():
    blocks = np.repeat([0, 1, 2, 3], 250)
    ds = WindowDataset([make_recording(name="a", blocks=blocks), make_recording(name="b",
                                                                                 blocks=blocks)],
                       window_samples=1280, context_samples=256)
    groups = ds.groups
    assert set(groups) == {"block:0", "block:1", "block:2", "block:3"}
    first_scored = ds.windows.start_bin + ds.context_bins
    np.testing.assert_array_equal(groups[ds.windows.recording == "a"],
                                  groups[ds.windows.recording == "b"])
    assert all(g == f"block:{min(b // 250, 3)}" for g, b in zip(groups, first_scored, strict=True))


def test_window_dataset_bad_input(tmp_path):
    a = make_recording(name="a")
    with pytest.raises(ValueError, match="names must be unique"):
        WindowDataset([a, make_recording(name="a")])
    other = Recording(np.zeros(3200, np.float32), np.zeros((1, 100)), audio_fs=16000.0, dt_ms=2.0)
    with pytest.raises(ValueError, match="share audio_fs and dt_ms"):
        WindowDataset([a, other])
    with pytest.raises(ValueError, match="window_samples must be a whole number of bins"):
        WindowDataset(a, window_samples=1000, context_samples=0)
    with pytest.raises(ValueError, match="context_samples must be smaller"):
        WindowDataset(a, window_samples=320, context_samples=320)
    with pytest.raises(TypeError, match=r"recordings\[1\] must be a Recording"):
        WindowDataset([a, 3])
    with pytest.raises(ValueError, match="not a readable"):
        WindowDataset(str(tmp_path / "missing.zarr"))


def test_store_backed_dataset_pickles_as_paths(tmp_path):
    make_recording(n_bins=20000, name="big").save(tmp_path / "big.zarr")
    ds = WindowDataset(tmp_path / "big.zarr", window_samples=1280, context_samples=256)
    blob = pickle.dumps(ds[10:20])
    assert len(blob) < 20_000  # paths and the window table, not 2.5 MB of audio
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back[0][0]["x"], ds[10][0]["x"])


def test_split_valid_holds_out_every_recording():
    ds = WindowDataset([make_recording(name="a"), make_recording(name="b")],
                       window_samples=1280, context_samples=256)
    train, valid = ds.split_valid(0.2)
    assert len(train) + len(valid) == len(ds)
    assert set(valid.windows.recording) == {"a", "b"} == set(train.windows.recording)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        ds.split_valid(1.5)


def test_rates_agree_under_the_one_tolerance_rule():
    """Recordings whose rates differ by float noise (1e-12 relative) go together, as the
    estimator accepts them; a real difference (1e-6) is refused, naming both recordings."""
    a = make_recording(name="a", n_bins=200)

    def at(audio_fs, name):
        return Recording(np.zeros(200 * 32, np.float32), np.zeros((1, 200)), audio_fs=audio_fs,
                         dt_ms=32 * 1000.0 / audio_fs, name=name)

    near = at(FS * (1 + 1e-12), "near")
    assert near.audio_fs != a.audio_fs and near.samples_per_bin == 32
    ds = WindowDataset([a, near], window_samples=1280, context_samples=256)
    assert ds.recording_names == ["a", "near"] and ds.timebase.agrees(near.timebase)
    with pytest.raises(ValueError, match=r"share audio_fs and dt_ms \(within 1e-09 relative\); "
                                         r"recording 'a' has .*recording 'far' has"):
        WindowDataset([a, at(FS * (1 + 1e-6), "far")], window_samples=1280, context_samples=256)
