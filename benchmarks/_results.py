"""What every benchmark writes with its figures: the commit, the machine, the load, atomically."""

from __future__ import annotations

import json
import os
import platform
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")


def commit():
    """The checkout's short commit hash, or None outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine():
    return f"{platform.machine()}, {os.cpu_count()} CPUs"


def load():
    """The load average over 1, 5 and 15 minutes (``os.getloadavg``), rounded."""
    return [round(v, 2) for v in os.getloadavg()]


def write(name, result):
    """``result`` as ``benchmarks/results/<name>.json``, replacing the old file in one step."""
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(path + ".tmp", "w") as fh:
        json.dump(result, fh, indent=1)
        fh.write("\n")
    os.replace(path + ".tmp", path)
    return path
