"""The data layer: recordings on disk, lazily cut training windows, and the readers that make them.

Paper-scale data (hours of sound, hundreds of channels, several animals) do not fit in memory
as dense float windows. A session is a :class:`Recording` (waveform in pascals, spike counts
in the smallest unsigned integer type that holds them, a mask of missing bins), saved as a
zarr store and opened lazily; a :class:`WindowDataset` cuts windows only when they are read:

>>> rec = Recording(audio, counts, audio_fs=24414.0625, dt_ms=1.31072,
...                 name="gerbil1")                                    # doctest: +SKIP
>>> rec.save("gerbil1.zarr")                                           # doctest: +SKIP
>>> ds = WindowDataset([Recording.open("gerbil1.zarr"), ...])          # doctest: +SKIP
>>> ICNetRegressor().fit(ds)                                           # doctest: +SKIP

Readers: :func:`load_trials` (a folder of sounds and a spike table), :func:`read_nwb` and
:func:`write_nwb` (NWB files), :func:`bin_spike_times` (spike times to counts) and
:func:`make_windows` (one long recording to in-memory training windows).

Public datasets, with their published splits: :func:`load_ns1` / :func:`fetch_ns1`
(NS1, ferret A1) and :func:`load_gerbil_a1` (gerbil A1, diracproject.org), returning
:class:`BenchmarkTrials`; the cache folder of downloads is
:func:`get_data_home`.
"""

from ._batches import WindowBatchSampler, collate_windows
from ._download import get_data_home
from ._gerbil import load_gerbil_a1
from ._ns1 import fetch_ns1, load_ns1
from ._nwb import read_nwb, write_nwb
from ._public import BenchmarkTrials
from ._recording import Recording
from ._routing import decoder_index, decoder_indices
from ._spikes import bin_spike_times, spike_trains
from ._store import FORMAT, FORMAT_VERSION
from ._trials import TrialData, load_trials
from ._windows import WindowDataset, make_windows

__all__ = ["Recording", "WindowDataset", "WindowBatchSampler", "collate_windows",
           "decoder_index", "decoder_indices", "make_windows", "bin_spike_times", "spike_trains",
           "load_trials", "TrialData", "read_nwb", "write_nwb", "FORMAT", "FORMAT_VERSION",
           "BenchmarkTrials", "load_ns1", "fetch_ns1", "load_gerbil_a1", "get_data_home"]
