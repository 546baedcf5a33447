"""Optimal sounds: the sound that most drives (or most suppresses) a neuron of a differentiable model."""

from __future__ import annotations

import numbers
from collections import namedtuple

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._core.signal import ramp_envelope
from .._core.validation import (
    _as_numeric_array,
    _describe,
    check_positive_int,
    check_positive_number,
    check_whole_bins,
)
from ..audio import level_db_spl
from ._common import _check_latency_ms, _pascals
from ._differentiable import _Differentiable
from ._receptive_fields import _duration

__all__ = ["optimal_sound", "OptimalSound", "LEVEL_RANGE_DB", "MAX_OPTIMAL_SOUND_BYTES",
           "MAX_OPTIMAL_SOUND_SECONDS"]

#: levels accepted for optimal sounds (dB SPL): below, float32 rounding; above, no neuron
LEVEL_RANGE_DB = (-20.0, 130.0)
#: most memory :func:`optimal_sound` sets out to use (bytes, estimated before it starts)
MAX_OPTIMAL_SOUND_BYTES = 2 * 1024**3
#: longest optimisation :func:`optimal_sound` sets out on (s, estimated before it starts)
MAX_OPTIMAL_SOUND_SECONDS = 24 * 3600.0
#: arrays of the sound's length the optimisation holds (the waveform, Adam's moments, the
#: gradient, the band-limited and ramped copies, their spectra, the trial), float64
_SOUND_ARRAYS = 16
#: bins of the probe that measures the model's memory and time per sample
_PROBE_BINS = 32

OptimalSound = namedtuple("OptimalSound", ["sound", "audio_fs", "level_db", "band_hz", "objective",
                                           "response", "initial"])
OptimalSound.__module__ = "sk_icnet.insilico"
OptimalSound.__doc__ = """Result of :func:`optimal_sound`.

sound : ndarray of shape (n_samples,), float32
    The optimised stimulus in pascals (ramps applied, at ``level_db``).
audio_fs : float
    Its sampling rate (the model's), Hz.
level_db : float
    Its level, dB SPL.
band_hz : (float, float)
    The pass band it was confined to, Hz.
objective : ndarray of shape (n_steps + 1,)
    Mean predicted rate (spikes/s) of the neuron over the response window at
    each step (the first entry is the initial sound's).
response : ndarray of shape (n_bins,)
    Predicted rate (spikes/s) over the whole trial (silence, then the sound)
    for the optimised sound.
initial : ndarray of shape (n_samples,), float32
    The starting sound after the level, band and ramp constraints.
"""



def _check_level_db(level_db):
    lo, hi = LEVEL_RANGE_DB
    if isinstance(level_db, bool) or not isinstance(level_db, numbers.Real) \
            or not lo <= level_db <= hi:
        raise ValueError(f"level_db must be a sound level in dB SPL within [{lo:g}, {hi:g}]; "
                         f"received {level_db!r}.")
    return float(level_db)


def optimal_sound(model, neuron=0, *, duration_ms=200.0, level_db=60.0, band_hz=None, ramp_ms=5.0,
                  silence_ms=50.0, init="noise", audio_fs=None, maximize=True, n_steps=100, lr=0.05,
                  latency_ms=0.0, recording=None, time_s=None, random_state=None):
    """The sound that most drives (or most suppresses) a neuron, by gradient ascent on the waveform.

    The sound is parametrised by an unconstrained waveform ``z``; each step
    band-limits it (FFT mask to ``band_hz``), applies raised-cosine ramps and
    scales it to ``level_db`` dB SPL (RMS over the sound, ramps included), so
    every candidate obeys the constraints exactly. The trial is ``silence_ms``
    of silence and then the sound; the objective is the neuron's mean predicted
    rate from ``latency_ms`` after the onset to the end of the sound, maximised
    (``maximize=True``) or minimised with Adam.

    Parameters
    ----------
    model : DifferentiableModel or torch.nn.Module
        As for :func:`dynamic_strf`.
    neuron : int, default=0
    duration_ms : float, default=200.0
        Sound duration (rounded to whole bins); ignored when ``init`` is a sound.
    level_db : float, default=60.0
        Level in dB SPL, within :data:`LEVEL_RANGE_DB`.
    band_hz : (float, float), optional
        Pass band; default 50 Hz to the Nyquist frequency.
    ramp_ms : float, default=5.0
    silence_ms : float, default=50.0
    init : "noise" or array-like of shape (n_samples,), default="noise"
        The starting sound: Gaussian noise, or a given sound at the model's rate
        (a whole number of bins), which is band-limited, ramped and set to
        ``level_db`` first.
    audio_fs : float, optional
        The rate of ``init``; if given it must equal the model's.
    maximize : bool, default=True
        False: find the most suppressive sound.
    n_steps : int, default=100
    lr : float, default=0.05
        Adam's learning rate (on the unit-RMS parametrisation).
    latency_ms : float, default=0.0
    recording, time_s
        As for :func:`dynamic_strf`.
    random_state : int, RandomState instance or None

    Returns
    -------
    OptimalSound

    Raises
    ------
    ValueError
        Before the sound is made, when the estimated memory exceeds
        :data:`MAX_OPTIMAL_SOUND_BYTES` (2 GiB) or the estimated time exceeds
        :data:`MAX_OPTIMAL_SOUND_SECONDS` (a day), with the estimate.
    """
    with _Differentiable(model, recording, time_s) as net:
        net.check_rate(audio_fs)
        fs, spb = net.fs, net.spb
        level_db = _check_level_db(level_db)
        n_steps = check_positive_int(n_steps, "n_steps", minimum=0)
        lr = check_positive_number(lr, "lr")
        neuron = check_positive_int(neuron, "neuron", minimum=0)
        start = _start_sound(init, duration_ms, random_state, fs, spb,
                             lambda n: _check_cost(net, n, silence_ms, n_steps))
        n = start.size
        lo, hi, mask = _band_mask(band_hz, n, fs)
        env = torch.as_tensor(ramp_envelope(n, ramp_ms, fs, "ramp_ms"))
        first, last, pre = _response_bins(silence_ms, latency_ms, n, fs, spb)
        target_rms = float(_pascals(level_db))

        def constrain(z):
            y = torch.fft.irfft(torch.fft.rfft(z) * mask, n=n) * env
            return y * (target_rms / torch.sqrt(torch.mean(y**2) + 1e-30))

        def objective(z):
            x = constrain(z)
            trial = torch.cat([torch.zeros(pre * spb, dtype=x.dtype), x])
            out = net.rates(trial.to(net.dtype).to(net.device)[None])
            if neuron >= out.shape[1]:
                raise ValueError(f"neuron must be in [0, {out.shape[1]}) for this model; received "
                                 f"{neuron}.")
            return out[0, neuron, first:last].mean(), out[0, neuron], x

        z = torch.as_tensor(start / np.sqrt(np.mean(start**2)), dtype=torch.float64)
        dt_s = spb / fs
        initial = constrain(z).detach().numpy().astype(np.float32)
        z, history = _adam(objective, z, n_steps, lr, 1.0 if maximize else -1.0, dt_s)
        with torch.no_grad():
            value, response, x = objective(z)
        history.append(float(value) / dt_s)
    sound = x.detach().numpy().astype(np.float32)
    if abs(level_db_spl(sound) - level_db) > 0.1:  # pragma: no cover - a guard on the constraint
        raise RuntimeError("the optimised sound lost its level constraint.")
    return OptimalSound(sound, fs, level_db, (float(lo), float(hi)), np.array(history),
                        response.detach().cpu().double().numpy() / dt_s, initial)


def _start_sound(init, duration_ms, random_state, fs, spb, check_cost):
    """The starting waveform: Gaussian noise of ``duration_ms`` (whole bins) or ``init``, checked;
    ``check_cost(n_samples)`` before the noise is drawn."""
    if isinstance(init, str):
        if init != "noise":
            raise ValueError(f'init must be "noise" or a sound (array of samples); received '
                             f"{init!r}.")
        n_bins = max(1, int(round(check_positive_number(duration_ms, "duration_ms")
                                  / 1000.0 * fs / spb)))
        check_cost(n_bins * spb)
        return check_random_state(random_state).standard_normal(n_bins * spb)
    start = _as_numeric_array(init, "init").astype(np.float64)
    if start.ndim != 1 or start.size == 0 or not np.isfinite(start).all():
        raise ValueError(f"init must be one finite sound of shape (n_samples,); received "
                         f"{_describe(start)}.")
    check_whole_bins(start.size, spb, name="init", estimator="the model")
    check_cost(start.size)
    if not np.any(start):
        raise ValueError("init is silent (all zeros): it has no spectrum to start from.")
    return start


def _check_cost(net, n_samples, silence_ms, n_steps):
    """Refuse, before anything of the sound's size exists, an optimisation whose memory or time
    (estimated from a probe of :data:`_PROBE_BINS` bins through the model: its activations and
    one forward and backward pass, scaled to the trial) exceeds the limits."""
    import time

    spb = net.spb
    pre = int(round(check_positive_number(silence_ms, "silence_ms") / 1000.0 * net.fs / spb)) * spb
    probe = min(_PROBE_BINS * spb, n_samples) + pre
    sizes = []
    hooks = [m.register_forward_hook(
        lambda _m, _i, out: sizes.append(out.numel() * out.element_size())
        if isinstance(out, torch.Tensor) else None)
        for m in net.module.modules() if next(m.children(), None) is None]  # leaves: no twice
    x = torch.zeros((1, probe), dtype=net.dtype, device=net.device).requires_grad_(True)
    try:
        start = time.perf_counter()
        net.rates(x).sum().backward()
        probe_s = time.perf_counter() - start
    finally:
        for hook in hooks:
            hook.remove()
    scale = (n_samples + pre) / probe
    need = sum(sizes) * scale + _SOUND_ARRAYS * 8 * (n_samples + pre)
    seconds = probe_s * scale * (n_steps + 1)
    if need <= MAX_OPTIMAL_SOUND_BYTES and seconds <= MAX_OPTIMAL_SOUND_SECONDS:
        return
    raise ValueError(
        f"optimal_sound of {n_samples:,} samples ({n_samples / net.fs:,.4g} s; duration_ms or "
        f"init) would need about {need / 1024**3:,.3g} GiB of memory and "
        f"{_duration(seconds)} for its {n_steps} steps (the model's activations and time on a "
        f"{probe / net.fs * 1000:.0f} ms probe, scaled), beyond the limits of "
        f"{MAX_OPTIMAL_SOUND_BYTES / 1024**3:g} GiB and {_duration(MAX_OPTIMAL_SOUND_SECONDS)}: "
        "use a shorter sound (duration_ms, 200 by default) or fewer steps (n_steps).")


def _band_mask(band_hz, n, fs):
    """The pass band ``(low, high)`` and its mask on the rfft grid of an ``n``-sample sound."""
    lo, hi = (50.0, fs / 2.0) if band_hz is None else band_hz
    if not (isinstance(lo, numbers.Real) and isinstance(hi, numbers.Real)
            and 0 <= lo < hi <= fs / 2.0):
        raise ValueError(f"band_hz must be (low, high) in Hz with 0 <= low < high <= audio_fs / "
                         f"2 = {fs / 2:g}; received {band_hz!r}.")
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    mask = torch.as_tensor(((freqs >= lo) & (freqs <= hi)).astype(np.float64))
    if not mask.any():
        raise ValueError(f"band_hz={band_hz!r} contains no frequency of a {n}-sample sound at "
                         f"{fs:g} Hz: widen it or lengthen the sound.")
    return lo, hi, mask


def _response_bins(silence_ms, latency_ms, n, fs, spb):
    """The response window ``[first, last)`` in bins of the trial, and the silent bins before."""
    pre = int(round(check_positive_number(silence_ms, "silence_ms") / 1000.0 * fs / spb))
    lat = int(round(_check_latency_ms(latency_ms) / 1000.0 * fs / spb))
    first, last = pre + lat, pre + n // spb
    if first >= last:
        raise ValueError(f"latency_ms={latency_ms!r} leaves no response window within the "
                         f"{n / fs * 1000:.0f} ms sound.")
    return first, last, pre


def _adam(objective, z, n_steps, lr, sign, dt_s):
    """``n_steps`` of Adam (Kingma & Ba 2015) on ``sign * objective(z)[0]``, written out:
    torch.optim's first use costs seconds of imports. Returns ``z`` and the objective's
    history in spikes/s."""
    history = []
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    beta1, beta2 = 0.9, 0.999
    for step in range(1, n_steps + 1):
        z.requires_grad_(True)
        value, _, _ = objective(z)
        history.append(float(value.detach()) / dt_s)
        (grad,) = torch.autograd.grad(sign * value, z)
        with torch.no_grad():
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad**2
            z = z + lr * (m / (1 - beta1**step)) / (torch.sqrt(v / (1 - beta2**step)) + 1e-8)
    return z, history
