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

from fractions import Fraction

import numpy as np
from scipy import signal

from ._core.files import open_regular, require
from ._core.signal import P_REF, frames_rms, ramp_envelope
from ._core.validation import _as_numeric_array, _describe, check_positive_int, check_positive_number

__all__ = ["load_audio", "resample", "resampling_ratio", "level_db_spl", "set_level", "ramp",
           "training_coverage", "P_REF"]

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


def _open_regular_file(path, what="sound file"):
    """``(file object, where)`` of the regular file at ``path``, opened for reading.

    The core's rule for every reader (:func:`sk_icnet._core.files.open_regular`): the
    file is opened without blocking and checked (``fstat``) before anything reads it, so
    a FIFO, a device (``/dev/zero``) or a directory is refused at once instead of hanging
    or being read without end.
    """
    return open_regular(path, f"a {what}")


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
    summary = {"level_db_spl": [float(finite.min()), float(finite.max())] if finite.size else None,
               "frame_level_db_spl_max": loudest, "band_hz": band,
               "band_power_fraction": _BAND_POWER}
    if trial_levels:  # a training set: its level and band coverage too
        summary["coverage"] = _coverage(waves[pick].astype(np.float64), audio_fs)
    return summary


#: frames of the coverage report (ms), and its level percentiles
_COVERAGE_FRAME_MS = 20.0
_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
#: frames more than this far below the loudest one (or below 0 dB SPL) are silence
_ACTIVE_RANGE_DB = 60.0
#: a band is covered where it reaches this level in at least this share of the active frames
_BAND_FLOOR_DB = 20.0
_BAND_MIN_FRACTION = 0.05


def training_coverage(X, audio_fs, *, frame_ms=_COVERAGE_FRAME_MS):
    """Which sound levels and frequency bands a training set covers, and what in-silico
    experiments on a model trained on it can be trusted for.

    The sound is cut into ``frame_ms`` frames (up to 256 trials, evenly
    spaced, are read); frames more than 60 dB below the loudest one, or below
    0 dB SPL, count as silence. Reported:

    * the distribution of frame levels (dB SPL; percentiles 1-99 of the
      active frames);
    * per octave band (centres 125 Hz, 250 Hz, ... up to Nyquist): the share of
      active frames where the band reaches 20 dB SPL, its level range there
      (5th-95th percentile), and whether it is **covered** (at least 5 % of
      the active frames);
    * the **trusted** ranges: levels from the 5th to the 95th percentile of
      the active frames and the span of the covered bands, with a sentence of
      advice. A model has seen little or no sound outside them: in-silico
      thresholds below the trusted levels, responses to louder sounds, and
      tuning in uncovered bands are extrapolations. (The issue behind this
      check measured threshold errors of 17-41 dB from small fits; how the
      training levels move them is not measured yet.)

    A fitted :class:`~sk_icnet.ICNetRegressor` keeps this report in
    ``training_summary_["coverage"]``, and the in-silico experiments warn
    (:class:`~sk_icnet.exceptions.OutsideTrainingRangeWarning`) for stimuli
    quieter than its 1st percentile.

    Parameters
    ----------
    X : array-like of shape (n_trials, n_samples) or (n_trials, 1, n_samples)
        Waveforms in pascals.
    audio_fs : float
    frame_ms : float, default=20.0

    Returns
    -------
    dict
        JSON-serialisable: ``frame_ms``, ``n_frames``, ``active_fraction``,
        ``level_db_spl_percentiles`` (percentile -> dB SPL), ``bands`` (a list
        of dicts: ``centre_hz``, ``low_hz``, ``high_hz``, ``active_fraction``,
        ``level_db_spl`` [5th, 95th percentile] or None, ``covered``),
        ``trusted_level_db_spl``, ``trusted_band_hz`` and ``advice``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_icnet.audio import training_coverage
    >>> t = np.arange(8000) / 8000.0
    >>> X = np.stack([0.02 * np.sqrt(2) * np.sin(2 * np.pi * 1000 * t)])   # 60 dB SPL, 1 kHz
    >>> report = training_coverage(X, 8000.0)
    >>> [round(v) for v in report["trusted_level_db_spl"]], report["trusted_band_hz"]
    ([60, 60], [707.1, 1414.2])
    """
    fs = check_positive_number(audio_fs, "audio_fs")
    frame_ms = check_positive_number(frame_ms, "frame_ms")
    arr = _as_numeric_array(X, "X")
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"X must be finite waveforms in pascals of shape (n_trials, n_samples); "
                         f"received shape {arr.shape} (or non-finite values).")
    if int(round(frame_ms * fs / 1000.0)) > arr.shape[1]:
        raise ValueError(f"frame_ms={frame_ms!r} is longer than the trials ({arr.shape[1]} samples "
                         f"at {fs:g} Hz); pass a shorter frame_ms.")
    pick = np.unique(np.linspace(0, arr.shape[0] - 1, min(SPECTRUM_TRIALS, arr.shape[0]))
                     .astype(int))
    return _coverage(arr[pick].astype(np.float64), fs, frame_ms)


def _octave_bands(fs):
    centres = 125.0 * 2.0 ** np.arange(12)
    return [(c, c / 2 ** 0.5, c * 2 ** 0.5) for c in centres if c * 2 ** 0.5 <= fs / 2]


def _coverage(waves, fs, frame_ms=_COVERAGE_FRAME_MS):
    # trials shorter than a frame (tabular input) are one frame each
    n = max(1, min(int(round(frame_ms * fs / 1000.0)), waves.shape[1]))
    usable = (waves.shape[1] // n) * n
    frames = waves[:, :usable].reshape(-1, n)
    mean_square = np.mean(frames**2, axis=1)
    with np.errstate(divide="ignore"):
        level = 10 * np.log10(mean_square / P_REF**2)
    active = np.isfinite(level) & (level >= 0.0) & (level >= level.max() - _ACTIVE_RANGE_DB)
    report = {"frame_ms": n * 1000.0 / fs, "n_frames": int(level.size),
              "active_fraction": float(active.mean())}
    if not active.any():
        report.update(level_db_spl_percentiles=None, bands=[], trusted_level_db_spl=None,
                      trusted_band_hz=None, advice="The training sound is silent: a model trained "
                      "on it has nothing to say about any sound.")
        return report
    spectra = np.abs(np.fft.rfft(frames[active] * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    total = spectra.sum(axis=1)
    total[total == 0] = 1.0
    percentiles = np.percentile(level[active], _PERCENTILES)
    bands = []
    for centre, low, high in _octave_bands(fs):
        inside = (freqs >= low) & (freqs < high)
        with np.errstate(divide="ignore"):
            band = 10 * np.log10(mean_square[active] * spectra[:, inside].sum(axis=1) / total
                                 / P_REF**2)
        loud = band >= _BAND_FLOOR_DB
        bands.append({"centre_hz": float(centre), "low_hz": round(float(low), 1),
                      "high_hz": round(float(high), 1), "active_fraction": float(loud.mean()),
                      "level_db_spl": [float(np.percentile(band[loud], 5)),
                                       float(np.percentile(band[loud], 95))] if loud.any() else None,
                      "covered": bool(loud.mean() >= _BAND_MIN_FRACTION)})
    covered = [b for b in bands if b["covered"]]
    trusted_levels = [float(percentiles[1]), float(percentiles[-2])]
    trusted_band = [covered[0]["low_hz"], covered[-1]["high_hz"]] if covered else None
    gaps = [f"{b['centre_hz']:,.0f} Hz" for b in bands if not b["covered"]
            and trusted_band and trusted_band[0] < b["centre_hz"] < trusted_band[1]]
    advice = (f"In-silico experiments on a model trained on this sound can be trusted for sounds "
              f"of {trusted_levels[0]:.0f}-{trusted_levels[1]:.0f} dB SPL (5th-95th percentile "
              f"of its {report['frame_ms']:g} ms frames)")
    advice += (f" in {trusted_band[0]:,.0f}-{trusted_band[1]:,.0f} Hz" if trusted_band
               else " (no octave band reaches 20 dB SPL in 5 % of its frames)")
    if gaps:
        advice += f", except the octave bands at {', '.join(gaps)}, which it hardly covers"
    advice += (f". Thresholds below {trusted_levels[0]:.0f} dB SPL, responses above "
               f"{trusted_levels[1]:.0f} dB SPL and tuning outside the covered bands are "
               "extrapolations: train on sound that reaches them (e.g. roved levels) to measure "
               "them.")
    report.update(level_db_spl_percentiles={str(p): float(v)
                                            for p, v in zip(_PERCENTILES, percentiles, strict=True)},
                  bands=bands, trusted_level_db_spl=trusted_levels, trusted_band_hz=trusted_band,
                  advice=advice)
    return report


def _quieter_than_trained(coverage, X, fs, margin_db):
    """A sentence on the stimuli ``X`` whose loudest 10 ms frame is below the quietest 1 % of
    the training frames (``coverage``, from :func:`training_coverage`), or None."""
    if not isinstance(coverage, dict) or not coverage.get("level_db_spl_percentiles"):
        return None
    floor = coverage["level_db_spl_percentiles"].get("1")
    if floor is None:
        return None
    loudest = np.array([float(frames_rms(np.asarray(x, np.float64).ravel(), fs, 10.0).max())
                        for x in X])
    with np.errstate(divide="ignore"):
        levels = 20 * np.log10(loudest / P_REF)
    quiet = np.isfinite(levels) & (levels < floor - margin_db)
    if not quiet.any():
        return None
    return (f"{int(quiet.sum())} of {len(levels)} stimuli at levels down to "
            f"{int(round(levels[quiet].min()))} dB SPL (99 % of the training sound's "
            f"{coverage.get('frame_ms', _COVERAGE_FRAME_MS):g} ms frames are louder than "
            f"{int(round(floor))} dB SPL: thresholds measured there are extrapolated)")
