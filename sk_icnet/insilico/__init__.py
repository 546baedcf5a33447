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
neuron is all :func:`~sk_icnet.insilico.insilico_reliability` needs to measure the
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

All animals at once
-------------------
A model fitted on several recordings (the published ICNet: nine animals, 512
units each) has one decoder per recording: say whose units to probe with
``predict_params={"recording": "animal_3"}``, or probe every unit of every
recording in one call with ``predict_params={"recording": "all"}``: the encoder
runs once for all decoders, ``neuron`` numbers the units in
``recording_names_`` order, and the tables name each unit's ``recording``, its
``unit`` index there and the columns of the model's ``neurons_`` table,
prefixed ``unit_`` (the published model's CF from ``channel_CFs.mat`` is
``unit_cf_hz``).

What a model computes: receptive fields, optimal sounds, reliability
--------------------------------------------------------------------
ICNet takes waveforms, so its receptive field cannot be read off a weight
matrix as an STRF's can. :func:`dynamic_strf` measures it the way the dynamic
STRF of Keshishian et al. (2020) does: by the model's *local* linear
sensitivity. For every output bin ``t`` and neuron, the gradient of the
predicted rate with respect to the input waveform is taken by automatic
differentiation and expressed in the spectro-temporal space of the STRF
baselines (frequency band x lag), so that ICNet and an STRF can be looked at
side by side.

The front end is the one of :class:`~sk_icnet.strf.LinearSTRFRegressor`
(:func:`~sk_icnet.strf.log_mel_spectrogram`: Hann-windowed STFT with a hop of
one bin, frame ``t`` ending on the last sample of bin ``t``, mel triangles,
natural log of the band power), so a receptive field measured here and an
STRF's ``coef_`` are in the same units (change of the rate per bin per unit of
log band power) on the same bands and lags. Let ``S[f, t - l]`` be the log-mel
spectrogram at band ``f`` and lag ``l`` before bin ``t``, and ``a[f, l] =
dS[f, t - l] / dx`` its sensitivity to the waveform ``x`` (computed exactly
from the STFT). A model that reads the sound only through ``S`` has the
waveform gradient ``g = sum_{f, l} v[f, l] a[f, l]`` with ``v = d rate / dS``
its dSTRF, recovered from ``g`` as the least-squares solution of ``A^T v = g``
over the samples that the lags' frames cover (a small ridge, relative to the
mean diagonal of ``A A^T``, keeps it stable where frames overlap). For a model
that is a function of the spectrogram this is exact; for ICNet, whose gradient
also carries fine structure (phase) that no function of band power has,
``explained`` reports the fraction of the squared gradient that the projection
accounts for, per trial, bin and neuron.

Summaries of the dSTRFs (per neuron, over all bins and trials): the *gradient
STRF*, their mean; their principal components (uncentred) and the fraction of
the squared dSTRFs each explains; the *nonlinearity index*, one minus that
fraction for the first component (0 for one fixed filter, with or without a
static nonlinearity); ``gain_cv``, the coefficient of variation of each
dSTRF's projection on the first component (gain changes; sign flips of on-off
responses give large values).

Also here: :func:`optimal_sound`, gradient ascent (or descent) on a waveform
held at a level and in a band, and :func:`insilico_reliability`, an in-silico
experiment run on several fitted models (folds, seeds) with the spread of each
derived parameter and, for each unreliable row, the rule that failed.

Gradients need the torch module, not only ``predict``: the gradient analyses
take a fitted :class:`~sk_icnet.ICNetRegressor`, any estimator that follows
:class:`DifferentiableModel` (``module_``, ``audio_fs_``, ``samples_per_bin_``,
``decoder_index(recording)``, ``expected_counts(output)``), or a
``torch.nn.Module`` with the attributes ``audio_fs`` and ``samples_per_bin``.
Before starting, :func:`dynamic_strf` and :func:`optimal_sound` estimate their
memory and time and refuse, with the estimate, what would exceed 2 GiB or a day.

Until 0.5 these lived in ``sk_icnet.interpret``, which still serves them with a
``FutureWarning`` and goes in 0.6.

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from ._adaptation import dynamic_range_adaptation
from ._differentiable import DifferentiableModel
from ._optimal_sound import LEVEL_RANGE_DB, OptimalSound, optimal_sound
from ._plots import (
    plot_dstrf,
    plot_dynamic_range_adaptation,
    plot_forward_masking,
    plot_fra,
    plot_mtf,
    plot_optimal_sound,
    plot_rate_level,
    plot_strf,
)
from ._protocol import ModelUnderTest
from ._receptive_fields import (
    MAX_DSTRF_BYTES,
    DynamicSTRF,
    ReceptiveField,
    dynamic_strf,
    gradient_strf,
    strf_receptive_field,
)
from ._reliability import DEFAULT_TOLERANCE, insilico_reliability
from ._result import PhysiologyResult
from ._temporal import forward_masking, modulation_transfer
from ._tuning import frequency_response_area, rate_level

__all__ = ["frequency_response_area", "rate_level", "modulation_transfer", "forward_masking",
           "dynamic_range_adaptation", "PhysiologyResult", "ModelUnderTest", "plot_fra",
           "plot_rate_level", "plot_mtf", "plot_forward_masking", "plot_dynamic_range_adaptation",
           "dynamic_strf", "gradient_strf", "strf_receptive_field", "ReceptiveField", "DynamicSTRF",
           "optimal_sound", "OptimalSound", "insilico_reliability", "plot_strf", "plot_dstrf",
           "plot_optimal_sound", "DifferentiableModel", "LEVEL_RANGE_DB", "MAX_DSTRF_BYTES",
           "DEFAULT_TOLERANCE"]
