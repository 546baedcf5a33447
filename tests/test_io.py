"""Model files (sk_icnet.io): one safetensors file, loadable without data or pickle."""


import numpy as np
import pytest
import torch

from sk_icnet import ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor
from sk_icnet.io import load_model, save_model

from .conftest import TINY_DT, TINY_FS, rewrite_model_file, tiny_estimator

safetensors = pytest.importorskip("safetensors")




def test_icnet_round_trip_needs_no_data(small_xy, tmp_path):
    X, y = small_xy
    est = tiny_estimator(max_epochs=2, head="categorical").fit(X, y)
    est.save_model(tmp_path / "m.safetensors")
    back = ICNetRegressor.load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert (back.audio_fs_, back.dt_ms_, back.n_neurons_) == (TINY_FS, TINY_DT, 3)
    assert back.device == "cpu" and back.module__encoder_channels == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # nothing left over


def test_multi_recording_model_keeps_its_decoders_and_names(tmp_path):
    from sk_icnet import Recording, WindowDataset
    from sk_icnet.simulate._neurons import make_auditory_dataset

    recs = []
    for i, n in enumerate((2, 3)):
        sim = make_auditory_dataset(n_trials=1, duration_s=4.0, audio_fs=8000.0, dt_ms=4.0,
                                    n_neurons=n, random_state=i)
        recs.append(Recording(sim.X[0], sim.y[0], audio_fs=8000.0, dt_ms=4.0, name=f"a{i}"))
    est = tiny_estimator(audio_fs="auto", dt_ms="auto", max_epochs=1, module__time_input=True,
                         module__time_scale_s=10.0)
    est.fit(WindowDataset(recs, window_samples=1280, context_samples=256))
    est.save_model(tmp_path / "m.safetensors")
    back = ICNetRegressor.load_model(tmp_path / "m.safetensors")
    assert back.recording_names_ == ["a0", "a1"] and back.module_.neurons_per_decoder == (2, 3)
    np.testing.assert_array_equal(back.predict(recs[1], time_s=3.0), est.predict(recs[1], time_s=3.0))


@pytest.mark.parametrize("cls", [LinearSTRFRegressor, PoissonSTRFRegressor])
def test_strf_round_trip(small_xy, tmp_path, cls):
    X, y = small_xy
    est = cls(audio_fs=TINY_FS, dt_ms=TINY_DT, n_bands=8, fmin=200.0).fit(X, y)
    est.save_model(tmp_path / "s.safetensors")
    back = cls.load_model(tmp_path / "s.safetensors")
    np.testing.assert_allclose(back.predict(X), est.predict(X), rtol=1e-12, atol=1e-12)  # BLAS order
    np.testing.assert_array_equal(back.coef_, est.coef_)
    with pytest.raises(ValueError, match=f"holds a {cls.__name__}, not an ICNetRegressor"):
        ICNetRegressor.load_model(tmp_path / "s.safetensors")


def test_model_files_that_are_refused(small_xy, tmp_path):
    X, y = small_xy
    path = tmp_path / "m.safetensors"
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, metadata={"format_version": "2"})
    with pytest.raises(ValueError, match="format_version=2, newer than this sk_icnet reads"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, header=lambda h: h["params"].update(evil="x"))
    with pytest.raises(ValueError, match=r"unknown ICNetRegressor parameters \['evil'\]"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, header=lambda h: h["fitted"].update(lr=1000))
    with pytest.raises(ValueError, match=r"unknown keys \['lr'\]"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, tensors=lambda t: t.update({"module.decoder.weight": torch.zeros(4, 8)}))
    with pytest.raises(ValueError, match=r"weight decoder.weight has shape \(4, 8\), but the network"):
        ICNetRegressor.load_model(path)
    tiny_estimator(max_epochs=1).fit(X, y).save_model(path, overwrite=True)
    rewrite_model_file(path, tensors=lambda t: t.update({"module.extra": torch.zeros(1)}))
    with pytest.raises(ValueError, match=r"unknown weights \['extra'\]"):
        ICNetRegressor.load_model(path)
    torch.save({"w": torch.zeros(1)}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="not a readable sk_icnet model file"):
        ICNetRegressor.load_model(tmp_path / "pickle.pt")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="is not an sk_icnet model file"):
        ICNetRegressor.load_model(tmp_path / "other.safetensors")


def test_only_icnet_modules_and_fitted_models_are_saved(small_xy, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny_estimator().save_model(tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------ NWB
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
    from sk_icnet.io import read_nwb, write_nwb

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
    from sk_icnet.io import read_nwb

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
    from sk_icnet.io import read_nwb

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


def test_models_trained_with_transfer_torchrun_or_a_random_state_object_save_and_load(small_xy,
                                                                                     tmp_path):
    # how a model was trained (an encoder transferred from another estimator, torchrun, a
    # RandomState) does not stop it from being shared: its weights are all in the file
    X, y = small_xy
    core = tiny_estimator(max_epochs=1, train_split=None).fit(X, y)
    cases = {
        "transfer": tiny_estimator(encoder_from=core, freeze_encoder=True, max_epochs=1,
                                   train_split=None).fit(X, y),
        "rng": tiny_estimator(random_state=np.random.RandomState(0), max_epochs=1,
                              train_split=None).fit(X, y),
        "torchrun": tiny_estimator(max_epochs=1, train_split=None).fit(X, y),
    }
    cases["torchrun"].distributed = True  # as saved by rank 0 after a torchrun fit
    for name, est in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_model(est, path)
        back = load_model(path)
        np.testing.assert_array_equal(back.predict(X), est.predict(X), err_msg=name)
        assert back.encoder_from is None and back.freeze_encoder is False
        assert back.distributed == "auto" and back.compile is False
        assert back.random_state in (None, 0)


def test_a_header_asking_for_compile_or_a_frozen_transfer_is_refused_naming_the_key(small_xy,
                                                                                    tmp_path):
    X, y = small_xy
    path = tmp_path / "m.safetensors"
    save_model(tiny_estimator(max_epochs=1, train_split=None).fit(X, y), path)
    for key in ("compile", "freeze_encoder"):
        rewrite_model_file(path, header=lambda h, key=key: h["params"].update({key: True}))
        with pytest.raises(ValueError, match=key):
            load_model(path)
        rewrite_model_file(path, header=lambda h, key=key: h["params"].update({key: False}))
