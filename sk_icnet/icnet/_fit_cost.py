"""The cost model of ``small_data_params(time_budget_s=...)``: two measured constants.

Seconds of one training epoch per audio sample of training sound (validation included) =
``FIT_SECONDS_PER_SAMPLE + FIT_SECONDS_PER_FLOP`` x the network's forward FLOPs per sample.
Both are the ``calibration`` of ``benchmarks/fit_time.py`` (2 torch threads), rounded to 2
significant digits, in ``benchmarks/results/fit_time.json`` and ``docs/results/fit_time.json``
(the load it ran at and each fit's error are recorded there); a test checks that they agree.
They live alone in this file, which the benchmark never loads, so updating them after a rerun
leaves the results file fresh.
"""

FIT_SECONDS_PER_SAMPLE = 1.6e-07
FIT_SECONDS_PER_FLOP = 2.9e-11
