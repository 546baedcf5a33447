"""Helpers of the data tests: a small recording at 32 samples per bin."""

import numpy as np

from sk_icnet.data import Recording

FS, DT = 8000.0, 4.0  # 32 samples per bin


def make_recording(n_bins=1000, n_neurons=3, *, seed=0, name="rec", rate=0.5, **kwargs):
    rng = np.random.default_rng(seed)
    audio = (0.01 * rng.standard_normal(n_bins * 32)).astype(np.float32)
    counts = rng.poisson(rate, (n_neurons, n_bins))
    return Recording(audio, counts, audio_fs=FS, dt_ms=DT, name=name, **kwargs)
