"""Spike times to counts: binning aligned with the audio bins, and ragged spike-train input.

>>> from sk_icnet.data import bin_spike_times
>>> bin_spike_times([[0.0005, 0.0021, 0.0022], [0.004]], n_bins=4, dt_ms=1.31072)
array([[1., 2., 0., 0.],
       [0., 0., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from .._core.validation import _as_numeric_array, check_positive_int, check_positive_number

__all__ = ["bin_spike_times", "spike_trains"]


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
