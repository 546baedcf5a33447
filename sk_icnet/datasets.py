"""Deprecated since 0.5 and removed in 0.6: this 0.3 module moved to :mod:`sk_icnet.simulate` in 0.4."""

from . import simulate as _simulate
from ._core.deprecation import moved_module

#: each name this module served -> the module it is taken from now
_HOMES = {
    "make_stimuli": _simulate, "make_random_chords": _simulate, "make_auditory_dataset": _simulate,
    "make_tuned_neurons": _simulate, "TunedNeurons": _simulate, "q10_to_octaves": _simulate,
    "NEURON_KINDS": _simulate,
}

__all__ = list(_HOMES)
__getattr__, __dir__ = moved_module(__name__, _HOMES)
