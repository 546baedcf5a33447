"""Adaptation to the level statistics: dynamic range adaptation (Dean et al. 2005)."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._core.validation import check_positive_int, check_positive_number
from ._common import _check_fraction, _grid, _groups, _label, _pascals
from ._docs import _fill_doc
from ._presenter import _Presenter
from ._result import _assemble
from ._tuning import _level_summary

__all__ = ["dynamic_range_adaptation"]


@_fill_doc
def dynamic_range_adaptation(estimator, *, means_db=(45.0, 60.0, 75.0), level_range_db=(21.0, 96.0),
                             level_step_db=3.0, hpr_width_db=12.0, hpr_probability=0.8,
                             segment_ms=50.0, n_segments=400, skip_segments=20, skip_ms=10.0,
                             carrier="noise",
                             silence_ms=100.0, latency_ms=5.0, criterion=0.1, random_state=0,
                             predict_params=None, progress=False):
    """Dynamic range adaptation (Dean et al. 2005): rate-level functions inside level distributions.

    For each mean in ``means_db``, one long trial of a continuous carrier
    whose level changes every ``segment_ms``: with probability
    ``hpr_probability`` drawn uniformly from the high-probability region
    (grid levels within ``hpr_width_db / 2`` of the mean), otherwise uniformly
    from the whole grid ``level_range_db`` in ``level_step_db`` steps. The
    rate-level function in each distribution is the mean rate over the
    segments (after the first ``skip_segments``) at each level, each counted
    from ``latency_ms + skip_ms`` after its start to ``latency_ms`` after its
    end (``skip_ms`` leaves out the decaying response to the previous level,
    which would otherwise raise the low-level rates more in louder
    distributions). An
    adapting neuron's curve shifts towards the mean: the summary gives, per
    distribution, its threshold and half-maximum level (``l50_db``), the shift
    of ``l50_db`` from the first distribution, and the slope of ``l50_db``
    against the distributions' mean levels (dB per dB; 0 for no adaptation,
    1 for full adaptation).

    Parameters
    ----------
    {estimator}
    means_db : array-like of float, default=(45, 60, 75)
    level_range_db : (float, float), default=(21, 96)
    level_step_db, hpr_width_db : float, default=3.0 and 12.0
    hpr_probability : float in (0, 1], default=0.8
    segment_ms : float, default=50.0
    n_segments, skip_segments : int, default=400 and 20
    skip_ms : float, default=10.0
        Less than ``segment_ms``; 0 counts whole segments.
    carrier : "noise", float or array-like of float, default="noise"
        A frozen noise token (the same in every distribution) or a tone
        frequency (one, or one per neuron).
    silence_ms, latency_ms : float
    criterion : float in (0, 0.5), default=0.1
        Threshold criterion as a fraction of each curve's largest driven rate.
    random_state : int, RandomState instance or None, default=0
    {run_and_returns}
        ``responses``: ``neuron, carrier, mean_db, level_db, rate_hz,
        driven_hz, n_segments``. ``summary``: ``neuron, carrier, mean_db,
        mean_level_db`` (the mean of the levels drawn), ``threshold_db,
        l50_db, max_driven_hz, shift_db, slope_db_per_db``.
    """
    pres = _Presenter(estimator, silence_ms=silence_ms, latency_ms=latency_ms,
                      predict_params=predict_params, progress=progress)
    means = _grid(means_db, "means_db")
    grid, hprs = _level_grid(means, level_range_db, level_step_db, hpr_width_db)
    p_hpr = _check_fraction(hpr_probability, "hpr_probability", closed_high=True)
    criterion = _check_fraction(criterion, "criterion")
    n_segments = check_positive_int(n_segments, "n_segments", minimum=2)
    if isinstance(skip_segments, bool) or not isinstance(skip_segments, numbers.Integral) \
            or not 0 <= skip_segments < n_segments - 1:
        raise ValueError(f"skip_segments must be an integer in [0, n_segments - 1); received "
                         f"{skip_segments!r}.")
    seg = pres.bins(segment_ms, "segment_ms")
    if isinstance(skip_ms, bool) or not isinstance(skip_ms, numbers.Real) \
            or not 0 <= skip_ms < pres.ms(seg):
        raise ValueError(f"skip_ms must be a number of ms in [0, segment_ms); received "
                         f"{skip_ms!r}.")
    skip = int(round(skip_ms / 1000.0 / pres.dt_s))
    rng = check_random_state(random_state)
    draws = []
    for h in hprs:
        in_hpr = rng.random_sample(n_segments) < p_hpr
        draws.append(np.where(in_hpr, grid[rng.choice(h, n_segments)],
                              grid[rng.randint(grid.size, size=n_segments)]))
    groups = _groups(pres.per_neuron(carrier, "carrier"))
    pred = pres.predict(_sequence_trials(pres, groups, draws, seg, rng))
    spont = pres.spontaneous(pred)
    # what depends only on the level sequence: the segments counted, their levels, the mean
    used = [levels[skip_segments:] for levels in draws]
    present = [np.unique(u) for u in used]
    n_at = [np.array([(u == v).sum() for v in p]) for u, p in zip(used, present, strict=True)]
    mean_levels = np.array([u.mean() for u in used])
    start = pres.pre + pres.lat
    rows, summary = [], []
    for g, (spec, neurons) in enumerate(groups.items()):
        label = _label(spec)
        curves = []  # per distribution: mean rate (spikes/s) at each level present, all neurons
        for k in range(means.size):
            trial = pred[g * means.size + k, :, start: start + n_segments * seg]
            per_seg = trial.reshape(trial.shape[0], n_segments, seg)[:, skip_segments:, skip:]
            per_seg = per_seg.mean(axis=2) / pres.dt_s
            curves.append(np.stack([per_seg[:, used[k] == v].mean(axis=1) for v in present[k]]))
        for j in neurons:
            drivens = [curves[k][:, j] - spont[j] for k in range(means.size)]
            rows.extend({"neuron": j, "carrier": label, "mean_db": mean,
                         "level_db": present[k], "rate_hz": curves[k][:, j],
                         "driven_hz": drivens[k], "n_segments": n_at[k]}
                        for k, mean in enumerate(means))
            summary.extend(_shift_summary(means, mean_levels, present, drivens, criterion,
                                          neuron=j, carrier=label))
    return pres.flag(_assemble(rows, summary, ["neuron", "mean_db", "level_db"],
                               ["neuron", "mean_db"]))


def _level_grid(means, level_range_db, level_step_db, hpr_width_db):
    """The grid of levels and, per mean, the indices of its high-probability region."""
    try:
        lo, hi = (float(v) for v in level_range_db)
    except (TypeError, ValueError):
        raise ValueError(f"level_range_db must be (lowest, highest) in dB SPL; received "
                         f"{level_range_db!r}.") from None
    step = check_positive_number(level_step_db, "level_step_db")
    if not lo < hi:
        raise ValueError(f"level_range_db must be (lowest, highest) with lowest < highest; "
                         f"received {level_range_db!r}.")
    grid = np.arange(lo, hi + step / 2, step)
    half = check_positive_number(hpr_width_db, "hpr_width_db") / 2
    hprs = [np.flatnonzero(np.abs(grid - m) <= half + 1e-9) for m in means]
    empty = [m for m, h in zip(means, hprs, strict=True) if h.size == 0]
    if empty:
        raise ValueError(f"means_db must lie within level_range_db={level_range_db!r} so that "
                         f"their high-probability regions hold grid levels; {empty[0]:g} dB holds "
                         "none.")
    return grid, hprs


def _sequence_trials(pres, groups, draws, seg, rng):
    """One long trial per carrier group and distribution: the carrier at each drawn level."""
    n_segments = draws[0].size
    n_samples = n_segments * seg * pres.spb
    X = pres.trials(len(groups) * len(draws), pres.pre + n_segments * seg + pres.lat + 1)
    onset = pres.pre * pres.spb
    for g, spec in enumerate(groups):
        c = pres.carrier(spec, n_samples, rng) * pres.ramp(2.0, n_samples)
        for k, levels in enumerate(draws):
            amp = np.repeat(_pascals(levels), seg * pres.spb)
            X[g * len(draws) + k, onset: onset + n_samples] = c * amp
    return X


def _shift_summary(means, mean_levels, present, drivens, criterion, **key):
    """One neuron's rows per distribution: threshold, l50, and the shift and slope of l50."""
    rows, l50 = [], np.empty(means.size)
    for k, mean in enumerate(means):
        s = _level_summary(present[k], drivens[k], criterion)
        l50[k] = s["l50_db"]
        rows.append(dict(key, mean_db=mean, mean_level_db=float(mean_levels[k]),
                         threshold_db=s["threshold_db"], l50_db=s["l50_db"],
                         max_driven_hz=s["max_driven_hz"]))
    ok = np.isfinite(l50)
    slope = float(np.polyfit(mean_levels[ok], l50[ok], 1)[0]) if ok.sum() >= 2 else np.nan
    for row, v in zip(rows, l50, strict=True):
        row.update(shift_db=float(v - l50[0]), slope_db_per_db=slope)
    return rows
