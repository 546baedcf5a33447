"""Hostile NWB files, sound files and data-parallel launches: refused clearly, before allocating.

Each test crafts an input as an attacker or an unlucky user would (a stimulus
declared far larger than the file holds, a trial pointing outside its sound
folder or at a FIFO, a tampered rate or conversion, an absurd count, ranks
given different data) and checks the error names the file or argument, the
rule and the value received. Allocation tests measure the peak of traced
memory: the refusal comes before anything of the declared size is allocated.
"""

import datetime
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
h5py = pytest.importorskip("h5py")
sf = pytest.importorskip("soundfile")

from sk_icnet import Recording  # noqa: E402
from sk_icnet.audio import (  # noqa: E402
    level_db_spl,
    load_audio,
    ramp,
    resample,
    resampling_ratio,
    set_level,
)
from sk_icnet.data import read_nwb, write_nwb  # noqa: E402
from tests.data.test_nwb import _nwb_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RATES = dict(audio_fs=8000.0, dt_ms=4.0)
MB = 1 << 20


def _write(nwb, path):
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _stimulus_file(path, data=None, **series):
    """An NWB file with a 0.1 s waveform in pascals at 8 kHz and one unit."""
    nwb = _nwb_file()
    kwargs = dict(name="sound", data=np.full(800, 0.01) if data is None else data, unit="Pa",
                  rate=8000.0)
    kwargs.update(series)
    nwb.add_stimulus(pynwb.TimeSeries(**kwargs))
    nwb.add_unit(spike_times=[0.01, 0.05])
    return _write(nwb, path)


def _replace_dataset(path, name, **create):
    """Replace the HDF5 dataset ``name`` by an empty one of another declaration (attributes
    kept): what a crafted file holds."""
    with h5py.File(path, "r+") as f:
        attrs = dict(f[name].attrs)
        del f[name]
        ds = f.create_dataset(name, **create)
        for key, value in attrs.items():
            ds.attrs[key] = value


def _trials_file(path, rows, level=False):
    """An NWB file whose trials name sound files: rows of (start_time, file[, level])."""
    nwb = _nwb_file()
    nwb.add_trial_column("sound_file", "WAV played at the trial's start")
    if level:
        nwb.add_trial_column("level_db_spl", "presentation level")
    for start, name, *lv in rows:
        extra = {"level_db_spl": lv[0]} if level else {}
        nwb.add_trial(start_time=start, stop_time=start + 0.1, sound_file=name, **extra)
    nwb.add_unit(spike_times=[0.01, 0.05])
    return _write(nwb, path)


@pytest.fixture
def sounds(tmp_path):
    """``sounds/`` holding tone.wav, silent.wav, a FIFO and a symlink out; ``secret/s.wav``
    outside it."""
    folder, secret = tmp_path / "sounds", tmp_path / "secret"
    folder.mkdir()
    secret.mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(800) / 8000)
    sf.write(folder / "tone.wav", tone, 8000)
    sf.write(folder / "silent.wav", np.zeros(800), 8000)
    sf.write(secret / "s.wav", tone, 8000)
    os.mkfifo(folder / "fifo.wav")
    os.symlink(secret / "s.wav", folder / "link.wav")
    return folder


def _raised(fn, *args, **kwargs):
    """What a call that must raise raised (None if it returned)."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - returned for the test to check
        return exc
    return None


def _peak_bytes(fn, *args, **kwargs):
    """``(exception raised, peak bytes traced)`` of a call that must raise."""
    tracemalloc.start()
    try:
        raised = _raised(fn, *args, **kwargs)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return raised, peak


def _raises_promptly(fifo, fn, *args, release_s=15.0, **kwargs):
    """Call ``fn``; return what it raised and how long it took. A separate process opens
    ``fifo`` for writing after ``release_s`` seconds, so a call blocked opening the FIFO
    (whatever lock it holds) returns then, and the test fails on its time."""
    writer = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(float("
                               "sys.argv[2])); open(sys.argv[1], 'wb').close()", str(fifo),
                               str(release_s)])
    start = time.monotonic()
    try:
        raised = _raised(fn, *args, **kwargs)
    finally:
        elapsed = time.monotonic() - start
        writer.kill()
        writer.wait()
    return raised, elapsed


# ------------------------------------------------------------ NWB stimulus sizes
def test_a_stimulus_declared_larger_than_the_file_holds_is_refused_before_allocating(tmp_path):
    path = _stimulus_file(tmp_path / "s.nwb")
    # 3e7 float32 samples declared (an hour at 8 kHz), chunked, not one chunk written
    _replace_dataset(path, "stimulus/presentation/sound/data", shape=(30_000_000,), dtype="f4",
                     chunks=(1 << 16,))
    assert os.path.getsize(path) < 1 * MB
    raised, peak = _peak_bytes(read_nwb, path, **RATES)
    assert isinstance(raised, ValueError), raised
    assert "declares shape (30000000,) but the file holds only 0 of its 458 chunks" in str(raised)
    assert peak < 20 * MB  # reading it would take 240 MB as float64


def test_a_contiguous_stimulus_never_written_is_refused(tmp_path):
    path = _stimulus_file(tmp_path / "s.nwb")
    _replace_dataset(path, "stimulus/presentation/sound/data", shape=(80_000,), dtype="f4")
    with pytest.raises(ValueError, match=r"declares shape \(80000,\) \(320000 bytes\) but the file "
                                         "holds 0 bytes of it"):
        read_nwb(path, **RATES)


def test_max_duration_s_bounds_the_stimulus_before_it_is_read(tmp_path):
    path = _stimulus_file(tmp_path / "s.nwb")
    with pytest.raises(ValueError, match=r"declares 800 samples at 8000 Hz \(0.1 s\), more than "
                                         r"max_duration_s=0.05 s: pass a larger max_duration_s"):
        read_nwb(path, max_duration_s=0.05, **RATES)
    assert read_nwb(path, max_duration_s=0.1, **RATES).n_bins == 25
    # the default (4 hours) refuses a 3e9-sample declaration from the header alone
    _replace_dataset(path, "stimulus/presentation/sound/data", shape=(3_000_000_000,),
                     dtype="f4", chunks=(1 << 20,))
    raised, peak = _peak_bytes(read_nwb, path, **RATES)
    assert "declares 3000000000 samples at 8000 Hz (375000 s), more than max_duration_s=14400.0" \
        in str(raised)
    assert peak < 20 * MB


def test_stimulus_data_stored_in_an_external_file_is_not_read(tmp_path):
    secret = tmp_path / "secret.bin"
    np.full(800, 0.5, "<f4").tofile(secret)
    path = _stimulus_file(tmp_path / "s.nwb")
    _replace_dataset(path, "stimulus/presentation/sound/data", shape=(800,), dtype="<f4",
                     external=[(str(secret), 0, 3200)])
    with pytest.raises(ValueError, match="'stimulus/presentation/sound/data' is stored outside the "
                                         "file .virtual or external storage.; only data in the file"):
        read_nwb(path, **RATES)


@pytest.mark.parametrize("target, key, value, match", [
    ("data", "conversion", 0.0, "the conversion of the stimulus 'sound' of .* must be a finite "
                                "nonzero number; received 0.0"),
    ("data", "conversion", np.nan, "the conversion .* must be a finite nonzero number; received nan"),
    ("data", "conversion", np.inf, "the conversion .* must be a finite nonzero number; received inf"),
    ("data", "offset", np.nan, "the offset .* must be a finite number; received nan"),
    ("starting_time", "rate", 0.0, "the rate .* must be a finite number > 0; received 0.0"),
    ("starting_time", "rate", -8000.0, "the rate .* must be a finite number > 0; received -8000.0"),
    ("starting_time", "rate", np.nan, "the rate .* must be a finite number > 0; received nan"),
    ("starting_time", None, np.inf, "the starting_time .* must be a finite number; received inf"),
    ("starting_time", None, 1e300, "the starting_time .* is 1e\\+300 s: recording times must lie "
                                   "within 1e\\+09 s"),
])
@pytest.mark.filterwarnings("ignore:.*[Rr]ate:UserWarning")  # pynwb's own notes on the rate
def test_tampered_stimulus_attributes_are_refused(tmp_path, target, key, value, match):
    path = _stimulus_file(tmp_path / "s.nwb")
    with h5py.File(path, "r+") as f:
        node = f[f"stimulus/presentation/sound/{target}"]
        if key is None:
            node[()] = value
        else:
            node.attrs[key] = value
    with pytest.raises(ValueError, match=match):
        read_nwb(path, **RATES)


def test_stimulus_offset_is_applied(tmp_path):
    path = _stimulus_file(tmp_path / "s.nwb", offset=0.5, conversion=2.0)
    rec = read_nwb(path, **RATES)
    np.testing.assert_allclose(rec.audio[:], 2.0 * 0.01 + 0.5, rtol=1e-6)


@pytest.mark.parametrize("series, match", [
    (dict(data=np.array([0.1, np.nan] * 400)), "holds 400 NaN or inf sample.s. .the first at "
                                               "sample 1.; a waveform must be finite"),
    (dict(data=np.zeros(800), rate=None, timestamps=np.arange(800) / 8000.0),
     "has timestamps, not a sampling rate"),
    (dict(data=np.zeros((800, 2))), r"must be one non-empty waveform; received shape \(800, 2\)"),
    (dict(data=np.zeros(0)), r"must be one non-empty waveform; received shape \(0,\)"),
    (dict(data=np.array(["a", "b"])), "must hold numbers; its dtype is"),
])
def test_stimulus_waveforms_that_are_refused(tmp_path, series, match):
    path = _stimulus_file(tmp_path / "s.nwb", **series)
    with pytest.raises(ValueError, match=match):
        read_nwb(path, **RATES)


def test_read_nwb_refuses_a_fifo_at_once(tmp_path):
    fifo = tmp_path / "session.nwb"
    os.mkfifo(fifo)
    raised, elapsed = _raises_promptly(fifo, read_nwb, fifo)
    assert isinstance(raised, ValueError) and "is a FIFO (named pipe), not an NWB file: only " \
        "regular files are read" in str(raised), raised
    assert elapsed < 10  # refused, not opened: the FIFO was never waited on


@pytest.mark.parametrize("target", ["foreign", "fifo", "/dev/zero"])
def test_an_nwb_file_linking_outside_itself_is_refused_before_pynwb_follows_the_link(
        tmp_path, target):
    path = _stimulus_file(tmp_path / "s.nwb")
    foreign = _stimulus_file(tmp_path / "foreign.nwb")
    fifo = tmp_path / "pipe.nwb"
    os.mkfifo(fifo)
    link = {"foreign": str(foreign), "fifo": str(fifo), "/dev/zero": "/dev/zero"}[target]
    with h5py.File(path, "r+") as f:
        f["acquisition"]["elsewhere"] = h5py.ExternalLink(link, "/acquisition")
    raised, elapsed = _raises_promptly(fifo, read_nwb, path, **RATES)
    assert isinstance(raised, ValueError), raised
    assert "s.nwb': object 'acquisition/elsewhere' is an external link" in str(raised), raised
    assert elapsed < 10  # refused, not followed: the FIFO was never waited on


def test_soft_links_and_references_inside_an_nwb_file_are_read(tmp_path):
    path = _stimulus_file(tmp_path / "s.nwb")
    with h5py.File(path, "r+") as f:
        f["acquisition"]["alias"] = h5py.SoftLink("/stimulus/presentation/sound")
        f["acquisition"].attrs["pointer"] = f["stimulus/presentation/sound"].ref
    rec = read_nwb(path, **RATES)
    assert rec.n_neurons == 1 and rec.audio.shape == (800,)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(audio_fs=0), ValueError, "audio_fs must be a finite number > 0; received 0"),
    (dict(dt_ms=float("nan")), ValueError, "dt_ms must be a finite number > 0; received nan"),
    (dict(max_duration_s=-1), ValueError, "max_duration_s must be a finite number > 0"),
    (dict(scale="1"), TypeError, "scale must be a real number > 0; received '1'"),
    (dict(stimulus=3), TypeError, "stimulus must be a str or None; received 3"),
    (dict(sound_column=None), TypeError, "sound_column must be a str; received None"),
    (dict(dt_ms=1.0001), ValueError, "whole number of audio samples per neural bin"),
])
def test_read_nwb_arguments_are_checked_before_the_file_is_opened(tmp_path, kwargs, error, match):
    (tmp_path / "junk.nwb").write_bytes(b"junk")  # never opened: the arguments fail first
    with pytest.raises(error, match=match):
        read_nwb(tmp_path / "junk.nwb", **kwargs)
    with pytest.raises(TypeError, match="path must be a str or path-like naming an NWB file; "
                                        "received 3"):
        read_nwb(3)


# ------------------------------------------------------------------ NWB trials
@pytest.mark.parametrize("name, match", [
    ("{secret}", "names the absolute path .*secret.*s.wav': sound files must be named relative "
                 "to sound_dir"),
    ("../secret/s.wav", "names '../secret/s.wav', which resolves to .*secret.*s.wav', outside "
                        "sound_dir"),
    ("link.wav", "names 'link.wav', which resolves to .*secret.*s.wav', outside sound_dir"),
    ("sub/../../secret/s.wav", "names 'sub/../../secret/s.wav', which resolves to .* outside "
                               "sound_dir"),
])
def test_trial_sound_files_outside_sound_dir_are_not_read(sounds, name, match):
    secret = str(sounds.parent / "secret" / "s.wav")
    path = _trials_file(sounds / "t.nwb", [(0.0, "tone.wav"), (0.5, name.format(secret=secret))])
    with pytest.raises(ValueError, match=f"trial 1 of .*t.nwb' {match}"):
        read_nwb(path, **RATES)


def test_a_trial_naming_a_fifo_or_a_directory_is_refused_at_once(sounds):
    path = _trials_file(sounds / "t.nwb", [(0.0, "fifo.wav")])
    raised, elapsed = _raises_promptly(sounds / "fifo.wav", read_nwb, path, **RATES)
    assert isinstance(raised, ValueError) and elapsed < 10, (raised, elapsed)
    assert "trial 0 of" in str(raised) and "fifo.wav' is a FIFO (named pipe), not a sound file" \
        in str(raised)
    path = _trials_file(sounds / "d.nwb", [(0.0, ".")])
    with pytest.raises(ValueError, match="is a directory, not a sound file"):
        read_nwb(path, **RATES)


def test_a_trial_starting_late_is_refused_before_the_sound_is_allocated(sounds):
    # 15,000 s at 1 kHz: 15 M samples (60 MB) would be allocated for one 0.1 s tone
    path = _trials_file(sounds / "t.nwb", [(15_000.0, "tone.wav")])
    raised, peak = _peak_bytes(read_nwb, path, audio_fs=1000.0, dt_ms=4.0)
    assert isinstance(raised, ValueError), raised
    assert "trial 0 of" in str(raised) and "starts at start_time=15000.0 s; trials must start " \
        "at a finite time from 0 to max_duration_s=14400.0 s" in str(raised)
    assert peak < 20 * MB
    # allowed by max_duration_s, the trial must also end within it
    with pytest.raises(ValueError, match=r"trial 0 of .* ends at 15000.1 s, after "
                                         r"max_duration_s=15000.05 s"):
        read_nwb(path, audio_fs=1000.0, dt_ms=4.0, max_duration_s=15000.05)


@pytest.mark.parametrize("rows, match", [
    ([(float("nan"), "tone.wav", 60.0)], "trial 0 of .* starts at start_time=nan s"),
    ([(0.0, "tone.wav", float("nan"))], r"trial 0 of .* \(level_db_spl=nan, sound file .*tone.wav'"
                                        r"\): db_spl must be a finite level"),
    ([(0.0, "tone.wav", 60.0), (0.2, "silent.wav", 60.0)],
     r"trial 1 of .* \(level_db_spl=60.0, sound file .*silent.wav'\): x is silent"),
])
def test_bad_trial_times_and_levels_name_the_trial(sounds, rows, match):
    path = _trials_file(sounds / "t.nwb", rows, level=True)
    with pytest.raises(ValueError, match=match):
        read_nwb(path, **RATES)


def test_a_sound_repeated_over_trials_is_read_once_and_placed_at_each_onset(sounds, monkeypatch):
    import sk_icnet.audio

    calls = []
    real = sk_icnet.audio.load_audio
    monkeypatch.setattr(sk_icnet.audio, "load_audio", lambda *a, **k: calls.append(a[0])
                        or real(*a, **k))
    path = _trials_file(sounds / "t.nwb", [(0.0, "tone.wav"), (0.5, "tone.wav"),
                                           (1.0, "tone.wav")])
    rec = read_nwb(path, **RATES)
    assert len(calls) == 1
    tone = load_audio(sounds / "tone.wav", 8000.0)
    for start in (0, 4000, 8000):
        np.testing.assert_array_equal(rec.audio[start: start + 800], tone)
    assert not np.asarray(rec.audio[800:4000]).any()


# ------------------------------------------------------------------- NWB units
def test_spike_times_declared_but_never_written_are_refused_before_reading(tmp_path):
    path = _stimulus_file(tmp_path / "s.nwb")
    _replace_dataset(path, "units/spike_times", shape=(10_000_000,), dtype="f8", chunks=(1 << 16,))
    _replace_dataset(path, "units/spike_times_index", data=np.array([10_000_000], "u8"))
    raised, peak = _peak_bytes(read_nwb, path, **RATES)
    assert isinstance(raised, ValueError), raised
    assert "the units column 'spike_times' of" in str(raised) \
        and "declares shape (10000000,) but the file holds only 0 of its 153 chunks" in str(raised)
    assert peak < 20 * MB  # the 80 MB of fill values are never read


def test_units_times_bins_are_bounded(tmp_path, monkeypatch):
    import sk_icnet.data._nwb

    path = _stimulus_file(tmp_path / "s.nwb")
    monkeypatch.setattr(sk_icnet.data._nwb, "MAX_NWB_CELLS", 24)
    with pytest.raises(ValueError, match="has 1 units and 25 bins: more than 24 counts"):
        read_nwb(path, **RATES)


def test_non_finite_spike_times_and_observation_intervals_are_refused(tmp_path):
    nwb = _nwb_file()
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=np.zeros(800), unit="Pa", rate=8000.0))
    nwb.add_unit(spike_times=[0.01, np.nan])
    path = _write(nwb, tmp_path / "nan.nwb")
    with pytest.raises(ValueError, match="unit 0 of .* has NaN or inf spike times"):
        read_nwb(path, **RATES)
    nwb = _nwb_file()
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=np.zeros(800), unit="Pa", rate=8000.0))
    nwb.add_unit(spike_times=[0.01], obs_intervals=[[0.0, np.nan]])
    path = _write(nwb, tmp_path / "obs.nwb")
    with pytest.raises(ValueError, match="unit 0 of .* has obs_intervals that are not finite"):
        read_nwb(path, **RATES)


def test_many_observation_intervals_give_the_same_mask_as_one_interval_at_a_time(tmp_path):
    rng = np.random.default_rng(0)
    starts = np.sort(rng.uniform(0, 0.1, 40))
    intervals = np.stack([starts, starts + rng.uniform(0, 0.002, 40)], axis=1)
    nwb = _nwb_file()
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=np.zeros(800), unit="Pa", rate=8000.0))
    nwb.add_unit(spike_times=[0.01], obs_intervals=intervals)
    rec = read_nwb(_write(nwb, tmp_path / "obs.nwb"), **RATES)
    centres = (np.arange(25) + 0.5) * 0.004
    covered = ((centres[None] >= intervals[:, :1]) & (centres[None] < intervals[:, 1:])).any(0)
    np.testing.assert_array_equal(np.asarray(rec.missing[:])[0], ~covered)
    assert covered.any() and not covered.all()


# ---------------------------------------------------------------------- write_nwb
def _recording(counts=None):
    return Recording(np.zeros(3200, np.float32),
                     np.ones((2, 100), int) if counts is None else counts, name="s1", **RATES)


def test_write_nwb_refuses_an_implausible_count_before_expanding_it(tmp_path):
    counts = np.zeros((2, 100), np.uint32)
    counts[1, 7] = 5_000_000  # 40 MB of spike times if expanded (5e8 made 3.7 GiB)
    raised, peak = _peak_bytes(write_nwb, _recording(counts), tmp_path / "s.nwb")
    assert isinstance(raised, ValueError), raised
    assert "unit 1 of recording 's1' has 5000000 spikes in bin 7, more than 40 (10000 spikes/s " \
           "in 4 ms bins): not a plausible count" in str(raised)
    assert peak < 20 * MB and not list(tmp_path.iterdir())
    counts[1, 7] = 41
    with pytest.raises(ValueError, match="has 41 spikes in bin 7, more than 40"):
        write_nwb(_recording(counts), tmp_path / "s.nwb")
    write_nwb(_recording(counts), tmp_path / "s.nwb", max_rate_hz=20_000.0)  # 80 per bin
    back = read_nwb(tmp_path / "s.nwb", **RATES)
    assert back.counts[1, 7] == 41 and back.counts[:].sum() == 41


def test_write_nwb_replaces_only_nwb_files(tmp_path):
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("four years of work")
    with pytest.raises(ValueError, match="exists and is not an NWB .HDF5. file; write_nwb replaces "
                                         "only NWB files, even with overwrite=True"):
        write_nwb(_recording(), thesis, overwrite=True)
    assert thesis.read_text() == "four years of work"
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="exists and is not an NWB"):
        write_nwb(_recording(), tmp_path / "folder", overwrite=True)
    assert (tmp_path / "folder" / "keep.txt").read_text() == "x"
    write_nwb(_recording(), tmp_path / "s.nwb")
    write_nwb(_recording(np.zeros((2, 100), int)), tmp_path / "s.nwb", overwrite=True)
    assert read_nwb(tmp_path / "s.nwb", **RATES).counts[:].sum() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "s.nwb", "thesis.txt"]


def test_write_nwb_does_not_clobber_a_file_that_appears_while_it_writes(tmp_path, monkeypatch):
    import pynwb

    path = tmp_path / "s.nwb"
    original = pynwb.NWBHDF5IO.write

    def racing(self, *args, **kwargs):
        original(self, *args, **kwargs)
        path.write_text("another process's file")  # appears before the temporary is published

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", racing)
    with pytest.raises(ValueError, match="appeared while the NWB file was being written"):
        write_nwb(_recording(), path)
    assert path.read_text() == "another process's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nwb"]  # no temporary left


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((np.zeros(3),), {}, TypeError, "recording must be an sk_icnet Recording; received array"),
    (("REC", None), {}, TypeError, "path must be a str or path-like; received None"),
    (("REC",), dict(overwrite="yes"), TypeError, "overwrite must be True or False; received 'yes'"),
    (("REC",), dict(identifier=5), TypeError, "identifier must be a str or None; received 5"),
    (("REC",), dict(session_start_time=datetime.datetime(2026, 1, 1)), TypeError,
     "session_start_time must be a timezone-aware datetime"),
    (("REC",), dict(session_start_time="2026-01-01"), TypeError,
     "session_start_time must be a timezone-aware datetime"),
    (("REC",), dict(predictions=np.full((2, 100), np.nan)), ValueError,
     "predictions must be finite expected counts"),
    (("REC",), dict(predictions="abc"), TypeError, "predictions must be an array of real numbers"),
    (("REC",), dict(max_rate_hz=0), ValueError, "max_rate_hz must be a finite number > 0"),
])
def test_write_nwb_arguments_that_are_refused(tmp_path, args, kwargs, error, match):
    args = tuple(_recording() if isinstance(a, str) and a == "REC" else a for a in args)
    if len(args) == 1:
        args = (*args, tmp_path / "s.nwb")
    with pytest.raises(error, match=match):
        write_nwb(*args, **kwargs)
    assert not list(tmp_path.iterdir())


def test_write_nwb_neurons_hdf5_cannot_store_give_a_clear_error(tmp_path):
    import pandas as pd

    rec = Recording(np.zeros(3200, np.float32), np.ones((2, 100), int), name="s1",
                    neurons=pd.DataFrame({"tags": [{"a": 1}, {"b": 2}]}), **RATES)
    with pytest.raises(ValueError, match="recording 's1' could not be written to NWB .*tags.*its "
                                         "neurons columns must hold numbers, strings or bools"):
        write_nwb(rec, tmp_path / "s.nwb")
    assert not list(tmp_path.iterdir())


def test_recording_start_times_beyond_any_session_are_refused():
    with pytest.raises(ValueError, match=r"start_s must be a recording time within 1e9 s .* "
                                         r"received 1e\+300"):
        Recording(np.zeros(320), np.zeros((1, 10)), start_s=1e300, **RATES)
    assert Recording(np.zeros(320), np.zeros((1, 10)), start_s=-3600.0, **RATES).start_s == -3600.0


# ------------------------------------------------------------------ sound files
@pytest.mark.parametrize("samples, match", [
    (np.array([0.1, np.nan, 0.2]), r"holds 1 NaN or inf sample.s. \(the first at sample 1, "
                                   r"channel 0\); sound files must be finite"),
    (np.array([0.1, 0.2, -np.inf]), r"holds 1 NaN or inf sample.s. \(the first at sample 2"),
    (np.zeros(0), r"holds no samples \(an empty sound file\)"),
])
def test_load_audio_refuses_non_finite_and_empty_files(tmp_path, samples, match):
    sf.write(tmp_path / "bad.wav", samples, 8000, subtype="FLOAT")
    for audio_fs in (None, 24414.0625):
        with pytest.raises(ValueError, match=f"path '.*bad.wav' {match}"):
            load_audio(tmp_path / "bad.wav", audio_fs)


def test_load_audio_refuses_fifos_devices_and_directories_at_once(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    raised, elapsed = _raises_promptly(tmp_path / "pipe.wav", load_audio, tmp_path / "pipe.wav")
    assert isinstance(raised, ValueError) and "is a FIFO (named pipe), not a sound file: only " \
        "regular files are read" in str(raised), raised
    assert elapsed < 10
    with pytest.raises(ValueError, match="'/dev/zero' is a character device, not a sound file"):
        load_audio("/dev/zero")
    with pytest.raises(ValueError, match="is a directory, not a sound file"):
        load_audio(tmp_path)


def test_load_audio_max_duration_s_is_checked_from_the_header(tmp_path):
    sf.write(tmp_path / "tone.wav", np.full(8000, 0.1), 8000)
    with pytest.raises(ValueError, match=r"holds 1 s of sound, more than max_duration_s=0.5 s"):
        load_audio(tmp_path / "tone.wav", None, max_duration_s=0.5)
    assert load_audio(tmp_path / "tone.wav", None, max_duration_s=1.0).shape == (8000,)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(audio_fs=0), ValueError, "audio_fs must be a finite number > 0; received 0"),
    (dict(audio_fs="8000"), TypeError, "audio_fs must be a real number > 0; received '8000'"),
    (dict(audio_fs=1e-300), ValueError, "changes the rate by a factor of 1.25e-304; at most "
                                        "max_ratio_terms=100000 either way"),
    (dict(channel=1.0), TypeError, "channel must be an integer .a channel index. or None; "
                                   "received 1.0"),
    (dict(scale=1e308), ValueError, "scaled by scale=1e\\+308 exceeds float32's range"),
    (dict(max_duration_s=0), ValueError, "max_duration_s must be a finite number > 0"),
])
def test_load_audio_arguments_that_are_refused(tmp_path, kwargs, error, match):
    sf.write(tmp_path / "tone.wav", np.full(800, 0.1), 8000)
    with pytest.raises(error, match=match):
        load_audio(tmp_path / "tone.wav", **kwargs)
    with pytest.raises(TypeError, match="path must be a str or path-like naming a sound file; "
                                        "received None"):
        load_audio(None)


X = np.full(100, 0.1)


@pytest.mark.parametrize("call, error, match", [
    (lambda: resample(X, 1.0, 1e12), ValueError, "changes the rate by a factor of 1e\\+12"),
    (lambda: resample(X, 1e-300, 8000.0), ValueError, "changes the rate by a factor of 8e\\+303"),
    (lambda: resample(np.zeros(0), 8000, 16000), ValueError, "x must hold at least one sample"),
    (lambda: resample(np.array([np.nan, 1.0]), 8000, 16000), ValueError,
     "x contains NaN or inf; waveforms must be finite to resample"),
    (lambda: resampling_ratio(8000, 44100, 0), ValueError,
     "max_ratio_terms must be an integer >= 1; received 0"),
    (lambda: resampling_ratio(8000, 44100, "5"), TypeError, "max_ratio_terms must be an integer"),
    (lambda: level_db_spl(X, audio_fs=8000, active_only=True, active_db=float("nan")), ValueError,
     "active_db must be a finite number >= 0 .dB below the loudest frame.; received nan"),
    (lambda: level_db_spl(X, audio_fs=8000, active_only=True, active_db="40"), TypeError,
     "active_db must be a finite number >= 0 .dB below the loudest frame.; received '40'"),
    (lambda: level_db_spl(X, active_only="yes"), TypeError, "active_only must be True or False"),
    (lambda: set_level(X, "70"), TypeError, "db_spl must be a real number .a level in dB SPL.; "
                                            "received '70'"),
    (lambda: set_level(X, None), TypeError, "db_spl must be a real number"),
    (lambda: set_level(X, np.array([70.0, 80.0])), TypeError, "db_spl must be a real number"),
    (lambda: set_level(X, 1e308), ValueError, "db_spl=1e\\+308 scales x beyond float32's range"),
    (lambda: set_level(X, 1e4), ValueError, "db_spl=10000.0 scales x beyond float32's range"),
    (lambda: ramp(X, 5.0, 1e308), ValueError, "two ramps of ms=5.0 ms .inf samples each at "
                                              "audio_fs=1e\\+308. do not fit in 100 samples"),
    (lambda: ramp(X, 1e300, 8000), ValueError, "two ramps of ms=1e\\+300 ms .8e\\+300 samples"),
])
def test_audio_helpers_name_the_argument_and_the_rule(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_level_of_a_very_loud_waveform_does_not_overflow():
    x = np.full(10, 1e200)
    assert level_db_spl(x) == pytest.approx(20 * (200 - np.log10(20e-6)))
    np.testing.assert_allclose(level_db_spl(set_level(np.full(10, 1e-3), 94.0)), 94.0, atol=1e-4)


# ---------------------------------------------------------------- data-parallel
def test_ranks_with_different_counts_raise_on_every_rank(monkeypatch):
    import sk_icnet.icnet._distributed as d

    gathered = [{"training_trials": 20, "validation_trials": 4},
                {"training_trials": 19, "validation_trials": 4}]
    monkeypatch.setattr(d, "gather_objects", lambda obj: gathered)
    with pytest.raises(ValueError, match=r"hold different data \(rank 0: training_trials=20, "
                                         r"validation_trials=4; rank 1: training_trials=19, "
                                         r"validation_trials=4\): every rank .* same data"):
        d.check_ranks_agree("data", training_trials=20, validation_trials=4)
    monkeypatch.setattr(d, "gather_objects", lambda obj: [obj, dict(obj)])
    assert d.check_ranks_agree("data", training_trials=20) is None


def test_ranks_holding_as_many_windows_in_another_layout_disagree(monkeypatch):
    import sk_icnet.icnet._distributed as d
    from sk_icnet import WindowDataset

    def windows(n_bins):  # 2 recordings; 6 windows in all, split 2 + 4 or 3 + 3
        return WindowDataset([Recording(np.zeros(32 * b), np.zeros((1, b)), name=f"r{i}", **RATES)
                              for i, b in enumerate(n_bins)], window_samples=1024,
                             context_samples=256)

    a, b = windows((32, 96)), windows((64, 64))
    assert len(a) == len(b) == 6
    seen = []
    monkeypatch.setattr(d, "gather_objects", lambda obj: seen.append(obj) or [obj, seen[0]])
    d.check_same_data(a, None, a)  # rank 0 sees itself twice
    with pytest.raises(ValueError, match=r"rank 0: training_windows=6, validation_windows=0, "
                                         r"window_layout=\w{12}; rank 1: training_windows=6, "
                                         r"validation_windows=0, window_layout=\w{12}\)"):
        d.check_same_data(b, None, b)
    assert seen[0]["window_layout"] != seen[1]["window_layout"]
    monkeypatch.setattr(d, "gather_objects", lambda obj: seen.append(obj) or [obj, obj])
    assert d.check_same_data(np.zeros(5), np.zeros(2)) is None  # arrays: counts only
    assert seen[-1] == {"training_trials": 5, "validation_trials": 2}


DDP_SCRIPT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from tests.conftest import tiny_estimator
    from sk_icnet.simulate._neurons import make_auditory_dataset

    rank = int(os.environ["RANK"])
    data = make_auditory_dataset(n_trials=8 - rank, duration_s=0.25, audio_fs=8000.0, dt_ms=4.0,
                                 n_neurons=1, random_state=0)
    start = time.monotonic()
    try:
        tiny_estimator(max_epochs=1, batch_size=2, train_split=None).fit(data.X, data.y)
    except ValueError as exc:
        print(f"ERROR after {{time.monotonic() - start:.1f}} s: {{exc}}", file=sys.stderr, flush=True)
        # leave at once: what is tested is the error; torch's gloo threads can still abort
        # an interpreter's shutdown after a collective (exit -6), which is not sk_icnet's doing
        os._exit(3)
""")


@pytest.mark.slow
def test_ranks_given_different_numbers_of_trials_fail_at_once_naming_them(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "fit.py"
    script.write_text(DDP_SCRIPT.format(root=ROOT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SK_ICNET_DIST_TIMEOUT_S": "60",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
    procs = [subprocess.Popen([sys.executable, str(script)], env={**env, "RANK": str(r),
                                                                   "LOCAL_RANK": str(r)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    try:
        errs = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [3, 3], errs
    expected = ("hold different data (rank 0: training_trials=8, validation_trials=0; rank 1: "
                "training_trials=7, validation_trials=0)")
    assert all(expected in e for e in errs), errs
    # the fits fail at their start, not after the 60 s collective timeout (imports not counted)
    assert all(float(e.split("ERROR after ")[1].split(" s:")[0]) < 30 for e in errs), errs
