"""Which decoder of a model serves which recording: the one mapping, with its one set of errors.

A model fitted on a :class:`~sk_icnet.data.WindowDataset` has one decoder per recording,
in the order of its ``recording_names_``; a model fitted on arrays has one decoder and no
names. Every path that sends data through a decoder (windows, a whole recording, arrays
with ``recording=<name>``) asks :func:`decoder_index`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["decoder_index", "decoder_indices"]


def decoder_index(recording, names, n_neurons=None):
    """Index of the decoder of ``recording`` among ``names`` (a model's recordings).

    Parameters
    ----------
    recording : Recording, str or None
        A recording (anything with ``name`` and ``n_neurons``), the name of one (arrays
        given with ``recording=<name>``), or None (arrays without a name).
    names : sequence of str or None
        The recordings the model was fitted on, one decoder each in this order; None
        for a model fitted on arrays (one decoder, index 0).
    n_neurons : sequence of int, optional
        Neurons of each decoder; a recording's neuron count must match its decoder's.

    Returns
    -------
    index : int

    Raises
    ------
    ValueError
        For a name unknown to the model, a name given to a model fitted on arrays, no
        name for a model with several decoders, or a recording whose neuron count
        differs from its decoder's.

    Examples
    --------
    >>> from sk_icnet.data import decoder_index
    >>> decoder_index("b", ["a", "b"]), decoder_index(None, ["a"]), decoder_index(None, None)
    (1, 0, 0)
    """
    if recording is None:
        if names is None or len(names) == 1:
            return 0
        raise ValueError(f"this model has one decoder per recording {list(names)}: pass "
                         "recording=<name> to predict arrays.")
    if isinstance(recording, str) or not hasattr(recording, "n_neurons"):  # a name
        if names is None:
            raise ValueError("recording selects a decoder of a model fitted on recordings; "
                             f"this model was fitted on arrays; received recording={recording!r}.")
        return _index_of(recording, names)
    index = 0 if names is None else _index_of(recording.name, names)
    if n_neurons is not None and n_neurons[index] != recording.n_neurons:
        raise ValueError(f"recording {recording.name!r} has {recording.n_neurons} neuron(s), but "
                         f"the model's decoder for it has {n_neurons[index]}.")
    return index


def _index_of(name, names):
    names = list(names)
    if name not in names:
        raise ValueError(f"recording {name!r} is unknown to this model, which was fitted on "
                         f"recordings {names}.")
    return names.index(name)


def decoder_indices(recordings, names, n_neurons=None):
    """Index of each recording's decoder among ``names`` (a model's recordings).

    :func:`decoder_index` of every recording, as an int64 array. ``names=None`` (a
    model fitted on arrays, one decoder) maps every recording to decoder 0. Raises
    ``ValueError`` for a recording not in ``names`` or whose neuron count differs
    from its decoder's (``n_neurons``).
    """
    return np.array([decoder_index(r, names, n_neurons) for r in recordings], dtype=np.int64)
