"""Long continuous recordings in memory: binning spike times, training windows.

A typical experiment is one long waveform (minutes to hours) with spike times
for each neuron. The helpers here turn it into the estimators' data contract:

>>> import numpy as np
>>> from sk_icnet.recordings import bin_spike_times, make_windows
>>> bin_spike_times([[0.0005, 0.0021, 0.0022], [0.004]], n_bins=4, dt_ms=1.31072)
array([[1., 2., 0., 0.],
       [0., 0., 0., 1.]], dtype=float32)
>>> audio = np.zeros(305152, dtype=np.float32)        # 12.5 s at 24,414.0625 Hz, in pascals
>>> counts = np.zeros((2, 305152 // 32))              # 2 neurons, 1.31072 ms bins
>>> win = make_windows(audio, counts, 24414.0625, 1.31072)
>>> win.X.shape, win.y.shape, win.context_bins
((38, 10240), (38, 2, 320), 64)
>>> ICNetRegressor(skip_bins=win.context_bins).fit(win.X, win.y)   # doctest: +SKIP

``make_windows`` follows the paper: windows of 10,240 samples whose first 2,048
samples (64 bins at 32 samples per bin) are left context, excluded from the
loss with ``skip_bins``; consecutive windows overlap by the context so that the
scored parts tile the recording exactly once.

For recordings that do not fit in memory, and for several recordings (animals)
with a decoder each, use :mod:`sk_icnet.data` (:class:`~sk_icnet.data.Recording`,
:class:`~sk_icnet.data.WindowDataset`).
"""

from __future__ import annotations

import numpy as np

from ._validation import _as_numeric_array, check_positive_int, check_positive_number
from .data import Recording, WindowDataset

__all__ = ["bin_spike_times", "make_windows"]


def bin_spike_times(spike_times, n_bins, dt_ms, *, t_start=0.0):
    """Count spikes in consecutive bins aligned with the audio bins.

    Bin ``i`` covers ``[t_start + i * dt, t_start + (i + 1) * dt)`` seconds, the
    same interval as audio samples ``i * S .. (i + 1) * S - 1`` when the audio
    starts at ``t_start`` (``S`` samples per bin). Spikes outside
    ``[t_start, t_start + n_bins * dt)`` are dropped.

    Parameters
    ----------
    spike_times : array-like of float, or sequence of those
        Spike times in seconds of one neuron, or a sequence with one array per
        neuron.
    n_bins : int
        Number of bins (``n_samples // samples_per_bin`` of the audio).
    dt_ms : float
        Bin width in milliseconds.
    t_start : float, default=0.0
        Time of the first audio sample, in seconds.

    Returns
    -------
    counts : ndarray of shape (n_neurons, n_bins), float32
    """
    n_bins = check_positive_int(n_bins, "n_bins")
    dt = check_positive_number(dt_ms, "dt_ms") / 1000.0
    if isinstance(t_start, bool) or not np.isfinite(float(t_start)):
        raise ValueError(f"t_start must be a finite number of seconds; received {t_start!r}.")
    trains = spike_trains(spike_times)
    counts = np.zeros((len(trains), n_bins), dtype=np.float32)
    edges = float(t_start) + dt * np.arange(n_bins + 1)
    for i, times in enumerate(trains):
        counts[i] = np.histogram(times, bins=edges)[0]
    return counts


def spike_trains(spike_times):
    """One finite float64 array of spike times per neuron, from the forms
    :func:`bin_spike_times` accepts (one array, or a sequence with one array per neuron)."""
    if isinstance(spike_times, np.ndarray) and spike_times.dtype != object and spike_times.ndim == 1:
        trains = [spike_times]
    elif np.isscalar(spike_times):
        raise TypeError("spike_times must be an array of spike times or a sequence of arrays "
                        f"(one per neuron); received {spike_times!r}.")
    else:
        trains = list(spike_times)
        if trains and np.isscalar(trains[0]):
            trains = [np.asarray(trains)]
    out = []
    for i, train in enumerate(trains):
        times = _as_numeric_array(train, f"spike_times[{i}]").astype(np.float64).ravel()
        if not np.isfinite(times).all():
            raise ValueError(f"spike_times[{i}] contains NaN or inf; spike times must be finite.")
        out.append(times)
    return out


def make_windows(audio, counts, audio_fs, dt_ms, *, window_samples=10240, context_samples=2048):
    """Cut a continuous recording into training windows with left context, in memory.

    The windows of a :class:`~sk_icnet.data.WindowDataset` of one
    :class:`~sk_icnet.data.Recording`, materialised as arrays (for recordings
    that fit in memory; fit a ``WindowDataset`` directly otherwise). Window
    ``k`` starts at sample ``k * hop - context_samples`` with ``hop =
    window_samples - context_samples``, so its first ``context_bins`` bins repeat
    the end of the previous window (zeros and NaN before the start of the
    recording) and the remaining bins tile the recording once. The last window
    is padded with zero audio and NaN counts (missing bins).

    Parameters
    ----------
    audio : array-like of shape (n_samples,)
        Continuous waveform.
    counts : array-like of shape (n_bins,) or (n_neurons, n_bins)
        Spike counts (whole numbers) aligned to the audio (``n_samples //
        samples_per_bin`` bins; see :func:`bin_spike_times`); NaN marks missing bins.
    audio_fs : float
    dt_ms : float
    window_samples : int, default=10240
        Window length (the paper's); a whole number of bins.
    context_samples : int, default=2048
        Left context of each window (the paper's); a whole number of bins smaller
        than ``window_samples``.

    Returns
    -------
    windows : Bunch
        ``X`` (n_windows, window_samples) float32; ``y`` (n_windows, n_neurons,
        window_bins) float32; ``context_bins`` (pass it as ``skip_bins`` to the
        estimator); ``starts`` the first sample of each window in the recording
        (negative for the first); ``window_bins``.
    """
    arr = np.asarray(audio) if not hasattr(audio, "shape") else audio
    if np.ndim(arr) == 2 and np.shape(arr)[0] == 1:
        arr = np.asarray(arr)[0]
    if np.ndim(arr) != 1:
        raise ValueError(f"audio must be one continuous waveform of shape (n_samples,); "
                         f"received shape {np.shape(audio)}.")
    rec = Recording(arr, counts, audio_fs=audio_fs, dt_ms=dt_ms)
    windows = WindowDataset(rec, window_samples, context_samples).materialize(mask_context=False)
    del windows["recording"]
    return windows
