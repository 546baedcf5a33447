"""The audio rate and the bin width, which always travel together.

A :class:`Timebase` is the pair ``(audio_fs, dt_ms)`` checked once: both rates positive
and finite, and a whole number of audio samples in a bin. Everything that needs the bin
width in seconds, the samples per bin or the number of bins in a duration asks the
timebase, and every comparison of rates (a checkpoint against its estimator, a dataset
against a model, a model file against its header) goes through :meth:`Timebase.agrees`
or :meth:`Timebase.mismatches` (which names both sides of each rate that differs), so one
tolerance rule holds everywhere.

>>> from sk_icnet._core.timebase import PAPER, Timebase
>>> PAPER.samples_per_bin
32
>>> Timebase(16000.0, 2.0).bins(1000.0)
500.0
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .validation import _describe, check_positive_number

__all__ = ["Timebase", "PAPER", "PAPER_AUDIO_FS", "PAPER_DT_MS", "RATE_RTOL",
           "samples_per_bin", "samples_per_bin_of", "resolve_samples_per_bin", "rates_agree"]

#: the paper's audio rate (Hz) and bin width (ms), which ``"auto"`` means for arrays
PAPER_AUDIO_FS = 24414.0625
PAPER_DT_MS = 1.31072

#: relative tolerance for two rates to count as the same rate: rates written to JSON,
#: computed as ``spb * 1000 / audio_fs`` or read back from float32 agree far closer than
#: this, while any rate a user could mean differently (16,000 vs 16,001 Hz) differs more
RATE_RTOL = 1e-9

#: relative tolerance for ``audio_fs * dt_ms / 1000`` to count as a whole number of samples
#: (a bin width typed to six digits, e.g. 1.31072 ms at 24,414.0625 Hz, is exact to 1e-16)
_WHOLE_RTOL = 1e-6


def rates_agree(a, b):
    """Whether two rates (Hz or ms) are the same rate under the package's one rule,
    :data:`RATE_RTOL` relative."""
    return math.isclose(float(a), float(b), rel_tol=RATE_RTOL)


@dataclass(frozen=True)
class Timebase:
    """An audio sampling rate and a neural bin width holding a whole number of samples.

    Parameters
    ----------
    audio_fs : float
        Audio sampling rate in Hz.
    dt_ms : float
        Neural bin width in milliseconds.

    Raises
    ------
    TypeError, ValueError
        If a rate is not a finite number > 0, or ``audio_fs * dt_ms / 1000`` is not a
        whole number of samples (e.g. 16,000 Hz with 1.01 ms bins); the message proposes
        the nearest bin width that is.
    """

    audio_fs: float
    dt_ms: float

    def __post_init__(self):
        audio_fs = check_positive_number(self.audio_fs, "audio_fs")
        dt_ms = check_positive_number(self.dt_ms, "dt_ms")
        object.__setattr__(self, "audio_fs", audio_fs)
        object.__setattr__(self, "dt_ms", dt_ms)
        exact = audio_fs * dt_ms / 1000.0
        rounded = int(round(exact))
        if rounded < 1 or abs(exact - rounded) > _WHOLE_RTOL * max(1.0, exact):
            raise ValueError(
                "audio_fs * dt_ms / 1000 must be a whole number of audio samples per "
                f"neural bin; received audio_fs={audio_fs!r} Hz and dt_ms={dt_ms!r} ms, "
                f"which give {exact!r} samples per bin. Choose dt_ms = k * 1000 / audio_fs "
                f"for an integer k (e.g. dt_ms={max(rounded, 1) * 1000.0 / audio_fs!r}).")
        object.__setattr__(self, "_spb", rounded)

    @classmethod
    def from_samples_per_bin(cls, audio_fs, samples_per_bin):
        """The timebase of ``samples_per_bin`` samples per bin at ``audio_fs`` Hz."""
        audio_fs = check_positive_number(audio_fs, "audio_fs")
        if (isinstance(samples_per_bin, bool) or not isinstance(samples_per_bin, numbers.Integral)
                or samples_per_bin < 1):
            raise ValueError("samples_per_bin must be an integer >= 1; received "
                             f"{_describe(samples_per_bin)}.")
        return cls(audio_fs, int(samples_per_bin) * 1000.0 / audio_fs)

    @property
    def samples_per_bin(self):
        """Audio samples in one bin (an int)."""
        return self._spb

    @property
    def dt_s(self):
        """The bin width in seconds."""
        return self.dt_ms / 1000.0

    @property
    def bin_rate(self):
        """Bins per second (Hz)."""
        return 1000.0 / self.dt_ms

    def bins(self, ms):
        """The number of bins (a float) in ``ms`` milliseconds."""
        return float(ms) / self.dt_ms

    def samples(self, ms):
        """The number of audio samples (a float) in ``ms`` milliseconds."""
        return float(ms) * self.audio_fs / 1000.0

    def agrees(self, other):
        """Whether ``other`` (a :class:`Timebase`) has the same audio rate and bin width,
        each within :data:`RATE_RTOL` relative."""
        return not self.mismatches(other.audio_fs, other.dt_ms)

    def mismatches(self, audio_fs=None, dt_ms=None):
        """The rates given that differ from this timebase's, both sides named: a list of
        ``(name, here, there)`` in the order ``audio_fs``, ``dt_ms`` (empty when they agree).

        The one agreement check of the package (:meth:`agrees` asks it too): a rate left out
        (None, e.g. a parameter left to ``"auto"``) agrees with anything; a rate given agrees
        within :data:`RATE_RTOL` relative. Each caller words its error from the pair.
        """
        given = (("audio_fs", self.audio_fs, audio_fs), ("dt_ms", self.dt_ms, dt_ms))
        return [(name, here, there) for name, here, there in given
                if there is not None and not rates_agree(here, there)]

    def check_agrees(self, other, what, theirs="the data"):
        """Raise a ValueError naming ``what`` unless ``other`` :meth:`agrees`."""
        if not self.agrees(other):
            raise ValueError(
                f"{what}: {theirs} has audio_fs={other.audio_fs!r} Hz and dt_ms={other.dt_ms!r} ms "
                f"but the rates here are audio_fs={self.audio_fs!r} Hz and dt_ms={self.dt_ms!r} ms; "
                "they must be the same rates (relative tolerance "
                f"{RATE_RTOL:g}). Resample the audio or re-bin the responses to match.")
        return self

    def __repr__(self):
        return f"Timebase(audio_fs={self.audio_fs!r}, dt_ms={self.dt_ms!r})"


#: the paper's timebase: 24,414.0625 Hz audio in 1.31072 ms bins (32 samples)
PAPER = Timebase(PAPER_AUDIO_FS, PAPER_DT_MS)


def samples_per_bin(audio_fs, dt_ms):
    """Audio samples in one bin of ``dt_ms`` at ``audio_fs``, checked by :class:`Timebase`."""
    return Timebase(audio_fs, dt_ms).samples_per_bin


def samples_per_bin_of(audio_fs, dt_ms):
    """:func:`samples_per_bin`, or None when ``dt_ms`` is None (inferred from data at fit)."""
    return None if dt_ms is None else samples_per_bin(audio_fs, dt_ms)


def resolve_samples_per_bin(audio_fs, dt_ms, n_samples, n_bins):
    """Samples per bin from ``(audio_fs, dt_ms)``, or ``n_samples / n_bins`` if ``dt_ms`` is None."""
    if dt_ms is not None:
        return samples_per_bin(audio_fs, dt_ms)
    check_positive_number(audio_fs, "audio_fs")
    if n_samples % n_bins:
        raise ValueError(
            "With dt_ms=None the bin width is n_samples / n_bins, which must be a whole "
            f"number; received X with {n_samples} samples and y with {n_bins} bins per trial.")
    return n_samples // n_bins
