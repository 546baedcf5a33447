"""What an in-silico experiment returns: a tidy table of responses and a summary per neuron."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
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
    """A PhysiologyResult from per-neuron response columns and summary rows, sorted.

    ``rows`` are dicts of columns, each a scalar (the same for all the dict's rows) or a
    1-D array; they are joined column by column into one table (one DataFrame, not one per
    neuron: a model of 4,608 units would spend most of an experiment building them)."""
    return PhysiologyResult(
        _frame(rows).sort_values(list(responses_by), ignore_index=True),
        pd.DataFrame(summary).sort_values(list(summary_by), ignore_index=True))


def _frame(rows):
    """One DataFrame from dicts of columns (scalars broadcast to the length of their dict)."""
    lengths = [max((np.size(v) for v in row.values() if np.ndim(v)), default=1) for row in rows]
    columns = {}
    for name in rows[0]:
        parts = [np.asarray(row[name]) for row in rows]
        columns[name] = np.concatenate([np.broadcast_to(part, (n,)) if part.ndim == 0 else part
                                        for part, n in zip(parts, lengths, strict=True)])
    return pd.DataFrame(columns)
