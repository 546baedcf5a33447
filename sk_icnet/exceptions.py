"""Warnings that sk_icnet raises, to filter them by class.

>>> import warnings
>>> from sk_icnet.exceptions import RatesAssumedWarning
>>> warnings.simplefilter("ignore", RatesAssumedWarning)   # doctest: +SKIP
"""

from ._core.exceptions import DidNotLearnWarning, OutsideTrainingRangeWarning, RatesAssumedWarning
from ._core.timebase import PAPER_AUDIO_FS, PAPER_DT_MS

__all__ = ["RatesAssumedWarning", "OutsideTrainingRangeWarning", "DidNotLearnWarning",
           "PAPER_AUDIO_FS", "PAPER_DT_MS"]
