"""deepSTRF's ICNet checkpoints: the tensors of a deepSTRF ``ICNet`` state dict mapped onto
sk_icnet's :class:`~sk_icnet.icnet.ICNet` (:meth:`ICNet.from_deepstrf <sk_icnet.icnet.ICNet.from_deepstrf>`).

The architecture is read from the tensor shapes; nothing of the checkpoint is executed.
"""

from __future__ import annotations

import torch

__all__ = ["from_deepstrf"]


def from_deepstrf(cls, state_dict, *, audio_fs, dt_ms, encoder_strides=None, **kwargs):
    """An instance of ``cls`` (an :class:`~sk_icnet.icnet.ICNet` class) holding the weights of
    a deepSTRF ``ICNet`` checkpoint; see :meth:`ICNet.from_deepstrf`."""
    state = {k: torch.as_tensor(v) for k, v in dict(state_dict).items()}
    prefix = "wav2spec."
    required = [prefix + "sincnet.low_hz_", prefix + "sincnet.band_hz_", "decoder.weight",
                "decoder.bias", prefix + "bottleneck.conv.weight"]
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(f"state_dict is not a deepSTRF ICNet checkpoint: {missing} missing.")
    n_layers = len({k.split(".")[2] for k in state if k.startswith(prefix + "encoder.")})
    conv = state[prefix + "encoder.0.conv.weight"] if n_layers else None
    if conv is None:
        raise ValueError("state_dict is not a deepSTRF ICNet checkpoint: no encoder layers.")
    window = state.get(prefix + "sincnet._window")
    config = dict(
        audio_fs=audio_fs, dt_ms=dt_ms, out_neurons=state["decoder.weight"].shape[0],
        n_filters=state[prefix + "sincnet.low_hz_"].shape[0],
        sincnet_kernel_size=(window.numel() if window is not None
                             else kwargs.pop("sincnet_kernel_size", 64)),
        encoder_channels=conv.shape[0], encoder_kernel_size=conv.shape[2],
        n_encoder_layers=n_layers,
        bottleneck_channels=state[prefix + "bottleneck.conv.weight"].shape[0],
        encoder_strides=encoder_strides, **kwargs)
    model = cls(**config)
    mapped = {}
    low = state[prefix + "sincnet.low_hz_"].abs().clamp(1.0, int(audio_fs) / 2.0 - 1.0)
    band = state[prefix + "sincnet.band_hz_"].abs()
    bank = model.sincnet
    for what, values, floor in (("low cut-off", low, bank.min_low_hz),
                                ("bandwidth", band, bank.min_band_hz)):
        below = torch.nonzero(values < floor).reshape(-1)
        if len(below):
            raise ValueError(
                f"deepSTRF filter {int(below[0])} has a {what} of {float(values[below[0]]):.4g} Hz,"
                f" below sk_icnet's floor of {floor:g} Hz ({len(below)} filter(s) in all); "
                "this ICNet cannot represent it (pass a lower sincnet_min_low_hz / "
                "sincnet_min_band_hz).")
    mapped["sincnet.low_hz"] = low - bank.min_low_hz
    mapped["sincnet.band_hz"] = band - bank.min_band_hz
    names = {"conv.weight": "conv.weight", "conv.bias": "conv.bias",
             "activation.weight": "act.weight"}
    used = {prefix + "sincnet.low_hz_", prefix + "sincnet.band_hz_", prefix + "sincnet._n",
            prefix + "sincnet._window", "decoder.weight", "decoder.bias", "readout.weight",
            "readout.bias"}
    for i in range(n_layers):
        for theirs, ours in names.items():
            key = f"{prefix}encoder.{i}.{theirs}"
            mapped[f"encoder.{i}.{ours}"] = state.get(key)
            used.add(key)
    for theirs, ours in names.items():
        mapped[f"bottleneck.{ours}"] = state.get(f"{prefix}bottleneck.{theirs}")
        used.add(f"{prefix}bottleneck.{theirs}")
    mapped["decoder.weight"], mapped["decoder.bias"] = state["decoder.weight"], state["decoder.bias"]
    unknown = sorted(set(state) - used)
    if unknown:
        raise ValueError(f"state_dict has keys a deepSTRF ICNet does not: {unknown}.")
    absent = sorted(k for k, v in mapped.items() if v is None)
    if absent:
        raise ValueError(f"state_dict is not a whole deepSTRF ICNet checkpoint: no tensor for "
                         f"{absent}.")
    ours = model.state_dict()
    for key, value in mapped.items():
        if tuple(value.shape) != tuple(ours[key].shape):
            raise ValueError(f"deepSTRF tensor for {key} has shape {tuple(value.shape)}, but the "
                             f"ICNet built from the checkpoint needs {tuple(ours[key].shape)}.")
    model.load_state_dict({k: v.to(ours[k].dtype) for k, v in mapped.items()})
    return model
