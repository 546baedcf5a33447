import numpy as np
import pytest

from sk_icnet.data import bin_spike_times, make_windows


def test_bin_spike_times_aligns_with_audio_bins():
    counts = bin_spike_times([0.0, 0.0039, 0.004, 0.0101, 0.05, -0.001], n_bins=5, dt_ms=4.0)
    np.testing.assert_array_equal(counts, [[2, 1, 1, 0, 0]])  # 0.05 s and -1 ms dropped
    two = bin_spike_times([np.array([0.001]), np.array([0.009, 0.0095])], n_bins=3, dt_ms=4.0,
                          t_start=0.0)
    np.testing.assert_array_equal(two, [[1, 0, 0], [0, 0, 2]])
    shifted = bin_spike_times(np.array([10.001]), n_bins=2, dt_ms=4.0, t_start=10.0)
    np.testing.assert_array_equal(shifted, [[1, 0]])


def test_bin_spike_times_bad_input():
    with pytest.raises(ValueError, match=r"spike_times\[0\] contains NaN"):
        bin_spike_times(np.array([0.1, np.nan]), 10, 4.0)
    with pytest.raises(ValueError, match="dt_ms must be a finite number > 0"):
        bin_spike_times([0.1], 10, 0.0)
    with pytest.raises(TypeError, match="spike_times must be an array"):
        bin_spike_times(0.1, 10, 4.0)


def test_make_windows_paper_layout():
    fs, dt = 24414.0625, 1.31072  # 32 samples per bin
    n_bins = 1000
    audio = np.arange(n_bins * 32, dtype=np.float32)
    counts = np.tile(np.arange(n_bins, dtype=np.float32), (2, 1))
    win = make_windows(audio, counts, fs, dt)
    assert win.context_bins == 64 and win.window_bins == 320
    hop = 320 - 64
    assert win.X.shape == (4, 10240) and win.y.shape == (4, 2, 320)  # ceil(1000 / 256)
    # the scored bins (after the context) tile the recording exactly once
    scored = np.concatenate([w[0, 64:] for w in win.y])
    np.testing.assert_array_equal(scored[:n_bins], np.arange(n_bins))
    assert np.isnan(scored[n_bins:]).all()
    # the first window's context is padding; later contexts repeat the previous window
    assert np.isnan(win.y[0, :, :64]).all() and np.all(win.X[0, :2048] == 0)
    np.testing.assert_array_equal(win.y[1, 0, :64], np.arange(hop - 64, hop))
    # audio and counts stay aligned: window k starts at sample starts[k], bin starts[k] // 32
    for k in (1, 2):
        s = win.starts[k]
        np.testing.assert_array_equal(win.X[k], audio[s: s + 10240])
        np.testing.assert_array_equal(win.y[k, 0], np.arange(s // 32, s // 32 + 320))


def test_make_windows_bad_input():
    audio = np.zeros(3200, np.float32)
    counts = np.zeros(100)
    with pytest.raises(ValueError, match="whole number of bins"):
        make_windows(audio, counts, 8000.0, 4.0, window_samples=1000)
    with pytest.raises(ValueError, match="context_samples must be smaller"):
        make_windows(audio, counts, 8000.0, 4.0, window_samples=320, context_samples=320)
    with pytest.raises(ValueError, match="counts has 99 bins"):
        make_windows(audio, counts[:99], 8000.0, 4.0, window_samples=320, context_samples=64)
    with pytest.raises(ValueError, match="audio must be one continuous waveform"):
        make_windows(np.zeros((2, 3200)), counts, 8000.0, 4.0)
