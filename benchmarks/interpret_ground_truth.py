"""What the receptive-field and optimal-sound analyses recover from models whose truth is known.

The ground-truth models of ``tests/insilico/test_interpret.py`` (8 kHz audio, 12 mel bands,
6 lags; torch modules that read the package's log-mel spectrogram, and a neuron tuned to
1,300 Hz by a band-pass filter), run through :func:`sk_icnet.insilico.dynamic_strf`,
:func:`~sk_icnet.insilico.optimal_sound` and :func:`~sk_icnet.insilico.insilico_reliability`
as the tests run them, with the figures the tests bound written out (the guide's table in
"What the model learned"). Runs in well under a minute on a CPU::

    python benchmarks/interpret_ground_truth.py
    python docs/_results.py run benchmarks/interpret_ground_truth.py

The figures are left in ``RESULTS``. The models are the tests' own (imported from the test
module), so ``RESULTS_CODE`` names that file: a change to them makes the results file stale.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sk_icnet.audio import level_db_spl  # noqa: E402
from sk_icnet.insilico import dynamic_strf, optimal_sound  # noqa: E402
from sk_icnet.simulate import make_random_chords  # noqa: E402
from tests.insilico.test_interpret import (  # noqa: E402
    FRONT,
    FS,
    N_LAGS,
    SpectrogramNeurons,
    TunedEnergyNeuron,
    _three_fits,
    _true_strf,
)

#: the figures the docs quote (``docs/_results.py`` writes them to ``docs/results/``)
RESULTS = {}
#: the models and sounds are seeded and run in float64 where the tests do: tight tolerances
RESULTS_TOLERANCE = {"*corr*": {"abs": 1e-4}, "*nonlinearity_index": {"abs": 1e-4, "rel": 0.05},
                     "*flagged": {"abs": 0}}
#: the ground-truth models live in the test module
RESULTS_CODE = ["tests/insilico/test_interpret.py"]
CF_HZ = 1300.0


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _peak_hz(x):
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(np.fft.rfftfreq(x.size, 1 / FS)[np.argmax(power)])


def _near_cf(x):
    """Fraction of the power within 1/6 octave of the CF."""
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.maximum(np.fft.rfftfreq(x.size, 1 / FS), 1.0)
    return float(power[np.abs(np.log2(freqs / CF_HZ)) < 1 / 6].sum() / power.sum())


def receptive_fields():
    """The three spectrogram neurons of the guide's table: correlation with the truth,
    nonlinearity index and gain CV."""
    X = make_random_chords(2, 0.3, FS, n_tones=16, fmin=250.0, fmax=3800.0, chord_ms=12.0,
                           random_state=0)
    X = (X + 0.01 * np.random.default_rng(0).standard_normal(X.shape)).astype(np.float32)
    truth = _true_strf()
    other = np.roll(truth, 4, axis=0) * np.array([1, -1, 1, -1, 1, -1])[None, :]
    out = {}
    for kind, kernels in (("linear", [truth]), ("ln", [truth]), ("energy", [truth, other])):
        dyn = dynamic_strf(SpectrogramNeurons(kernels, kind), X, n_lags=N_LAGS, step=3,
                           progress=False, **FRONT)
        first = dyn.components[0, 0]
        out[kind] = {"mean_corr": _corr(dyn.mean.values[0], truth),
                     "first_component_corr": max(abs(_corr(first, k)) for k in kernels),
                     "nonlinearity_index": float(dyn.nonlinearity_index[0]),
                     "gain_cv": float(dyn.gain_cv[0])}
        print(f"{kind:7s} " + ", ".join(f"{k} {v:.6g}" for k, v in out[kind].items()))
    return out


def optimal_sounds():
    """The most driving sound of the tuned neuron from noise, and the most suppressive one
    from a tone at its CF."""
    neuron = TunedEnergyNeuron(CF_HZ)
    up = optimal_sound(neuron, duration_ms=120.0, level_db=50.0, band_hz=(100.0, 3900.0),
                       n_steps=60, lr=0.1, random_state=0)
    start = np.sin(2 * np.pi * CF_HZ * np.arange(640) / FS)
    down = optimal_sound(neuron, init=start, level_db=50.0, maximize=False, n_steps=40, lr=0.2,
                         audio_fs=FS)
    out = {"maximize": {"steps": 60, "start_peak_hz": _peak_hz(up.initial),
                        "end_peak_hz": _peak_hz(up.sound),
                        "start_rate_hz": float(up.objective[0]),
                        "end_rate_hz": float(up.objective[-1]),
                        "level_db_spl": float(level_db_spl(up.sound))},
           "minimize": {"steps": 40, "rate_fall_pct": 100 * (1 - down.objective[-1]
                                                           / down.objective[0]),
                        "start_power_near_cf_pct": 100 * _near_cf(down.initial),
                        "end_power_near_cf_pct": 100 * _near_cf(down.sound)}}
    print(f"optimal sound: {out}")
    return out


def reliability():
    """The tests' three `TunedNeurons` standing for three fits: the CF spread of each neuron
    and whether it is flagged at a tolerance of 0.25 octave."""
    _, table = _three_fits()
    cf = table[table.parameter == "cf_hz"].set_index("neuron")
    out = {"tolerance_octaves": 0.25}
    for j in (0, 1):
        out[f"n{j}"] = {"spread_octaves": float(cf.loc[j, "spread"]),
                        "flagged": bool(cf.loc[j, "unreliable"])}
    print(f"reliability: {out}")
    return out


def main():
    RESULTS.update(receptive_fields=receptive_fields(), optimal_sound=optimal_sounds(),
                   reliability=reliability())
    return RESULTS


if __name__ == "__main__":
    main()
