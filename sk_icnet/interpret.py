"""What a fitted model computes: receptive fields, optimal sounds and their reliability.

ICNet takes waveforms, so its receptive field cannot be read off a weight
matrix as an STRF's can. This module measures it the way the dynamic STRF of
Keshishian et al. (2020) does: by the model's *local* linear sensitivity. For
every output bin ``t`` and neuron, the gradient of the predicted rate with
respect to the input waveform is taken by automatic differentiation and
expressed in the spectro-temporal space of the STRF baselines (frequency band x
lag), so that ICNet and an STRF can be looked at side by side.

The spectro-temporal space
--------------------------
The front end is the one of :class:`~sk_icnet.strf.LinearSTRFRegressor`
(:func:`~sk_icnet.spectral.log_mel_spectrogram`: Hann-windowed STFT with a hop of
one bin, frame ``t`` ending on the last sample of bin ``t``, mel triangles,
natural log of the band power). It is the package's own front end, the one its
STRF baselines and its simulated neurons use, so a receptive field measured here
and an STRF's ``coef_`` are in the same units (change of the rate per bin per
unit of log band power) on the same bands and lags. A gammatone filterbank
would be closer to the cochlea, but would make the two incomparable.

The waveform gradient is projected onto that space as follows. Let
``S[f, t - l]`` be the log-mel spectrogram at band ``f`` and lag ``l`` before
bin ``t``, and ``a[f, l] = dS[f, t - l] / dx`` its sensitivity to the waveform
``x`` (the analysis filter of band ``f``, windowed on frame ``t - l`` and
weighted by the sound's own spectrum there; computed exactly from the STFT).
A model that reads the sound only through ``S`` has the waveform gradient
``g = sum_{f, l} v[f, l] a[f, l]`` with ``v = d rate / dS`` its dSTRF. So the
dSTRF is recovered from ``g`` as the least-squares solution of ``A^T v = g``
over the samples that the lags' frames cover (a small ridge, relative to the
mean diagonal of ``A A^T``, keeps it stable where frames overlap). For a model
that is a function of the spectrogram this is exact; for ICNet, whose gradient
also carries fine structure (phase) that no function of band power has,
``explained`` reports the fraction of the squared gradient (over the whole
input, including what lies beyond the lags) that the projection accounts for.
A projection by the transpose alone (cross-spectrum of gradient and sound)
would smear the map over the window's overlap (20 ms frames, 1.3 ms hops); the
least-squares solution undoes that.

Summaries of the dSTRFs (per neuron, over all bins and trials):

* the *gradient STRF*, their mean;
* their principal components (uncentred: a fixed linear filter gives one
  component) and the fraction of the squared dSTRFs each explains;
* the *nonlinearity index*, one minus that fraction for the first component: 0
  for a model that applies one fixed filter (linear, or linear followed by any
  static nonlinearity, which only rescales it), larger the more the filter's
  shape changes with the stimulus;
* ``gain_cv``, the coefficient of variation of each dSTRF's projection on the
  first component: the gain changes of an LN model, and sign flips (on-off
  responses) give large values.

Also here: :func:`optimal_sound`, gradient ascent (or descent) on a waveform
held at a level and in a band, and :func:`insilico_reliability`, an in-silico
experiment run on several fitted models (folds, seeds) with the spread of each
derived parameter.

Which models: gradients need the torch module, not only ``predict``. A fitted
:class:`~sk_icnet.ICNetRegressor` qualifies, and so does any estimator that wraps a
fitted module the same way, recognised by what it has rather than by its class:
``module_``, ``audio_fs_``, ``samples_per_bin_``, ``_decoder_of(recording)`` (the
decoder that serves a recording) and ``_expected_counts(output)`` (the module's output
as expected counts per bin); as does a ``torch.nn.Module`` with the attributes
``audio_fs`` and ``samples_per_bin``. :func:`insilico_reliability` needs only an
in-silico experiment and models it accepts (:class:`~sk_icnet.insilico.ModelUnderTest`).
The implementation lives in :mod:`sk_icnet.insilico`; this module is its public face.

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from .insilico._optimal_sound import LEVEL_RANGE_DB as LEVEL_RANGE_DB
from .insilico._optimal_sound import OptimalSound, optimal_sound
from .insilico._plots import plot_dstrf, plot_optimal_sound, plot_strf
from .insilico._receptive_fields import MAX_DSTRF_BYTES as MAX_DSTRF_BYTES
from .insilico._receptive_fields import (
    DynamicSTRF,
    ReceptiveField,
    dynamic_strf,
    gradient_strf,
    strf_receptive_field,
)
from .insilico._reliability import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from .insilico._reliability import insilico_reliability

__all__ = ["dynamic_strf", "gradient_strf", "strf_receptive_field", "ReceptiveField", "DynamicSTRF",
           "optimal_sound", "OptimalSound", "insilico_reliability", "plot_strf", "plot_dstrf",
           "plot_optimal_sound"]
