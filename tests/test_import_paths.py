"""Every import path of 0.3 keeps working after the 0.4 restructure, and gives the same objects."""

import importlib

import pytest

#: 0.3's modules and the public names each had -> where each lives from 0.4 on (a list where
#: the names live in several rooms)
MOVED = {
    "sk_icnet.estimator": ("sk_icnet.icnet", ["ICNetRegressor"]),
    "sk_icnet.model": [("sk_icnet.icnet._module", ["ICNet"]),
                       ("sk_icnet.icnet._layers", ["SincFilterbank", "conv_padding",
                                                   "cpu_supports_bf16", "factor_strides",
                                                   "hz_to_mel", "mel_to_hz", "symlog"])],
    "sk_icnet.losses": ("sk_icnet.icnet", ["PoissonLoss", "CategoricalCountLoss", "masked_mean"]),
    "sk_icnet.callbacks": ("sk_icnet.icnet", ["AtomicCheckpoint", "BestWeights",
                                              "CheckpointMetadata", "GatherDistributedLosses",
                                              "PendingLoss", "ResolvePendingLosses",
                                              "TrainingDiverged", "TrimHeap"]),
    "sk_icnet.distributed": ("sk_icnet.icnet._distributed", [
        "DistributedContext", "setup_distributed", "teardown_distributed", "gather_objects",
        "broadcast_object", "check_ranks_agree", "check_same_data"]),
    "sk_icnet.features": ("sk_icnet.icnet", ["ICNetFeatures"]),
    "sk_icnet.published": ("sk_icnet.icnet", ["describe_keras", "load_published_icnet"]),
    "sk_icnet.recordings": ("sk_icnet.data", ["bin_spike_times", "spike_trains", "make_windows"]),
    "sk_icnet.trials": ("sk_icnet.data", ["TrialData", "load_trials"]),
    "sk_icnet.datasets": ("sk_icnet.simulate", ["make_stimuli", "make_random_chords",
                                                "make_auditory_dataset", "make_tuned_neurons",
                                                "TunedNeurons", "q10_to_octaves",
                                                "NEURON_KINDS"]),
    "sk_icnet.data": ("sk_icnet.data", ["Recording", "WindowDataset", "WindowBatchSampler",
                                        "collate_windows", "decoder_indices", "FORMAT",
                                        "FORMAT_VERSION"]),
    "sk_icnet.io": ("sk_icnet.data", ["read_nwb", "write_nwb"]),
    "sk_icnet.exceptions": ("sk_icnet._core.exceptions", ["RatesAssumedWarning",
                                                          "OutsideTrainingRangeWarning"]),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_import_path_of_0_3_gives_the_same_objects_as_the_new_home(old):
    homes = MOVED[old] if isinstance(MOVED[old], list) else [MOVED[old]]
    was = importlib.import_module(old)
    for new, names in homes:
        now = importlib.import_module(new)
        for name in names:
            assert getattr(was, name) is getattr(now, name), f"{old}.{name}"
            assert name in getattr(was, "__all__", names), f"{old}.__all__ lacks {name}"


def test_the_package_exports_its_public_names_from_their_new_homes():
    import sk_icnet

    assert sk_icnet.ICNetRegressor is importlib.import_module("sk_icnet.icnet").ICNetRegressor
    assert sk_icnet.Recording is importlib.import_module("sk_icnet.data").Recording
    assert sk_icnet.load_trials is importlib.import_module("sk_icnet.data").load_trials
    for name in sk_icnet.__all__:
        assert hasattr(sk_icnet, name), name


def test_the_paper_rates_are_one_pair_of_constants():
    from sk_icnet._core.timebase import PAPER
    from sk_icnet.exceptions import PAPER_AUDIO_FS, PAPER_DT_MS

    assert (PAPER.audio_fs, PAPER.dt_ms) == (PAPER_AUDIO_FS, PAPER_DT_MS) == (24414.0625, 1.31072)
    assert PAPER.samples_per_bin == 32
