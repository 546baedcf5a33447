"""A differentiable model under study: what gradient analyses need of a model.

The receptive fields (:func:`~sk_icnet.interpret.dynamic_strf`) and the optimal sounds
(:func:`~sk_icnet.interpret.optimal_sound`) differentiate the predicted rates with respect
to the waveform, so they need the torch module, not only ``predict``. They take it by duck
typing, not by class (this package's analyses import no model family): an estimator that
wraps a fitted module exposes

``module_``
    the fitted ``torch.nn.Module`` (waveforms ``(B, T)`` in, one output per neuron and bin);
``audio_fs_``, ``samples_per_bin_``
    its rates, as in :class:`~sk_icnet.insilico.ModelUnderTest`;
``_decoder_of(recording)``
    the decoder (keyword ``recording`` of the module's forward) that serves ``recording``;
``_expected_counts(output)``
    the module's output as expected counts per bin ``(B, N, T)``, differentiably.

:class:`~sk_icnet.ICNetRegressor` has them; so may any other estimator of a torch model.
"""

from __future__ import annotations

import numbers

import torch

from .._core.validation import check_positive_number

#: what an estimator wrapping a torch module offers gradient analyses (besides ``module_``)
_ESTIMATOR_HOOKS = ("_decoder_of", "_expected_counts")


def _wraps_a_module(model):
    """Whether ``model`` is an estimator wrapping a torch module that gradient analyses can use:
    it has the hooks of :data:`_ESTIMATOR_HOOKS` (fitted or not)."""
    return not isinstance(model, torch.nn.Module) and all(
        callable(getattr(model, name, None)) for name in _ESTIMATOR_HOOKS)


class _Differentiable:
    """A torch model, its rates and its audio and bin rates.

    ``model`` is either an estimator wrapping a fitted torch module (see
    :func:`_wraps_a_module`; a fitted :class:`~sk_icnet.ICNetRegressor`) or a
    ``torch.nn.Module`` with ``audio_fs`` and ``samples_per_bin`` attributes.
    """

    def __init__(self, model, recording=None, time_s=None):
        self.convert = None
        if _wraps_a_module(model):
            if not hasattr(model, "module_") or not hasattr(model, "samples_per_bin_"):
                raise ValueError(f"model is an {type(model).__name__} that is not fitted: fit it "
                                 "(or load one) before asking for its receptive fields.")
            self.module = model.module_
            self.fs = float(model.audio_fs_)
            self.spb = int(model.samples_per_bin_)
            self.decoder = model._decoder_of(recording)
            self.convert = model._expected_counts
        elif isinstance(model, torch.nn.Module):
            fs, spb = getattr(model, "audio_fs", None), getattr(model, "samples_per_bin", None)
            if not isinstance(fs, numbers.Real) or isinstance(spb, bool) \
                    or not isinstance(spb, numbers.Integral):
                raise ValueError(
                    "model is a torch module without the attributes audio_fs (Hz) and "
                    f"samples_per_bin (int) that say its rates; received audio_fs={fs!r}, "
                    f"samples_per_bin={spb!r} on {type(model).__name__}. Set them, or pass a "
                    "fitted ICNetRegressor.")
            self.module, self.fs, self.spb = model, float(fs), int(spb)
            self.decoder = None if recording is None else recording
        else:
            hint = (" For a fitted STRF, strf_receptive_field(estimator) gives its coefficients "
                    "in the same representation." if hasattr(model, "coef_") else "")
            raise TypeError(
                "model must be differentiable: a fitted ICNetRegressor or a torch.nn.Module "
                f"mapping waveforms to rates; received {type(model).__name__}, which has no "
                f"gradients with respect to its input.{hint}")
        self.time_input = bool(getattr(self.module, "time_input", False))
        if self.time_input and time_s is None:
            raise ValueError("this model has a recording-time input (time_input=True): pass "
                             "time_s, the recording time (s) at which to study it.")
        self.time_s = time_s
        params = list(self.module.parameters())
        self.device = params[0].device if params else torch.device("cpu")
        self.dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32

    def check_rate(self, audio_fs, name="audio_fs"):
        if audio_fs is None:
            return
        fs = check_positive_number(audio_fs, name)
        if abs(fs - self.fs) > 1e-6 * self.fs:
            raise ValueError(
                f"{name}={fs:g} Hz, but the model takes sound at {self.fs:g} Hz: resample it "
                f"first (sk_icnet.audio.resample(x, {fs:g}, {self.fs:g})).")

    def rates(self, x):
        """Rates ``(B, N, n_bins)`` (expected counts per bin) of waveforms ``x`` (B, T), with grad."""
        kwargs = {}
        if self.decoder is not None:
            kwargs["recording"] = self.decoder
        if self.time_input:
            kwargs["time_s"] = self.time_s
        out = self.module(x, **kwargs)
        if self.convert is not None:
            out = self.convert(out)
        if out.dim() == 2:
            out = out[:, None, :]
        n_bins = x.shape[-1] // self.spb
        if out.dim() != 3 or out.shape[0] != x.shape[0] or out.shape[2] != n_bins:
            raise ValueError(
                f"model must return rates of shape (batch, n_neurons, n_bins) = ({x.shape[0]}, N, "
                f"{n_bins}) for waveforms of shape {tuple(x.shape)}; received "
                f"{tuple(out.shape)}.")
        if x.requires_grad and not out.requires_grad:
            raise TypeError("the model's output does not depend differentiably on its input (no "
                            "gradient flows back to the waveform): it may detach, round or "
                            "compute outside torch.")
        return out

    def __enter__(self):
        self._was_training = self.module.training
        self.module.eval()
        self._grad = [p.requires_grad for p in self.module.parameters()]
        for p in self.module.parameters():
            p.requires_grad_(False)
        return self

    def __exit__(self, *exc):
        self.module.train(self._was_training)
        for p, flag in zip(self.module.parameters(), self._grad, strict=True):
            p.requires_grad_(flag)
        return False
