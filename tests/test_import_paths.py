"""Every import path of 0.3 keeps working until 0.6 and gives the same objects; the 0.3 modules
that moved in 0.4 warn (FutureWarning) from 0.5 on, naming the release that removes them."""

import importlib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: 0.3's modules, deprecated in 0.5 -> each name they served and its home from 0.5 on (a private
#: home: the name is internal, and the warning says it has no public replacement)
DEPRECATED = {
    "sk_icnet.estimator": {"ICNetRegressor": "sk_icnet.icnet"},
    "sk_icnet.model": {"ICNet": "sk_icnet.icnet", "SincFilterbank": "sk_icnet.icnet",
                       "cpu_supports_bf16": "sk_icnet.icnet", "hz_to_mel": "sk_icnet.spectral",
                       "mel_to_hz": "sk_icnet.spectral", "conv_padding": "sk_icnet.icnet._layers",
                       "factor_strides": "sk_icnet.icnet._layers", "symlog": "sk_icnet.icnet._layers"},
    "sk_icnet.losses": dict.fromkeys(["PoissonLoss", "CategoricalCountLoss", "masked_mean"],
                                     "sk_icnet.icnet"),
    "sk_icnet.callbacks": {**dict.fromkeys(["AtomicCheckpoint", "BestWeights", "CheckpointMetadata",
                                            "GatherDistributedLosses", "PendingLoss",
                                            "ResolvePendingLosses", "TrainingDiverged", "TrimHeap"],
                                           "sk_icnet.icnet"),
                           "METADATA_FILE": "sk_icnet.icnet._callbacks"},
    "sk_icnet.distributed": dict.fromkeys(["DistributedContext", "setup_distributed",
                                           "teardown_distributed", "gather_objects",
                                           "broadcast_object", "check_ranks_agree",
                                           "check_same_data"], "sk_icnet.icnet._distributed"),
    "sk_icnet.features": {"ICNetFeatures": "sk_icnet.icnet"},
    "sk_icnet.published": dict.fromkeys(["describe_keras", "load_published_icnet"], "sk_icnet.icnet"),
    "sk_icnet.recordings": dict.fromkeys(["bin_spike_times", "spike_trains", "make_windows"],
                                         "sk_icnet.data"),
    "sk_icnet.trials": dict.fromkeys(["TrialData", "load_trials"], "sk_icnet.data"),
    "sk_icnet.datasets": dict.fromkeys(["make_stimuli", "make_random_chords",
                                        "make_auditory_dataset", "make_tuned_neurons",
                                        "TunedNeurons", "q10_to_octaves", "NEURON_KINDS"],
                                       "sk_icnet.simulate"),
}

#: modules that stayed where they were but serve a name whose home is elsewhere (no warning;
#: the names of sk_icnet.strf are documented in their home only, so they are not in its __all__)
KEPT = {
    "sk_icnet.data": ("sk_icnet.data", ["Recording", "WindowDataset", "WindowBatchSampler",
                                        "collate_windows", "decoder_indices", "FORMAT",
                                        "FORMAT_VERSION"]),
    "sk_icnet.io": ("sk_icnet.data", ["read_nwb", "write_nwb"]),
    "sk_icnet.exceptions": ("sk_icnet._core.exceptions", ["RatesAssumedWarning",
                                                          "OutsideTrainingRangeWarning"]),
    "sk_icnet.strf": ("sk_icnet.spectral", ["log_mel_spectrogram", "mel_filterbank", "lag_features"]),
}


@pytest.mark.parametrize("old", sorted(DEPRECATED))
def test_a_0_3_module_warns_with_the_removal_release_and_gives_the_same_objects(old):
    was = importlib.import_module(old)
    assert sorted(was.__all__) == sorted(dir(was)) == sorted(DEPRECATED[old])
    for name, home in DEPRECATED[old].items():
        if home.rsplit(".", 1)[-1].startswith("_"):
            remedy = f"{name} is internal to {home.split('._')[0]} and has no public replacement"
        else:
            remedy = f"import {name} from {home}"
        message = f"{old} is deprecated since 0.5 and will be removed in 0.6; {remedy}"
        with pytest.warns(FutureWarning, match=f"^{re.escape(message)}$") as caught:
            obj = getattr(was, name)
        assert obj is getattr(importlib.import_module(home), name), f"{old}.{name}"
        assert caught[0].filename == __file__  # the warning points at the line that took the name


def test_a_from_import_of_a_0_3_name_warns_and_an_unknown_name_is_an_attribute_error():
    with pytest.warns(FutureWarning, match="import ICNet from sk_icnet.icnet"):
        from sk_icnet.model import ICNet
    from sk_icnet.icnet import ICNet as new

    assert ICNet is new
    with pytest.raises(ImportError, match="cannot import name 'NoSuchThing'"):
        from sk_icnet.model import NoSuchThing  # noqa: F401


def test_the_0_3_modules_are_reachable_from_the_package_but_not_exported():
    import sk_icnet

    for old in DEPRECATED:
        short = old.rsplit(".", 1)[-1]
        assert short not in sk_icnet.__all__
        assert getattr(sk_icnet, short) is importlib.import_module(old)
    with pytest.warns(FutureWarning, match="import make_stimuli from sk_icnet.simulate"):
        sk_icnet.datasets.make_stimuli  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'no_such_module'"):
        sk_icnet.no_such_module  # noqa: B018


def test_nothing_of_the_package_its_docs_or_examples_uses_a_deprecated_path():
    # the package, its guide and its examples import and cite the new homes only; aside: the
    # 0.3 modules themselves, the package's __getattr__ that serves them, the API page that lists
    # them (and this test and the changelog, not searched); io's MODEL_FORMAT "sk_icnet.model"
    # names a file format, not the module
    old = "|".join(name.rsplit(".", 1)[-1] for name in DEPRECATED)
    cited = re.compile(rf"sk_icnet\.({old})\b(?!\")|from \.+({old}) import|"
                       rf"from sk_icnet import .*\b({old})\b")
    aside = {os.path.join(ROOT, *name.split(".")) + ".py" for name in DEPRECATED} | {
        os.path.join(ROOT, "sk_icnet", "__init__.py"), os.path.join(ROOT, "docs", "api", "index.rst")}
    found = []
    for top in ("sk_icnet", "docs", "examples", "benchmarks"):
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if not d.startswith(("_build", "__pycache__", "."))]
            for file in files:
                path = os.path.join(folder, file)
                if path not in aside and file.endswith((".py", ".md", ".rst")):
                    with open(path, encoding="utf-8") as f:
                        found += [f"{path}:{i}" for i, line in enumerate(f, 1) if cited.search(line)]
    assert not found


@pytest.mark.parametrize("old", sorted(KEPT))
def test_a_kept_module_gives_the_same_objects_as_the_names_home(old):
    new, names = KEPT[old]
    was, now = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(was, name) is getattr(now, name), f"{old}.{name}"
        assert (name in was.__all__) is (old != "sk_icnet.strf"), f"{old}.__all__ and {name}"


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
