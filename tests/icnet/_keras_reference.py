"""An independent numpy forward of a Keras graph, written from the format's description
(``FORMAT.md``: Keras padding rules, the authors' SincNet filters, PReLU, symlog,
CrossEntropyBlock), interpreting the graph layer by layer in float64."""

import numpy as np


def keras_conv(x, kernel, stride, padding):
    """Keras Conv1D (cross-correlation) on channels-last ``x`` (B, L, C_in), float64."""
    K, L = kernel.shape[0], x.shape[1]
    if padding == "valid":
        left = right = 0
    elif padding == "causal":
        left, right = K - 1, 0
    else:
        n_out = -(-L // stride)
        total = max((n_out - 1) * stride + K - L, 0)
        left, right = total // 2, total - total // 2
    xp = np.pad(x, ((0, 0), (left, right), (0, 0)))
    n = (xp.shape[1] - K) // stride + 1
    out = np.zeros((x.shape[0], n, kernel.shape[2]))
    for k in range(K):
        out += xp[:, k: k + (n - 1) * stride + 1: stride] @ kernel[k]
    return out


def sinc_kernel(b1, band, filt_dim, fs):
    """The authors' filters as a (Filt_dim, 1, N) kernel: (lp_f2 - lp_f1) / max x Hamming."""
    f1 = np.abs(b1[:, 0]) + 50.0 / fs
    f2 = f1 + np.abs(band[:, 0]) + 50.0 / fs
    half = (filt_dim - 1) // 2
    m = np.arange(-half, half + 1, dtype=np.float64)

    def lowpass(f):
        out = np.empty((len(f), len(m)))
        nz = m != 0
        out[:, nz] = 2 * f[:, None] * np.sin(2 * np.pi * f[:, None] * m[nz]) / (2 * np.pi * f[:, None]
                                                                                * m[nz])
        out[:, ~nz] = 2 * f[:, None]
        return out

    bp = lowpass(f2) - lowpass(f1)
    bp = bp / bp.max(axis=1, keepdims=True)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(filt_dim) / filt_dim)
    return (bp * window).T[:, None, :]


def activation(x, kind, alpha=None):
    if kind == "prelu":
        return np.where(x > 0, x, alpha.reshape(1, 1, -1) * x)
    if kind == "symlog":
        return np.sign(x) * np.log(np.abs(x) + 1)
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "tanh":
        return np.tanh(x)
    if kind == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    assert kind == "linear"
    return x


def numpy_forward(model, audio, times):
    """Evaluate the graph of ``model`` on the network inputs; every layer's value (channels last)."""
    weights = {name: {p.rsplit("/", 1)[-1].split(":")[0]: a.astype(np.float64) for p, a in entries}
               for name, entries in model["weights"].items()}
    values = {}
    for layer in model["layers"]:
        name, cls, cfg = layer["name"], layer["class_name"], layer["config"]
        w = weights.get(name, {})
        ins = [values[e[0]] for e in (layer["inbound_nodes"][0] if layer["inbound_nodes"] else [])]
        x = ins[0] if ins else None
        if cls == "InputLayer":
            v = audio if name == "audio_input" else times[name]
        elif cls == "layers>SincNetBlock":
            kern = sinc_kernel(w["filt_b1"], w["filt_band"], cfg["kernel_size"] + 1, cfg["fs"])
            v = activation(keras_conv(x, kern, cfg["strides"], cfg["padding"]), cfg["activation"])
        elif cls == "layers>SincConv1D":
            kern = sinc_kernel(w["filt_b1"], w["filt_band"], cfg["Filt_dim"], cfg["fs"])
            v = keras_conv(x, kern, cfg["stride"], cfg["padding"])
        elif cls == "layers>ConvEncoderBlock":
            v = keras_conv(x, w["kernel"], cfg["strides"], cfg["padding"]) + w["bias"]
            v = activation(v, cfg["activation"], w.get("alpha"))
        elif cls == "Conv1D":
            v = keras_conv(x, w["kernel"], cfg["strides"][0], cfg["padding"]) + w["bias"]
            v = activation(v, cfg.get("activation", "linear"))
        elif cls == "Dense":
            v = activation(x @ w["kernel"] + w["bias"], cfg.get("activation", "linear"))
        elif cls == "PReLU":
            v = activation(x, "prelu", w["alpha"])
        elif cls == "activations>get_activation":
            v = activation(x, cfg["value"], w.get("alpha"))
        elif cls == "Activation":
            v = activation(x, cfg["activation"])
        elif cls == "Cropping1D":
            a, b = cfg["cropping"]
            v = x[:, a: x.shape[1] - b]
        elif cls == "Multiply":
            v = ins[0] * ins[1]
        elif cls == "Add":
            v = ins[0] + ins[1]
        elif cls == "Reshape":
            v = x.reshape(x.shape[0], *cfg["target_shape"])
        elif cls == "layers>CrossEntropyBlock":
            v = activation(x.reshape(x.shape[0], x.shape[1], -1, cfg["parameters"]), "softmax")
        else:  # pragma: no cover - the fixtures hold only these
            raise AssertionError(cls)
        values[name] = v
    return values


