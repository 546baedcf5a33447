"""Neurons with strong level effects: non-monotonic rate-level functions, onset responses,
inhibitory side bands and dynamic-range adaptation (:class:`LevelNeurons`)."""

from __future__ import annotations

import numpy as np
from scipy import signal
from scipy.special import expit
from sklearn.utils import check_random_state

from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS
from .._core.validation import check_positive_int, check_positive_number
from ._neurons import (
    TunedNeurons,
    _adapted,
    _check_rules,
    _driven_fraction,
    _to_rate,
    band_levels,
    make_tuned_neurons,
)

__all__ = ["LevelNeurons", "make_level_neurons"]


class LevelNeurons(TunedNeurons):
    """Simulated midbrain neurons whose responses depend strongly on sound level.

    Each neuron is a :class:`~sk_icnet.simulate.TunedNeurons` neuron (band-pass
    filter, envelope level ``L(t)`` per bin, dynamic-range adaptation, sigmoid
    rise from ``threshold_db``, latency) with four level effects that
    :class:`~sk_icnet.simulate.ICNeurons` lacks:

    1. **Non-monotonic rate-level function**: the driven fraction is
       ``rise(L) * (1 - nonmonotonic_depth * logistic((L - fall_db) /
       fall_width_db))``: it peaks between ``threshold_db`` and ``fall_db`` and
       falls, at levels well above ``fall_db``, to ``1 - nonmonotonic_depth`` of
       the rise (0: monotonic).
    2. **Inhibitory side bands**: two more bands, ``sideband_oct`` octaves below
       and above ``cf_hz`` (same Q10, same rise), multiply the driven fraction by
       ``1 - sideband_inhibition * max(rise(L_below), rise(L_above))``: a tone
       beside CF, or a second tone there, lowers the response to CF.
    3. **Onset response**: ``onset_gain * max(d - m, 0)`` is added to the driven
       fraction ``d``, with ``m`` its running mean over the past bins (time
       constant ``onset_tau_ms``): a sound's onset drives the neuron about
       ``1 + onset_gain`` times its sustained rate.
    4. **Dynamic-range adaptation** (``adaptation_db_per_db``, as in
       :class:`~sk_icnet.simulate.TunedNeurons`): the level is reduced by ``k``
       times its running mean, so after a context at mean level ``M`` the
       rate-level function's midpoint sits about ``k * M`` dB higher: it moves
       towards the context's mean level (Dean et al. 2005).

    The rate is ``spont + (max_rate_hz - spont) * driven`` (so the onset can
    exceed ``max_rate_hz`` by up to ``onset_gain`` times the driven range).

    Parameters
    ----------
    cf_hz, q10, threshold_db, dynamic_range_db, spont_rate_hz, max_rate_hz, latency_ms, \
envelope_cutoff_hz, suppression, suppression_tau_ms, adaptation_db_per_db, adaptation_tau_ms, \
audio_fs, dt_ms
        As in :class:`~sk_icnet.simulate.TunedNeurons` (``suppression`` is not
        used here; the onset takes its role).
    nonmonotonic_depth : float or sequence in [0, 1], default=0.0
    fall_db : float or sequence, default=70.0
        dB SPL of a tone at CF where the fall is half done.
    fall_width_db : float or sequence > 0, default=5.0
    sideband_inhibition : float or sequence in [0, 1], default=0.0
    sideband_oct : float or sequence > 0, default=0.75
    onset_gain : float or sequence >= 0, default=0.0
    onset_tau_ms : float or sequence > 0, default=20.0

    Examples
    --------
    >>> from sk_icnet.simulate import make_level_neurons
    >>> neurons = make_level_neurons(4, audio_fs=8000.0, dt_ms=2.0, random_state=0)
    >>> int(neurons.n_neurons_)
    4
    """

    _PARAMETERS = TunedNeurons._PARAMETERS + (
        "nonmonotonic_depth", "fall_db", "fall_width_db", "sideband_inhibition", "sideband_oct",
        "onset_gain", "onset_tau_ms")

    def __init__(self, cf_hz=(1000.0,), *, q10=4.0, threshold_db=30.0, dynamic_range_db=30.0,
                 spont_rate_hz=5.0, max_rate_hz=150.0, latency_ms=5.0, envelope_cutoff_hz=150.0,
                 suppression=0.0, suppression_tau_ms=50.0, adaptation_db_per_db=0.0,
                 adaptation_tau_ms=200.0, nonmonotonic_depth=0.0, fall_db=70.0,
                 fall_width_db=5.0, sideband_inhibition=0.0, sideband_oct=0.75, onset_gain=0.0,
                 onset_tau_ms=20.0, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS):
        super().__init__(cf_hz, q10=q10, threshold_db=threshold_db,
                         dynamic_range_db=dynamic_range_db, spont_rate_hz=spont_rate_hz,
                         max_rate_hz=max_rate_hz, latency_ms=latency_ms,
                         envelope_cutoff_hz=envelope_cutoff_hz, suppression=suppression,
                         suppression_tau_ms=suppression_tau_ms,
                         adaptation_db_per_db=adaptation_db_per_db,
                         adaptation_tau_ms=adaptation_tau_ms, audio_fs=audio_fs, dt_ms=dt_ms)
        self.nonmonotonic_depth = nonmonotonic_depth
        self.fall_db = fall_db
        self.fall_width_db = fall_width_db
        self.sideband_inhibition = sideband_inhibition
        self.sideband_oct = sideband_oct
        self.onset_gain = onset_gain
        self.onset_tau_ms = onset_tau_ms

    def _validated(self):
        values = super()._validated()
        unit = (lambda a: (a >= 0) & (a <= 1), "in [0, 1]")
        rules = {"nonmonotonic_depth": unit, "sideband_inhibition": unit,
                 "fall_width_db": (lambda a: a > 0, "> 0"),
                 "sideband_oct": (lambda a: a > 0, "> 0"),
                 "onset_gain": (lambda a: a >= 0, ">= 0"),
                 "onset_tau_ms": (lambda a: a > 0, "> 0")}
        _check_rules(values, rules, type(self).__name__)
        return values

    def _simulate(self, X, p, spb):
        fs = float(self.audio_fs)
        dt_s = spb / fs
        top = 0.49 * fs
        below = p["cf_hz"] * 2.0 ** -p["sideband_oct"]
        above = np.minimum(p["cf_hz"] * 2.0 ** p["sideband_oct"], top)
        cfs = np.concatenate([p["cf_hz"], below, above])
        n = p["cf_hz"].size
        level = band_levels(X, fs, spb, cfs, np.tile(p["q10"], 3),
                            np.tile(p["envelope_cutoff_hz"], 3))
        rates = np.empty((X.shape[0], n, level.shape[2]))
        for j in range(n):
            centre = _adapted(level[:, j], p, j, dt_s)
            d = _driven_fraction(centre, p, j)
            d = d * (1.0 - p["nonmonotonic_depth"][j]
                     * expit((centre - p["fall_db"][j]) / p["fall_width_db"][j]))
            if p["sideband_inhibition"][j] > 0:
                side = np.maximum(_driven_fraction(_adapted(level[:, n + j], p, j, dt_s), p, j),
                                  _driven_fraction(_adapted(level[:, 2 * n + j], p, j, dt_s), p, j))
                d = d * (1.0 - p["sideband_inhibition"][j] * side)
            if p["onset_gain"][j] > 0:
                b = np.exp(-dt_s * 1000.0 / p["onset_tau_ms"][j])
                past = signal.lfilter([0.0, 1 - b], [1, -b], d, axis=1)
                d = d + p["onset_gain"][j] * np.maximum(d - past, 0.0)
            rates[:, j] = _to_rate(d, p, j, dt_s)
        return rates


def make_level_neurons(n_neurons=8, *, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS, cf_range_hz=None,
                       random_state=None):
    """Random :class:`LevelNeurons`: strong level effects on IC-like frequency tuning.

    Frequency and level tuning as :func:`~sk_icnet.simulate.make_tuned_neurons`
    with ``adaptation=True`` (dynamic-range adaptation of 0.3-0.7 dB per dB,
    100-300 ms); then half the neurons non-monotonic (depth 0.5-0.9, the fall
    half done 15-35 dB above the rise's midpoint, width 3-8 dB), side-band
    inhibition of 0.3-0.8 at 0.5-1 octave, onset gains of 0.5-3 with time
    constants of 10-40 ms, maximum rates of 150-300 spikes/s.

    Parameters
    ----------
    n_neurons : int, default=8
    audio_fs, dt_ms : float
    cf_range_hz : (float, float), optional
        Default: 300 Hz to ``0.3 * audio_fs`` (the side band above stays below Nyquist).
    random_state : int, RandomState instance or None

    Returns
    -------
    LevelNeurons
    """
    fs = check_positive_number(audio_fs, "audio_fs")
    n = check_positive_int(n_neurons, "n_neurons")
    rng = check_random_state(random_state)
    base = make_tuned_neurons(n, audio_fs=fs, dt_ms=dt_ms,
                              cf_range_hz=(300.0, 0.3 * fs) if cf_range_hz is None else cf_range_hz,
                              adaptation=True, random_state=rng)
    params = base.get_params()
    u = rng.uniform
    midpoint = np.asarray(params["threshold_db"]) + np.asarray(params["dynamic_range_db"]) / 2
    params.update(
        max_rate_hz=u(150, 300, n),
        nonmonotonic_depth=np.where(np.arange(n) % 2 == 0, u(0.5, 0.9, n), 0.0),
        fall_db=midpoint + u(15, 35, n), fall_width_db=u(3, 8, n),
        sideband_inhibition=u(0.3, 0.8, n), sideband_oct=u(0.5, 1.0, n),
        onset_gain=u(0.5, 3.0, n), onset_tau_ms=u(10, 40, n))
    return LevelNeurons(**{k: np.round(v, 3) if isinstance(v, np.ndarray) else v
                           for k, v in params.items()})
