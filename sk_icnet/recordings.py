"""This module moved to :mod:`sk_icnet.data` in 0.4; this import path keeps working."""

from .data._spikes import bin_spike_times, spike_trains
from .data._windows import make_windows

__all__ = ["bin_spike_times", "spike_trains", "make_windows"]
