"""Periphery-driven IC-like neurons: a gammatone auditory-periphery front end feeding excitation
and delayed inhibition (:class:`PeripheryNeurons`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal
from sklearn.utils import check_random_state

from .._core.signal import P_REF
from .._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS, samples_per_bin
from .._core.validation import check_positive_int, check_positive_number
from ._neurons import _check_rules, _SimulatedNeurons

__all__ = ["PeripheryNeurons", "make_periphery_neurons", "erb_number"]

#: channels of the shared filterbank per ERB
_CHANNELS_PER_ERB = 2.0
#: lowest channel (Hz); the highest is ``0.45 * audio_fs``
_LOWEST_HZ = 100.0


def erb_number(freq_hz):
    """ERB-rate (Glasberg & Moore 1990): ``21.4 * log10(1 + 0.00437 * f)``."""
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(freq_hz, dtype=float))


def _erb_to_hz(number):
    return (10 ** (np.asarray(number, dtype=float) / 21.4) - 1.0) / 0.00437


class PeripheryNeurons(_SimulatedNeurons):
    """Simulated IC neurons driven by a model of the auditory periphery.

    Unlike :class:`~sk_icnet.simulate.TunedNeurons` and its relatives, which
    read one band-pass level per neuron, these neurons pool a population of
    auditory-nerve-like channels, each a simple, documented periphery:

    1. a 4th-order gammatone filter (``scipy.signal.gammatone``, IIR, bandwidth
       1.019 ERB; unit gain at its centre), channels every half ERB from 100 Hz
       to ``0.45 * audio_fs``;
    2. half-wave rectification, averaged over each bin and expressed as the
       RMS pressure of a tone with that rectified mean (``pi / sqrt(2)`` times
       it): a steady tone at a channel's centre of ``x`` dB SPL gives ``x``;
    3. compression above threshold: ``c = max((p / p_th) ** compression - 1,
       0)`` with ``p_th`` the pressure of ``threshold_db``: no drive at or below
       threshold, a power law (exponent ``compression``, 0.3 as basilar-membrane
       compression) above it;
    4. divisive adaptation: ``a = c / (1 + adaptation * m)`` with ``m`` the
       running mean of ``c`` over the past bins (``adaptation_tau_ms``): a
       sound's onset passes whole, its sustained part is divided by ``1 +
       adaptation * c``.

    Each neuron then sums the channels with Gaussian weights in ERB number,
    centred on ``cf_hz`` (standard deviation ``excitation_bw_erb``), for its
    excitation ``E``, and with a wider Gaussian (``inhibition_bw_erb``) for its
    inhibition, which is low-passed (``inhibition_tau_ms``) and delayed
    (``inhibition_delay_ms``): ``drive = max(E - inhibition * I, 0)``; the rate is
    ``spont + (max_rate_hz - spont) * (1 - 2 ** (-drive / half_drive))``, delayed
    by ``latency_ms``. So the first ``inhibition_delay_ms`` of a response are
    uninhibited, and the sustained response to a sound that drives excitation
    and inhibition alike is scaled by about ``1 - inhibition``.

    Parameters
    ----------
    cf_hz : float or sequence, default=(1000.0,)
        Centre of each neuron's excitatory channels; its length sets the number of neurons.
    threshold_db : float or sequence, default=30.0
    compression : float or sequence in (0, 1], default=0.3
    adaptation : float or sequence >= 0, default=0.0
    adaptation_tau_ms : float or sequence > 0, default=50.0
    excitation_bw_erb : float or sequence > 0, default=0.7
    inhibition : float or sequence in [0, 1), default=0.0
    inhibition_bw_erb : float or sequence > 0, default=2.0
    inhibition_delay_ms : float or sequence >= 0, default=4.0
    inhibition_tau_ms : float or sequence > 0, default=10.0
    half_drive : float or sequence > 0, default=1.0
        Drive at which the driven rate is half its range.
    spont_rate_hz : float or sequence >= 0, default=2.0
    max_rate_hz : float or sequence, default=200.0
    latency_ms : float or sequence >= 0, default=5.0
    audio_fs : float, default=24414.0625
    dt_ms : float, default=1.31072

    Attributes
    ----------
    tuning_ : DataFrame
        The parameters, one row per neuron.
    n_neurons_, samples_per_bin_, audio_fs_, dt_ms_
        As on a fitted :class:`~sk_icnet.ICNetRegressor`.

    Examples
    --------
    >>> from sk_icnet.simulate import make_periphery_neurons
    >>> neurons = make_periphery_neurons(3, audio_fs=8000.0, dt_ms=2.0, random_state=0)
    >>> neurons.tuning_.shape[0]
    3
    """

    _PARAMETERS = ("cf_hz", "threshold_db", "compression", "adaptation", "adaptation_tau_ms",
                   "excitation_bw_erb", "inhibition", "inhibition_bw_erb", "inhibition_delay_ms",
                   "inhibition_tau_ms", "half_drive", "spont_rate_hz", "max_rate_hz", "latency_ms")

    def __init__(self, cf_hz=(1000.0,), *, threshold_db=30.0, compression=0.3, adaptation=0.0,
                 adaptation_tau_ms=50.0, excitation_bw_erb=0.7, inhibition=0.0,
                 inhibition_bw_erb=2.0, inhibition_delay_ms=4.0, inhibition_tau_ms=10.0,
                 half_drive=1.0, spont_rate_hz=2.0, max_rate_hz=200.0, latency_ms=5.0,
                 audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS):
        self.cf_hz = cf_hz
        self.threshold_db = threshold_db
        self.compression = compression
        self.adaptation = adaptation
        self.adaptation_tau_ms = adaptation_tau_ms
        self.excitation_bw_erb = excitation_bw_erb
        self.inhibition = inhibition
        self.inhibition_bw_erb = inhibition_bw_erb
        self.inhibition_delay_ms = inhibition_delay_ms
        self.inhibition_tau_ms = inhibition_tau_ms
        self.half_drive = half_drive
        self.spont_rate_hz = spont_rate_hz
        self.max_rate_hz = max_rate_hz
        self.latency_ms = latency_ms
        self.audio_fs = audio_fs
        self.dt_ms = dt_ms

    def _validated(self):
        values = self._parameter_arrays()
        fs = check_positive_number(self.audio_fs, "audio_fs")
        positive = (lambda a: a > 0, "> 0")
        rules = {
            "cf_hz": (lambda a: (a >= _LOWEST_HZ) & (a <= 0.45 * fs),
                      f"in [{_LOWEST_HZ:g}, 0.45 * audio_fs = {0.45 * fs:g}] Hz (the filterbank)"),
            "compression": (lambda a: (a > 0) & (a <= 1), "in (0, 1]"),
            "adaptation": (lambda a: a >= 0, ">= 0"), "adaptation_tau_ms": positive,
            "excitation_bw_erb": positive, "inhibition": (lambda a: (a >= 0) & (a < 1), "in [0, 1)"),
            "inhibition_bw_erb": positive, "inhibition_delay_ms": (lambda a: a >= 0, ">= 0"),
            "inhibition_tau_ms": positive, "half_drive": positive,
            "spont_rate_hz": (lambda a: a >= 0, ">= 0"),
            "max_rate_hz": (lambda a: a > values["spont_rate_hz"], "> spont_rate_hz"),
            "latency_ms": (lambda a: a >= 0, ">= 0"),
        }
        _check_rules(values, rules, type(self).__name__)
        return values

    @property
    def tuning_(self):
        table = pd.DataFrame(self._validated())
        table.index.name = "neuron"
        return table

    @property
    def channel_cfs_hz_(self):
        """Centre frequencies of the shared gammatone filterbank (Hz)."""
        fs = float(self.audio_fs)
        lo, hi = erb_number(_LOWEST_HZ), erb_number(0.45 * fs)
        return _erb_to_hz(np.arange(lo, hi + 1e-9, 1.0 / _CHANNELS_PER_ERB))

    def _simulate(self, X, p, spb):
        fs = float(self.audio_fs)
        dt_s = spb / fs
        channels = self.channel_cfs_hz_
        pressure = _periphery(X, fs, spb, channels)  # (trials, channels, bins), pascals
        ch_erb = erb_number(channels)
        n_trials, _, n_bins = pressure.shape
        rates = np.empty((n_trials, p["cf_hz"].size, n_bins))
        for j, cf in enumerate(p["cf_hz"]):
            p_th = P_REF * 10 ** (p["threshold_db"][j] / 20)
            c = np.maximum((pressure / p_th) ** p["compression"][j] - 1.0, 0.0)
            k = p["adaptation"][j]
            if k > 0:
                b = np.exp(-dt_s * 1000.0 / p["adaptation_tau_ms"][j])
                c = c / (1.0 + k * signal.lfilter([0.0, 1 - b], [1, -b], c, axis=2))
            distance = ch_erb - erb_number(cf)
            w_e = np.exp(-0.5 * (distance / p["excitation_bw_erb"][j]) ** 2)
            excitation = np.einsum("tcb,c->tb", c, w_e / w_e.sum())
            drive = excitation
            if p["inhibition"][j] > 0:
                w_i = np.exp(-0.5 * (distance / p["inhibition_bw_erb"][j]) ** 2)
                inh = np.einsum("tcb,c->tb", c, w_i / w_i.sum())
                b = np.exp(-dt_s * 1000.0 / p["inhibition_tau_ms"][j])
                inh = signal.lfilter([1 - b], [1, -b], inh, axis=1)
                inh = _delay(inh, int(round(p["inhibition_delay_ms"][j] / (dt_s * 1000.0))), 0.0)
                drive = np.maximum(excitation - p["inhibition"][j] * inh, 0.0)
            driven = 1.0 - 2.0 ** (-drive / p["half_drive"][j])
            rate = p["spont_rate_hz"][j] + (p["max_rate_hz"][j] - p["spont_rate_hz"][j]) * driven
            lag = int(round(p["latency_ms"][j] / (dt_s * 1000.0)))
            rates[:, j] = _delay(rate, lag, p["spont_rate_hz"][j]) * dt_s
        return rates


def _delay(x, lag, fill):
    """``x`` (trials, bins) delayed by ``lag`` bins, the first filled with ``fill``."""
    if lag <= 0:
        return x
    n = x.shape[1]
    return np.concatenate([np.full((x.shape[0], min(lag, n)), fill), x[:, : max(n - lag, 0)]],
                          axis=1)


def _periphery(X, fs, spb, channels):
    """Steps 1-2: gammatone filterbank, half-wave rectification, bin means as tone-equivalent
    RMS pressures, ``(n_trials, n_channels, n_bins)``."""
    n_trials, n = X.shape
    n_bins = n // spb
    out = np.empty((n_trials, len(channels), n_bins))
    for i, cf in enumerate(channels):
        b, a = signal.gammatone(cf, "iir", fs=fs)
        _, h = signal.freqz(b, a, worN=[cf], fs=fs)
        y = signal.lfilter(b / np.abs(h[0]), a, X, axis=1)
        rect = np.maximum(y[:, : n_bins * spb], 0.0).reshape(n_trials, n_bins, spb).mean(axis=2)
        out[:, i] = rect * (np.pi / np.sqrt(2.0))
    return out


def make_periphery_neurons(n_neurons=8, *, audio_fs=PAPER_AUDIO_FS, dt_ms=PAPER_DT_MS,
                           cf_range_hz=None, random_state=None):
    """Random :class:`PeripheryNeurons`.

    CF log-uniform over ``cf_range_hz`` (default 300 Hz to ``0.35 * audio_fs``),
    thresholds 10-40 dB SPL, compression exponents 0.2-0.5, adaptation 0.5-3
    (20-100 ms), excitation widths 0.4-1.2 ERB, inhibition 0.3-0.8 over
    1.5-4 ERB after 2-8 ms (time constant 5-20 ms), half drive 0.5-3,
    spontaneous rates 1-10 and maximum rates 150-300 spikes/s, latencies
    4-8 ms.

    Parameters
    ----------
    n_neurons : int, default=8
    audio_fs, dt_ms : float
    cf_range_hz : (float, float), optional
    random_state : int, RandomState instance or None

    Returns
    -------
    PeripheryNeurons
    """
    n = check_positive_int(n_neurons, "n_neurons")
    fs = check_positive_number(audio_fs, "audio_fs")
    samples_per_bin(fs, dt_ms)
    lo, hi = (300.0, 0.35 * fs) if cf_range_hz is None else cf_range_hz
    if not _LOWEST_HZ <= lo < hi <= 0.45 * fs:
        raise ValueError(f"cf_range_hz must be (low, high) with {_LOWEST_HZ:g} <= low < high <= "
                         f"0.45 * audio_fs = {0.45 * fs:g}; received {cf_range_hz!r}.")
    rng = check_random_state(random_state)
    u = rng.uniform
    params = dict(
        cf_hz=np.exp(u(np.log(lo), np.log(hi), n)), threshold_db=u(10, 40, n),
        compression=u(0.2, 0.5, n), adaptation=u(0.5, 3, n), adaptation_tau_ms=u(20, 100, n),
        excitation_bw_erb=u(0.4, 1.2, n), inhibition=u(0.3, 0.8, n),
        inhibition_bw_erb=u(1.5, 4, n), inhibition_delay_ms=u(2, 8, n),
        inhibition_tau_ms=u(5, 20, n), half_drive=u(0.5, 3, n), spont_rate_hz=u(1, 10, n),
        max_rate_hz=u(150, 300, n), latency_ms=u(4, 8, n))
    return PeripheryNeurons(**{k: np.round(v, 3) for k, v in params.items()}, audio_fs=fs,
                            dt_ms=dt_ms)
