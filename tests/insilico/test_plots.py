"""The receptive-field plots: a colour bar on every STRF and dSTRF panel, and labels inside the
saved canvas at the default size."""

import io

import matplotlib
import numpy as np
import pytest

from sk_icnet.interpret import DynamicSTRF, ReceptiveField, plot_dstrf, plot_strf

matplotlib.use("Agg")

FREQS, LAGS = np.geomspace(200.0, 3800.0, 12), np.arange(6) * 4.0


def _overflow(fig):
    fig.savefig(io.BytesIO(), format="png")  # default size, no bbox_inches="tight"
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    return max(-box.x0, -box.y0, box.x1 - width, box.y1 - height)


def _dstrf(rng, n=2, k=3, bins=10):
    mean = ReceptiveField(rng.standard_normal((n, 12, 6)), FREQS, LAGS, "gradient STRF")
    fields = dict(dstrf=rng.standard_normal((1, bins, n, 12, 6)), rates=np.ones((1, bins, n)),
                  bins=np.arange(bins), explained=np.full((1, bins, n), 0.8), mean=mean,
                  components=rng.standard_normal((n, k, 12, 6)),
                  explained_variance_ratio=np.tile([0.6, 0.2, 0.1], (n, 1)),
                  nonlinearity_index=np.full(n, 0.4), gain=rng.standard_normal((1, bins, n)),
                  gain_cv=np.full(n, 1.5), band_frequencies_hz=FREQS, lags_ms=LAGS)
    return DynamicSTRF(**{f: fields.get(f) for f in DynamicSTRF._fields})


def test_strf_panels_have_a_colour_bar_spanning_the_symmetric_scale_and_fit_the_canvas():
    import matplotlib.pyplot as plt

    values = np.random.default_rng(0).standard_normal((2, 12, 6))
    ax = plot_strf(ReceptiveField(values, FREQS, LAGS, "ridge STRF"), neuron=1)
    (bar,) = [a for a in ax.figure.axes if a is not ax]
    lim = np.abs(values[1]).max()
    assert bar.get_ylim() == pytest.approx((-lim, lim)) and "log power" in bar.get_ylabel()
    assert _overflow(ax.figure) <= 0.01
    plt.close(ax.figure)
    axes = plot_dstrf(_dstrf(np.random.default_rng(1)), neuron=0, n_components=3)
    fig = axes[0].figure
    assert len(fig.axes) == 5 + 4  # five panels, a colour bar beside each of the four images
    assert _overflow(fig) <= 0.01
    plt.close(fig)
