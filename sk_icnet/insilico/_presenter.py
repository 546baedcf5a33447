"""How the experiments present stimuli to a model under test: timing, ramps, carriers, windows."""

from __future__ import annotations

import numpy as np

from .._core.signal import ramp_envelope
from .._core.validation import _describe, check_positive_number
from ._common import _check_latency_ms
from ._protocol import _TestedModel


class _Presenter:
    """The model under test and the timing rules of an experiment.

    Every trial starts with ``silence_ms`` of silence (``pre`` bins); a response
    is counted from ``latency_ms`` (``lat`` bins) after an onset. Durations are
    whole bins; stimulus onsets fall on bin boundaries.
    """

    def __init__(self, estimator, *, silence_ms, latency_ms, predict_params, progress=False):
        self.model = _TestedModel(estimator, predict_params, progress)
        self.fs, self.spb, self.dt_s = self.model.fs, self.model.spb, self.model.dt_s
        self.pre = self.bins(silence_ms, "silence_ms", minimum=2)
        self.lat = int(round(_check_latency_ms(latency_ms) / 1000.0 / self.dt_s))

    # -- time --------------------------------------------------------------------------------
    def bins(self, ms, name, minimum=1):
        """A duration in ms as a whole number of bins (at least ``minimum``)."""
        ms = check_positive_number(ms, name)
        n = int(round(ms / 1000.0 / self.dt_s))
        if n < minimum:
            raise ValueError(f"{name}={ms!r} ms is shorter than {minimum} bin(s) of "
                             f"{self.dt_s * 1000:.3g} ms.")
        return n

    def ms(self, n_bins):
        """``n_bins`` bins in ms."""
        return n_bins * self.dt_s * 1000.0

    # -- stimuli -----------------------------------------------------------------------------
    def ramp(self, ramp_ms, n_samples, name="ramp_ms"):
        """Raised-cosine onset and offset ramps for an ``n_samples`` stimulus."""
        return ramp_envelope(n_samples, ramp_ms, self.fs, name)

    def carrier(self, spec, n_samples, rng):
        """Unit-RMS carrier: frozen Gaussian noise or a tone (``spec`` in Hz)."""
        if spec == "noise":
            x = rng.standard_normal(n_samples)
            return x / np.sqrt(np.mean(x**2))
        t = np.arange(n_samples) / self.fs
        return np.sqrt(2.0) * np.sin(2 * np.pi * spec * t)

    def trials(self, n_trials, n_bins):
        """Silent trials ``(n_trials, n_bins * samples_per_bin)`` to write stimuli into."""
        return np.zeros((n_trials, n_bins * self.spb))

    def per_neuron(self, spec, name, allow_noise=True):
        """A stimulus choice per neuron: "noise" or a frequency (one, or one per neuron)."""
        n_neurons = self.model.n_neurons
        noise = '"noise" or ' if allow_noise else ""
        rule = f"{name} must be {noise}a frequency in Hz (one, or one per neuron)"
        if isinstance(spec, str):
            if spec == "noise" and allow_noise:
                return ["noise"] * n_neurons
            raise ValueError(f"{rule}; received {spec!r}.")
        try:
            freqs = np.atleast_1d(np.asarray(spec, dtype=float))
        except (TypeError, ValueError):
            raise TypeError(f"{rule}; received {_describe(spec)}.") from None
        if freqs.ndim != 1 or freqs.size not in (1, n_neurons):
            raise ValueError(f"{name} must be one frequency or one per neuron ({n_neurons}); "
                             f"received {freqs.size} values.")
        bad = ~((freqs > 0) & (freqs < self.fs / 2))
        if bad.any():
            raise ValueError(f"{name} must be frequencies in (0, audio_fs / 2 = {self.fs / 2:g}) "
                             f"Hz; received {freqs[bad][0]!r}.")
        return list(np.broadcast_to(freqs, (n_neurons,)).astype(float))

    # -- responses ---------------------------------------------------------------------------
    def predict(self, X):
        """The model's expected counts ``(n_trials, n_neurons, n_bins)`` (see :class:`_TestedModel`)."""
        return self.model.predict(X)

    def flag(self, result):
        """``result`` with the implausible-rate flags of every neuron."""
        return self.model.flag(result)

    def spontaneous(self, pred):
        """Spontaneous rate per neuron (spikes/s): second half of the pre-stimulus silence."""
        return pred[:, :, self.pre // 2: self.pre].mean(axis=(0, 2)) / self.dt_s

    def window(self, pred, onset_bin, n_bins, tail=0):
        """Mean rate (spikes/s) from ``latency`` after onset to ``latency`` after offset."""
        lo = onset_bin + self.lat
        return pred[..., lo: lo + n_bins + tail].mean(axis=-1) / self.dt_s
