"""This module moved to :mod:`sk_icnet.simulate` in 0.4; this import path keeps working."""

from .simulate import (
    NEURON_KINDS,
    TunedNeurons,
    make_auditory_dataset,
    make_random_chords,
    make_stimuli,
    make_tuned_neurons,
    q10_to_octaves,
)

__all__ = ["make_stimuli", "make_random_chords", "make_auditory_dataset", "make_tuned_neurons",
           "TunedNeurons", "q10_to_octaves", "NEURON_KINDS"]
