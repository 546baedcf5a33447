"""Signal helpers shared by audio, the front ends, the simulators and in-silico stimuli.

:data:`P_REF` is the reference pressure of dB SPL; ramps are raised-cosine; the mel scale is
HTK's, as the ICNet front end and the STRF spectrogram use.
"""

from __future__ import annotations

import numpy as np

from .validation import check_positive_number

__all__ = ["P_REF", "frames_rms", "ramp_envelope", "hz_to_mel", "mel_to_hz"]

#: reference sound pressure of dB SPL (pascals)
P_REF = 20e-6


def frames_rms(x, audio_fs, frame_ms):
    """RMS of consecutive ``frame_ms`` frames of ``x`` (the whole of ``x`` if shorter)."""
    n = max(1, int(round(frame_ms * audio_fs / 1000.0)))
    usable = (len(x) // n) * n
    if usable == 0:
        return np.sqrt(np.mean(x**2, keepdims=True))
    return np.sqrt(np.mean(x[:usable].reshape(-1, n) ** 2, axis=1))


def ramp_envelope(n_samples, ms, audio_fs, name="ms"):
    """Gain of raised-cosine onset and offset ramps of ``ms`` ms each over ``n_samples``."""
    samples = check_positive_number(ms, name) * check_positive_number(audio_fs, "audio_fs") / 1000.0
    if not 2 * samples <= n_samples + 1:  # before rounding: an overflowing product is refused too
        raise ValueError(f"two ramps of {name}={ms!r} ms ({samples:.6g} samples each at "
                         f"audio_fs={audio_fs!r}) do not fit in {n_samples} samples.")
    n = int(round(samples))
    if 2 * n > n_samples:
        raise ValueError(f"two ramps of {name}={ms!r} ms ({n} samples each) do not fit in "
                         f"{n_samples} samples.")
    env = np.ones(n_samples)
    if n == 0:  # shorter than half a sample: no ramp to apply
        return env
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    env[:n], env[n_samples - n:] = rise, rise[::-1]
    return env


def hz_to_mel(hz):
    """Frequency in Hz to the (HTK) mel scale, ``2595 log10(1 + f / 700)``; arrays accepted."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)
