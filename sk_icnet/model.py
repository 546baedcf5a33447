"""The ICNet PyTorch module (Drakopoulos et al. 2025).

Architecture, from the raw waveform to non-negative spike rates::

    waveform (B, 1, T)
      -> SincNet: n_filters learnable band-pass filters (mel-initialised,
         Hamming window, stride 1, causal) and sign(x) * log1p(|x|)
      -> n_encoder_layers x [causal strided Conv1d -> PReLU]; strides multiply
         to the number of audio samples per neural bin
      -> bottleneck: causal stride-1 Conv1d -> PReLU (bottleneck_channels)
      -> per-bin Linear decoder to the neurons -> softplus
    rates (B, N, T // samples_per_bin)

All convolutions are padded on the left only, so output bin ``t`` (audio
samples ``t*S .. (t+1)*S - 1``, ``S`` samples per bin) depends on no audio
sample after ``(t+1)*S - 1``.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import check_positive_int, check_positive_number, samples_per_bin

__all__ = ["ICNet", "SincFilterbank", "cpu_supports_bf16", "factor_strides", "hz_to_mel",
           "mel_to_hz", "symlog"]


def factor_strides(total, n_layers):
    """Split ``total`` downsampling into ``n_layers`` integer strides.

    As many leading strides of 2 as divide ``total`` evenly (up to
    ``n_layers - 1``), the remaining factor in the last layer; unused layers
    keep stride 1. ``factor_strides(32, 5) == [2, 2, 2, 2, 2]``,
    ``factor_strides(240, 5) == [2, 2, 2, 2, 15]``,
    ``factor_strides(13, 3) == [1, 1, 13]``.

    Parameters
    ----------
    total : int
        Audio samples per neural bin (the product of the strides).
    n_layers : int
        Number of strided layers.

    Returns
    -------
    list of int
    """
    total = check_positive_int(total, "samples per bin")
    n_layers = check_positive_int(n_layers, "n_encoder_layers")
    twos = 0
    remaining = total
    while twos < n_layers - 1 and remaining % 2 == 0 and remaining > 1:
        remaining //= 2
        twos += 1
    return [2] * twos + [1] * (n_layers - 1 - twos) + [remaining]


def hz_to_mel(hz):
    """Frequency in Hz to the (HTK) mel scale, ``2595 log10(1 + f / 700)``; arrays accepted."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def symlog(x):
    """Sign-preserving log compression ``sign(x) * log1p(|x|)``."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def cpu_supports_bf16():
    """Whether this CPU has native bfloat16 arithmetic (x86 AVX-512 BF16 or AMX, Arm BF16).

    Read from ``/proc/cpuinfo``; None where that cannot be known (other systems).
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = set()
            for line in f:
                if line.lower().startswith(("flags", "features")):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        return None
    if not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def _float32(x):
    """A context that turns autocast off for ``x``'s device (a no-op where it cannot be on)."""
    device_type = x.device.type
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


class SincFilterbank(nn.Module):
    """Learnable band-pass filters parametrised by their cut-off frequencies.

    Each filter is the difference of two windowed ideal low-pass sinc filters
    (Ravanelli & Bengio 2018), so it has two parameters: its lower cut-off
    and its bandwidth. Cut-offs are initialised evenly on the mel scale from
    ``min_low_hz`` to ``audio_fs / 2``; the effective lower cut-off is
    ``min_low_hz + |low|`` and the bandwidth ``min_band_hz + |band|``, the
    upper cut-off clamped at Nyquist. The pass-band gain is one. Filtering
    is causal (left padding of ``kernel_size - 1``) with stride 1, followed
    by ``sign(x) * log1p(|x|)``.

    Parameters
    ----------
    audio_fs : float
        Audio sampling rate in Hz.
    n_filters : int
        Number of band-pass filters.
    kernel_size : int
        Filter length in samples.
    min_low_hz, min_band_hz : float, default=50.0
        Lower bounds of the lower cut-off and of the bandwidth in Hz.
    """

    def __init__(self, audio_fs, n_filters, kernel_size, min_low_hz=50.0, min_band_hz=50.0):
        super().__init__()
        self.audio_fs = float(audio_fs)
        self.n_filters = int(n_filters)
        self.kernel_size = int(kernel_size)
        self.min_low_hz = float(min_low_hz)
        self.min_band_hz = float(min_band_hz)
        nyquist = self.audio_fs / 2.0
        high = nyquist - (self.min_low_hz + self.min_band_hz)
        if high <= self.min_low_hz:
            raise ValueError(
                "audio_fs is too low for the SincNet frequency floor: audio_fs / 2 must "
                f"exceed 2 * min_low_hz + min_band_hz = {2 * self.min_low_hz + self.min_band_hz} Hz; "
                f"received audio_fs={self.audio_fs!r}."
            )
        edges = torch.from_numpy(
            mel_to_hz(np.linspace(hz_to_mel(self.min_low_hz), hz_to_mel(high), self.n_filters + 1)))
        # stored as offsets above the floors, as in SincNet
        self.low_hz = nn.Parameter((edges[:-1] - self.min_low_hz).float())
        self.band_hz = nn.Parameter(torch.diff(edges).float())
        n = torch.arange(self.kernel_size, dtype=torch.float32)
        self.register_buffer("_n", n - (self.kernel_size - 1) / 2.0, persistent=False)
        if self.kernel_size > 1:
            window = 0.54 - 0.46 * torch.cos(2 * math.pi * n / (self.kernel_size - 1))
        else:
            window = torch.ones(1)
        self.register_buffer("_window", window, persistent=False)

    def cutoffs_hz(self):
        """Return the effective (low, high) cut-off frequencies in Hz."""
        low = self.min_low_hz + torch.abs(self.low_hz)
        high = torch.clamp(low + self.min_band_hz + torch.abs(self.band_hz),
                           self.min_low_hz, self.audio_fs / 2.0)
        return low, high

    def filters(self):
        """Return the filter bank as a ``(n_filters, 1, kernel_size)`` tensor."""
        low, high = self.cutoffs_hz()
        f_low = (low / self.audio_fs)[:, None]
        f_high = (high / self.audio_fs)[:, None]
        n = self._n[None, :]
        band = 2 * f_high * torch.sinc(2 * f_high * n) - 2 * f_low * torch.sinc(2 * f_low * n)
        return (band * self._window[None, :]).unsqueeze(1)

    def forward(self, x):
        x = F.pad(x, (self.kernel_size - 1, 0))
        weight = self.filters().to(x.dtype)
        return symlog(F.conv1d(x, weight))

    def extra_repr(self):
        return (f"audio_fs={self.audio_fs}, n_filters={self.n_filters}, "
                f"kernel_size={self.kernel_size}, min_low_hz={self.min_low_hz}, "
                f"min_band_hz={self.min_band_hz}")


class CausalConvBlock(nn.Module):
    """Strided Conv1d padded on the left only, followed by PReLU.

    With ``kernel_size >= stride`` the left padding is ``kernel_size - stride``,
    so output frame ``j`` sees input samples ``j*stride - (kernel_size - stride)
    .. (j + 1)*stride - 1`` and the output length is ``T // stride``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.stride = int(stride)
        self.kernel_size = int(kernel_size)
        # negative when the kernel is shorter than the stride (see forward)
        self.left_pad = self.kernel_size - self.stride
        self.conv = nn.Conv1d(in_channels, out_channels, self.kernel_size, stride=self.stride)
        self.act = nn.PReLU(out_channels)

    def forward(self, x):
        if self.left_pad > 0:
            x = F.pad(x, (self.left_pad, 0))
        elif self.left_pad < 0:
            # kernel shorter than the stride: skip the first stride - kernel samples
            # so each kernel ends on its frame's last sample (causal, T // stride frames)
            x = x[..., -self.left_pad:]
        return self.act(self.conv(x))


class ICNet(nn.Module):
    """ICNet: SincNet front end, causal strided convolutional encoder, linear decoder.

    Parameters
    ----------
    audio_fs : float, default=24414.0625
        Audio sampling rate in Hz.
    out_neurons : int or sequence of int, default=1
        Number of output neurons ``N``; a sequence gives one decoder per
        recording (routed decoders: ``forward`` sends each window through the
        decoder of its ``recording`` only), sharing one encoder.
    dt_ms : float, default=1.31072
        Neural bin width in ms; ``audio_fs * dt_ms / 1000`` must be an integer,
        the samples per bin (32 at the paper configuration).
    n_filters : int, default=48
        Number of SincNet band-pass filters.
    sincnet_kernel_size : int, default=64
        SincNet filter length in samples.
    encoder_channels : int, default=128
        Channels of each strided encoder layer.
    encoder_kernel_size : int, default=64
        Kernel length of the encoder and bottleneck convolutions.
    n_encoder_layers : int, default=5
        Number of strided encoder layers.
    bottleneck_channels : int, default=64
        Channels of the bottleneck (the shared latent representation).
    encoder_strides : sequence of int or None, default=None
        Per-layer strides; their product must equal the samples per bin. By
        default they are factored automatically (see :func:`factor_strides`).
    sincnet_min_low_hz, sincnet_min_band_hz : float, default=50.0
        Frequency floors of the SincNet filters.
    n_classes : int or None, default=None
        ``None``: Poisson head, non-negative rates ``(B, N, T)``. An int ``C``:
        the paper's categorical head, logits over spike counts ``0 .. C - 1``
        (the last class meaning ``>= C - 1``) of shape ``(B, N, C, T)``.
    time_input : bool, default=False
        The paper's treatment of non-stationarity: each recording's decoder
        receives the recording time of every output bin, ``tau = t / time_scale_s``,
        through a learned gain on the bottleneck, ``z * (1 + w_r * tau)`` with one
        weight per bottleneck channel and recording (initialised to 0, so the
        network starts time-invariant). ``forward`` then needs ``time_s``.
    time_scale_s : float, default=36000.0
        Seconds that map to ``tau = 1`` (the authors' 10 h scale; use about the
        length of the recordings to keep ``tau`` of order 1).

    Attributes
    ----------
    samples_per_bin : int
    encoder_strides : list of int
    neurons_per_decoder : tuple of int
        Neurons of each recording's decoder (one entry for an int ``out_neurons``).
    receptive_field : int
        Number of audio samples that output bin ``t`` depends on, ending at the
        last sample of bin ``t`` (4,033 at the paper configuration).

    Notes
    -----
    At the paper configuration the module has 5,113,312 + 65 * N parameters.
    ``forward`` takes ``(B, T)`` or ``(B, 1, T)`` with ``T`` a multiple of
    ``samples_per_bin`` and returns rates of shape ``(B, N, T // samples_per_bin)``.
    """

    def __init__(self, audio_fs=24414.0625, out_neurons=1, dt_ms=1.31072, n_filters=48,
                 sincnet_kernel_size=64, encoder_channels=128, encoder_kernel_size=64,
                 n_encoder_layers=5, bottleneck_channels=64, encoder_strides=None,
                 sincnet_min_low_hz=50.0, sincnet_min_band_hz=50.0, n_classes=None,
                 time_input=False, time_scale_s=36000.0):
        super().__init__()
        check_positive_number(audio_fs, "audio_fs")
        check_positive_number(dt_ms, "dt_ms")
        if isinstance(out_neurons, (list, tuple)):
            if not out_neurons:
                raise ValueError("out_neurons must be an int or a non-empty sequence of ints; "
                                 "received an empty sequence.")
            groups = tuple(check_positive_int(n, "out_neurons[i]") for n in out_neurons)
        else:
            groups = (check_positive_int(out_neurons, "out_neurons"),)
        if not isinstance(time_input, (bool, np.bool_)):
            raise TypeError(f"time_input must be a bool; received {time_input!r}.")
        time_scale_s = check_positive_number(time_scale_s, "time_scale_s")
        for name, value in [("n_filters", n_filters),
                            ("sincnet_kernel_size", sincnet_kernel_size),
                            ("encoder_channels", encoder_channels),
                            ("encoder_kernel_size", encoder_kernel_size),
                            ("n_encoder_layers", n_encoder_layers),
                            ("bottleneck_channels", bottleneck_channels)]:
            check_positive_int(value, name)
        spb = samples_per_bin(audio_fs, dt_ms)
        if encoder_strides is None:
            strides = factor_strides(spb, n_encoder_layers)
        else:
            if isinstance(encoder_strides, (str, bytes)) or not hasattr(encoder_strides, "__len__"):
                raise TypeError("encoder_strides must be a sequence of integers or None; "
                                f"received {encoder_strides!r}.")
            strides = [check_positive_int(s, "encoder_strides[i]") for s in encoder_strides]
            if len(strides) != n_encoder_layers:
                raise ValueError(
                    f"encoder_strides must have n_encoder_layers={n_encoder_layers} entries; "
                    f"received {list(encoder_strides)!r} ({len(strides)} entries).")
            if math.prod(strides) != spb:
                raise ValueError(
                    f"encoder_strides must multiply to the samples per bin, audio_fs * dt_ms "
                    f"/ 1000 = {spb}; received {strides!r}, whose product is {math.prod(strides)}.")
        self.audio_fs = float(audio_fs)
        self.dt_ms = float(dt_ms)
        self.samples_per_bin = spb
        self.encoder_strides = strides
        self.neurons_per_decoder = groups
        self.out_neurons = sum(groups)
        self._offsets = [0, *np.cumsum(groups).tolist()]
        self.time_input = bool(time_input)
        self.time_scale_s = time_scale_s

        self.sincnet = SincFilterbank(audio_fs, n_filters, sincnet_kernel_size,
                                      sincnet_min_low_hz, sincnet_min_band_hz)
        layers = []
        in_ch = n_filters
        for stride in strides:
            layers.append(CausalConvBlock(in_ch, encoder_channels, encoder_kernel_size, stride))
            in_ch = encoder_channels
        self.encoder = nn.Sequential(*layers)
        self.bottleneck = CausalConvBlock(encoder_channels, bottleneck_channels,
                                          encoder_kernel_size, 1)
        if n_classes is not None:
            check_positive_int(n_classes, "n_classes", minimum=2)
        self.n_classes = None if n_classes is None else int(n_classes)
        # one Linear holds every recording's decoder rows; routing slices it
        self.decoder = nn.Linear(bottleneck_channels, self.out_neurons * (self.n_classes or 1))
        if self.time_input:
            self.time_gain = nn.Parameter(torch.zeros(len(groups), bottleneck_channels))

        # receptive field: 1 + sum over layers of (kernel - 1) * (input hop)
        rf = 1 + (sincnet_kernel_size - 1)
        hop = 1
        for stride in strides:
            rf += (encoder_kernel_size - 1) * hop
            hop *= stride
        rf += (encoder_kernel_size - 1) * hop
        self.receptive_field = rf

    @classmethod
    def from_deepstrf(cls, state_dict, *, audio_fs, dt_ms, encoder_strides=None, **kwargs):
        """Build an ICNet holding the weights of a deepSTRF ``ICNet`` checkpoint.

        The architecture (filters, channels, kernel sizes, layers, neurons) is read
        from the tensor shapes; the strides are factored from the samples per
        bin as deepSTRF does (or pass ``encoder_strides``). deepSTRF's SincNet
        stores each filter's low cut-off and bandwidth in Hz with no floor;
        sk_icnet stores them above its 50 Hz floors (``sincnet_min_low_hz``,
        ``sincnet_min_band_hz``), so a filter below a floor cannot be
        represented and raises. deepSTRF builds its filters at ``int(audio_fs)``
        and this model at ``audio_fs`` itself: at 24,414.0625 Hz the filters
        differ by that rounding (2.6e-6 relative).

        Parameters
        ----------
        state_dict : mapping of str to Tensor
            ``deepstrf_model.state_dict()`` (keys ``wav2spec.sincnet.low_hz_``,
            ``wav2spec.encoder.<i>.conv.weight``, ..., ``decoder.weight``).
        audio_fs, dt_ms : float
        **kwargs
            Other :class:`ICNet` parameters (e.g. ``sincnet_min_low_hz``).
        """
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

    @property
    def context_bins(self):
        """Whole bins of history (beyond the current bin) that the receptive field spans."""
        return math.ceil(max(self.receptive_field - self.samples_per_bin, 0) / self.samples_per_bin)

    def encode(self, x):
        """Return the bottleneck latent ``(B, bottleneck_channels, T // samples_per_bin)``."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"ICNet expects a waveform batch of shape (B, T) or (B, 1, T); "
                             f"received {tuple(x.shape)}.")
        if x.shape[-1] % self.samples_per_bin:
            raise ValueError(f"the waveform length must be a multiple of samples_per_bin="
                             f"{self.samples_per_bin}; received {x.shape[-1]} samples.")
        with _float32(x):  # the waveform and the filter bank keep full precision
            sinc = self.sincnet(x.to(self.sincnet.low_hz.dtype))
        return self.bottleneck(self.encoder(sinc))

    def _time_gain(self, z, decoders, time_s):
        """Multiply the bottleneck by each window's recording-time gain ``1 + w_r * tau``."""
        if time_s is None:
            raise ValueError("this ICNet has a recording-time input (time_input=True): forward "
                             "needs time_s, the recording time (s) of each window's first bin.")
        time_s = torch.as_tensor(time_s, dtype=torch.float64).to(z.device).reshape(-1)
        if time_s.numel() == 1:
            time_s = time_s.expand(z.shape[0])
        if time_s.shape[0] != z.shape[0]:
            raise ValueError(f"time_s must have one value per window ({z.shape[0]}); received "
                             f"{time_s.shape[0]}.")
        bins = torch.arange(z.shape[-1], dtype=torch.float64, device=z.device) * (self.dt_ms / 1e3)
        tau = ((time_s[:, None] + bins[None]) / self.time_scale_s).to(torch.float32)  # (B, T)
        index = torch.as_tensor(decoders, dtype=torch.long).to(z.device, non_blocking=True)
        weight = self.time_gain[index]  # (B, C)
        return z.float() * (1.0 + weight[:, :, None] * tau[:, None, :])

    def _decoders(self, recording, batch):
        """Decoder index of every window as a host list, checked against the decoders."""
        n_dec = len(self.neurons_per_decoder)
        if recording is None:
            if n_dec > 1:
                raise ValueError(f"this ICNet has {n_dec} decoders (one per recording): pass "
                                 "recording, the decoder index of each window.")
            return [0] * batch
        if isinstance(recording, torch.Tensor):
            recording = recording.reshape(-1).tolist()  # a host tensor: no device sync
        recording = [int(r) for r in np.asarray(recording).reshape(-1)]
        if len(recording) == 1:
            recording = recording * batch
        if len(recording) != batch:
            raise ValueError(f"recording must have one entry per window ({batch}); received "
                             f"{len(recording)}.")
        bad = [r for r in recording if not 0 <= r < n_dec]
        if bad:
            raise ValueError(f"recording indices must be in [0, {n_dec}); received {bad[0]}.")
        return recording

    def _decode(self, z, first, last):
        """Decoder rows of neurons ``first .. last - 1`` applied to ``z``: rates or logits."""
        C = self.n_classes or 1
        weight, bias = self.decoder.weight[first * C: last * C], self.decoder.bias[first * C: last * C]
        with _float32(z):
            out = F.linear(z.to(weight.dtype).transpose(1, 2), weight, bias)  # (B, T, n*C)
        if self.n_classes is None:
            return F.softplus(out).transpose(1, 2)
        B, T = out.shape[:2]
        return out.reshape(B, T, last - first, C).permute(0, 2, 3, 1)

    def forward(self, x, recording=None, time_s=None):
        """Rates ``(B, N, T // samples_per_bin)``, or logits ``(B, N, C, T // samples_per_bin)``.

        Parameters
        ----------
        x : Tensor of shape (B, T) or (B, 1, T)
        recording : int, sequence or host tensor of shape (B,), optional
            Decoder (recording) of each window; needed with several decoders.
            ``N`` is then that recording's neuron count; a batch that mixes
            recordings is padded to the largest count (padding rates are 0).
        time_s : float or Tensor of shape (B,), optional
            Recording time (s) of each window's first bin; needed with
            ``time_input=True``.

        Under ``torch.autocast`` the encoder runs in the reduced precision, while the
        SincNet front end, the time gain and the decoder (about 1.5 % of the
        FLOPs) stay float32.
        """
        z = self.encode(x)
        decoders = self._decoders(recording, z.shape[0])
        if self.time_input:
            with _float32(z):
                z = self._time_gain(z, decoders, time_s)
        used = sorted(set(decoders))
        if len(used) == 1:
            d = used[0]
            return self._decode(z, self._offsets[d], self._offsets[d + 1])
        n_max = max(self.neurons_per_decoder[d] for d in used)
        C = self.n_classes or 1
        shape = (z.shape[0], n_max, z.shape[-1]) if C == 1 else (z.shape[0], n_max, C, z.shape[-1])
        out = z.new_zeros(shape, dtype=torch.float32)
        rows = torch.as_tensor(decoders)
        for d in used:
            sel = torch.nonzero(rows == d).reshape(-1).to(z.device)
            out[sel, : self.neurons_per_decoder[d]] = self._decode(
                z[sel], self._offsets[d], self._offsets[d + 1])
        return out
