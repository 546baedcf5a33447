"""Sound files and calibrated levels: reading WAVs at the model's rate, dB SPL, ramps.

ICNet takes waveforms in pascals at its ``audio_fs`` (24,414.0625 Hz in the
paper). Stimuli usually come as WAV files at 44.1 or 48 kHz in full-scale units:

>>> x = load_audio("speech.wav", audio_fs=24414.0625)      # doctest: +SKIP

or are made at the model's rate; either way, set their level and ramps:

>>> import numpy as np
>>> from sk_icnet.audio import level_db_spl, ramp, set_level
>>> tone = np.sin(2 * np.pi * 1000.0 * np.arange(2441) / 24414.0625)   # 100 ms, 1 kHz
>>> x = set_level(ramp(tone, 5.0, 24414.0625), 70.0)     # 5 ms ramps, 70 dB SPL
>>> round(float(level_db_spl(x)), 2), round(float(np.abs(x).max()), 3)  # dB SPL, peak Pa
(70.0, 0.092)

Resampling is polyphase (:func:`scipy.signal.resample_poly`) by the exact
rational ratio of the two rates when its terms are at most
``max_ratio_terms`` (44,100 -> 24,414.0625 Hz is exactly 15,625/28,224),
otherwise by the nearest ratio with such terms (the achieved rate is then off
by the relative error that :func:`resampling_ratio` returns). The anti-alias
filter is scipy's default: a Kaiser-windowed (beta 5) FIR low-pass with its
cut-off at the lower of the two Nyquist frequencies.
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
from scipy import signal

from ._validation import _as_numeric_array, _describe, check_positive_number

__all__ = ["load_audio", "resample", "resampling_ratio", "level_db_spl", "set_level", "ramp",
           "P_REF"]

#: reference sound pressure of dB SPL, in pascals
P_REF = 20e-6


def resampling_ratio(from_fs, to_fs, max_ratio_terms=100_000):
    """``(up, down, relative_error)`` for resampling ``from_fs`` to ``to_fs`` Hz."""
    from_fs = check_positive_number(from_fs, "from_fs")
    to_fs = check_positive_number(to_fs, "to_fs")
    exact = Fraction(to_fs) / Fraction(from_fs)
    ratio = exact if max(exact.numerator, exact.denominator) <= max_ratio_terms \
        else exact.limit_denominator(max_ratio_terms)
    error = float(abs(ratio - exact) / exact)
    return ratio.numerator, ratio.denominator, error


def resample(x, from_fs, to_fs, *, max_ratio_terms=100_000):
    """Resample a waveform (last axis) from ``from_fs`` to ``to_fs`` Hz (see the module notes)."""
    arr = _as_numeric_array(x, "x").astype(np.float64)
    up, down, _ = resampling_ratio(from_fs, to_fs, max_ratio_terms)
    if up == down:
        return arr
    return signal.resample_poly(arr, up, down, axis=-1)


def load_audio(path, audio_fs=24414.0625, *, channel=None, scale=1.0):
    """Read a sound file (WAV, FLAC, ... via soundfile) as a mono waveform at ``audio_fs``.

    Parameters
    ----------
    path : str or path-like
    audio_fs : float, default=24414.0625
        Rate to resample to (the paper's ICNet rate); ``None`` keeps the file's.
    channel : int, optional
        Channel of a multi-channel file (required for one).
    scale : float, default=1.0
        Pascals per full-scale unit (a calibration); or leave 1 and use
        :func:`set_level` to impose a level.

    Returns
    -------
    ndarray of shape (n_samples,), float32
    """
    try:
        import soundfile
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("load_audio needs soundfile: pip install 'sk_icnet[audio]'.") from exc
    try:
        data, file_fs = soundfile.read(os.fspath(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise ValueError(f"path {os.fspath(path)!r} is not a readable sound file ({exc}).") from None
    n_channels = data.shape[1]
    if channel is None:
        if n_channels > 1:
            raise ValueError(f"path {os.fspath(path)!r} has {n_channels} channels: pass channel= "
                             f"(0 to {n_channels - 1}) to choose one.")
        channel = 0
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel < n_channels:
        raise ValueError(f"channel must be an integer in [0, {n_channels}) for this file; "
                         f"received {channel!r}.")
    scale = check_positive_number(scale, "scale")
    x = data[:, channel] * scale
    if audio_fs is not None:
        x = resample(x, file_fs, audio_fs)
    return x.astype(np.float32)


def _frames_rms(x, audio_fs, frame_ms):
    n = max(1, int(round(frame_ms * audio_fs / 1000.0)))
    usable = (len(x) // n) * n
    if usable == 0:
        return np.sqrt(np.mean(x**2, keepdims=True))
    return np.sqrt(np.mean(x[:usable].reshape(-1, n) ** 2, axis=1))


def _check_waveform(x, name="x"):
    arr = _as_numeric_array(x, name).astype(np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be one non-empty waveform of shape (n_samples,); received "
                         f"{_describe(arr)}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; waveforms must be finite.")
    return arr


def level_db_spl(x, *, audio_fs=None, active_only=False, frame_ms=10.0, active_db=40.0):
    """Sound pressure level of a waveform in pascals: ``20 log10(rms / 20 µPa)``.

    Parameters
    ----------
    x : array-like of shape (n_samples,)
    audio_fs : float, optional
        Needed with ``active_only``.
    active_only : bool, default=False
        RMS over the active frames only (``frame_ms`` frames within ``active_db``
        dB of the loudest), as for speech with pauses.

    Returns
    -------
    float
        dB SPL; ``-inf`` for silence.
    """
    arr = _check_waveform(x)
    if active_only:
        fs = check_positive_number(audio_fs, "audio_fs (needed with active_only=True)")
        frames = _frames_rms(arr, fs, check_positive_number(frame_ms, "frame_ms"))
        loud = frames.max()
        if loud == 0:
            return float("-inf")
        active = frames >= loud * 10 ** (-active_db / 20.0)
        rms = float(np.sqrt(np.mean(frames[active] ** 2)))
    else:
        rms = float(np.sqrt(np.mean(arr**2)))
    return float("-inf") if rms == 0 else 20.0 * np.log10(rms / P_REF)


def set_level(x, db_spl, *, audio_fs=None, active_only=False, frame_ms=10.0, active_db=40.0):
    """Scale a waveform so that :func:`level_db_spl` gives ``db_spl``; returns float32 pascals."""
    arr = _check_waveform(x)
    if isinstance(db_spl, bool) or not np.isfinite(db_spl):
        raise ValueError(f"db_spl must be a finite level in dB SPL; received {db_spl!r}.")
    current = level_db_spl(arr, audio_fs=audio_fs, active_only=active_only, frame_ms=frame_ms,
                           active_db=active_db)
    if not np.isfinite(current):
        raise ValueError("x is silent (all zeros): it has no level to set.")
    return (arr * 10 ** ((db_spl - current) / 20.0)).astype(np.float32)


def _ramp_envelope(n_samples, ms, audio_fs, name="ms"):
    """Gain of raised-cosine onset and offset ramps of ``ms`` ms each over ``n_samples``."""
    n = int(round(check_positive_number(ms, name) * check_positive_number(audio_fs, "audio_fs")
                  / 1000.0))
    if 2 * n > n_samples:
        raise ValueError(f"two ramps of {name}={ms!r} ms ({n} samples each) do not fit in "
                         f"{n_samples} samples.")
    env = np.ones(n_samples)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    env[:n], env[n_samples - n:] = rise, rise[::-1]
    return env


def ramp(x, ms, audio_fs):
    """Raised-cosine onset and offset ramps of ``ms`` milliseconds each; returns float32."""
    arr = _check_waveform(x)
    return (arr * _ramp_envelope(arr.size, ms, audio_fs)).astype(np.float32)
