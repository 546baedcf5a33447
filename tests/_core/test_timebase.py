"""The timebase (sk_icnet._core.timebase): the one place rates are resolved and compared."""

import dataclasses

import pytest

from sk_icnet._core.timebase import (
    PAPER,
    PAPER_AUDIO_FS,
    PAPER_DT_MS,
    RATE_RTOL,
    Timebase,
    rates_agree,
    samples_per_bin,
    samples_per_bin_of,
)


def test_samples_per_bin_and_derived_quantities():
    tb = Timebase(8000, 4)
    assert tb.samples_per_bin == 32 and isinstance(tb.samples_per_bin, int)
    assert (tb.audio_fs, tb.dt_ms) == (8000.0, 4.0) and isinstance(tb.audio_fs, float)
    assert tb.dt_s == 0.004 and tb.bin_rate == 250.0
    assert tb.bins(1000.0) == 250.0 and tb.samples(1000.0) == 8000.0
    assert PAPER.samples_per_bin == 32
    assert (PAPER.audio_fs, PAPER.dt_ms) == (PAPER_AUDIO_FS, PAPER_DT_MS) == (24414.0625, 1.31072)
    assert samples_per_bin(16000.0, 2.0) == 32
    assert samples_per_bin_of(16000.0, None) is None and samples_per_bin_of(16000.0, 2.0) == 32


def test_a_bin_must_hold_a_whole_number_of_samples():
    with pytest.raises(ValueError) as info:
        Timebase(16000.0, 1.01)
    message = str(info.value)
    # the rule, what was received and the remedy (the nearest bin width that is whole)
    assert "must be a whole number of audio samples per neural bin" in message
    assert "audio_fs=16000.0 Hz and dt_ms=1.01 ms" in message and "16.16" in message
    assert "Choose dt_ms = k * 1000 / audio_fs" in message and "dt_ms=1.0)" in message
    with pytest.raises(ValueError, match="whole number"):
        Timebase(8000.0, 0.01)  # less than one sample per bin
    Timebase(PAPER_AUDIO_FS, PAPER_DT_MS)  # six typed digits are exact enough


@pytest.mark.parametrize("value, error", [(0.0, ValueError), (-1.0, ValueError),
                                          (float("nan"), ValueError), (float("inf"), ValueError),
                                          ("8000", TypeError), (True, TypeError), (None, TypeError)])
def test_rates_must_be_finite_positive_numbers(value, error):
    with pytest.raises(error, match="audio_fs must be a"):
        Timebase(value, 4.0)
    with pytest.raises(error, match="dt_ms must be a"):
        Timebase(8000.0, value)


def test_agrees_within_the_one_tolerance_and_not_beyond():
    tb = Timebase(8000.0, 4.0)
    near = Timebase(8000.0 * (1 + RATE_RTOL / 2), 4.0 * (1 - RATE_RTOL / 2))
    far_fs = Timebase.from_samples_per_bin(8000.0 * (1 + 10 * RATE_RTOL), 32)
    assert tb.agrees(near) and near.agrees(tb)
    assert not tb.agrees(far_fs) and not tb.agrees(Timebase(16000.0, 2.0))
    assert not tb.agrees(Timebase(8000.0, 8.0))
    assert rates_agree(16000, 16000.0 * (1 + RATE_RTOL / 2))
    assert not rates_agree(16000.0, 16001.0)
    assert tb.check_agrees(near, "the data") is tb
    with pytest.raises(ValueError, match=r"the store: the data has audio_fs=16000.0 Hz .* "
                                         r"the rates here are audio_fs=8000.0 Hz .* Resample"):
        tb.check_agrees(Timebase(16000.0, 2.0), "the store")


@pytest.mark.parametrize("audio_fs, spb", [(8000.0, 32), (PAPER_AUDIO_FS, 32), (44100.0, 441),
                                           (16000.0, 1), (24000.0, 7)])
def test_from_samples_per_bin_round_trips(audio_fs, spb):
    tb = Timebase.from_samples_per_bin(audio_fs, spb)
    assert tb.samples_per_bin == spb and tb.audio_fs == audio_fs
    assert tb.dt_ms == spb * 1000.0 / audio_fs
    assert Timebase(tb.audio_fs, tb.dt_ms) == tb
    assert Timebase.from_samples_per_bin(PAPER_AUDIO_FS, 32).agrees(PAPER)


@pytest.mark.parametrize("spb", [0, -1, 2.5, True, "32"])
def test_from_samples_per_bin_needs_a_positive_integer(spb):
    with pytest.raises(ValueError, match="samples_per_bin must be an integer >= 1; received"):
        Timebase.from_samples_per_bin(8000.0, spb)


def test_frozen_and_hashable():
    tb = Timebase(8000.0, 4.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tb.dt_ms = 2.0
    assert tb == Timebase(8000, 4) and hash(tb) == hash(Timebase(8000, 4))
    assert len({tb, Timebase(8000.0, 4.0), Timebase(16000.0, 2.0)}) == 2
    assert repr(tb) == "Timebase(audio_fs=8000.0, dt_ms=4.0)"


def test_mismatches_name_both_sides_of_each_rate_that_differs():
    tb = Timebase(8000.0, 4.0)
    assert tb.mismatches(8000.0 * (1 + RATE_RTOL / 2), 4.0) == []
    assert tb.mismatches(None, None) == []  # a rate left out agrees with anything
    assert tb.mismatches(16000.0) == [("audio_fs", 8000.0, 16000.0)]
    assert tb.mismatches(16000.0, 2.0) == [("audio_fs", 8000.0, 16000.0), ("dt_ms", 4.0, 2.0)]
    assert tb.mismatches(dt_ms=8.0) == [("dt_ms", 4.0, 8.0)]
    assert not tb.agrees(Timebase(16000.0, 2.0)) and tb.agrees(Timebase(8000.0, 4.0))
