"""How a fitted :class:`~sk_icnet.icnet.ICNetRegressor` answers: streamed prediction, latents,
samples and scores, chunk by chunk with the receptive field's worth of context, each
recording routed to its decoder.

The estimator's public methods own the fitted state; the functions here take a
:class:`Runner` (the fitted module and how it runs), arrays and plain values. Only four
read the estimator itself, where skorch's batching runs (:func:`forward_arrays`,
:func:`predict_windows`, :func:`score_data`) or a recording is streamed
(:func:`recording_chunks`). Nothing here writes a file or creates a directory.
"""

from __future__ import annotations

import functools
import numbers
import sys
import warnings
from typing import NamedTuple

import numpy as np
import torch
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.utils.validation import check_is_fitted
from skorch.utils import to_numpy

from .._core.validation import (
    check_prediction_shape,
    check_responses,
    recording_time_ok,
)
from ..data import Recording, decoder_index
from ..metrics import PoissonD2Accumulator, d2_poisson_score
from ._layers import autocast

__all__ = ["Runner", "expected_counts", "probabilities", "decoder_of", "trial_times", "stream",
           "stream_chunks", "embed", "forward_arrays", "recording_chunks", "predict_windows",
           "draw_counts", "score_arrays", "score_data", "check_finite_predictions"]


class Runner(NamedTuple):
    """How a fitted model runs: its module and timebase, the chunk length of streamed input
    (``predict_chunk_bins``), the device, the precision and whether progress is shown."""

    module: torch.nn.Module
    timebase: object
    chunk_bins: int
    device: object
    precision: str
    verbose: bool
    name: str


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
    """Inside one of scikit-learn's named scorers (``scoring="r2"``, ``"neg_mean_squared_error"``,
    ...), refuse 3-D responses with a clear error: their metrics take 1-D or 2-D targets, and
    the scorer would fail with a message about dimensions (a NaN score in ``cross_val_score``).
    Scorers on sk_icnet's metrics, a user's own scorers and direct calls pass."""
    kinds, names = _named_scorers()
    frame = sys._getframe(2)
    for _ in range(max_depth):
        if frame is None:
            return
        scorer = frame.f_locals.get("self")
        if isinstance(scorer, kinds):
            name = names.get(repr(scorer))
            if name is not None:
                raise ValueError(
                    f"scikit-learn's scoring={name!r} takes 1-D or 2-D targets, but this model "
                    "predicts (n_trials, n_neurons, n_bins), the layout of its 3-D y. Use "
                    "sk_icnet's scorers, which score each neuron over its observed bins: "
                    "scoring=sk_icnet.metrics.SCORERS (or one of its entries, 'd2_poisson', "
                    "'pearson_r', 'neg_poisson_deviance', by sk_icnet.metrics.get_scorer), or fit "
                    "on 2-D y (one neuron).")
            return
        frame = frame.f_back


@functools.cache
def _named_scorers():
    """scikit-learn's named scorers through its public API (``get_scorer_names``,
    ``get_scorer``): the classes they are, and each one's ``repr`` -> its name. A scorer shows
    its metric and options in its repr (``make_scorer(r2_score, response_method='predict')``),
    so a scorer a user made the same way from the same metric is recognised too."""
    scorers = {name: get_scorer(name) for name in get_scorer_names()}
    return (tuple({type(scorer) for scorer in scorers.values()}),
            {repr(scorer): name for name, scorer in scorers.items()})


# ----------------------------------------------------------------------- outputs, routing
def expected_counts(out, n_classes):
    """Module output -> expected counts, time last: (B, N, T)."""
    if n_classes is None:
        return out.float()
    p = probabilities(out)
    counts = torch.arange(p.shape[2], dtype=p.dtype, device=p.device)
    return torch.einsum("bnct,c->bnt", p, counts)


def probabilities(out):
    return torch.softmax(out.float(), dim=2)


def decoder_of(recording, names):
    """Decoder index for array input: ``recording`` names one of ``names`` (a model's
    ``recording_names_``) or is its position there; None for a one-decoder model; ``"all"``
    (every decoder in one encoder pass) passes through to the module."""
    if isinstance(recording, str) and recording == "all":
        return "all"
    if isinstance(recording, numbers.Integral) and not isinstance(recording, (bool, np.bool_)):
        n_decoders = 1 if names is None else len(names)
        if not 0 <= recording < n_decoders:
            raise ValueError(
                f"recording={recording!r} is not a position in recording_names_ "
                f"{None if names is None else list(names)}: pass a name or a position from 0 "
                f"to {n_decoders - 1}.")
        return int(recording)
    return decoder_index(recording, names)


def trial_times(time_input, time_s, n_trials):
    """Recording time of each trial's first bin (only for a model with a time input)."""
    if not time_input:
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
def progress(runner, n_bins, desc):
    """A progress bar over ``n_bins`` streamed bins (tqdm on stderr), shown when ``verbose``
    and the input is streamed (longer than ``predict_chunk_bins``)."""
    return _ReadProgress(n_bins, f"{runner.name}.{desc}",
                         enabled=bool(runner.verbose) and n_bins > runner.chunk_bins)


def trial_reader(trial, samples_per_bin):
    """``read(first, stop)`` over one validated trial ``(1, n_samples)``, for streaming."""
    return lambda first, stop: trial[:, first * samples_per_bin: stop * samples_per_bin]


def stream(runner, read, n_bins, convert, decoder, t0, encode=False):
    """Predict (or with ``encode``, embed) one long waveform chunk by chunk, float32."""
    return np.concatenate([out for _, _, out in stream_chunks(
        runner, read, n_bins, convert, decoder, t0, encode=encode)], axis=-1)


def stream_chunks(runner, read, n_bins, convert, decoder, t0, encode=False):
    """Yield ``(start, stop, output)`` chunk by chunk, each with the receptive field's
    worth of left context (and right context for non-causal padding); ``read(first,
    stop)`` gives the waveform of those bins. ``encode=True`` yields the bottleneck
    latents instead of the network's output."""
    module, dt_s, spb = runner.module, runner.timebase.dt_s, runner.timebase.samples_per_bin
    context, right = module.context_bins, getattr(module, "right_context_bins", 0)
    step = getattr(module, "chunk_multiple_bins", 1)  # whole windows in windowed mode
    chunk = max(step, runner.chunk_bins - runner.chunk_bins % step)
    inside = getattr(module, "context_samples", 0) // spb
    module.eval()
    for start in range(0, n_bins, chunk):
        stop = min(start + chunk, n_bins)
        first = max(0, start - context)
        # past the start, the bins before the chunk are the context the module crops
        kwargs, lead = ({"prepend_context": False}, first + inside) if inside and first \
            else ({}, first)
        x = torch.as_tensor(np.asarray(read(first, min(n_bins, stop + right)),
                                       np.float32)).reshape(1, 1, -1)
        with torch.inference_mode(), autocast(runner.precision, runner.device):
            if encode:
                out = module.encode(x.to(runner.device), **kwargs).float()
            else:
                out = convert(module(x.to(runner.device), decoder=decoder,
                                     time_s=t0 + lead * dt_s, **kwargs))
        yield start, stop, check_finite_predictions(
            to_numpy(out[0, ..., start - lead: stop - lead].float()).astype(np.float32))


def embed(runner, X):
    """Bottleneck latents of a Recording ``(C, T)`` or of validated arrays ``(n, C, T)``,
    streamed chunk by chunk."""
    if isinstance(X, Recording):
        read = progress(runner, X.n_bins, "embed").wrap(X.read_audio)
        return stream(runner, read, X.n_bins, None, 0, 0.0, encode=True)
    spb = runner.timebase.samples_per_bin
    n_bins = X.shape[-1] // spb
    bar = progress(runner, n_bins * X.shape[0], "embed")
    return np.stack([stream(runner, bar.wrap(trial_reader(trial, spb), k * n_bins), n_bins, None,
                            0, 0.0, encode=True) for k, trial in enumerate(X)])


def forward_arrays(est, X, convert, decoder=0, time_s=None):
    """Run the module on validated ``X`` (n, 1, T) through skorch's batching (streamed past
    ``predict_chunk_bins``); ``convert`` maps outputs (time last)."""
    runner = est._runner()
    times = trial_times(runner.module.time_input, time_s, X.shape[0])
    spb = runner.timebase.samples_per_bin
    n_bins = X.shape[-1] // spb
    if n_bins <= runner.chunk_bins and isinstance(decoder, str):  # "all"
        return forward_all(runner, X, convert, times, est.batch_size)
    if n_bins <= runner.chunk_bins:
        inputs = {"x": X, "decoder": np.full(X.shape[0], decoder), "time_s": times}
        return np.concatenate([to_numpy(convert(out))
                               for out in est.forward_iter(inputs, training=False)], axis=0)
    bar = progress(runner, n_bins * X.shape[0], "predict")
    return np.concatenate([
        stream(runner, bar.wrap(trial_reader(trial, spb), k * n_bins), n_bins, convert,
               decoder, t0)[None]
        for k, (trial, t0) in enumerate(zip(X, times, strict=True))], axis=0)


#: values of every decoder's output that one batch of ``recording="all"`` may hold
_ALL_DECODERS_VALUES = 2**27


def forward_all(runner, X, convert, times, batch_size):
    """Every decoder on validated ``X`` (n, 1, T) (``recording="all"``): one encoder pass per
    batch of ``batch_size`` trials, the neurons of all recordings concatenated in
    ``recording_names_`` order (the module's ``"all"``); as ``forward_iter`` would, batched."""
    module = runner.module
    size = batch_size if batch_size and batch_size > 0 else X.shape[0]
    # every decoder's output of a batch at once: keep it near 128 M values (512 MB float32)
    per_trial = (module.out_neurons * (module.n_classes or 1)
                 * (X.shape[-1] // runner.timebase.samples_per_bin))
    size = max(1, min(size, _ALL_DECODERS_VALUES // max(per_trial, 1)))
    module.eval()
    out = []
    for lo in range(0, X.shape[0], size):
        x = torch.as_tensor(np.asarray(X[lo: lo + size], np.float32)).to(runner.device)
        t = torch.as_tensor(np.array(times[lo: lo + size])) if module.time_input else None
        with torch.inference_mode(), autocast(runner.precision, runner.device):
            out.append(to_numpy(convert(module(x, "all", time_s=t)).float()))
    return np.concatenate(out, axis=0)


def recording_chunks(est, rec, time_s=None, convert=None):
    """Expected counts of a recording (or ``convert``'s outputs), chunk by chunk, read from its
    store as needed, through the decoder of its name."""
    check_is_fitted(est, ["module_", "samples_per_bin_"])
    est._check_data_rates(rec)
    runner = est._runner()
    decoder = decoder_index(rec, getattr(est, "recording_names_", None),
                            est.neurons_per_recording_)
    t0 = rec.start_s if time_s is None else trial_times(runner.module.time_input, time_s, 1)[0]
    read = progress(runner, rec.n_bins, "predict").wrap(rec.read_audio)
    n_classes = runner.module.n_classes
    return stream_chunks(runner, read, rec.n_bins,
                         convert or (lambda out: expected_counts(out, n_classes)), decoder, t0)


def _window_rates(est, data):
    """``(batch, expected counts)`` for every batch of a WindowDataset checked against the
    fitted model, and the loader."""
    est._take_dataset(data, reset=False, training=False)
    loader = est.get_iterator(data, training=False)
    n_classes = est.module_.n_classes

    def batches():
        for batch in loader:
            out = est.evaluation_step(batch, training=False)
            yield batch, to_numpy(expected_counts(out, n_classes))
    return loader, batches()


def predict_windows(est, data):
    """Expected counts of every window of a WindowDataset, in the dataset's order."""
    loader, batches = _window_rates(est, data)
    order = [i for batch in loader.batch_sampler for i in batch]
    outputs, n_per = [], est.neurons_per_recording_
    for batch, rates in batches:
        check_finite_predictions(rates)
        for row, d in zip(rates, batch[0]["decoder"].tolist(), strict=True):
            outputs.append(row[: n_per[d]].astype(np.float32))
    result = [None] * len(order)
    for i, out in zip(order, outputs, strict=True):
        result[i] = out
    return result


# -------------------------------------------------------------------------------- answers
def draw_counts(proba, rng):
    """Counts drawn from class probabilities ``(..., n_classes)`` (the last class: that many
    or more), int64."""
    draws = rng.random_sample(proba.shape[:-1] + (1,))
    counts = np.minimum((draws > np.cumsum(proba, axis=-1)).sum(axis=-1), proba.shape[-1] - 1)
    return counts.astype(np.int64)


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


def score_data(est, data):
    """Poisson D² over the observed, scored bins of recordings or windows, streamed."""
    check_is_fitted(est, ["module_", "samples_per_bin_"])
    acc = PoissonD2Accumulator(est.n_neurons_)
    offsets = np.concatenate([[0], np.cumsum(est.neurons_per_recording_)])
    skip = est.skip_bins
    if isinstance(data, Recording):  # memory bounded by one chunk, like predict
        d = decoder_index(data, getattr(est, "recording_names_", None),
                          est.neurons_per_recording_)
        neurons = np.arange(offsets[d], offsets[d + 1])
        for lo, hi, rates in recording_chunks(est, data):
            _, counts, observed = data.read(lo, hi)
            acc.update(counts[None], rates[None], observed[None], neurons)
        return acc.result()
    _, batches = _window_rates(est, data)
    for batch, rates in batches:
        counts, observed = (t.numpy() for t in batch[1])
        if skip:
            observed = observed.copy()
            observed[..., :skip] = False
        for k, d in enumerate(batch[0]["decoder"].tolist()):
            n = est.neurons_per_recording_[d]
            acc.update(counts[k: k + 1, :n], rates[k: k + 1, :n],
                       observed[k: k + 1, : min(n, observed.shape[1])],
                       np.arange(offsets[d], offsets[d] + n))
    return acc.result()
