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
import stat
from fractions import Fraction

import numpy as np
from scipy import signal

from ._core.files import require
from ._core.signal import P_REF, frames_rms, ramp_envelope
from ._core.validation import _as_numeric_array, _describe, check_positive_int, check_positive_number

__all__ = ["load_audio", "resample", "resampling_ratio", "level_db_spl", "set_level", "ramp",
           "P_REF"]

#: reference sound pressure of dB SPL, in pascals


def resampling_ratio(from_fs, to_fs, max_ratio_terms=100_000):
    """``(up, down, relative_error)`` for resampling ``from_fs`` to ``to_fs`` Hz.

    The two rates may differ by a factor of at most ``max_ratio_terms`` (a
    larger one has no ratio with such terms).
    """
    from_fs = check_positive_number(from_fs, "from_fs")
    to_fs = check_positive_number(to_fs, "to_fs")
    max_ratio_terms = check_positive_int(max_ratio_terms, "max_ratio_terms")
    factor = to_fs / from_fs
    if not 1.0 / max_ratio_terms <= factor <= max_ratio_terms:
        raise ValueError(f"resampling from from_fs={from_fs!r} to to_fs={to_fs!r} Hz changes the "
                         f"rate by a factor of {factor:.6g}; at most max_ratio_terms="
                         f"{max_ratio_terms} either way is supported: check the rates.")
    exact = Fraction(to_fs) / Fraction(from_fs)
    ratio = exact if max(exact.numerator, exact.denominator) <= max_ratio_terms \
        else exact.limit_denominator(max_ratio_terms)
    if ratio == 0:  # a factor just above 1 / max_ratio_terms can round to 0 / 1
        ratio = Fraction(1, max_ratio_terms)
    error = float(abs(ratio - exact) / exact)
    return ratio.numerator, ratio.denominator, error


def resample(x, from_fs, to_fs, *, max_ratio_terms=100_000):
    """Resample a waveform (last axis) from ``from_fs`` to ``to_fs`` Hz (see the module notes)."""
    arr = _as_numeric_array(x, "x").astype(np.float64)
    up, down, _ = resampling_ratio(from_fs, to_fs, max_ratio_terms)
    if up == down:
        return arr
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"x must hold at least one sample along its last axis to resample; "
                         f"received {_describe(arr)}.")
    if not np.isfinite(arr).all():
        raise ValueError("x contains NaN or inf; waveforms must be finite to resample.")
    try:
        return signal.resample_poly(arr, up, down, axis=-1)
    except MemoryError:
        n_out = -(-arr.shape[-1] * up // down) * (arr.size // arr.shape[-1])
        raise ValueError(f"resampling x ({_describe(arr)}) from {from_fs!r} to {to_fs!r} Hz "
                         f"makes {n_out} samples, more than this machine's memory holds: "
                         "resample shorter pieces.") from None


#: what ``os.stat`` calls the kinds of file that are not sound files (for error messages)
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def _open_regular_file(path, what="sound file"):
    """``(file object, where)`` of the regular file at ``path``, opened for reading.

    The file is opened without blocking and checked (``fstat``) before anything
    reads it, so a FIFO, a device (``/dev/zero``) or a directory is refused at
    once instead of hanging or being read without end.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or path-like naming a {what}; received "
                        f"{_describe(path)}.")
    where = os.fspath(path)
    where = os.fsdecode(where) if isinstance(where, bytes) else where
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(where, flags)
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL
        raise ValueError(f"path {where!r} is not a readable {what} ({exc}).") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
            raise ValueError(f"path {where!r} is {kind}, not a {what}: only regular files are "
                             "read.")
        return os.fdopen(fd, "rb"), where
    except BaseException:
        os.close(fd)
        raise


def load_audio(path, audio_fs=24414.0625, *, channel=None, scale=1.0, max_duration_s=None):
    """Read a sound file (WAV, FLAC, ... via soundfile) as a mono waveform at ``audio_fs``.

    Parameters
    ----------
    path : str or path-like
        A regular file: FIFOs, devices and directories are refused before
        anything is read from them.
    audio_fs : float, default=24414.0625
        Rate to resample to (the paper's ICNet rate); ``None`` keeps the file's.
    channel : int, optional
        Channel of a multi-channel file (required for one).
    scale : float, default=1.0
        Pascals per full-scale unit (a calibration); or leave 1 and use
        :func:`set_level` to impose a level.
    max_duration_s : float, optional
        Refuse a file longer than this (checked from its header, before its
        samples are read).

    Returns
    -------
    ndarray of shape (n_samples,), float32
        At least one sample, all finite: an empty file, or one holding NaN or
        inf samples, is refused.

    Raises
    ------
    ValueError
        The file is missing, unreadable, not a regular file, empty, longer
        than ``max_duration_s``, or holds NaN or inf samples.
    """
    soundfile = require("soundfile", "audio", "load_audio")
    if audio_fs is not None:
        audio_fs = check_positive_number(audio_fs, "audio_fs")
    scale = check_positive_number(scale, "scale")
    if max_duration_s is not None:
        max_duration_s = check_positive_number(max_duration_s, "max_duration_s")
    if channel is not None and (isinstance(channel, bool)
                                or not isinstance(channel, (int, np.integer))):
        raise TypeError(f"channel must be an integer (a channel index) or None; received "
                        f"{_describe(channel)}.")
    f, where = _open_regular_file(path)
    with f:
        try:
            with soundfile.SoundFile(f) as snd:
                n_channels, file_fs, frames = snd.channels, float(snd.samplerate), snd.frames
                if max_duration_s is not None and frames > max_duration_s * file_fs:
                    raise ValueError(f"path {where!r} holds {frames / file_fs:.6g} s of sound, more "
                                     f"than max_duration_s={max_duration_s!r} s.")
                data = snd.read(dtype="float64", always_2d=True)
        except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
            raise ValueError(f"path {where!r} is not a readable sound file ({exc}).") from None
    if channel is None:
        if n_channels > 1:
            raise ValueError(f"path {where!r} has {n_channels} channels: pass channel= "
                             f"(0 to {n_channels - 1}) to choose one.")
        channel = 0
    if not 0 <= channel < n_channels:
        raise ValueError(f"channel must be an integer in [0, {n_channels}) for this file; "
                         f"received {channel!r}.")
    if data.shape[0] == 0:
        raise ValueError(f"path {where!r} holds no samples (an empty sound file).")
    x = data[:, channel]
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"path {where!r} holds {bad.size} NaN or inf sample(s) (the first at "
                         f"sample {bad[0]}, channel {channel}); sound files must be finite.")
    with np.errstate(over="ignore"):
        x = x * scale
        if audio_fs is not None:
            x = resample(x, file_fs, audio_fs)
        x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"path {where!r} scaled by scale={scale!r} exceeds float32's range: use a "
                         "calibration in pascals per full-scale unit.")
    return x


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
    frame_ms, active_db : float, default=10.0, 40.0
        Frame length (> 0) and the range below the loudest frame that counts
        as active (>= 0), with ``active_only``.

    Returns
    -------
    float
        dB SPL; ``-inf`` for silence.
    """
    arr = _check_waveform(x)
    if not isinstance(active_only, (bool, np.bool_)):
        raise TypeError(f"active_only must be True or False; received {_describe(active_only)}.")
    if active_only:
        fs = check_positive_number(audio_fs, "audio_fs (needed with active_only=True)")
        frame_ms = check_positive_number(frame_ms, "frame_ms")
        rule = "active_db must be a finite number >= 0 (dB below the loudest frame)"
        if isinstance(active_db, (bool, np.bool_)) or not isinstance(active_db, (int, float, np.number)):
            raise TypeError(f"{rule}; received {_describe(active_db)}.")
        if not np.isfinite(active_db) or active_db < 0:
            raise ValueError(f"{rule}; received {active_db!r}.")
    peak = float(np.abs(arr).max())
    if peak == 0:
        return float("-inf")
    arr = arr / peak  # the RMS of the normalised waveform: no overflow for any finite input
    if active_only:
        frames = frames_rms(arr, fs, frame_ms)
        floor = 10 ** (-float(active_db) / 20.0)
        active = frames >= frames.max() * floor
        rms = float(np.sqrt(np.mean(frames[active] ** 2)))
    else:
        rms = float(np.sqrt(np.mean(arr**2)))
    return float(20.0 * np.log10(rms) + 20.0 * np.log10(peak / P_REF))


def set_level(x, db_spl, *, audio_fs=None, active_only=False, frame_ms=10.0, active_db=40.0):
    """Scale a waveform so that :func:`level_db_spl` gives ``db_spl``; returns float32 pascals.

    Raises
    ------
    ValueError
        ``x`` is silent, ``db_spl`` is not finite, or the scaled waveform would
        exceed float32's range (a level far above any sound's).
    """
    arr = _check_waveform(x)
    if isinstance(db_spl, np.ndarray) and db_spl.ndim == 0:  # a 0-d array is one number
        db_spl = db_spl[()]
    if isinstance(db_spl, (bool, np.bool_)) or not isinstance(db_spl, (int, float, np.number)) \
            or isinstance(db_spl, (complex, np.complexfloating)):
        raise TypeError(f"db_spl must be a real number (a level in dB SPL); received "
                        f"{_describe(db_spl)}.")
    if not np.isfinite(db_spl):
        raise ValueError(f"db_spl must be a finite level in dB SPL; received {db_spl!r}.")
    current = level_db_spl(arr, audio_fs=audio_fs, active_only=active_only, frame_ms=frame_ms,
                           active_db=active_db)
    if not np.isfinite(current):
        raise ValueError("x is silent (all zeros): it has no level to set.")
    with np.errstate(over="ignore", invalid="ignore"):
        gain = np.power(10.0, (float(db_spl) - current) / 20.0)
        out = (arr * gain).astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"db_spl={db_spl!r} scales x beyond float32's range (x is at "
                         f"{current:.6g} dB SPL); sound levels are far below 1000 dB SPL.")
    return out


def ramp(x, ms, audio_fs):
    """Raised-cosine onset and offset ramps of ``ms`` milliseconds each; returns float32."""
    arr = _check_waveform(x)
    return (arr * ramp_envelope(arr.size, ms, audio_fs)).astype(np.float32)


#: share of the training sound's power inside ``training_summary_["band_hz"]``
_BAND_POWER = 0.99
#: trials (evenly spaced) whose spectrum enters ``band_hz``
SPECTRUM_TRIALS = 256


def sound_summary(waves, audio_fs, trial_levels=True):
    """Levels and spectral band of sounds ``(n, n_samples)`` in pascals (JSON-able floats).

    The estimators' ``training_summary_`` and the in-silico experiments' check of their
    stimuli against it both use it (a name shared across packages, outside ``__all__``):
    ``level_db_spl`` (range of the trials' active levels; with ``trial_levels``),
    ``frame_level_db_spl_max`` (the loudest 10 ms frame), ``band_hz`` (where 99 % of the
    power of up to :data:`SPECTRUM_TRIALS` evenly spaced trials lies).
    """
    from scipy.signal import welch

    levels = np.array([level_db_spl(w, audio_fs=audio_fs, active_only=True) for w in waves]
                      if trial_levels else [])
    loudest = None
    if waves.shape[1] >= max(1, int(round(audio_fs * 0.010))):  # at least one 10 ms frame
        rms = max(float(frames_rms(w.astype(np.float64), audio_fs, 10.0).max()) for w in waves)
        if rms > 0:
            loudest = float(20 * np.log10(rms / P_REF))
    finite = levels[np.isfinite(levels)]
    pick = np.unique(np.linspace(0, waves.shape[0] - 1, min(SPECTRUM_TRIALS, waves.shape[0]))
                     .astype(int))
    freqs, power = welch(waves[pick].astype(np.float64), fs=audio_fs,
                         nperseg=min(1024, waves.shape[1]), axis=-1)
    power = power.mean(axis=0)
    band = None
    if power.sum() > 0:
        cum = np.cumsum(power) / power.sum()
        tail = (1 - _BAND_POWER) / 2
        band = [float(freqs[np.searchsorted(cum, tail)]),
                float(freqs[min(np.searchsorted(cum, 1 - tail), len(freqs) - 1)])]
    return {"level_db_spl": [float(finite.min()), float(finite.max())] if finite.size else None,
            "frame_level_db_spl_max": loudest, "band_hz": band,
            "band_power_fraction": _BAND_POWER}
