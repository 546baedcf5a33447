"""How a fitted :class:`~sk_icnet.icnet.ICNetRegressor` answers: streamed prediction, latents,
samples and scores, chunk by chunk with the receptive field's worth of context, each
recording routed to its decoder.

Everything here reads the fitted estimator and changes nothing outside it: no file is written,
no directory is created.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.utils import to_numpy

from .._core.timebase import Timebase
from .._core.validation import (
    check_prediction_shape,
    check_responses,
    recording_time_ok,
    to_layout,
)
from ..data import Recording, decoder_index
from ..metrics import PoissonD2Accumulator, d2_poisson_score
from . import _checks
from ._training import as_data, autocast

__all__ = ["predict", "predict_rates", "predict_proba", "score", "embed", "sample",
           "expected_counts", "probabilities", "decoder_of"]


class _ReadProgress:
    """A tqdm bar advanced by the reads of streamed prediction: ``wrap(read, offset)`` gives a
    ``read(first, stop)`` that moves the bar to ``offset + stop`` bins; closed at the end."""

    def __init__(self, total, desc, enabled):
        self.total, self.bar = int(total), None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=desc, unit="bin", leave=False)

    def wrap(self, read, offset=0):
        if self.bar is None:
            return read

        def progressed(first, stop):
            out = read(first, stop)
            self.bar.update(max(0, offset + stop - self.bar.n))
            if self.bar.n >= self.total:
                self.bar.close()
            return out

        return progressed


def check_finite_predictions(rates):
    if not np.isfinite(rates).all():
        raise ValueError("the model's predictions are not finite (NaN or inf): its weights hold NaN "
                         "or inf values, as after a fit that diverged; refit with a lower lr.")
    return rates


def _refuse_a_tabular_scorer(max_depth=8):
    """Inside a scikit-learn scorer built on one of scikit-learn's own metrics (``scoring="r2"``,
    ``"neg_mean_squared_error"``, ...), refuse 3-D responses with a clear error: those metrics
    take 1-D or 2-D targets, and the scorer would fail with a message about dimensions (a NaN
    score in ``cross_val_score``). Scorers on sk_icnet's metrics and direct calls pass."""
    try:  # private to scikit-learn: without it, scikit-learn's own error stands
        from sklearn.metrics._scorer import _BaseScorer
    except ImportError:
        return
    frame = sys._getframe(2)
    for _ in range(max_depth):
        if frame is None:
            return
        scorer = frame.f_locals.get("self")
        if isinstance(scorer, _BaseScorer):
            func = getattr(scorer, "_score_func", None)
            module = getattr(func, "__module__", "") or ""
            if module.startswith("sklearn."):
                name = getattr(func, "__name__", repr(func))
                raise ValueError(
                    f"scikit-learn's {name} (a scoring string such as 'r2') takes 1-D or 2-D "
                    "targets, but this model predicts (n_trials, n_neurons, n_bins), the layout "
                    "of its 3-D y. Use sk_icnet's scorers, which score each neuron over its "
                    "observed bins: scoring=sk_icnet.metrics.SCORERS (or one of its entries, "
                    "'d2_poisson', 'pearson_r', 'neg_poisson_deviance', by "
                    "sk_icnet.metrics.get_scorer), or fit on 2-D y (one neuron).")
            return
        frame = frame.f_back


# ----------------------------------------------------------------------- outputs, routing
def expected_counts(est, out):
    """Module output -> expected counts, time last: (B, N, T)."""
    if est.module_.n_classes is None:
        return out.float()
    p = probabilities(out)
    counts = torch.arange(p.shape[2], dtype=p.dtype, device=p.device)
    return torch.einsum("bnct,c->bnt", p, counts)


def probabilities(out):
    return torch.softmax(out.float(), dim=2)


def decoder_of(est, recording):
    """Decoder index for array input: ``recording`` names one of ``recording_names_``;
    ``"all"`` (every decoder in one encoder pass) passes through to the module."""
    if isinstance(recording, str) and recording == "all":
        return "all"
    return decoder_index(recording, getattr(est, "recording_names_", None))


def _decoder_of_recording(est, rec):
    return decoder_index(rec, getattr(est, "recording_names_", None), est.neurons_per_recording_)


def _trial_times(est, time_s, n_trials):
    """Recording time of each trial's first bin (only for a model with a time input)."""
    if not est.module_.time_input:
        if time_s is not None:
            raise ValueError("time_s is used only by a model with module__time_input=True; "
                             f"received time_s={time_s!r}.")
        return np.zeros(n_trials)
    if time_s is None:
        raise ValueError("this model has a recording-time input (module__time_input=True): "
                         "pass time_s, the recording time (s) to simulate.")
    times = np.broadcast_to(np.asarray(time_s, dtype=np.float64), (n_trials,)) \
        if np.ndim(time_s) <= 1 and np.size(time_s) in (1, n_trials) else None
    if times is None or not np.isfinite(times).all() or not recording_time_ok(times):
        raise ValueError(f"time_s must be a finite recording time within 1e9 s, one number or "
                         f"one per trial ({n_trials}); received {time_s!r}.")
    return times


# ------------------------------------------------------------------------------- streaming
def _progress(est, n_bins, desc):
    """A progress bar over ``n_bins`` streamed bins (tqdm on stderr), shown when ``verbose``
    and the input is streamed (longer than ``predict_chunk_bins``)."""
    return _ReadProgress(n_bins, f"{type(est).__name__}.{desc}",
                         enabled=bool(est.verbose) and n_bins > est.predict_chunk_bins)


def _trial_reader(est, trial):
    """``read(first, stop)`` over one validated trial ``(1, n_samples)``, for streaming."""
    spb = est.samples_per_bin_
    return lambda first, stop: trial[:, first * spb: stop * spb]


def stream(est, read, n_bins, convert, decoder, t0, encode=False):
    """Predict (or with ``encode``, embed) one long waveform chunk by chunk, float32."""
    return np.concatenate([out for _, _, out in stream_chunks(
        est, read, n_bins, convert, decoder, t0, encode=encode)], axis=-1)


def stream_chunks(est, read, n_bins, convert, decoder, t0, encode=False):
    """Yield ``(start, stop, output)`` chunk by chunk, each with the receptive field's
    worth of left context (and right context for non-causal padding); ``read(first,
    stop)`` gives the waveform of those bins. ``encode=True`` yields the bottleneck
    latents instead of the network's output."""
    module, dt_s = est.module_, Timebase(est.audio_fs_, est.dt_ms_).dt_s
    context, right = module.context_bins, getattr(module, "right_context_bins", 0)
    step = getattr(module, "chunk_multiple_bins", 1)  # whole windows in windowed mode
    chunk = max(step, est.predict_chunk_bins - est.predict_chunk_bins % step)
    inside = getattr(module, "context_samples", 0) // est.samples_per_bin_
    module.eval()
    for start in range(0, n_bins, chunk):
        stop = min(start + chunk, n_bins)
        first = max(0, start - context)
        # past the start, the bins before the chunk are the context the module crops
        kwargs, lead = ({"prepend_context": False}, first + inside) if inside and first \
            else ({}, first)
        x = torch.as_tensor(np.asarray(read(first, min(n_bins, stop + right)),
                                       np.float32)).reshape(1, 1, -1)
        with torch.inference_mode(), autocast(est):
            if encode:
                out = module.encode(x.to(est.device), **kwargs).float()
            else:
                out = convert(module(x.to(est.device), recording=decoder,
                                     time_s=t0 + lead * dt_s, **kwargs))
        yield start, stop, check_finite_predictions(
            to_numpy(out[0, ..., start - lead: stop - lead].float()).astype(np.float32))


def _forward_numpy(est, X, convert, decoder=0, time_s=None):
    """Run the module on validated ``X`` (n, 1, T); ``convert`` maps outputs (time last)."""
    times = _trial_times(est, time_s, X.shape[0])
    n_bins = X.shape[-1] // est.samples_per_bin_
    if n_bins <= est.predict_chunk_bins and isinstance(decoder, str):  # "all"
        return _forward_all(est, X, convert, times)
    if n_bins <= est.predict_chunk_bins:
        inputs = {"x": X, "recording": np.full(X.shape[0], decoder), "time_s": times}
        return np.concatenate([to_numpy(convert(out))
                               for out in est.forward_iter(inputs, training=False)], axis=0)
    bar = _progress(est, n_bins * X.shape[0], "predict")
    return np.concatenate([
        stream(est, bar.wrap(_trial_reader(est, trial), k * n_bins), n_bins, convert,
               decoder, t0)[None]
        for k, (trial, t0) in enumerate(zip(X, times, strict=True))], axis=0)


#: values of every decoder's output that one batch of ``recording="all"`` may hold
_ALL_DECODERS_VALUES = 2**27


def _forward_all(est, X, convert, times):
    """Every decoder on validated ``X`` (n, 1, T) (``recording="all"``): one encoder pass per
    batch of ``batch_size`` trials, the neurons of all recordings concatenated in
    ``recording_names_`` order (the module's ``"all"``); as ``forward_iter`` would, batched."""
    module, time_input = est.module_, est.module_.time_input
    size = est.batch_size if est.batch_size and est.batch_size > 0 else X.shape[0]
    # every decoder's output of a batch at once: keep it near 128 M values (512 MB float32)
    per_trial = module.out_neurons * (module.n_classes or 1) * (X.shape[-1] // est.samples_per_bin_)
    size = max(1, min(size, _ALL_DECODERS_VALUES // max(per_trial, 1)))
    module.eval()
    out = []
    for lo in range(0, X.shape[0], size):
        x = torch.as_tensor(np.asarray(X[lo: lo + size], np.float32)).to(est.device)
        t = torch.as_tensor(np.array(times[lo: lo + size])) if time_input else None
        with torch.inference_mode(), autocast(est):
            out.append(to_numpy(convert(module(x, "all", time_s=t)).float()))  # decoder "all"
    return np.concatenate(out, axis=0)


def _recording_chunks(est, rec, time_s=None, convert=None):
    """Expected counts of a recording, chunk by chunk, read from its store as needed."""
    check_is_fitted(est, ["module_", "samples_per_bin_"])
    _checks.check_data_rates(est, rec)
    decoder = _decoder_of_recording(est, rec)
    t0 = rec.start_s if time_s is None else _trial_times(est, time_s, 1)[0]
    read = _progress(est, rec.n_bins, "predict").wrap(rec.read_audio)
    return stream_chunks(est, read, rec.n_bins, convert or (lambda out: expected_counts(est, out)),
                         decoder, t0)


def _window_loader(est, data):
    """A loader over the windows of a WindowDataset, checked against the fitted model."""
    _checks.validate_dataset(est, data, reset=False, training=False)
    return est.get_iterator(data, training=False)


def _window_rates(est, loader):
    """``(batch, expected counts)`` for every batch of ``loader``."""
    for batch in loader:
        yield batch, to_numpy(expected_counts(est, est.evaluation_step(batch, training=False)))


def _predict_windows(est, data):
    """Expected counts of every window of a WindowDataset, in the dataset's order."""
    loader = _window_loader(est, data)
    order = [i for batch in loader.batch_sampler for i in batch]
    outputs, n_per = [], est.neurons_per_recording_
    for batch, rates in _window_rates(est, loader):
        check_finite_predictions(rates)
        for row, d in zip(rates, batch[0]["recording"].tolist(), strict=True):
            outputs.append(row[: n_per[d]].astype(np.float32))
    result = [None] * len(order)
    for i, out in zip(order, outputs, strict=True):
        result[i] = out
    return result


# -------------------------------------------------------------------------------- public
def predict_rates(est, X, recording=None, time_s=None):
    """Rates ``(n_trials, n_neurons, n_bins)`` float64 of arrays."""
    X = _checks.validate_X(est, X)
    decoder = decoder_of(est, recording)
    rates = _forward_numpy(est, X, lambda out: expected_counts(est, out), decoder, time_s)
    return check_finite_predictions(rates.astype(np.float64))


def predict(est, X, recording=None, time_s=None):
    """Rates of arrays (the fit's layout), a Recording (streamed) or a WindowDataset."""
    if isinstance(X, Recording):
        return np.concatenate([out for _, _, out in _recording_chunks(est, X, time_s)], axis=-1)
    data = as_data(X)
    if data is not None:
        return _predict_windows(est, data)
    if getattr(est, "y_ndim_", None) == 3:
        _refuse_a_tabular_scorer()
    return to_layout(predict_rates(est, X, recording, time_s), est.y_ndim_)


def predict_proba(est, X, recording=None, time_s=None):
    """Class probabilities ``(n, N, T, C)``, or ``(n, T, C)`` after a fit on 2-D y."""
    X = _checks.validate_X(est, X)
    proba = np.moveaxis(_forward_numpy(est, X, probabilities, decoder_of(est, recording),
                                       time_s), 2, -1)
    return proba[:, 0] if est.y_ndim_ < 3 and proba.shape[1] == 1 else proba


def embed(est, X):
    """Bottleneck latents of arrays ``(n, C, T)`` or of a Recording ``(C, T)``, streamed."""
    check_is_fitted(est, ["module_", "samples_per_bin_"])
    if isinstance(X, Recording):
        _checks.check_data_rates(est, X)
        read = _progress(est, X.n_bins, "embed").wrap(X.read_audio)
        return stream(est, read, X.n_bins, None, 0, 0.0, encode=True)
    X = _checks.validate_X(est, X)
    n_bins = X.shape[-1] // est.samples_per_bin_
    bar = _progress(est, n_bins * X.shape[0], "embed")
    return np.stack([stream(est, bar.wrap(_trial_reader(est, trial), k * n_bins), n_bins,
                            None, 0, 0.0, encode=True)
                     for k, trial in enumerate(X)])


def sample(est, X, random_state=None, recording=None, time_s=None):
    """Counts drawn around the rates (Poisson head) or from the class probabilities."""
    rng = check_random_state(random_state)
    if est.head != "categorical":
        return rng.poisson(est.predict(X, recording=recording, time_s=time_s)).astype(np.int64)
    if isinstance(X, Recording):
        proba = np.concatenate([out for _, _, out in _recording_chunks(
            est, X, time_s, probabilities)], axis=-1)[None]  # (1, N, C, T)
        layout = 3
    else:
        Xv = _checks.validate_X(est, X)
        proba = _forward_numpy(est, Xv, probabilities, decoder_of(est, recording), time_s)
        layout = est.y_ndim_
    proba = np.moveaxis(proba, 2, -1)  # (n, N, T, C)
    draws = rng.random_sample(proba.shape[:-1] + (1,))
    counts = np.minimum((draws > np.cumsum(proba, axis=-1)).sum(axis=-1), proba.shape[-1] - 1)
    counts = counts.astype(np.int64)
    return counts[0] if isinstance(X, Recording) else to_layout(counts, layout)


def score(est, X, y=None, sample_weight=None, recording=None, time_s=None):
    """Poisson D²: arrays against ``y``, or recordings and windows in a streamed pass."""
    data = X if isinstance(X, Recording) else as_data(X)
    if data is not None:
        _checks.check_no_target(y)
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported for recordings; received one.")
        if recording is not None or time_s is not None:
            raise ValueError("recording= and time_s= are for arrays: recordings carry their "
                             f"own name and start time; received recording={recording!r}, "
                             f"time_s={time_s!r}.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _score_data(est, data)
    return score_arrays(est.predict(X, recording=recording, time_s=time_s), y, est.skip_bins,
                        sample_weight)


def score_arrays(y_pred, y, skip_bins, sample_weight=None):
    """Poisson D² of predictions for arrays against ``y``, the first ``skip_bins`` bins of each
    trial left out (the estimator's and the seed ensemble's ``score``)."""
    check_responses(y, name="y")
    check_prediction_shape(y_pred, y)
    if skip_bins and np.ndim(y) >= 2:
        y = np.array(y, dtype=np.float64)
        y[..., :skip_bins] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return d2_poisson_score(y, y_pred, sample_weight=sample_weight)


def _score_data(est, data):
    """Poisson D² over the observed, scored bins of recordings or windows, streamed."""
    check_is_fitted(est, ["module_", "samples_per_bin_"])
    acc = PoissonD2Accumulator(est.n_neurons_)
    offsets = np.concatenate([[0], np.cumsum(est.neurons_per_recording_)])
    skip = est.skip_bins
    if isinstance(data, Recording):  # memory bounded by one chunk, like predict
        d = _decoder_of_recording(est, data)
        neurons = np.arange(offsets[d], offsets[d + 1])
        for lo, hi, rates in _recording_chunks(est, data):
            _, counts, observed = data.read(lo, hi)
            acc.update(counts[None], rates[None], observed[None], neurons)
        return acc.result()
    for batch, rates in _window_rates(est, _window_loader(est, data)):
        counts, observed = (t.numpy() for t in batch[1])
        if skip:
            observed = observed.copy()
            observed[..., :skip] = False
        for k, d in enumerate(batch[0]["recording"].tolist()):
            n = est.neurons_per_recording_[d]
            acc.update(counts[k: k + 1, :n], rates[k: k + 1, :n],
                       observed[k: k + 1, : min(n, observed.shape[1])],
                       np.arange(offsets[d], offsets[d] + n))
    return acc.result()
