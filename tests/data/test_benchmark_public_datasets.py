"""benchmarks/public_datasets.py --quick, end to end on a synthetic NS1 release."""

import importlib.util
import json
import os

import numpy as np
import pytest

from .ns1_files import write_ns1

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "public_datasets.py")


@pytest.fixture(scope="module")
def script():
    if not os.path.exists(SCRIPT):
        pytest.skip("benchmarks/ is not in this checkout")
    spec = importlib.util.spec_from_file_location("public_datasets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_fits_every_model_on_the_split_and_scores_the_test_clips(script, tmp_path,
                                                                            capsys):
    write_ns1(tmp_path / "NS1", n_neurons=2, clip_s=0.1)
    out = tmp_path / "results.json"
    result = script.main([str(tmp_path / "NS1"), "--quick", "--out", str(out)])
    assert list(result["models"]) == ["ICNet", "ICNetEnsemble (2)", "PoissonSTRF", "LinearSTRF"]
    for row in result["models"].values():
        for metric in ("ccnorm", "feve", "d2_poisson"):
            assert np.isfinite(row[metric]) and row[f"{metric}_n_neurons"] == 2
    assert result["n_neurons"] == 2 and result["dt_ms"] == 5.0 and result["quick"]
    saved = json.loads(out.read_text().splitlines()[-1])
    assert saved["models"] == result["models"] and saved["command"].endswith("--out " + str(out))
    printed = capsys.readouterr().out
    assert "train 14, validation 3, test 3 clips" in printed
    assert "| StateNet (GRU) | 75.1 |" in printed and "| 2D-CNN | 70.1 |" in printed


def test_release_check_leaves_what_the_reader_finds_in_results_and_writes_no_file_unasked(
        script, tmp_path, monkeypatch):
    write_ns1(tmp_path / "NS1", n_neurons=2, clip_s=0.1)
    renamed = tmp_path / "NS1" / "spikesandwav" / "exp1" / "P01-SH.En.C"
    os.rename(renamed / "cluster.02.data.mat", renamed / "cluster.02.data_1.mat")
    monkeypatch.setattr(script, "RESULTS", {})
    monkeypatch.chdir(tmp_path)
    summary = script.main([str(tmp_path / "NS1"), "--check-release"])
    release = script.RESULTS["release"]
    assert release["n_neurons"] == summary["n_neurons"] == 2 and release["n_clips"] == 20
    assert release["repeats_per_clip"] == {"min": 20, "max": 20, "distinct": 1, "v0": 20}
    levels = sorted(set(summary["nominal_levels_db_spl"]))
    assert [release["nominal_levels_db_spl"][f"v{i}"] for i in range(len(levels))] == levels
    assert release["bins_per_clip"]["max"] == 20  # 0.1 s clips in 5 ms bins
    assert release["split_train"] == {"clips": 14, "first": 0, "last": 13}
    assert release["split_test"] == {"clips": 3, "first": 17, "last": 19}
    assert release["max_level_minus_nominal_db"] < 0.01
    # the second file carries the release's _1 suffix
    assert release["files_named_as_metadata"] == 1
    # the raw times as stored, past-the-clip spikes included (planted: 5 ms first, 300 + n last)
    assert release["first_spike_ms"] == 5.0 and release["last_spike_ms"] == 301.0
    assert script.RESULTS["peers"]["statenet_gru"] == {"ccnorm": 75.1, "ccraw": 55.6}
    assert script.RESULTS["peers"]["cnn_2d"]["ccnorm"] == 70.1
    assert set(script.RESULTS["sizes"]) == {"crcns_bst2_gb", "ns1_download_mb"}
    assert script.RESULTS["read_s"] >= 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NS1"]  # nothing written without --out
