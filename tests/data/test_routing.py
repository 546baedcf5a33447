"""Which decoder serves which recording (sk_icnet.data)."""

import numpy as np
import pytest

from sk_icnet.data import decoder_index, decoder_indices
from tests.data.conftest import make_recording

pytest.importorskip("zarr")


def test_decoder_indices():
    a, b = make_recording(name="a"), make_recording(name="b", n_neurons=2)
    np.testing.assert_array_equal(decoder_indices([b, a], ["a", "b"], [3, 2]), [1, 0])
    with pytest.raises(ValueError, match="recording 'b' is unknown to this model"):
        decoder_indices([b], ["a"])
    with pytest.raises(ValueError, match="'b' has 2 neuron.*decoder for it has 3"):
        decoder_indices([b], None, [3])


def test_decoder_index_of_a_recording_a_name_or_none():
    a, b = make_recording(name="a"), make_recording(name="b", n_neurons=2)
    assert decoder_index(b, ["a", "b"], [3, 2]) == 1
    assert decoder_index(a, None, [3]) == 0  # a model fitted on arrays: one decoder
    assert decoder_index("b", ["a", "b"]) == 1
    assert decoder_index(None, ["a"]) == 0 and decoder_index(None, None) == 0
    with pytest.raises(ValueError, match=r"recording 'c' is unknown to this model, which was "
                                         r"fitted on recordings \['a', 'b'\]"):
        decoder_index("c", ["a", "b"])
    with pytest.raises(ValueError, match="one decoder per recording .* pass recording=<name>"):
        decoder_index(None, ["a", "b"])
    with pytest.raises(ValueError, match="this model was fitted on arrays; received "
                                         "recording='a'"):
        decoder_index("a", None)
    with pytest.raises(ValueError, match="'b' has 2 neuron.*decoder for it has 3"):
        decoder_index(b, ["b"], [3])
