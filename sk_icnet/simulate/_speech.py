"""Synthetic speech from the espeak-ng synthesiser (optional: used only when it is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from fractions import Fraction

import numpy as np
from scipy import signal
from scipy.io import wavfile
from sklearn.utils import check_random_state

from .._core.signal import P_REF
from .._core.validation import _describe, check_positive_int, check_positive_number
from ._stimuli import _trial_levels

__all__ = ["espeak_available", "make_espeak_speech", "HARVARD_SENTENCES"]

#: IEEE (1969) "Harvard" phonetically balanced sentences, lists 1-2 (public domain)
HARVARD_SENTENCES = (
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
)

_PROGRAM = "espeak-ng"
#: longest text passed to the synthesiser in one call (characters)
_MAX_TEXT = 2000


def espeak_available():
    """Whether the ``espeak-ng`` program is on the PATH."""
    return shutil.which(_PROGRAM) is not None


def _synthesise(text, words_per_minute, voice, pitch):
    """One utterance as float64 samples at the synthesiser's rate: (samples, rate)."""
    program = shutil.which(_PROGRAM)
    if program is None:
        raise RuntimeError(
            "make_espeak_speech needs the espeak-ng speech synthesiser, which is not installed "
            "(no 'espeak-ng' on the PATH). Install it (Debian/Ubuntu: apt-get install espeak-ng; "
            "macOS: brew install espeak-ng), or use make_speech_like, which needs nothing.")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "speech.wav")
        # a list of arguments, no shell: the text is never interpreted as a command
        subprocess.run([program, "-v", voice, "-s", str(int(words_per_minute)), "-p", str(int(pitch)),
                        "-w", path, "--", text], check=True, capture_output=True, timeout=60)
        rate, samples = wavfile.read(path)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return samples, float(rate)


def make_espeak_speech(n_trials, duration_s, audio_fs, *, level_db=65.0, words_per_minute=160,
                       voice="en-us", sentences=HARVARD_SENTENCES, random_state=None):
    """Trials of synthetic speech (espeak-ng) in pascals, at a given level and speaking rate.

    Sentences are drawn at random from ``sentences`` (pitch varied by utterance,
    0-99 on espeak-ng's scale), synthesised, resampled to ``audio_fs`` and laid
    end to end, with 100-400 ms pauses, until each trial is ``duration_s`` long;
    each trial is then scaled to ``level_db`` (RMS over the whole trial, pauses
    included). A formant synthesiser's speech, not a talker's: real speech
    (a corpus) is closer to what animals hear in experiments.

    Parameters
    ----------
    n_trials : int
    duration_s : float
    audio_fs : float
    level_db : float or array-like of shape (n_trials,), default=65.0
    words_per_minute : int, default=160
        espeak-ng's speaking rate (80-450).
    voice : str, default="en-us"
        An espeak-ng voice name (``espeak-ng --voices`` lists them).
    sentences : sequence of str, default=HARVARD_SENTENCES
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_trials, round(duration_s * audio_fs)), float32

    Raises
    ------
    RuntimeError
        espeak-ng is not installed (:func:`espeak_available` says whether it is).
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    fs = check_positive_number(audio_fs, "audio_fs")
    n = int(round(check_positive_number(duration_s, "duration_s") * fs))
    levels = _trial_levels(level_db, n_trials)
    wpm = check_positive_int(words_per_minute, "words_per_minute")
    if not 80 <= wpm <= 450:
        raise ValueError(f"words_per_minute must be within espeak-ng's 80-450; received {wpm}.")
    if not isinstance(voice, str) or not voice or voice.startswith("-"):
        raise ValueError(f"voice must be an espeak-ng voice name such as 'en-us'; received "
                         f"{_describe(voice)}.")
    if isinstance(sentences, str) or not sentences or not all(
            isinstance(s, str) and s.strip() and len(s) <= _MAX_TEXT for s in sentences):
        raise ValueError(f"sentences must be a non-empty sequence of non-empty strings of at most "
                         f"{_MAX_TEXT} characters; received {_describe(sentences)}.")
    rng = check_random_state(random_state)
    X = np.zeros((n_trials, n))
    for i in range(n_trials):
        pos = 0
        while pos < n:
            text = sentences[rng.randint(len(sentences))]
            samples, rate = _synthesise(text, wpm, voice, rng.randint(20, 80))
            ratio = Fraction(fs / rate).limit_denominator(1000)
            speech = signal.resample_poly(samples, ratio.numerator, ratio.denominator)
            speech = speech[: n - pos]
            X[i, pos: pos + speech.size] = speech
            pos += speech.size + int(fs * rng.uniform(0.1, 0.4))
        rms = np.sqrt(np.mean(X[i] ** 2))
        if rms > 0:
            X[i] *= P_REF * 10 ** (levels[i] / 20) / rms
    return X.astype(np.float32)
