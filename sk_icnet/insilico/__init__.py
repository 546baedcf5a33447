"""In-silico physiology: the classic auditory experiments, run on any fitted encoding model.

Each experiment builds its stimuli at the model's own audio rate, in pascals
(levels in dB SPL re 20 µPa, raised-cosine onset and offset ramps, silence
before every presentation), asks the model for its expected spike counts with
``predict``, and returns a :class:`PhysiologyResult`: ``responses``, a tidy
table of what was measured, and ``summary``, one row per neuron (and
condition) of the derived parameters.

================================== ==========================================================
:func:`frequency_response_area`    pure tones over frequency x level: CF, threshold, Q10
:func:`rate_level`                 noise or tones: threshold, dynamic range, saturation
:func:`modulation_transfer`        SAM noise or tones: rate and synchrony (vector
                                   strength), best modulation frequency
:func:`forward_masking`            masker, gap, probe: recovery time constant
:func:`dynamic_range_adaptation`   rate-level functions inside level distributions with
                                   different means (Dean et al. 2005): shift of the curves
================================== ==========================================================

The model can be a fitted :class:`~sk_icnet.ICNetRegressor`, a fitted STRF
(:class:`~sk_icnet.LinearSTRFRegressor`, :class:`~sk_icnet.PoissonSTRFRegressor`),
the ground-truth :class:`~sk_icnet.simulate.TunedNeurons`, or anything else that
follows :class:`ModelUnderTest`: ``predict`` on waveforms in pascals
``(n_trials, n_samples)`` returning expected counts ``(n_trials, n_neurons, n_bins)``
(or ``(n_trials, n_bins)`` for one neuron), and the attributes ``audio_fs_`` and
``samples_per_bin_``.

Every presentation (a tone, a masker and probe, a sequence of levels) is its
own trial, after ``silence_ms`` of silence, so no response carries over from
another presentation. Before a trial, ICNet's causal convolutions see zeros,
that is more silence, so its whole receptive field (165 ms for the paper's
ICNet) holds silence or the stimulus; an STRF's lags (30 ms by default) stay
within the silence.

Conventions shared by all experiments: rates are in spikes/s; the
spontaneous rate is the mean over the second half of the silence before each
stimulus; a response is counted from ``latency_ms`` after the stimulus onset
to ``latency_ms`` after its offset (in whole bins; stimulus onsets fall on bin
boundaries); the *driven* rate is the rate minus the spontaneous rate. The
predictions are expected counts, so no repeats are needed.

>>> from sk_icnet.simulate import TunedNeurons
>>> from sk_icnet.insilico import frequency_response_area
>>> neurons = TunedNeurons(cf_hz=[2000.0], threshold_db=[25.0], q10=[5.0])
>>> fra = frequency_response_area(neurons, levels=range(0, 81, 1))
>>> fra.summary[["cf_hz", "threshold_db", "q10"]].round(1)
    cf_hz  threshold_db  q10
0  2000.0          25.7  5.1

Your own experiment
-------------------
An experiment is a function of a :class:`ModelUnderTest`: it builds its stimuli at
the model's ``audio_fs_``, in whole bins of ``samples_per_bin_`` samples, calls
``predict`` and returns a :class:`PhysiologyResult` (a ``summary`` with one row per
neuron is all :func:`~sk_icnet.interpret.insilico_reliability` needs to measure the
spread of its parameters over several fits). The onset response to a click:

>>> import numpy as np
>>> import pandas as pd
>>> from sk_icnet.insilico import ModelUnderTest, PhysiologyResult
>>> def click_response(model: ModelUnderTest, *, level_db=80.0, window_ms=20.0):
...     spb, fs = model.samples_per_bin_, model.audio_fs_
...     x = np.zeros((1, 100 * spb))  # 100 bins of silence, a click at bin 50
...     x[0, 50 * spb] = 20e-6 * 10 ** (level_db / 20)
...     counts = np.asarray(model.predict(x.astype(np.float32))).reshape(1, -1, 100)[0]
...     n = int(round(window_ms / 1000 * fs / spb))
...     dt_s = spb / fs
...     rows = pd.DataFrame({"neuron": np.arange(counts.shape[0]),
...                          "spont_hz": counts[:, :50].mean(axis=1) / dt_s,
...                          "click_hz": counts[:, 50: 50 + n].mean(axis=1) / dt_s})
...     return PhysiologyResult(rows, rows)
>>> isinstance(neurons, ModelUnderTest)
True
>>> click = click_response(neurons)
>>> bool(click.summary.click_hz[0] > click.summary.spont_hz[0])
True

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from ._adaptation import dynamic_range_adaptation
from ._plots import (
    plot_dynamic_range_adaptation,
    plot_forward_masking,
    plot_fra,
    plot_mtf,
    plot_rate_level,
)
from ._protocol import ModelUnderTest
from ._result import PhysiologyResult
from ._temporal import forward_masking, modulation_transfer
from ._tuning import frequency_response_area, rate_level

__all__ = ["frequency_response_area", "rate_level", "modulation_transfer", "forward_masking",
           "dynamic_range_adaptation", "PhysiologyResult", "ModelUnderTest", "plot_fra",
           "plot_rate_level", "plot_mtf", "plot_forward_masking", "plot_dynamic_range_adaptation"]
