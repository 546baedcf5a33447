"""NWB files (sk_icnet.data): recordings and predictions in, sessions of sound files out."""

import numpy as np
import pytest

from sk_icnet.data import read_nwb, write_nwb


def _session(start_s=5.0):
    import pandas as pd

    from sk_icnet import Recording

    rng = np.random.default_rng(0)
    missing = np.zeros((2, 100), bool)
    missing[1, 10:20] = True
    return Recording((0.01 * rng.standard_normal(3200)).astype(np.float32),
                     rng.poisson(0.5, (2, 100)), audio_fs=8000.0, dt_ms=4.0, name="s1",
                     start_s=start_s, missing=missing,
                     neurons=pd.DataFrame({"cf_hz": [500.0, 1000.0], "electrode": [3, 7]}))


def test_nwb_round_trip_of_a_recording_and_its_predictions(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    rec = _session()
    write_nwb(rec, tmp_path / "s1.nwb", predictions=np.full((2, 100), 0.25))
    back = read_nwb(tmp_path / "s1.nwb", audio_fs=8000.0, dt_ms=4.0)
    assert (back.name, back.start_s, back.n_bins) == ("s1", 5.0, 100)
    np.testing.assert_array_equal(back.audio, rec.audio)
    observed = ~rec.missing
    np.testing.assert_array_equal(back.counts * observed, rec.counts * observed)
    np.testing.assert_array_equal(back.missing, rec.missing)  # through each unit's obs_intervals
    assert back.neurons["electrode"].tolist() == [3, 7] and back.neurons["cf_hz"].tolist() == [500, 1000]
    with pynwb.NWBHDF5IO(str(tmp_path / "s1.nwb"), "r") as io:
        rates = io.read().processing["sk_icnet"]["predicted_rates"]
        assert rates.data.shape == (100, 2) and rates.rate == 250.0
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        write_nwb(rec, tmp_path / "s1.nwb")
    with pytest.raises(ValueError, match=r"predictions must have shape \(n_neurons, n_bins\)"):
        write_nwb(rec, tmp_path / "other.nwb", predictions=np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1.nwb"]


def _nwb_file(**kwargs):
    """An empty NWB file of session 'gerbil7' (needs pynwb)."""
    import datetime

    import pynwb

    return pynwb.NWBFile(session_description="test", identifier="gerbil7",
                         session_start_time=datetime.datetime(2026, 1, 1,
                                                              tzinfo=datetime.timezone.utc),
                         **kwargs)


def test_nwb_with_trials_of_sound_files(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    sf = pytest.importorskip("soundfile")
    from sk_icnet.audio import level_db_spl
    fs = 44100
    t = np.arange(int(0.2 * fs)) / fs
    sf.write(tmp_path / "tone1k.wav", 0.3 * np.sin(2 * np.pi * 1000 * t), fs)
    sf.write(tmp_path / "tone3k.wav", 0.3 * np.sin(2 * np.pi * 3000 * t), fs)
    nwb = _nwb_file()
    nwb.add_trial_column("sound_file", "WAV played at the trial's start")
    nwb.add_trial_column("level_db_spl", "presentation level")
    nwb.add_trial(start_time=0.1, stop_time=0.3, sound_file="tone1k.wav", level_db_spl=60.0)
    nwb.add_trial(start_time=0.5, stop_time=0.7, sound_file="tone3k.wav", level_db_spl=80.0)
    nwb.add_unit_column("cf_hz", "characteristic frequency")
    nwb.add_unit(spike_times=[0.12, 0.15, 0.55, 0.6], cf_hz=1000.0)
    nwb.add_unit(spike_times=[0.51, 0.69, 5.0], cf_hz=3000.0)  # 5.0 s: after the sound
    with pynwb.NWBHDF5IO(str(tmp_path / "trials.nwb"), "w") as io:
        io.write(nwb)
    with pytest.warns(UserWarning, match="1 spike.* fall outside the sound .* dropped"):
        rec = read_nwb(tmp_path / "trials.nwb")
    fs_model = 24414.0625
    assert rec.audio_fs == fs_model and rec.name == "gerbil7"
    first = np.asarray(rec.audio[int(0.12 * fs_model): int(0.28 * fs_model)])
    second = np.asarray(rec.audio[int(0.52 * fs_model): int(0.68 * fs_model)])
    assert level_db_spl(first) == pytest.approx(60.0, abs=0.1)
    assert level_db_spl(second) == pytest.approx(80.0, abs=0.1)
    assert not np.asarray(rec.audio[: int(0.09 * fs_model)]).any()  # silence before the first
    assert rec.counts.sum(axis=1).tolist() == [4, 2]
    assert rec.neurons["cf_hz"].tolist() == [1000.0, 3000.0]
    nwb_missing = _nwb_file()
    nwb_missing.add_trial_column("sound_file", "WAV")
    nwb_missing.add_trial(start_time=0.0, stop_time=0.1, sound_file="absent.wav")
    nwb_missing.add_unit(spike_times=[0.01])
    with pynwb.NWBHDF5IO(str(tmp_path / "absent.nwb"), "w") as io:
        io.write(nwb_missing)
    with pytest.raises(ValueError, match="absent.wav' is not a readable sound file"):
        read_nwb(tmp_path / "absent.nwb")


def test_nwb_files_that_are_refused(tmp_path):
    pynwb = pytest.importorskip("pynwb")
    nwb = _nwb_file()
    nwb.add_stimulus(pynwb.TimeSeries(name="sound", data=np.zeros(800), unit="V", rate=8000.0))
    nwb.add_unit(spike_times=[0.01])
    with pynwb.NWBHDF5IO(str(tmp_path / "volts.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(ValueError, match="is in 'V'; ICNet needs pascals"):
        read_nwb(tmp_path / "volts.nwb")
    nwb = _nwb_file()
    for name in ("a", "b"):
        nwb.add_stimulus(pynwb.TimeSeries(name=name, data=np.zeros(800), unit="Pa", rate=8000.0))
    nwb.add_unit(spike_times=[0.01])
    with pynwb.NWBHDF5IO(str(tmp_path / "two.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(ValueError, match=r"several stimulus TimeSeries \['a', 'b'\]: pass stimulus="):
        read_nwb(tmp_path / "two.nwb", audio_fs=8000.0, dt_ms=4.0)
    assert read_nwb(tmp_path / "two.nwb", audio_fs=8000.0, dt_ms=4.0, stimulus="b").n_bins == 25
    (tmp_path / "junk.nwb").write_bytes(b"junk")
    with pytest.raises(ValueError, match="is not a readable NWB file"):
        read_nwb(tmp_path / "junk.nwb")
