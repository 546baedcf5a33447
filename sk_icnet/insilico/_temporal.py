"""Timing: modulation transfer functions and forward masking."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit
from sklearn.utils import check_random_state

from .._core.validation import check_positive_number
from ._common import _check_fraction, _check_level, _crossing, _grid, _groups, _label, _pascals
from ._docs import _fill_doc
from ._presenter import _Presenter
from ._result import _assemble

__all__ = ["modulation_transfer", "forward_masking"]


# -- modulation transfer functions ----------------------------------------------------------------
@_fill_doc
def modulation_transfer(estimator, *, modulation_frequencies=None, carrier="noise", level_db=60.0,
                        depth=1.0, duration_ms=600.0, ramp_ms=10.0, silence_ms=100.0,
                        skip_ms=50.0, latency_ms=5.0, random_state=0, predict_params=None,
                        progress=False):
    """Rate and synchrony modulation transfer functions for sinusoidally amplitude-modulated sound.

    One trial per modulation frequency ``fm``: ``silence_ms`` of silence, then
    ``carrier * (1 + depth * sin(2 pi fm t - pi / 2))`` at ``level_db`` (the
    RMS of the modulated sound) with ``ramp_ms`` ramps. The carrier noise is
    one frozen token for all ``fm``. The analysis window starts ``skip_ms``
    after the onset (past the onset response) and holds a whole number of
    modulation cycles. Synchrony is the vector strength of the predicted rate
    in that window, ``|sum_k r_k exp(2 pi i fm t_k)| / sum_k r_k`` over bins
    ``k`` (bins of width ``dt`` scale it by about ``sinc(fm * dt)``).

    Parameters
    ----------
    {estimator}
    modulation_frequencies : array-like of float, optional
        Hz. Default: powers of two from 4 Hz up to 0.4 times the bin rate.
        Each must be below half the bin rate and give at least two cycles in
        the window.
    carrier : "noise", float or array-like of float, default="noise"
        Broadband noise or a tone frequency (one, or one per neuron).
    level_db : float, default=60.0
    depth : float in (0, 1], default=1.0
    duration_ms, ramp_ms, silence_ms, skip_ms, latency_ms : float
    random_state : int, RandomState instance or None, default=0
    {run_and_returns}
        ``responses``: ``neuron, carrier, modulation_hz, rate_hz, driven_hz,
        vector_strength``. ``summary``: ``neuron, carrier, rate_bmf_hz`` (the
        ``fm`` of the largest rate), ``sync_bmf_hz`` (of the largest vector
        strength), ``max_vector_strength``, ``sync_cutoff_hz`` (above
        ``sync_bmf_hz``, where the vector strength falls to half its maximum,
        interpolated in log frequency; NaN if it does not within the grid).
    """
    pres = _Presenter(estimator, silence_ms=silence_ms, latency_ms=latency_ms,
                      predict_params=predict_params, progress=progress)
    fms = _modulation_grid(pres, modulation_frequencies)
    depth = _check_fraction(depth, "depth", closed_high=True)
    level_db = _check_level(level_db, "level_db")
    n_stim = pres.bins(duration_ms, "duration_ms")
    skip = int(round(check_positive_number(skip_ms, "skip_ms") / 1000.0 / pres.dt_s))
    window_s = (n_stim - skip) * pres.dt_s
    cycles = np.floor(window_s * fms)
    if cycles[0] < 2:
        raise ValueError(f"modulation_frequencies must give at least two cycles in the analysis "
                         f"window (duration_ms - skip_ms = {window_s * 1000:.4g} ms); "
                         f"{fms[0]:g} Hz gives {int(cycles[0])}.")
    groups = _groups(pres.per_neuron(carrier, "carrier"))
    X = _sam_trials(pres, groups, fms, depth, level_db, n_stim, ramp_ms,
                    check_random_state(random_state))
    pred = pres.predict(X)
    spont = pres.spontaneous(pred)
    rows, summary = [], []
    start = pres.pre + skip + pres.lat
    for g, (spec, neurons) in enumerate(groups.items()):
        label = _label(spec)
        rate, vs = _rate_and_synchrony(pres, pred[g * fms.size: (g + 1) * fms.size], fms,
                                       cycles, start)
        for j in neurons:
            rows.append({"neuron": j, "carrier": label, "modulation_hz": fms,
                         "rate_hz": rate[:, j], "driven_hz": rate[:, j] - spont[j],
                         "vector_strength": vs[:, j]})
            summary.append(_mtf_summary(fms, rate[:, j], vs[:, j], neuron=j, carrier=label))
    return pres.flag(_assemble(rows, summary, ["neuron", "modulation_hz"]))


def _modulation_grid(pres, modulation_frequencies):
    """The modulation frequencies (Hz): given, or powers of two up to 0.4 times the bin rate."""
    bin_rate = 1.0 / pres.dt_s
    if modulation_frequencies is None:
        fms = 2.0 ** np.arange(2, int(np.floor(np.log2(0.4 * bin_rate))) + 1)
    else:
        fms = _grid(modulation_frequencies, "modulation_frequencies", positive=True)
    if fms[-1] >= bin_rate / 2:
        raise ValueError(f"modulation_frequencies must be below half the bin rate "
                         f"({bin_rate / 2:.4g} Hz for {pres.dt_s * 1000:.4g} ms bins); received "
                         f"up to {fms[-1]:g}.")
    return fms


def _sam_trials(pres, groups, fms, depth, level_db, n_stim, ramp_ms, rng):
    """One trial per carrier group and modulation frequency, group-major, at ``level_db`` RMS."""
    n_samples = n_stim * pres.spb
    env = pres.ramp(ramp_ms, n_samples)
    t = np.arange(n_samples) / pres.fs
    onset = pres.pre * pres.spb
    X = pres.trials(len(groups) * fms.size, pres.pre + n_stim + pres.lat + 1)
    for g, spec in enumerate(groups):
        c = pres.carrier(spec, n_samples, rng)
        for i, fm in enumerate(fms):
            x = c * (1 + depth * np.sin(2 * np.pi * fm * t - np.pi / 2))
            X[g * fms.size + i, onset: onset + n_samples] = \
                x * env * _pascals(level_db) / np.sqrt(np.mean(x**2))
    return X


def _rate_and_synchrony(pres, p, fms, cycles, start):
    """Rate (spikes/s) and vector strength ``(n_fm, n_neurons)`` over whole modulation cycles."""
    rate, vs = np.empty((fms.size, p.shape[1])), np.empty((fms.size, p.shape[1]))
    for i, fm in enumerate(fms):
        n_win = max(1, int(round(cycles[i] / fm / pres.dt_s)))
        seg = p[i, :, start: start + n_win]
        phase = np.exp(2j * np.pi * fm * (np.arange(n_win) + 0.5) * pres.dt_s)
        rate[i] = seg.mean(axis=1) / pres.dt_s
        total = seg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            vs[i] = np.where(total > 0, np.abs(seg @ phase) / total, np.nan)
    return rate, vs


def _mtf_summary(fms, rate, v, **row):
    """Rate and synchrony best modulation frequencies and the synchrony cut-off of one neuron."""
    row.update(rate_bmf_hz=float(fms[np.argmax(rate)]), sync_bmf_hz=np.nan,
               max_vector_strength=np.nan, sync_cutoff_hz=np.nan)
    if np.isfinite(v).any():
        k = int(np.nanargmax(v))
        row.update(sync_bmf_hz=float(fms[k]), max_vector_strength=float(v[k]))
        tail = np.where(np.isfinite(v[k:]), v[k:], 0.0)
        # first fall below half the maximum, above the synchrony BMF (log-frequency axis)
        cut = _crossing(np.log2(fms[k:]), -tail, -0.5 * v[k])
        if np.isfinite(cut) and tail.min() < 0.5 * v[k]:
            row["sync_cutoff_hz"] = float(2.0**cut)
    return row


# -- forward masking ------------------------------------------------------------------------------
def _recovery(gap, value):
    return value[0] - value[1] * np.exp(-gap / value[2])


def _fit_recovery(gaps_ms, relative):
    """Fit ``c - a * exp(-gap / tau)``; returns (c, a, tau) or NaNs."""
    ok = np.isfinite(relative)
    if ok.sum() < 4 or np.ptp(relative[ok]) <= 1e-9:
        return np.nan, np.nan, np.nan
    g, r = gaps_ms[ok], relative[ok]
    c0, a0 = r[-1], max(r[-1] - r[0], 1e-3)
    half = _crossing(g, r, r[0] + 0.5 * (r[-1] - r[0])) if r[-1] > r[0] else np.nan
    tau0 = half / np.log(2) if np.isfinite(half) and half > 0 else float(np.median(g[g > 0]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (c, a, tau), _ = curve_fit(lambda x, c, a, tau: _recovery(x, (c, a, tau)), g, r,
                                       p0=(c0, a0, max(tau0, 0.5)),
                                       bounds=([-np.inf, 0.0, 0.1], [np.inf, np.inf, 1e5]),
                                       max_nfev=5000)
    except (RuntimeError, ValueError):
        return np.nan, np.nan, np.nan
    return float(c), float(a), float(tau)


@_fill_doc
def forward_masking(estimator, *, gaps_ms=(2, 4, 8, 16, 32, 64, 128, 256), masker="noise",
                    probe="noise", masker_level_db=70.0, probe_level_db=50.0, masker_ms=200.0,
                    probe_ms=20.0, ramp_ms=2.0, silence_ms=100.0, latency_ms=5.0, min_masking=0.1,
                    random_state=0, predict_params=None, progress=False):
    """Forward masking: the probe response against the masker-probe gap, and its recovery time constant.

    Trials: masker, then silence of each gap, then the probe; the masker
    alone; the probe alone. The probe response after a masker is the count
    in the probe's window minus the count in the same window after the
    masker alone (so the masker's own offset response does not count); the
    relative response divides it by the probe-alone driven count (which must
    be at least 0.01 spikes and a tenth of the spontaneous count in the
    window; otherwise the row is NaN). The
    recovery is fitted as ``relative(gap) = c - a * exp(-gap / tau)``
    (least squares); ``tau_ms`` is its time constant, reported when the
    masking at the shortest gap is at least ``min_masking``. Gaps are rounded to
    whole bins (the ``gap_ms`` column holds the gaps used); masker and probe
    noises are frozen tokens, the same in every trial.

    Parameters
    ----------
    {estimator}
    gaps_ms : array-like of float, default=(2, 4, ..., 256)
        Silence between masker offset and probe onset (>= 0, increasing).
    masker, probe : "noise", float or array-like of float, default="noise"
        Broadband noise or a tone frequency (one, or one per neuron, e.g.
        the CFs).
    masker_level_db, probe_level_db : float, default=70.0 and 50.0
    masker_ms, probe_ms, ramp_ms, silence_ms, latency_ms : float
    min_masking : float in (0, 1), default=0.1
        Below this much masking (1 - relative response at the shortest gap)
        there is no recovery to time, and ``tau_ms`` is NaN.
    random_state : int, RandomState instance or None, default=0
    {run_and_returns}
        ``responses``: ``neuron, gap_ms, probe_spikes`` (driven count of the
        probe after the masker), ``relative_response``. ``summary``:
        ``neuron, tau_ms, recovered`` (``c``), ``suppression`` (``a``),
        ``max_masking`` (1 - the relative response at the shortest gap),
        ``probe_alone_spikes``, ``spont_hz``; NaN where the probe alone drives
        no response, the masking is below ``min_masking`` or the fit fails.
    """
    pres = _Presenter(estimator, silence_ms=silence_ms, latency_ms=latency_ms,
                      predict_params=predict_params, progress=progress)
    gaps = _grid(gaps_ms, "gaps_ms")
    if gaps[0] < 0:
        raise ValueError(f"gaps_ms must be >= 0; received {gaps_ms!r}.")
    min_masking = _check_fraction(min_masking, "min_masking")
    gap_bins = np.round(gaps / 1000.0 / pres.dt_s).astype(int)
    if np.any(np.diff(gap_bins) <= 0):
        raise ValueError(f"gaps_ms must differ by at least one bin ({pres.dt_s * 1000:.4g} ms) "
                         f"once rounded to bins; received {gaps_ms!r}.")
    levels = (_check_level(masker_level_db, "masker_level_db"),
              _check_level(probe_level_db, "probe_level_db"))
    n_mask, n_probe = pres.bins(masker_ms, "masker_ms"), pres.bins(probe_ms, "probe_ms")
    tail = pres.bins(10.0, "offset window")
    groups = _groups(list(zip(pres.per_neuron(masker, "masker"),
                              pres.per_neuron(probe, "probe"), strict=True)))
    X = _masking_trials(pres, groups, gap_bins, levels, (n_mask, n_probe, tail), ramp_ms,
                        check_random_state(random_state))
    pred = pres.predict(X)
    spont = pres.spontaneous(pred)
    per_group = gaps.size + 2
    window = n_probe + tail
    rows, summary = [], []
    for g, neurons in enumerate(groups.values()):
        counts, probe_alone = _probe_counts(pres, pred[g * per_group: (g + 1) * per_group],
                                            gap_bins, n_mask, n_probe, tail, spont)
        for j in neurons:
            spont_count = spont[j] * window * pres.dt_s
            driven = probe_alone[j] >= max(0.01, 0.1 * spont_count)
            rel = counts[:, j] / probe_alone[j] if driven else np.full(gaps.size, np.nan)
            rows.append({"neuron": j, "gap_ms": pres.ms(gap_bins),
                         "probe_spikes": counts[:, j], "relative_response": rel})
            c, a, tau = _fit_recovery(pres.ms(gap_bins), rel)
            if not 1 - rel[0] >= min_masking:
                tau = np.nan
            summary.append(dict(neuron=j, tau_ms=tau, recovered=c, suppression=a,
                                max_masking=float(1 - rel[0]), probe_alone_spikes=float(
                                    probe_alone[j]), spont_hz=float(spont[j])))
    return pres.flag(_assemble(rows, summary, ["neuron", "gap_ms"]))


def _masking_trials(pres, groups, gap_bins, levels_db, durations, ramp_ms, rng):
    """Per (masker, probe) group: masker + probe at each gap, masker alone, probe alone."""
    n_mask, n_probe, tail = durations
    n_bins = pres.pre + n_mask + gap_bins[-1] + n_probe + pres.lat + tail + 1
    m_env = pres.ramp(ramp_ms, n_mask * pres.spb)
    p_env = pres.ramp(ramp_ms, n_probe * pres.spb)
    per_group = gap_bins.size + 2
    X = pres.trials(len(groups) * per_group, n_bins)
    m_on = pres.pre * pres.spb
    for g, (m_spec, p_spec) in enumerate(groups):
        m = pres.carrier(m_spec, n_mask * pres.spb, rng) * m_env * _pascals(levels_db[0])
        p = pres.carrier(p_spec, n_probe * pres.spb, rng) * p_env * _pascals(levels_db[1])
        rows = slice(g * per_group, g * per_group + gap_bins.size + 1)
        X[rows, m_on: m_on + m.size] = m
        for i, gb in enumerate(gap_bins):
            on = (pres.pre + n_mask + gb) * pres.spb
            X[g * per_group + i, on: on + p.size] += p
        on = pres.pre * pres.spb
        X[g * per_group + gap_bins.size + 1, on: on + p.size] = p
    return X


def _probe_counts(pres, pred, gap_bins, n_mask, n_probe, tail, spont):
    """Driven probe counts after the masker at each gap, and of the probe alone, per neuron.

    After the masker: the count in the probe's window minus the count in the same
    window after the masker alone (its own offset response does not count).
    """
    n_gaps = gap_bins.size
    counts = np.empty((n_gaps, pred.shape[1]))
    for i, gb in enumerate(gap_bins):
        on = pres.pre + n_mask + gb
        masked = pres.window(pred[i], on, n_probe, tail)
        alone = pres.window(pred[n_gaps], on, n_probe, tail)
        counts[i] = (masked - alone) * (n_probe + tail) * pres.dt_s
    probe_alone = (pres.window(pred[n_gaps + 1], pres.pre, n_probe, tail)
                   - spont) * (n_probe + tail) * pres.dt_s
    return counts, probe_alone
