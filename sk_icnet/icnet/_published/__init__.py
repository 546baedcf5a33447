"""The authors' published ICNet, read from its Keras 2 HDF5 file without TensorFlow.

The release folder (``DNN/`` of the authors' repository, fotisdr/ICNet; archived on
Zenodo, doi 10.5281/zenodo.11842064) holds ``model_weights.hdf5`` (a whole Keras
model: the graph as JSON and the weights), ``config.yaml`` and ``channel_CFs.mat``.
sk_icnet never ships or downloads these files (UCL Academic Licence: non-commercial
research); it reads the copy a user obtained:

>>> est = sk_icnet.load_published_icnet("DNN/")                      # doctest: +SKIP
>>> est.predict_proba(sound_pa, recording="animal_1", time_s=7200)   # doctest: +SKIP

The file is untrusted input: the graph is read as JSON into a plan that
:class:`PublishedICNet` executes with Keras' semantics (nothing in the file is
executed; a ``Lambda`` layer, marshalled code or a pickle is refused by name), every weight's shape is
checked against the graph before anything is read, and ``config.yaml`` is read
with ``yaml.safe_load``. Reading needs h5py and PyYAML
(``pip install 'sk_icnet[published]'``).
"""

from ._graph import PublishedICNet
from ._hdf5 import describe_keras
from ._load import load_published_icnet

__all__ = ["describe_keras", "load_published_icnet", "PublishedICNet"]
