"""Checkpoints of :class:`~sk_icnet.icnet.ICNetRegressor`: what they record and how they are read.

:data:`FITTED_METADATA` is the one list of fitted attributes a checkpoint records (written by
:class:`~sk_icnet.icnet.CheckpointMetadata`, read back by :func:`load_checkpoint`, and by the
model files). The files are untrusted input: weights and optimizer state are read with
torch's safe loader, the metadata and history are checked, and anything else raises a
``ValueError`` naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Mapping

import torch

from .._core.timebase import Timebase
from .._core.validation import is_json_int, is_json_real

__all__ = ["METADATA_FILE", "FITTED_METADATA", "CHECKPOINT_FILES", "load_checkpoint",
           "read_checkpoint", "adapt_to_params", "neurons_in_state", "module_runs_at",
           "RefusedPickle", "check_checkpoint_history", "check_optimizer_state_shapes"]

#: the file of a checkpoint directory that holds :data:`FITTED_METADATA`
METADATA_FILE = "sk_icnet_metadata.json"

#: fitted attributes that a checkpoint records to rebuild the module
FITTED_METADATA = ("n_neurons_", "samples_per_bin_", "y_ndim_", "n_features_in_", "audio_fs_",
                   "dt_ms_", "recording_names_", "neurons_per_recording_")

#: checkpoint files that load_checkpoint needs
CHECKPOINT_FILES = ("params.pt", "optimizer.pt", "history.json")


class RefusedPickle(ValueError, pickle.UnpicklingError):
    """A checkpoint file holds pickled objects that torch's safe loader refuses (code, or
    classes other than tensors and containers). A ``ValueError`` and an ``UnpicklingError``."""

    def __init__(self, dirname, exc):
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL ([^\s]+)", text)
        what = f"the global {found.group(1)}" if found else text.splitlines()[0][:200]
        super().__init__(f"the checkpoint in {dirname!r} could not be loaded: it holds pickled "
                         f"objects other than tensors ({what}), which torch's safe loader "
                         "(weights_only=True) refuses. sk_icnet never writes these: the file was "
                         "tampered with or comes from elsewhere; it was not loaded (do not load it "
                         "with weights_only=False unless you trust its source).")


def _is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def check_checkpoint_history(history, path):
    """Check the decoded ``history.json`` of a checkpoint: a list of epoch rows, each a JSON
    object whose ``epoch`` is its 1-based position, whose ``batches`` is a list of objects of
    scalars, and whose other values are scalars or lists of scalars (as skorch writes them)."""
    source = f"the checkpoint history {os.fspath(path)!r}"
    if not isinstance(history, list):
        raise ValueError(f"{source} must be a list of epoch rows; received "
                         f"{type(history).__name__}.")
    for i, row in enumerate(history):
        where = f"{source}: row {i}"
        if not isinstance(row, dict):
            raise ValueError(f"{where} must be a JSON object; received {type(row).__name__}.")
        epoch = row.get("epoch")
        if not is_json_int(epoch, i + 1, i + 1):
            raise ValueError(f"{where} must have epoch={i + 1}; received {epoch!r}.")
        batches = row.get("batches", [])
        if not isinstance(batches, list) or not all(
                isinstance(b, dict) and all(_is_scalar(v) for v in b.values()) for b in batches):
            raise ValueError(f"{where}: batches must be a list of objects of numbers; received "
                             f"{str(batches)[:80]}.")
        for key, value in row.items():
            if key == "batches":
                continue
            if not (_is_scalar(value) or (isinstance(value, list)
                                          and all(_is_scalar(v) for v in value))):
                raise ValueError(f"{where}: {key} must be a number, string, bool or null; "
                                 f"received {str(value)[:80]}.")
            if key.endswith("_loss") and not (value is None or is_json_real(value)
                                              or isinstance(value, float)):
                raise ValueError(f"{where}: {key} must be a number; received {value!r}.")
    return history


def load_checkpoint(est, dirname):
    """Restore weights, optimizer state and history from a checkpoint directory into ``est``
    (see :meth:`ICNetRegressor.load_checkpoint`)."""
    from skorch.history import History

    dirname = os.fspath(dirname)
    meta, history, source = read_checkpoint(dirname, est.audio_fs, est.dt_ms, type(est).__name__)
    est._set_fitted(meta)
    est._resume_dir = dirname
    est.initialize()
    module = est.module_
    if not module_runs_at(module, est.timebase_):
        raise ValueError(f"{source}: the network runs at {module.audio_fs!r} Hz with "
                         f"{module.samples_per_bin} samples per bin, but the checkpoint was "
                         f"fitted at {meta['audio_fs_']!r} Hz with {meta['samples_per_bin_']}.")
    _load_checkpoint_state(est, dirname)
    est.history = History(history)
    return est


def read_checkpoint(dirname, audio_fs, dt_ms, owner):
    """The checked metadata and history of a checkpoint directory, and the metadata's name; the
    estimator's rate parameters ``audio_fs``, ``dt_ms``, where set, must be the checkpoint's."""
    from .._core.files import read_json_file
    from .._core.validation import check_fitted_metadata
    from ..io import check_fitted_rates

    meta_path = os.path.join(dirname, METADATA_FILE)
    if not os.path.isfile(meta_path):
        raise ValueError(f"dirname must be a checkpoint directory holding {METADATA_FILE}; "
                         f"received {dirname!r}.")
    missing = [name for name in CHECKPOINT_FILES
               if not os.path.isfile(os.path.join(dirname, name))]
    if missing:
        raise ValueError(f"the checkpoint in {dirname!r} is incomplete: {missing} missing (a fit "
                         "stopped before its first checkpoint, or files were removed).")
    source = f"the checkpoint metadata {meta_path!r}"
    raw = read_json_file(meta_path, "checkpoint metadata", allow_nan=True)
    meta = check_fitted_metadata(raw, FITTED_METADATA, source)
    check_checkpoint_rates(audio_fs, dt_ms, owner, meta)
    check_fitted_rates(meta, source)
    history_path = os.path.join(dirname, "history.json")
    history = check_checkpoint_history(
        read_json_file(history_path, "checkpoint history", allow_nan=True), history_path)
    return meta, history, source


def _load_checkpoint_state(est, dirname):
    """Weights and optimizer state, with the safe loader; this estimator's hyperparameters."""
    hyper = [{k: v for k, v in group.items() if k != "params"}
             for group in est.optimizer_.param_groups]
    explicit = est.torch_load_kwargs
    est.torch_load_kwargs = {"weights_only": True}  # nothing here may run code
    try:
        est.load_params(f_params=os.path.join(dirname, "params.pt"),
                        f_optimizer=os.path.join(dirname, "optimizer.pt"))
    except pickle.UnpicklingError as exc:
        raise RefusedPickle(dirname, exc) from None
    except (RuntimeError, ValueError, EOFError, OSError, KeyError, IndexError, TypeError,
            AttributeError) as exc:
        raise ValueError(f"the checkpoint in {dirname!r} could not be loaded ({type(exc).__name__}:"
                         f" {exc}); a file is truncated or corrupt, or the estimator's parameters"
                         " differ from those of the fit that wrote it.") from exc
    finally:
        est.torch_load_kwargs = explicit
    bad = [name for name, value in est.module_.state_dict().items()
           if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise ValueError(f"the checkpoint in {dirname!r}: the weights {bad} in params.pt hold "
                         "NaN or infinite values.")
    for group, values in zip(est.optimizer_.param_groups, hyper, strict=True):
        group.update(values)  # this estimator's lr and optimizer__* settings
    for state in est.optimizer_.state.values():
        for key, value in state.items():
            if torch.is_tensor(value) and value.is_floating_point() \
                    and not torch.isfinite(value).all():
                raise ValueError(f"the checkpoint in {dirname!r}: the optimizer state {key!r} in "
                                 "optimizer.pt holds NaN or infinite values.")
    names = {id(p): name for name, p in est.module_.named_parameters()}
    params = [p for group in est.optimizer_.param_groups for p in group["params"]]
    check_optimizer_state_shapes(
        [(names.get(id(p), f"#{i}"), tuple(p.shape)) for i, p in enumerate(params)],
        [{key: tuple(value.shape) for key, value in est.optimizer_.state.get(p, {}).items()
          if torch.is_tensor(value)} for p in params], dirname)


#: optimizer state entries that hold one value per weight (torch's optimizers): their shape
#: is the parameter's
_PER_WEIGHT_STATE = frozenset(("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf",
                               "momentum_buffer", "sum", "square_avg", "acc_delta", "grad_avg",
                               "ax", "prev", "step_size"))


def check_optimizer_state_shapes(parameters, states, dirname):
    """Refuse optimizer state of another model: each per-weight entry must have its parameter's
    shape (torch loads any shape, and the next step fails with a raw size mismatch).

    Parameters
    ----------
    parameters : list of (str, tuple)
        Name and shape of each parameter, in the optimizer's order.
    states : list of dict
        Each parameter's optimizer state: entry name -> shape.
    dirname : str
        The checkpoint directory, for the message.
    """
    for (name, shape), state in zip(parameters, states, strict=True):
        for key, got in state.items():
            if key in _PER_WEIGHT_STATE and tuple(got) != tuple(shape):
                raise ValueError(
                    f"the checkpoint in {dirname!r}: optimizer.pt holds state {key!r} of shape "
                    f"{tuple(got)} for the parameter {name}, which has shape {tuple(shape)}; it "
                    "was saved by a model of another size. Resume with the module__ parameters "
                    "of the fit that wrote it, or fit anew.")


def check_checkpoint_rates(audio_fs, dt_ms, owner, meta):
    """The estimator's rate parameters, where set, must be those the checkpoint was fitted with;
    a checkpoint written before the rates were recorded gets them from the parameters."""
    from ._checks import resolve_rates

    params = {"audio_fs": audio_fs, "dt_ms": dt_ms}
    if "audio_fs_" not in meta:  # written before the rates were recorded
        audio_fs, dt_ms = resolve_rates(audio_fs, dt_ms, owner)
        spb = None if dt_ms is None else Timebase(audio_fs, dt_ms).samples_per_bin
        if spb is not None and spb != meta["samples_per_bin_"]:
            raise ValueError(f"the checkpoint was fitted with {meta['samples_per_bin_']} samples "
                             f"per bin, but audio_fs={audio_fs!r} and dt_ms={dt_ms!r} give {spb}.")
        meta["audio_fs_"] = audio_fs
        meta["dt_ms_"] = dt_ms if dt_ms is not None else \
            Timebase.from_samples_per_bin(audio_fs, meta["samples_per_bin_"]).dt_ms
        return
    explicit = {name: None if isinstance(value, str) else value for name, value in params.items()}
    fitted = Timebase(meta["audio_fs_"], meta["dt_ms_"])
    for name, fitted_value, value in fitted.mismatches(**explicit)[:1]:
        raise ValueError(f"the checkpoint was fitted with {name}={fitted_value!r}, but this "
                         f"estimator has {name}={value!r}; build it with the checkpoint's rate or "
                         f"{name}='auto'.")


def module_runs_at(module, timebase):
    """Whether ``module`` runs at ``timebase`` (a module without rates runs at any)."""
    if not hasattr(module, "audio_fs") or not hasattr(module, "samples_per_bin"):
        return True
    return Timebase.from_samples_per_bin(module.audio_fs, module.samples_per_bin).agrees(timebase)


# ------------------------------------------------------------------------ skorch load_params
def adapt_to_params(est, f_params):
    """Before weights are loaded into an initialised estimator: size the decoder from the
    file (``initialize()`` builds one neuron's decoder until a fit has seen ``y``), and
    give an estimator that was initialised but never fitted the fitted attributes the
    file implies. Returns what to pass on to skorch (a file object is read once here)."""
    from ._module import ICNet

    if hasattr(f_params, "read"):
        f_params = io.BytesIO(f_params.read())
    try:
        state = torch.load(f_params, map_location="cpu", **est.torch_load_kwargs)
    except Exception:  # noqa: BLE001  (skorch reads it again and reports the failure)
        return f_params
    finally:
        if hasattr(f_params, "seek"):
            f_params.seek(0)
    if not isinstance(state, Mapping) or "decoder.weight" not in state \
            or not isinstance(est.module_, ICNet):
        return f_params
    n_neurons = neurons_in_state(est.module_, state)
    fitted = hasattr(est, "samples_per_bin_")
    if fitted and n_neurons != est.n_neurons_:
        raise ValueError(f"f_params has decoders for {n_neurons} neuron(s), but this estimator "
                         f"was fitted on {est.n_neurons_}; load them into a new estimator "
                         "(initialize(), then load_params).")
    if not fitted:  # initialize() without fit: what predict needs, from the module and file
        est._set_fitted({"audio_fs_": est.module_.audio_fs, "dt_ms_": est.module_.dt_ms,
                         "samples_per_bin_": est.module_.samples_per_bin,
                         "recording_names_": None, "y_ndim_": 3})
    if not fitted or n_neurons != est.module_.out_neurons:
        est._set_fitted({"n_neurons_": n_neurons, "neurons_per_recording_": [n_neurons]})
    if n_neurons != est.module_.out_neurons:
        est.initialize()  # the module, and an optimizer over its new parameters
    return f_params


def neurons_in_state(module, state):
    """The neuron count of the decoder in ``state`` (weights for ``module``'s architecture),
    after checking every other weight has the shape of ``module``'s."""
    ours = module.state_dict()
    resized = ("decoder.weight", "decoder.bias")
    wrong = [k for k in ours if k not in resized and (
        k not in state or tuple(state[k].shape) != tuple(ours[k].shape))]
    if wrong or set(state) != set(ours):
        first = (wrong or sorted(set(state) ^ set(ours)))[0]
        raise ValueError(f"f_params holds the weights of another architecture (first mismatch: "
                         f"{first}); build the estimator with the module__ parameters and "
                         "rates of the one that saved them.")
    weight, bias = state["decoder.weight"], state["decoder.bias"]
    per_neuron = module.n_classes or 1
    rows = weight.shape[0] if weight.ndim == 2 else -1
    if weight.ndim != 2 or weight.shape[1] != ours["decoder.weight"].shape[1] \
            or tuple(bias.shape) != (rows,) or rows < 1 or rows % per_neuron:
        raise ValueError(f"f_params has a decoder of shape {tuple(weight.shape)} (bias "
                         f"{tuple(bias.shape)}), which fits no number of neurons of this "
                         f"model ({per_neuron} output(s) per neuron, "
                         f"{ours['decoder.weight'].shape[1]} bottleneck channels).")
    n_neurons = rows // per_neuron
    if len(module.neurons_per_decoder) > 1 and n_neurons != module.out_neurons:
        raise ValueError(f"f_params has decoders for {n_neurons} neurons, but this model has "
                         f"{module.out_neurons} over several recordings; use "
                         "load_checkpoint or load_model, which know the recordings.")
    return n_neurons
