"""Long continuous recordings: binning spike times, training windows, several recordings.

A typical experiment is one long waveform (minutes to hours) with spike times
for each neuron. The helpers here turn it into the estimators' data contract:

>>> counts = bin_spike_times(spike_times, n_bins, dt_ms)           # doctest: +SKIP
>>> win = make_windows(audio, counts, audio_fs, dt_ms)             # doctest: +SKIP
>>> ICNetRegressor(skip_bins=win.context_bins).fit(win.X, win.y)   # doctest: +SKIP

``make_windows`` follows the paper: windows of 10,240 samples whose first 2,048
samples (64 bins at 32 samples per bin) are left context, excluded from the
loss with ``skip_bins``; consecutive windows overlap by the context so that the
scored parts tile the recording exactly once.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from ._validation import (
    _as_numeric_array,
    check_consistent_trials,
    check_positive_int,
    check_positive_number,
    check_responses,
    check_waveforms,
    samples_per_bin,
)

__all__ = ["bin_spike_times", "make_windows", "stack_recordings"]


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
    if isinstance(spike_times, np.ndarray) and spike_times.dtype != object and spike_times.ndim == 1:
        trains = [spike_times]
    elif np.isscalar(spike_times):
        raise TypeError("spike_times must be an array of spike times or a sequence of arrays "
                        f"(one per neuron); received {spike_times!r}.")
    else:
        trains = list(spike_times)
        if trains and np.isscalar(trains[0]):
            trains = [np.asarray(trains)]
    counts = np.zeros((len(trains), n_bins), dtype=np.float32)
    edges = float(t_start) + dt * np.arange(n_bins + 1)
    for i, train in enumerate(trains):
        times = _as_numeric_array(train, f"spike_times[{i}]").astype(np.float64).ravel()
        if not np.isfinite(times).all():
            raise ValueError(f"spike_times[{i}] contains NaN or inf; spike times must be finite.")
        counts[i] = np.histogram(times, bins=edges)[0]
    return counts


def make_windows(audio, counts, audio_fs, dt_ms, *, window_samples=10240, context_samples=2048):
    """Cut a continuous recording into training windows with left context.

    Window ``k`` starts at sample ``k * hop - context_samples`` with
    ``hop = window_samples - context_samples``, so its first ``context_bins``
    bins repeat the end of the previous window (zeros and NaN before the start
    of the recording) and the remaining bins tile the recording once. The last
    window is padded with zero audio and NaN counts (missing bins).

    Parameters
    ----------
    audio : array-like of shape (n_samples,)
        Continuous waveform.
    counts : array-like of shape (n_bins,) or (n_neurons, n_bins)
        Spike counts aligned to the audio (``n_samples // samples_per_bin`` bins;
        see :func:`bin_spike_times`); NaN marks missing bins.
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
    spb = samples_per_bin(audio_fs, dt_ms)
    audio = check_waveforms(np.asarray(audio)[None] if np.ndim(audio) == 1 else audio,
                            name="audio")
    if audio.shape[0] != 1:
        raise ValueError(f"audio must be one continuous waveform of shape (n_samples,); "
                         f"received shape {np.shape(audio)}.")
    audio = audio[0]
    counts = _as_numeric_array(counts, "counts")
    y2 = counts[None] if counts.ndim == 1 else counts
    if y2.ndim != 2:
        raise ValueError(f"counts must be (n_bins,) or (n_neurons, n_bins); received shape "
                         f"{counts.shape}.")
    y3, _ = check_responses(y2[None], name="counts")
    y2 = y3[0]
    window_samples = check_positive_int(window_samples, "window_samples")
    context_samples = check_positive_int(context_samples, "context_samples", minimum=0)
    for name, value in [("window_samples", window_samples), ("context_samples", context_samples)]:
        if value % spb:
            raise ValueError(f"{name} must be a whole number of bins ({spb} samples each); "
                             f"received {value}.")
    if context_samples >= window_samples:
        raise ValueError(f"context_samples must be smaller than window_samples; received "
                         f"{context_samples} and {window_samples}.")
    n_bins = audio.shape[0] // spb
    if y2.shape[1] != n_bins:
        raise ValueError(f"counts has {y2.shape[1]} bins, but the audio holds {n_bins} bins of "
                         f"{spb} samples ({audio.shape[0]} samples).")
    win_bins, ctx_bins = window_samples // spb, context_samples // spb
    hop_bins = win_bins - ctx_bins
    n_windows = -(-n_bins // hop_bins)
    # pad: context before the start, the tail of the last window after the end
    pad_end = n_windows * hop_bins - n_bins
    audio_p = np.concatenate([np.zeros(context_samples, np.float32), audio[: n_bins * spb],
                              np.zeros(pad_end * spb, np.float32)])
    y_p = np.concatenate([np.full((y2.shape[0], ctx_bins), np.nan, np.float32), y2,
                          np.full((y2.shape[0], pad_end), np.nan, np.float32)], axis=1)
    starts_bins = np.arange(n_windows) * hop_bins  # in padded coordinates
    X = np.stack([audio_p[s * spb: s * spb + window_samples] for s in starts_bins])
    y = np.stack([y_p[:, s: s + win_bins] for s in starts_bins])
    return Bunch(X=X, y=y, context_bins=ctx_bins, window_bins=win_bins,
                 starts=starts_bins * spb - context_samples)


def stack_recordings(recordings):
    """Combine several recordings (e.g. animals) for one model with a shared encoder.

    Each recording has its own neurons, hence its own decoder rows. Trials are
    stacked; each recording's neurons get NaN (missing) on the other recordings'
    trials, so their decoder rows are trained only on their own recording's
    trials while the encoder learns from all of them (the paper's
    animal-specific decoders).

    Parameters
    ----------
    recordings : dict of str to (X, y)
        ``X`` of shape (n_trials_r, n_samples) and ``y`` of shape
        (n_trials_r, n_neurons_r, n_bins) or (n_trials_r, n_bins), with the same
        ``n_samples`` and ``n_bins`` across recordings.

    Returns
    -------
    data : Bunch
        ``X`` (sum n_trials_r, n_samples); ``y`` (sum n_trials_r, sum n_neurons_r,
        n_bins) with NaN outside each recording's block; ``trial_recording`` and
        ``neuron_recording`` (the recording name of every trial and neuron).
        Select a recording's predictions with
        ``est.predict(X)[:, data.neuron_recording == name]``.
    """
    if not isinstance(recordings, dict) or not recordings:
        raise TypeError("recordings must be a non-empty dict of name -> (X, y); received "
                        f"{type(recordings).__name__}.")
    Xs, ys, names = [], [], []
    for name, pair in recordings.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"recordings[{name!r}] must be a pair (X, y).")
        X = check_waveforms(pair[0], name=f"recordings[{name!r}] X")
        y3, _ = check_responses(pair[1], name=f"recordings[{name!r}] y")
        check_consistent_trials(X, y3, x_name=f"recordings[{name!r}] X",
                                y_name=f"recordings[{name!r}] y")
        Xs.append(X)
        ys.append(y3)
        names.append(name)
    lengths = {X.shape[1] for X in Xs}
    bins = {y.shape[2] for y in ys}
    if len(lengths) > 1 or len(bins) > 1:
        raise ValueError("all recordings must have trials of the same length; received "
                         f"n_samples {sorted(lengths)} and n_bins {sorted(bins)}.")
    n_neurons = [y.shape[1] for y in ys]
    total = sum(n_neurons)
    y_all = []
    offset = 0
    for y, n in zip(ys, n_neurons, strict=True):
        block = np.full((y.shape[0], total, y.shape[2]), np.nan, dtype=np.float32)
        block[:, offset: offset + n] = y
        y_all.append(block)
        offset += n
    return Bunch(
        X=np.concatenate(Xs),
        y=np.concatenate(y_all),
        trial_recording=np.repeat(np.array(names, dtype=object), [X.shape[0] for X in Xs]),
        neuron_recording=np.repeat(np.array(names, dtype=object), n_neurons),
    )
