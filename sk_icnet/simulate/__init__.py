"""Simulated sounds and spike counts from known auditory neuron models.

No public package ships real auditory-midbrain recordings, so the examples and
tests use responses generated from models whose ground truth is known. Both
kinds of neuron read a standardised log-mel spectrogram at the bin rate (the
front end of :class:`~sk_icnet.strf.LinearSTRFRegressor` with
:data:`FRONT_END`), weighted by a Gaussian tuning curve around a best band:

``"linear"`` neurons
    A linear-nonlinear-Poisson cascade: the band-weighted log power convolved
    with a causal excitatory-inhibitory temporal kernel, then ``exp``. A
    Poisson STRF on the same features is the true model class.
``"onoff"`` neurons
    Respond to changes of the band power of either sign (onsets and offsets):
    the rate grows with the square of a biphasic (differentiating) filter of it.
    ``rate = f(|h * s|)`` is not a monotonic function of any linear projection of
    the spectrogram, so a linear(-nonlinear) STRF cannot capture it.

Everything is reproducible from ``random_state``.

For in-silico physiology (:mod:`sk_icnet.insilico`) there are also neurons
whose classic tuning parameters are known exactly: :class:`TunedNeurons`
(characteristic frequency, Q10, threshold, dynamic range, forward suppression
and level adaptation with known time constants), drawn at random by
:func:`make_tuned_neurons`, and :class:`ICNeurons` (:func:`make_ic_neurons`), closer to
inferior-colliculus physiology: band-pass modulation tuning and level-dependent adaptation, with
speech-like (:func:`make_speech_like`) and mixed natural-like (:func:`make_natural_mix`) sounds.
Two more families differ from those in mechanism: :class:`PeripheryNeurons`
(:func:`make_periphery_neurons`: a gammatone auditory-periphery front end with
compression and adaptation, pooled into excitation and delayed inhibition) and
:class:`LevelNeurons` (:func:`make_level_neurons`: non-monotonic rate-level
functions, inhibitory side bands, onset responses, dynamic-range adaptation).
:func:`make_espeak_speech` synthesises speech with espeak-ng when it is installed.
They are used wherever a fitted estimator with
``predict`` is expected, so the analyses can be checked against the truth.
"""

from ._ic_neurons import ICNeurons, make_ic_neurons, make_natural_mix, make_speech_like
from ._level_neurons import LevelNeurons, make_level_neurons
from ._neurons import (
    NEURON_KINDS,
    TunedNeurons,
    make_auditory_dataset,
    make_tuned_neurons,
    q10_to_octaves,
)
from ._periphery import PeripheryNeurons, erb_number, make_periphery_neurons
from ._speech import HARVARD_SENTENCES, espeak_available, make_espeak_speech
from ._stimuli import make_random_chords, make_stimuli

__all__ = ["make_stimuli", "make_random_chords", "make_auditory_dataset", "make_tuned_neurons",
           "TunedNeurons", "q10_to_octaves", "NEURON_KINDS", "ICNeurons", "make_ic_neurons",
           "make_speech_like", "make_natural_mix", "LevelNeurons", "make_level_neurons",
           "PeripheryNeurons", "make_periphery_neurons", "erb_number", "espeak_available",
           "make_espeak_speech", "HARVARD_SENTENCES"]
