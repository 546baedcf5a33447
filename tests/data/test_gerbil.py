"""Gerbil A1 (diracproject.org) reader, on synthetic folders in the documented layout."""

import os

import numpy as np
import pytest

from sk_icnet.data import BenchmarkTrials, load_gerbil_a1

soundfile = pytest.importorskip("soundfile")

UNITS = ("chan01_unit01", "chan02_unit03")
N_TRIALS = 4


def trial_times(unit, stimulus, trial):
    """Planted spike times (s): unit u, stimulus s, trial k fire at 5 ms, and at
    (12 + s + k) ms when u is the second unit; none in trial 3 of the first unit."""
    if unit == 0 and trial == 3:
        return []
    return [0.005] + ([0.012 + 0.001 * (stimulus + trial)] if unit == 1 else [])


def write_gerbil(folder, *, n_stimuli=3, header=None):
    """A DMR_Run_01-like folder: Stimuli/*.wav (44.1 kHz, 16 bit), Responses/<unit>/*.spikes
    and one mapping file per unit; returns the mapping files."""
    os.makedirs(folder / "Stimuli", exist_ok=True)
    rng = np.random.default_rng(0)
    mappings = []
    for u, unit in enumerate(UNITS):
        os.makedirs(folder / "Responses" / unit, exist_ok=True)
        lines = []
        for s in range(n_stimuli):
            stim = f"DMR_Run_01_{s + 1:02d}"
            soundfile.write(folder / "Stimuli" / f"{stim}.wav",
                            0.1 * rng.standard_normal(4410), 44100, subtype="PCM_16")
            response = f"Responses/{unit}/{stim}_{unit}.spikes"
            body = header if header is not None else f"24414.0625\n{N_TRIALS}\n"
            body += "".join(" ".join(f"{t!r}" for t in trial_times(u, s, k)) + "\n"
                            for k in range(N_TRIALS))
            (folder / response).write_text(body)
            lines.append(f"Stimuli/{stim}.wav; {response}")
        mapping = folder / f"{unit}.txt"
        mapping.write_text("\n".join(lines) + "\n")
        mappings.append(mapping)
    return mappings


def test_reader_recovers_planted_spikes_trials_and_units(tmp_path):
    mappings = write_gerbil(tmp_path)
    data = load_gerbil_a1(mappings, audio_fs=16000.0, dt_ms=2.0)
    assert isinstance(data, BenchmarkTrials) and data.split == {}
    assert data.y_repeats.shape == (3, N_TRIALS, 2, 50)  # 0.1 s in 2 ms bins
    expected = np.zeros_like(data.y_repeats)
    for s in range(3):
        for k in range(N_TRIALS):
            for u in range(2):
                for t in trial_times(u, s, k):
                    expected[s, k, u, int(round(t * 1000, 6) // 2)] += 1
    np.testing.assert_array_equal(data.y_repeats, expected)
    np.testing.assert_array_equal(data.n_repeats, [N_TRIALS] * 3)  # a trial without spikes counts
    assert list(data.neurons["name"]) == list(UNITS)
    assert list(data.neurons["channel"]) == [1, 2] and list(data.neurons["unit"]) == [1, 3]
    assert list(data.neurons["ad_rate_hz"]) == [24414.0625] * 2
    assert data.stimulus_names == ["DMR_Run_01_01", "DMR_Run_01_02", "DMR_Run_01_03"]
    np.testing.assert_array_equal(data.source_fs, [44100.0] * 3)


def test_a_response_file_declaring_more_trials_than_it_holds_is_refused(tmp_path):
    mappings = write_gerbil(tmp_path, header=f"24414.0625\n{N_TRIALS + 2}\n")
    with pytest.raises(ValueError, match=f"declares {N_TRIALS + 2} trials but holds"):
        load_gerbil_a1(mappings)


def test_a_response_file_without_the_documented_header_is_refused(tmp_path):
    mappings = write_gerbil(tmp_path, header="trials\nfour\n")
    with pytest.raises(ValueError, match="expected the AD sampling frequency in Hz"):
        load_gerbil_a1(mappings)


def test_a_mapping_path_leaving_its_folder_is_refused(tmp_path):
    mapping = tmp_path / "unit.txt"
    mapping.write_text("../Stimuli/a.wav; Responses/a.spikes\n")
    with pytest.raises(ValueError, match="line 1 names '../Stimuli/a.wav'"):
        load_gerbil_a1(mapping)
    mapping.write_text("Stimuli/a.wav Responses/a.spikes\n")
    with pytest.raises(ValueError, match="'<stimulus file>; <response file>'"):
        load_gerbil_a1(mapping)


def test_mappings_listing_different_stimuli_are_refused(tmp_path):
    mappings = write_gerbil(tmp_path)
    lines = mappings[1].read_text().splitlines()
    mappings[1].write_text("\n".join(lines[::-1]))
    with pytest.raises(ValueError, match="lists other stimuli"):
        load_gerbil_a1(mappings)


def test_units_with_different_trial_counts_of_a_stimulus_are_refused(tmp_path):
    mappings = write_gerbil(tmp_path)
    response = tmp_path / "Responses" / UNITS[1] / f"DMR_Run_01_02_{UNITS[1]}.spikes"
    lines = response.read_text().splitlines()
    response.write_text("\n".join([lines[0], str(N_TRIALS - 1)] + lines[2:-1]) + "\n")
    with pytest.raises(ValueError, match=f"has {N_TRIALS - 1} trials of 'DMR_Run_01_02', another "
                                         f"unit {N_TRIALS}"):
        load_gerbil_a1(mappings)
