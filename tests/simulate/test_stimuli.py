"""Simulated sounds (sk_icnet.simulate._stimuli)."""

import numpy as np
import pytest

from sk_icnet._core.signal import ramp_envelope
from sk_icnet.simulate._stimuli import _event_ramp, make_stimuli


def test_stimuli_are_sound_like():
    X = make_stimuli(3, 0.5, 16000, random_state=0)
    assert X.shape == (3, 8000)
    assert 1e-3 < np.abs(X).max() < 5.0  # pascals
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("n, fs", [(4, 8000.0), (7, 24414.0625), (500, 24414.0625), (1000, 22050.7),
                                   (3000, 44100.9), (50, 100.0)])
def test_event_ramps_keep_the_simulators_sample_count(n, fs):
    """The events' ramps are the shared raised-cosine ramp with the simulator's own length rule
    (5 ms truncated to whole samples, at least one, at most half the event)."""
    n_ramp = max(1, min(n // 2, int(fs * 5.0 / 1000.0)))
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_ramp) / n_ramp)
    expected = np.ones(n)
    expected[:n_ramp], expected[n - n_ramp:] = rise, rise[::-1]
    np.testing.assert_array_equal(_event_ramp(n, fs), expected)
    assert ramp_envelope(n, n_ramp * 1000.0 / fs, fs).shape == (n,)
