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
or the ground-truth :class:`~sk_icnet.datasets.TunedNeurons`: anything with
``predict`` returning ``(n_trials, n_neurons, n_bins)`` (or ``(n_trials,
n_bins)`` for one neuron) and the attributes ``samples_per_bin_`` and
``audio_fs_`` (or ``audio_fs``).

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

>>> from sk_icnet.datasets import TunedNeurons
>>> from sk_icnet.insilico import frequency_response_area
>>> neurons = TunedNeurons(cf_hz=[2000.0], threshold_db=[25.0], q10=[5.0])
>>> fra = frequency_response_area(neurons, levels=range(0, 81, 1))
>>> fra.summary[["cf_hz", "threshold_db", "q10"]].round(1)
    cf_hz  threshold_db  q10
0  2000.0          25.7  5.1

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from ._experiments import (
    PhysiologyResult,
    dynamic_range_adaptation,
    forward_masking,
    frequency_response_area,
    modulation_transfer,
    plot_dynamic_range_adaptation,
    plot_forward_masking,
    plot_fra,
    plot_mtf,
    plot_rate_level,
    rate_level,
)

__all__ = ["frequency_response_area", "rate_level", "modulation_transfer", "forward_masking",
           "dynamic_range_adaptation", "PhysiologyResult", "plot_fra", "plot_rate_level",
           "plot_mtf", "plot_forward_masking", "plot_dynamic_range_adaptation"]
