"""What an in-silico experiment returns: a tidy table of responses and a summary per neuron."""

from __future__ import annotations

from collections import namedtuple

import pandas as pd

__all__ = ["PhysiologyResult"]

PhysiologyResult = namedtuple("PhysiologyResult", ["responses", "summary"])
PhysiologyResult.__module__ = "sk_icnet.insilico"
PhysiologyResult.__doc__ = """Result of an in-silico experiment.

responses : DataFrame
    Tidy table of the measured responses: one row per neuron and stimulus
    condition (columns depend on the experiment).
summary : DataFrame
    The derived parameters: one row per neuron (per neuron and level
    distribution for :func:`dynamic_range_adaptation`), with ``max_rate_hz``,
    the neuron's largest predicted rate in the experiment, and
    ``implausible_rate``, True above 1,000 spikes/s.
"""


def _assemble(rows, summary, responses_by, summary_by=("neuron",)):
    """A PhysiologyResult from per-neuron frames and summary rows, sorted."""
    return PhysiologyResult(
        pd.concat(rows).sort_values(list(responses_by), ignore_index=True),
        pd.DataFrame(summary).sort_values(list(summary_by), ignore_index=True))
