"""Plots of the in-silico experiments, the receptive fields and the optimal sounds.

Plotting needs matplotlib (``pip install "sk_icnet[plot]"``).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._core.plotting import pyplot as _pyplot
from .._core.validation import _describe, check_positive_int
from ._docs import _fill_doc
from ._optimal_sound import OptimalSound
from ._receptive_fields import DynamicSTRF, ReceptiveField, strf_receptive_field
from ._result import PhysiologyResult
from ._temporal import _recovery

__all__ = ["plot_fra", "plot_rate_level", "plot_mtf", "plot_forward_masking",
           "plot_dynamic_range_adaptation", "plot_strf", "plot_dstrf", "plot_optimal_sound"]


# -- in-silico experiments ------------------------------------------------------------------------
def _octave_ticks(ax, values, scale=1.0):
    """Log x axis with plain-number ticks at powers of two (times 1000 for kHz)."""
    from matplotlib.ticker import NullFormatter

    values = np.asarray(values, dtype=float) / scale
    ax.set_xscale("log")
    lo, hi = np.floor(np.log2(values.min())), np.ceil(np.log2(values.max()))
    ticks = 2.0 ** np.arange(lo, hi + 1)
    ticks = ticks[(ticks >= values.min() / 1.05) & (ticks <= values.max() * 1.05)] * scale
    ax.set_xticks(ticks, [f"{t / scale:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _axes(ax, figsize=(4, 3)):
    """pyplot, and ``ax`` or the axes of a new figure of ``figsize`` when ``ax`` is None."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return plt, ax


def _finish(ax, xlabel, ylabel, legend=False):
    """Label the axes, draw the legend if asked; ``ax``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(frameon=False, fontsize="small")
    return ax


def _as_named(results):
    if isinstance(results, PhysiologyResult):
        return {"": results}
    if isinstance(results, dict) and results and all(
            isinstance(r, PhysiologyResult) for r in results.values()):
        return results
    raise TypeError(f"results must be a PhysiologyResult or a dict of name to PhysiologyResult; "
                    f"received {_describe(results)}.")


def _rows(result, neuron, name="result"):
    table = result.responses[result.responses.neuron == neuron]
    if table.empty:
        raise ValueError(f"neuron {neuron!r} is not in {name} (neurons: "
                         f"{sorted(result.responses.neuron.unique())}).")
    return table, result.summary[result.summary.neuron == neuron]


@_fill_doc
def plot_fra(result, neuron=0, *, ax=None):
    """Driven rate over frequency (log axis) and level, with the CF, threshold and Q10 bandwidth.

    {result_parameter}
        From :func:`frequency_response_area`.
    {neuron_ax_returns}
    """
    plt = _pyplot()
    table, summary = _rows(result, neuron)
    grid = table.pivot(index="level_db", columns="frequency_hz", values="driven_hz")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    f, lv = grid.columns.to_numpy(), grid.index.to_numpy()
    mesh = ax.pcolormesh(f, lv, grid.to_numpy(), shading="nearest", cmap="magma")
    _octave_ticks(ax, f, scale=1000.0)
    ax.figure.colorbar(mesh, ax=ax, label="driven rate (spikes/s)")
    row = summary.iloc[0]
    if np.isfinite(row.cf_hz):
        ax.plot([row.cf_hz], [row.threshold_db], "c^", ms=8, label=f"CF {row.cf_hz:.0f} Hz")
        if np.isfinite(row.q10):
            ax.plot([row.f_low_hz, row.f_high_hz], [row.threshold_db + 10] * 2, "c-", lw=2,
                    label=f"Q10 {row.q10:.1f}")
        ax.legend(frameon=False, fontsize="small", labelcolor="w", loc="upper left")
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("level (dB SPL)")
    return ax


@_fill_doc
def plot_rate_level(results, neuron=0, *, ax=None):
    """Rate-level functions of one neuron, one line per model, thresholds marked.

    {results_parameter}
        From :func:`rate_level`; a dict draws several models (e.g. the fitted
        ICNet and the true neuron) on one axis.
    {neuron_ax_returns}
    """
    _, ax = _axes(ax)
    for name, result in _as_named(results).items():
        table, summary = _rows(result, neuron, name or "result")
        line, = ax.plot(table.level_db, table.rate_hz, marker="o", ms=3, label=name or None)
        thr = summary.threshold_db.iloc[0]
        if np.isfinite(thr):
            ax.axvline(thr, color=line.get_color(), lw=1, ls=":")
    return _finish(ax, "level (dB SPL)", "rate (spikes/s)", legend=len(_as_named(results)) > 1)


@_fill_doc
def plot_mtf(results, neuron=0, *, measure="vector_strength", ax=None):
    """Modulation transfer function of one neuron (log modulation-frequency axis), one line per model.

    {results_parameter}
        From :func:`modulation_transfer`.
    neuron : int, default=0
    measure : {"vector_strength", "rate_hz", "driven_hz"}, default="vector_strength"
        Synchrony (temporal MTF) or rate (rate MTF).
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    if measure not in ("vector_strength", "rate_hz", "driven_hz"):
        raise ValueError(f"measure must be 'vector_strength', 'rate_hz' or 'driven_hz'; "
                         f"received {measure!r}.")
    _, ax = _axes(ax)
    named = _as_named(results)
    for name, result in named.items():
        table, _ = _rows(result, neuron, name or "result")
        ax.plot(table.modulation_hz, table[measure], marker="o", ms=3, label=name or None)
    _octave_ticks(ax, table.modulation_hz)
    return _finish(ax, "modulation frequency (Hz)",
                   {"vector_strength": "vector strength", "rate_hz": "rate (spikes/s)",
                    "driven_hz": "driven rate (spikes/s)"}[measure], legend=len(named) > 1)


@_fill_doc
def plot_forward_masking(results, neuron=0, *, ax=None):
    """Relative probe response against the gap, with each fitted recovery curve and its tau.

    {results_parameter}
        From :func:`forward_masking`.
    {neuron_ax_returns}
    """
    _, ax = _axes(ax)
    for name, result in _as_named(results).items():
        table, summary = _rows(result, neuron, name or "result")
        row = summary.iloc[0]
        label = f"{name} " if name else ""
        label += f"tau {row.tau_ms:.0f} ms" if np.isfinite(row.tau_ms) else "no fit"
        points = ax.plot(table.gap_ms, table.relative_response, "o", ms=4, label=label)[0]
        if np.isfinite(row.tau_ms):
            g = np.linspace(0, table.gap_ms.max(), 200)
            ax.plot(g, _recovery(g, (row.recovered, row.suppression, row.tau_ms)),
                    color=points.get_color(), lw=1)
    return _finish(ax, "masker-probe gap (ms)", "probe response / probe alone", legend=True)


def plot_dynamic_range_adaptation(result, neuron=0, *, ax=None):
    """Rate-level functions of one neuron in each level distribution, coloured by its mean.

    Parameters
    ----------
    result : PhysiologyResult
        From :func:`dynamic_range_adaptation`: a curve per level distribution.
    neuron : int, default=0
    ax : matplotlib Axes, optional
        Where to draw (a new figure by default).

    Returns
    -------
    ax : matplotlib Axes
    """
    _pyplot()  # matplotlib's absence is the first error
    if not isinstance(result, PhysiologyResult):
        raise TypeError(f"result must be the PhysiologyResult of dynamic_range_adaptation; "
                        f"received {_describe(result)}.")
    table, summary = _rows(result, neuron)
    plt, ax = _axes(ax)
    means = summary.mean_db.to_numpy()
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, means.size))
    for mean, color in zip(means, colors, strict=True):
        curve = table[table.mean_db == mean]
        ax.plot(curve.level_db, curve.rate_hz, color=color, label=f"mean {mean:g} dB")
        ax.axvline(mean, color=color, lw=1, ls=":")
    slope = summary.slope_db_per_db.iloc[0]
    if np.isfinite(slope):
        ax.set_title(f"shift {slope:.2f} dB per dB", fontsize="medium")
    return _finish(ax, "level (dB SPL)", "rate (spikes/s)", legend=True)


# -- receptive fields and optimal sounds ----------------------------------------------------------
def _as_receptive_field(rf):
    if isinstance(rf, ReceptiveField):
        return rf
    if isinstance(rf, DynamicSTRF):
        return rf.mean
    if hasattr(rf, "coef_"):
        return strf_receptive_field(rf)
    raise TypeError("rf must be a ReceptiveField, a DynamicSTRF or a fitted STRF estimator; "
                    f"received {_describe(rf)}.")


#: the colour bar of a receptive field: the response per bin per unit of log band power
_COLOUR_LABEL = "rate per log power"


def _image(ax, values, freqs, lags, title=None, lim=None):
    lim = lim or float(np.abs(values).max()) or 1.0
    step = lags[1] - lags[0] if len(lags) > 1 else 1.0
    im = ax.imshow(values, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   extent=[lags[0], lags[-1] + step, 0, len(freqs)], interpolation="nearest")
    ticks = np.linspace(0, len(freqs) - 1, min(5, len(freqs))).astype(int)
    ax.set_yticks(ticks + 0.5)
    ax.set_yticklabels([f"{freqs[i]:.0f}" for i in ticks])
    ax.set_xlabel("lag (ms)")
    ax.set_ylabel("band centre (Hz)")
    if title:
        ax.set_title(title, fontsize="medium")
    return im


def plot_strf(rf, neuron=0, *, ax=None, title=None):
    """Image of a receptive field: lag (ms) by band centre (Hz), red excitatory, blue suppressive.

    Parameters
    ----------
    rf : ReceptiveField, DynamicSTRF (its mean) or a fitted STRF estimator (its ``coef_``)
    neuron : int, default=0
        Index into ``rf``'s neurons.
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the kind of receptive field.

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    rf = _as_receptive_field(rf)
    if not 0 <= neuron < rf.values.shape[0]:
        raise ValueError(f"neuron must be in [0, {rf.values.shape[0]}); received {neuron!r}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    image = _image(ax, rf.values[neuron], rf.band_frequencies_hz, rf.lags_ms,
                   rf.kind if title is None else title)
    ax.figure.colorbar(image, ax=ax, label=_COLOUR_LABEL)
    return ax


def plot_dstrf(result, neuron=0, *, n_components=3, axes=None):
    """The gradient STRF, the first principal components of the dSTRFs and the gain over time.

    Parameters
    ----------
    result : DynamicSTRF
    neuron : int, default=0
        Index into the neurons of ``result``.
    n_components : int, default=3
    axes : sequence of ``n_components + 2`` matplotlib Axes, optional

    Returns
    -------
    axes : list of matplotlib Axes
    """
    plt = _pyplot()
    if not isinstance(result, DynamicSTRF):
        raise TypeError(f"result must be the DynamicSTRF of dynamic_strf; received "
                        f"{_describe(result)}.")
    if not 0 <= neuron < result.mean.values.shape[0]:
        raise ValueError(f"neuron must be in [0, {result.mean.values.shape[0]}); received "
                         f"{neuron!r}.")
    k = min(check_positive_int(n_components, "n_components"), result.components.shape[1])
    if axes is None:
        fig, axes = plt.subplots(1, k + 2, figsize=(3.2 * (k + 2), 3), constrained_layout=True)
    axes = list(np.ravel(axes))
    if len(axes) < k + 2:
        raise ValueError(f"axes must hold n_components + 2 = {k + 2} Axes; received {len(axes)}.")
    freqs, lags = result.band_frequencies_hz, result.lags_ms
    image = _image(axes[0], result.mean.values[neuron], freqs, lags,
                   f"gradient STRF (NLI {result.nonlinearity_index[neuron]:.2f})")
    axes[0].figure.colorbar(image, ax=axes[0], label=_COLOUR_LABEL)
    for c in range(k):
        image = _image(axes[c + 1], result.components[neuron, c], freqs, lags,
                       f"PC {c + 1}: {100 * result.explained_variance_ratio[neuron, c]:.0f} %")
        axes[c + 1].figure.colorbar(image, ax=axes[c + 1], label="weight (unit norm)")
    ax = axes[k + 1]
    dt = lags[1] - lags[0] if len(lags) > 1 else 1.0
    t = result.bins * dt
    ax.plot(t, result.gain[0, :, neuron], lw=1, label="gain (PC 1)")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("time in trial 1 (ms)")
    ax.set_ylabel("projection on PC 1")
    ax.set_title(f"gain CV {result.gain_cv[neuron]:.2f}", fontsize="medium")
    return axes


def plot_optimal_sound(result, *, axes=None):
    """The optimisation trajectory and the spectrum of the optimised sound (and the initial one)."""
    plt = _pyplot()
    if not isinstance(result, OptimalSound):
        raise TypeError(f"result must be the OptimalSound of optimal_sound; received "
                        f"{_describe(result)}.")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 3), constrained_layout=True)
    ax0, ax1 = axes
    ax0.plot(result.objective)
    ax0.set_xlabel("step")
    ax0.set_ylabel("mean rate (spikes/s)")
    freqs = np.fft.rfftfreq(result.sound.size, 1.0 / result.audio_fs)
    for x, label in ((result.initial, "initial"), (result.sound, "optimised")):
        power = np.abs(np.fft.rfft(x)) ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ax1.semilogx(freqs[1:], 10 * np.log10(power[1:] / power.max() + 1e-12), lw=0.8,
                         label=label)
    ax1.set_xlabel("frequency (Hz)")
    ax1.set_ylabel("power (dB re max)")
    ax1.legend(frameon=False, fontsize="small")
    return list(axes)
