"""Warnings that sk_icnet raises, to filter them by class.

>>> import warnings
>>> from sk_icnet.exceptions import RatesAssumedWarning
>>> warnings.simplefilter("ignore", RatesAssumedWarning)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import warnings

__all__ = ["RatesAssumedWarning", "OutsideTrainingRangeWarning", "DidNotLearnWarning"]

from .timebase import PAPER_AUDIO_FS, PAPER_DT_MS  # noqa: F401  (kept importable from here)


class RatesAssumedWarning(UserWarning):
    """A fit on arrays assumed the paper's audio rate or bin width.

    Arrays carry no sampling rate, so ``audio_fs="auto"`` and ``dt_ms="auto"``
    mean the paper's 24,414.0625 Hz and 1.31072 ms for them. Pass both rates
    explicitly (``audio_fs=16000.0, dt_ms=2.0``) to silence this warning.
    """


class OutsideTrainingRangeWarning(UserWarning):
    """An in-silico experiment asks a model about sounds unlike those it was trained on
    (levels or frequencies outside the training range), or the model answers with
    implausible rates."""


class DidNotLearnWarning(UserWarning):
    """A fit never beat the mean-rate model on its validation loss.

    The mean-rate model predicts each neuron's mean count per bin of the
    training split at every bin; a fit whose best validation loss is not
    clearly below that model's learnt nothing about the sound (it stayed at,
    or fell back to, the mean-rate start). Raised by
    :class:`~sk_icnet.icnet.DidNotLearnCheck` (with the numbers) and by
    :class:`~sk_icnet.ICNetEnsemble` when it leaves such members out.
    """


def _rates_note(audio_fs_param, dt_ms_param, audio_fs, dt_ms):
    """The rates a fit on arrays used, and which of them were assumed, for error messages."""
    def one(name, param, value, unit):
        if value is None:
            return f"{name} inferred from the shapes"
        how = "assumed: the paper's, since arrays carry no rate" if param == "auto" else "set"
        return f"{name}={value!r} {unit} ({how})"
    return (f"(rates used: {one('audio_fs', audio_fs_param, audio_fs, 'Hz')}, "
            f"{one('dt_ms', dt_ms_param, dt_ms, 'ms')}.)")


@contextlib.contextmanager
def _reworded(note):
    """Re-raise a ValueError of the block with ``note`` appended (which rates were used)."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{exc} {note}") from None


def _warn_rates_assumed(audio_fs_param, dt_ms_param, audio_fs, dt_ms, spb, estimator):
    """Warn (:class:`~sk_icnet.exceptions.RatesAssumedWarning`) when a fit on arrays
    assumed the paper's audio rate or bin width."""
    assumed = [f"audio_fs={audio_fs!r} Hz" if audio_fs_param == "auto" else None,
               f"dt_ms={dt_ms!r} ms" if dt_ms_param == "auto" else None]
    assumed = [a for a in assumed if a]
    if not assumed:
        return
    warnings.warn(
        f"{estimator} was fitted on arrays, which carry no sampling rate, so the paper's "
        f"{' and '.join(assumed)} were assumed ({spb} audio samples per bin). If your sounds or "
        "bins differ (e.g. 16 kHz audio in 2 ms bins), filters and in-silico stimuli will be "
        "off by the ratio: pass audio_fs=<Hz> and dt_ms=<ms> explicitly (which also silences "
        "this warning).", RatesAssumedWarning, stacklevel=4)
