"""Recording: checks of its input, compact counts, binning, reads and pickling (sk_icnet.data)."""

import pickle

import numpy as np
import pandas as pd
import pytest

from sk_icnet.data import Recording, bin_spike_times
from tests.data.conftest import DT, FS, make_recording

pytest.importorskip("zarr")


def test_counts_are_stored_compactly():
    rec = make_recording()
    assert rec.counts.dtype == np.uint8 and rec.missing is None
    wide = Recording(np.zeros(64, np.float32), [[300, 0]], audio_fs=FS, dt_ms=DT)
    assert wide.counts.dtype == np.uint16
    # NaN counts become a mask of missing bins, never NaN floats
    nan = Recording(np.zeros(96, np.float32), [[1.0, np.nan, 2.0]], audio_fs=FS, dt_ms=DT)
    assert nan.counts.dtype == np.uint8 and nan.missing.tolist() == [[False, True, False]]


def test_spike_times_are_binned_like_bin_spike_times():
    times = [np.array([0.0, 0.0039, 0.004, 0.0101]), np.array([0.019])]
    rec = Recording(np.zeros(5 * 32, np.float32), spike_times=times, audio_fs=FS, dt_ms=DT)
    np.testing.assert_array_equal(rec.counts, bin_spike_times(times, 5, DT))
    flat = Recording(np.zeros(5 * 32, np.float32), spike_times=[0.001, 0.005], audio_fs=FS, dt_ms=DT)
    assert flat.counts.tolist() == [[1, 1, 0, 0, 0]]  # one neuron, as bin_spike_times reads it
    with pytest.raises(ValueError, match=r"spike_times\[1\] of recording 'recording' has 1 spike"):
        Recording(np.zeros(160, np.float32), spike_times=[[0.001], [0.02]], audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="outside"):
        Recording(np.zeros(160, np.float32), spike_times=[[-0.001]], audio_fs=FS, dt_ms=DT)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(counts=np.zeros((2, 99))), ValueError, "counts has 99 bins, but audio holds 100 bins"),
    (dict(counts=np.full((1, 100), 0.5)), ValueError, "whole numbers of spikes"),
    (dict(counts=-np.ones((1, 100))), ValueError, "non-negative"),
    (dict(counts=np.zeros((1, 100)), missing=np.zeros(99, bool)), ValueError,
     r"missing must have shape \(n_bins,\)"),
    (dict(counts=np.zeros((1, 100)), missing=np.zeros(100)), TypeError, "boolean"),
    (dict(counts=np.zeros((1, 100)), name=""), TypeError, "name must be a non-empty str"),
    (dict(counts=np.zeros((1, 100)), start_s=float("nan")), TypeError, "start_s"),
    (dict(counts=np.zeros((1, 100)), neurons=pd.DataFrame({"cf": [1, 2]})), ValueError,
     "one row per neuron"),
    (dict(), TypeError, "exactly one of counts and spike_times"),
])
def test_recording_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        Recording(np.zeros(3200, np.float32), audio_fs=FS, dt_ms=DT, **kwargs)


def test_recording_bad_audio_and_rates():
    with pytest.raises(ValueError, match="audio must be one waveform"):
        Recording(np.zeros((2, 3200)), np.zeros(100), audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="NaN or inf"):
        Recording(np.full(3200, np.nan), np.zeros(100), audio_fs=FS, dt_ms=DT)
    with pytest.raises(ValueError, match="whole number of audio samples"):
        Recording(np.zeros(3200), np.zeros(100), audio_fs=FS, dt_ms=4.01)


def test_memmap_audio_pickles_as_its_file(tmp_path):
    path = tmp_path / "audio.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(3200,))
    mm[:] = np.linspace(-1, 1, 3200)
    mm.flush()
    ro = np.memmap(path, dtype=np.float32, mode="r", shape=(3200,))
    rec = Recording(ro, np.ones((1, 100)), audio_fs=FS, dt_ms=DT)
    blob = pickle.dumps(rec)
    assert len(blob) < 3200 * 4  # the waveform is not in the pickle
    np.testing.assert_array_equal(pickle.loads(blob).read(0, 100)[0], mm[:])
