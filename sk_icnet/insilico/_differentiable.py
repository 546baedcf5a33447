"""A differentiable model under study: what gradient analyses need of a model.

The receptive fields (:func:`~sk_icnet.insilico.dynamic_strf`) and the optimal sounds
(:func:`~sk_icnet.insilico.optimal_sound`) differentiate the predicted rates with respect
to the waveform, so they need the torch module, not only ``predict``. They take it by what
it has, not by its class (this package's analyses import no model family): an estimator
that follows :class:`DifferentiableModel`, or a ``torch.nn.Module`` with the attributes
``audio_fs`` and ``samples_per_bin``.
"""

from __future__ import annotations

import numbers
from typing import Any, Protocol, runtime_checkable

import torch

from .._core.validation import check_positive_number

__all__ = ["DifferentiableModel"]


@runtime_checkable
class DifferentiableModel(Protocol):
    """What gradient analyses need of an estimator that wraps a fitted torch model.

    :func:`~sk_icnet.insilico.dynamic_strf`, :func:`~sk_icnet.insilico.gradient_strf`
    and :func:`~sk_icnet.insilico.optimal_sound` differentiate a model's expected counts
    with respect to the waveform. A fitted :class:`~sk_icnet.ICNetRegressor` follows
    this protocol, and so can any estimator of a torch model: ``isinstance(model,
    DifferentiableModel)`` checks that the members exist. (A bare ``torch.nn.Module``
    with the attributes ``audio_fs`` and ``samples_per_bin``, whose output is already
    the expected counts, is accepted too.)

    Attributes
    ----------
    module_ : torch.nn.Module
        The fitted module: waveforms ``(B, T)`` in pascals in, one output per neuron
        and bin. It is called as ``module_(x)``, or ``module_(x, decoder)`` when
        :meth:`decoder_index` gives a decoder, with ``time_s=`` for a module whose
        ``time_input`` is True; it is put in eval mode and its parameters are frozen
        during the analysis (and restored after).
    audio_fs_ : float
        Audio rate (Hz).
    samples_per_bin_ : int
        Audio samples per output bin.

    Methods
    -------
    decoder_index(recording)
        What ``module_`` takes as its decoder for the analysis' ``recording=`` (None:
        pass no decoder; an int; or ``"all"``: every decoder at once).
    expected_counts(output)
        ``module_``'s output as expected counts per bin ``(B, N, T)``, differentiably.

    Examples
    --------
    >>> import torch
    >>> from sk_icnet.insilico import DifferentiableModel
    >>> class MyEstimator:          # a fitted estimator of your own torch model
    ...     def __init__(self, module):
    ...         self.module_, self.audio_fs_, self.samples_per_bin_ = module, 8000.0, 32
    ...     def decoder_index(self, recording):
    ...         return None         # one decoder
    ...     def expected_counts(self, output):
    ...         return torch.nn.functional.softplus(output)
    >>> isinstance(MyEstimator(torch.nn.Identity()), DifferentiableModel)
    True
    """

    module_: Any
    audio_fs_: float
    samples_per_bin_: int

    def decoder_index(self, recording: Any) -> Any:
        """The decoder of ``module_`` that serves ``recording``."""

    def expected_counts(self, output: Any) -> Any:
        """``module_``'s output as expected counts per bin ``(B, N, T)``."""


#: the methods of :class:`DifferentiableModel` (an estimator is recognised by them, fitted or not)
_ESTIMATOR_HOOKS = ("decoder_index", "expected_counts")


def _wraps_a_module(model):
    """Whether ``model`` is an estimator wrapping a torch module that gradient analyses can use:
    it has the methods of :class:`DifferentiableModel` (fitted or not)."""
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
            _check_recording_chosen(model, recording)
            self.decoder = model.decoder_index(recording)
            self.convert = model.expected_counts
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

    def rates(self, x, time_s=None):
        """Rates ``(B, N, n_bins)`` (expected counts per bin) of waveforms ``x`` (B, T), with grad;
        ``time_s`` (one per window) replaces the analysis' recording time."""
        args, kwargs = (() if self.decoder is None else (self.decoder,)), {}
        if self.time_input:
            kwargs["time_s"] = self.time_s if time_s is None else time_s
        out = self.module(x, *args, **kwargs)  # the decoder by position: decoder= (or recording=)
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


def _check_recording_chosen(model, recording):
    """A model with one decoder per recording is studied for a recording it is told."""
    names = getattr(model, "recording_names_", None)
    if recording is None and isinstance(names, (list, tuple)) and len(names) > 1:
        shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
        raise ValueError(
            f"this model has one decoder per recording ({len(names)}: {shown}): pass "
            f"recording=\"{names[0]}\" (a name of recording_names_) for one recording's "
            "neurons, or recording=\"all\" for the neurons of every recording (numbered "
            "in recording_names_ order, as predict(X, recording=\"all\") gives them).")
