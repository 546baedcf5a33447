"""Tuning in frequency and level: frequency response areas and rate-level functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._common import _check_fraction, _crossing, _grid, _groups, _label, _pascals
from ._docs import _fill_doc
from ._presenter import _Presenter
from ._result import PhysiologyResult, _assemble

__all__ = ["frequency_response_area", "rate_level"]


# -- frequency response area ----------------------------------------------------------------------
def _tuning_edges(freqs, thr, level):
    """Frequencies on both sides of the CF where the threshold curve crosses ``level``.

    Interpolated in log frequency; NaN on a side where the curve stays below
    ``level`` to the edge of the grid.
    """
    i = int(np.nanargmin(thr))
    curve = np.where(np.isnan(thr), np.inf, thr)
    edges = []
    for step in (-1, 1):
        k = i
        while 0 <= k + step < len(freqs) and curve[k + step] <= level:
            k += step
        if not 0 <= k + step < len(freqs):
            edges.append(np.nan)
            continue
        lo_t, hi_t = curve[k], curve[k + step]
        frac = 1.0 if not np.isfinite(hi_t) else (level - lo_t) / (hi_t - lo_t)
        edges.append(float(2 ** (np.log2(freqs[k]) + frac * (np.log2(freqs[k + step])
                                                               - np.log2(freqs[k])))))
    return edges


@_fill_doc
def frequency_response_area(estimator, *, frequencies=None, levels=None, tone_ms=50.0,
                            ramp_ms=5.0, silence_ms=100.0, latency_ms=5.0, criterion=0.1,
                            predict_params=None, progress=False):
    """Pure-tone frequency response area: characteristic frequency, threshold and Q10.

    One trial per tone (frequency x level): ``silence_ms`` of silence, the
    tone with ``ramp_ms`` ramps, then silence for the offset response.

    For each neuron and frequency, the threshold is the lowest level at which
    the driven rate reaches ``criterion`` times the neuron's largest driven
    rate over the whole area (linear interpolation between levels); the CF is
    the frequency of the lowest threshold, and the threshold the neuron's is
    that lowest threshold. Q10 is the CF over the bandwidth where the
    threshold curve is within 10 dB of it (edges interpolated in log
    frequency; NaN when the curve stays within 10 dB up to the edge of the
    frequency grid).

    Parameters
    ----------
    {estimator}
    frequencies : array-like of float, optional
        Tone frequencies in Hz. Default: 8 per octave from 250 Hz to
        ``0.4 * audio_fs``.
    levels : array-like of float, optional
        Tone levels in dB SPL (RMS). Default: 0 to 90 dB in 5-dB steps.
    tone_ms, ramp_ms, silence_ms : float
        Tone duration (whole bins), onset/offset ramps, silence before it.
    latency_ms : float, default=5.0
        Start of the response window after the onset (and its end after the offset).
    criterion : float in (0, 1), default=0.1
        Threshold criterion as a fraction of the largest driven rate.
    {run_and_returns}
        ``responses``: ``neuron, frequency_hz, level_db, rate_hz, driven_hz``.
        ``summary``: ``neuron, cf_hz, threshold_db, q10, bandwidth_oct,
        f_low_hz, f_high_hz, max_driven_hz, spont_hz`` (NaN where the neuron
        is not driven by any tone).
    """
    pres = _Presenter(estimator, silence_ms=silence_ms, latency_ms=latency_ms,
                      predict_params=predict_params, progress=progress)
    freqs = (2.0 ** np.arange(np.log2(250.0), np.log2(0.4 * pres.fs), 1 / 8)
             if frequencies is None else _grid(frequencies, "frequencies", positive=True))
    if freqs[-1] >= pres.fs / 2:
        raise ValueError(f"frequencies must be below audio_fs / 2 = {pres.fs / 2:g} Hz; "
                         f"received up to {freqs[-1]:g}.")
    levels = np.arange(0.0, 91.0, 5.0) if levels is None else _grid(levels, "levels")
    criterion = _check_fraction(criterion, "criterion")
    n_tone = pres.bins(tone_ms, "tone_ms")
    pred = pres.predict(_tone_grid(pres, freqs, levels, n_tone, ramp_ms))
    spont = pres.spontaneous(pred)
    rate = pres.window(pred, pres.pre, n_tone).reshape(freqs.size, levels.size, -1)
    driven = rate - spont
    n_neurons = driven.shape[2]
    responses = pd.DataFrame({
        "neuron": np.tile(np.arange(n_neurons), freqs.size * levels.size),
        "frequency_hz": np.repeat(freqs, levels.size * n_neurons),
        "level_db": np.tile(np.repeat(levels, n_neurons), freqs.size),
        "rate_hz": rate.ravel(),
        "driven_hz": driven.ravel(),
    }).sort_values(["neuron", "frequency_hz", "level_db"], ignore_index=True)
    rows = [_fra_summary(freqs, levels, driven[:, :, j], criterion, j, spont[j])
            for j in range(n_neurons)]
    return pres.flag(PhysiologyResult(responses, pd.DataFrame(rows)))


def _tone_grid(pres, freqs, levels, n_tone, ramp_ms):
    """One trial per tone, frequency-major: silence, the ramped tone, an offset window."""
    post = pres.lat + pres.bins(20.0, "offset window")
    n_samples = n_tone * pres.spb
    env = pres.ramp(ramp_ms, n_samples)
    X = pres.trials(freqs.size * levels.size, pres.pre + n_tone + post)
    onset = pres.pre * pres.spb
    amps = _pascals(levels)
    for i, f in enumerate(freqs):
        tone = pres.carrier(f, n_samples, None) * env
        X[i * levels.size: (i + 1) * levels.size, onset: onset + n_samples] = amps[:, None] * tone
    return X


def _fra_summary(freqs, levels, d, criterion, neuron, spont_hz):
    """CF, threshold and Q10 of one neuron's driven rates ``d`` (frequency x level)."""
    peak = d.max()
    row = dict(neuron=neuron, cf_hz=np.nan, threshold_db=np.nan, q10=np.nan,
               bandwidth_oct=np.nan, f_low_hz=np.nan, f_high_hz=np.nan,
               max_driven_hz=float(peak), spont_hz=float(spont_hz))
    if peak > 0:
        thr = np.array([_crossing(levels, d[i], criterion * peak) for i in range(freqs.size)])
        if np.isfinite(thr).any():
            best = np.flatnonzero(thr == np.nanmin(thr))
            i = best[np.argmax(d[best].sum(axis=1))]  # ties: the most driven frequency
            f_lo, f_hi = _tuning_edges(freqs, thr, thr[i] + 10.0)
            row.update(cf_hz=float(freqs[i]), threshold_db=float(thr[i]), f_low_hz=f_lo,
                       f_high_hz=f_hi, q10=freqs[i] / (f_hi - f_lo),
                       bandwidth_oct=np.log2(f_hi / f_lo))
    return row


# -- rate-level functions -------------------------------------------------------------------------
def _level_summary(levels, driven, criterion):
    """Threshold, 10-90 % dynamic range, saturation level and monotonicity of one curve."""
    peak = driven.max()
    if peak <= 0:
        return dict(threshold_db=np.nan, dynamic_range_db=np.nan, saturation_db=np.nan,
                    l50_db=np.nan, max_driven_hz=float(peak), monotonicity=np.nan)
    thr = _crossing(levels, driven, criterion * peak)
    sat = _crossing(levels, driven, (1 - criterion) * peak)
    return dict(threshold_db=thr, dynamic_range_db=sat - thr, saturation_db=sat,
                l50_db=_crossing(levels, driven, 0.5 * peak), max_driven_hz=float(peak),
                monotonicity=float(driven[-1] / peak))


@_fill_doc
def rate_level(estimator, *, levels=None, stimulus="noise", duration_ms=100.0, ramp_ms=5.0,
               silence_ms=100.0, latency_ms=5.0, criterion=0.1, random_state=0,
               predict_params=None, progress=False):
    """Rate-level functions for broadband noise or tones: threshold, dynamic range, saturation.

    One trial per level: ``silence_ms`` of silence, then the stimulus with
    ``ramp_ms`` ramps. The noise is one frozen token (``random_state``) for
    all levels. Per neuron, with ``peak`` its largest driven rate: threshold
    is the level where the driven rate first reaches ``criterion * peak``,
    saturation where it first reaches ``(1 - criterion) * peak``, the dynamic
    range the difference; ``l50_db`` is where it reaches half; monotonicity
    is the driven rate at the highest level over the peak (1 for a monotonic
    curve, small for a non-monotonic one).

    Parameters
    ----------
    {estimator}
    levels : array-like of float, optional
        dB SPL (RMS). Default 0 to 100 dB in 5-dB steps.
    stimulus : "noise", float or array-like of float, default="noise"
        Broadband noise, or a tone frequency in Hz for all neurons or one per
        neuron (e.g. ``frequency_response_area(...).summary.cf_hz``).
    duration_ms, ramp_ms, silence_ms, latency_ms : float
    criterion : float in (0, 0.5), default=0.1
    random_state : int, RandomState instance or None, default=0
    {run_and_returns}
        ``responses``: ``neuron, stimulus, level_db, rate_hz, driven_hz``.
        ``summary``: ``neuron, stimulus, threshold_db, dynamic_range_db,
        saturation_db, l50_db, max_driven_hz, monotonicity, spont_hz``.
    """
    pres = _Presenter(estimator, silence_ms=silence_ms, latency_ms=latency_ms,
                      predict_params=predict_params, progress=progress)
    levels = np.arange(0.0, 101.0, 5.0) if levels is None else _grid(levels, "levels")
    criterion = _check_fraction(criterion, "criterion")
    if criterion >= 0.5:
        raise ValueError(f"criterion must be below 0.5 for rate_level (its 1 - criterion sets "
                         f"saturation); received {criterion!r}.")
    specs = pres.per_neuron(stimulus, "stimulus")
    n_stim = pres.bins(duration_ms, "duration_ms")
    n_bins = pres.pre + n_stim + pres.lat + 1
    n_samples = n_stim * pres.spb
    env = pres.ramp(ramp_ms, n_samples)
    rng = check_random_state(random_state)
    onset = pres.pre * pres.spb
    groups = _groups(specs)
    X = np.zeros((len(groups) * levels.size, n_bins * pres.spb))
    for g, spec in enumerate(groups):
        x = pres.carrier(spec, n_samples, rng) * env
        X[g * levels.size: (g + 1) * levels.size, onset: onset + n_samples] = \
            _pascals(levels)[:, None] * x
    pred = pres.predict(X)
    spont = pres.spontaneous(pred)
    rate = pres.window(pred, pres.pre, n_stim)
    rows, summary = [], []
    for g, (spec, neurons) in enumerate(groups.items()):
        for j in neurons:
            r = rate[g * levels.size: (g + 1) * levels.size, j]
            label = _label(spec)
            rows.append({"neuron": j, "stimulus": label, "level_db": levels,
                         "rate_hz": r, "driven_hz": r - spont[j]})
            summary.append(dict(neuron=j, stimulus=label,
                                **_level_summary(levels, r - spont[j], criterion),
                                spont_hz=float(spont[j])))
    return pres.flag(_assemble(rows, summary, ["neuron", "level_db"]))


