"""Deprecated since 0.5: receptive fields, optimal sounds and reliability are in :mod:`sk_icnet.insilico`.

``sk_icnet.interpret`` and ``sk_icnet.insilico`` were two public homes for in-silico
analysis; :mod:`sk_icnet.insilico` is now the one. Every name of this module is served
from there with a ``FutureWarning``; the module goes in 0.6::

    from sk_icnet.insilico import dynamic_strf, optimal_sound, insilico_reliability
"""

import warnings

from . import insilico as _insilico

#: the names this module served in 0.4, now in sk_icnet.insilico
_MOVED = ("dynamic_strf", "gradient_strf", "strf_receptive_field", "ReceptiveField", "DynamicSTRF",
          "optimal_sound", "OptimalSound", "insilico_reliability", "plot_strf", "plot_dstrf",
          "plot_optimal_sound", "LEVEL_RANGE_DB", "MAX_DSTRF_BYTES", "DEFAULT_TOLERANCE")

__all__ = []  # nothing new is to be imported from here


def __getattr__(name):
    if name in _MOVED:
        warnings.warn(f"sk_icnet.interpret is deprecated since 0.5 and will be removed in 0.6; "
                      f"import {name} from sk_icnet.insilico", FutureWarning, stacklevel=2)
        return getattr(_insilico, name)
    raise AttributeError(f"module 'sk_icnet.interpret' has no attribute {name!r}")
