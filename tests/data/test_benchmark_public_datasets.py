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
