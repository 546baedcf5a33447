"""Synthetic speech from espeak-ng (skipped where it is not installed)."""

import numpy as np
import pytest

from sk_icnet.audio import level_db_spl
from sk_icnet.simulate import _speech, espeak_available, make_espeak_speech

FS = 16000.0
needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


@needs_espeak
def test_speech_has_the_asked_length_and_level_and_depends_only_on_the_seed():
    X = make_espeak_speech(2, 1.5, FS, level_db=[60.0, 70.0], random_state=0)
    assert X.shape == (2, 24000) and X.dtype == np.float32 and np.isfinite(X).all()
    levels = [level_db_spl(x, audio_fs=FS) for x in X]
    np.testing.assert_allclose(levels, [60.0, 70.0], atol=0.01)
    again = make_espeak_speech(2, 1.5, FS, level_db=[60.0, 70.0], random_state=0)
    np.testing.assert_array_equal(X, again)
    # speech: most power below 4 kHz, and pauses (syllables and gaps between sentences)
    spectrum = np.abs(np.fft.rfft(X[0])) ** 2
    freqs = np.fft.rfftfreq(X.shape[1], 1 / FS)
    assert spectrum[freqs < 4000].sum() > 0.8 * spectrum.sum()


@needs_espeak
def test_a_faster_speaking_rate_says_the_same_sentence_in_less_time():
    slow, rate = _speech._synthesise("four hours of steady work faced us", 100, "en-us", 50)
    fast, _ = _speech._synthesise("four hours of steady work faced us", 300, "en-us", 50)
    assert rate > 0 and fast.size < 0.6 * slow.size


def test_without_espeak_the_error_names_the_remedy(monkeypatch):
    monkeypatch.setattr(_speech.shutil, "which", lambda name: None)
    assert not espeak_available()
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        make_espeak_speech(1, 0.5, FS)


@pytest.mark.parametrize("kwargs, match", [
    (dict(words_per_minute=20), "words_per_minute must be within"),
    (dict(voice="--help"), "voice must be an espeak-ng voice name"),
    (dict(sentences="just a string"), "sentences must be a non-empty sequence"),
    (dict(level_db=np.nan), "level_db must be finite"),
])
def test_bad_arguments_are_refused_before_anything_runs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_espeak_speech(1, 0.5, FS, **kwargs)
