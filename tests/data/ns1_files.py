"""Synthetic NS1 releases in the release's exact structure (MATLAB v5 via scipy.io.savemat,
float32 WAV clips in pascals), with spike times the tests know.

The structure mirrors the release as documented in sk_icnet/data/_ns1.py: a metadata file
with a 1 x n struct array ``neuron``, one file per neuron whose ``data.set`` is a 1 x 32
struct array (20 natural clips of 20 repeats, 12 dynamic random chords of 5 repeats, each
with ``repeats(k).t`` in ms and ``stim_params``), and the 20 clips in spikesandwav/SH.En.C.
"""

import os

import numpy as np
from scipy.io import savemat, wavfile

CLIP_FS = 48828  # the release's WAV header rate
#: the release's stimulus order: 12 clips of source 1 (fw 2), 8 of source 2 (fw 1), 12 DRCs
STIMULI = ([(1, 2, 0, k, 80) for k in range(1, 13)] + [(2, 1, 0, k, 80) for k in range(1, 9)]
           + [(9, s, tok, 0, 75) for tok in range(3) for s in (10, 20, 30, 40)])


def struct_array(records):
    """A 1 x n MATLAB struct array (numpy structured array of objects) from dicts."""
    fields = list(records[0])
    out = np.empty((1, len(records)), dtype=[(f, object) for f in fields])
    for i, rec in enumerate(records):
        for f in fields:
            out[0, i][f] = rec[f]
    return out


def clip_name(source, fw, token, frozen):
    return f"source.{source}.sound.0.snr.0.token.{token}.fw.{fw}.frozen.{frozen}"


def spike_times_ms(neuron, stimulus, repeat, n_neurons=3):
    """The planted spike times (ms) of a repeat: ``neuron + 1`` spikes, one exactly on the
    edge of bin 1 (5 ms), some inside, and one past the clip's end (dropped)."""
    base = [5.0, 12.0 + stimulus, 31.0 + repeat % 7, 47.5][: neuron + 1]
    return np.array(base + [300.0 + neuron], dtype=np.float64)


def write_ns1(folder, *, n_neurons=3, clip_s=0.2, seed=0, paths=None, level_db=None):
    """Write a synthetic NS1 release to ``folder``; return its neuron paths.

    Clips are ``clip_s`` seconds of noise in pascals at each stimulus' NominalLevel (or
    ``level_db`` for all); neuron ``i``'s file is ``paths[i]``.
    """
    rng = np.random.default_rng(seed)
    paths = paths or [f"exp{i}/P0{i}-SH.En.C/cluster.0{i + 1}.data.mat" for i in range(n_neurons)]
    sound_dir = os.path.join(folder, "spikesandwav", "SH.En.C")
    os.makedirs(sound_dir, exist_ok=True)
    for source, fw, token, frozen, level in STIMULI[:20]:
        x = rng.standard_normal(int(clip_s * CLIP_FS))
        target = level if level_db is None else level_db
        x *= 20e-6 * 10 ** (target / 20) / np.sqrt(np.mean(x ** 2))
        wavfile.write(os.path.join(sound_dir, clip_name(source, fw, token, frozen)), CLIP_FS,
                      x.astype(np.float32))
    neurons = []
    for i, path in enumerate(paths):
        sets = []
        for j, (source, fw, token, frozen, level) in enumerate(STIMULI):
            n_rep = 20 if j < 20 else 5
            reps = struct_array([{"t": spike_times_ms(i, j, k)[None, :],
                                  "repeat_id": np.full((1, i + 2), k + 1, np.uint8),
                                  "timestamp": "20130426-000228514"} for k in range(n_rep)])
            params = struct_array([{"Source": np.uint8(source), "Mode": np.uint8(0),
                                    "BF": np.uint8(0), "Token": np.uint8(token),
                                    "Set": np.uint8(fw), "StimID": np.uint8(frozen),
                                    "NominalLevel": np.uint8(level), "Level": np.int16(level - 129)}])
            sets.append({"spikes": struct_array([{"t": np.zeros((1, 0)), "repeat_id": np.zeros((1, 0))}]),
                         "repeats": reps, "stim_params": params,
                         "length_signal_ms": np.array([[5200.0]])})
        file = os.path.join(folder, "spikesandwav", path)
        os.makedirs(os.path.dirname(file), exist_ok=True)
        savemat(file, {"data": struct_array([{"set": struct_array(sets)}])})
        neurons.append({"path": path, "NrOfElectrodes": np.uint8(32), "ElectrodeNumber": np.uint8(i + 1),
                        "depth": np.uint16(100 * i) if i != 1 else np.int16(-50),
                        "NoiseRatio": np.float64(3.0 + i), "singleT": ["Yes", "No", "Maybe"][i % 3],
                        "singleN": np.uint8(i % 2)})
    savemat(os.path.join(folder, "MetadataSHEnCneurons.mat"), {"neuron": struct_array(neurons)})
    return paths
