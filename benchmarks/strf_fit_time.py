"""Fit time of the ridge STRF against MNE-Python's TimeDelayingRidge, same features.

Run:  python benchmarks/strf_fit_time.py [--trials 100 --bins 2000 --bands 32 --lags 20 --neurons 10]
      (``python docs/_results.py run benchmarks/strf_fit_time.py`` writes docs/results/strf_fit_time.json)

Default size: 200,000 bins (100 trials x 2,000) x 32 bands x 20 lags x 10 neurons,
float64. Prints the fit time of MNE ``ReceptiveField(estimator=alpha)`` and of
``LinearSTRFRegressor`` on the same spectrogram features (the ridge solve, with a
fixed penalty and with the penalty chosen by 5-fold CV over 13 values), and the
largest relative coefficient difference from MNE.
"""

import argparse
import time

import numpy as np
from mne.decoding import ReceptiveField

from sk_icnet.strf import LinearSTRFRegressor

parser = argparse.ArgumentParser()
parser.add_argument("--trials", type=int, default=100)
parser.add_argument("--bins", type=int, default=2000)
parser.add_argument("--bands", type=int, default=32)
parser.add_argument("--lags", type=int, default=20)
parser.add_argument("--neurons", type=int, default=10)
parser.add_argument("--repeats", type=int, default=2)
args = parser.parse_args()

rng = np.random.default_rng(0)
S = rng.standard_normal((args.trials, args.bins, args.bands))
y = rng.poisson(1.0, size=(args.trials, args.neurons, args.bins)).astype(np.float64)
alpha, dt_ms = 100.0, 5.0


def ours(alphas):
    est = LinearSTRFRegressor(audio_fs=1000.0, dt_ms=dt_ms, n_lags=args.lags, alphas=alphas)
    est.n_lags_ = args.lags  # features are given: skip the spectrogram front end
    return est._fit_features(S, y)


def mne():
    rf = ReceptiveField(tmin=0.0, tmax=(args.lags - 1) * dt_ms / 1000, sfreq=1000 / dt_ms,
                        estimator=alpha, fit_intercept=True)
    return rf.fit(np.transpose(S, (1, 0, 2)), np.transpose(y, (2, 0, 1)))


def best_time(fn, *a):
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        out = fn(*a)
        times.append(time.perf_counter() - t)
    return min(times), out


print(f"{args.trials * args.bins:,} bins x {args.bands} bands x {args.lags} lags x "
      f"{args.neurons} neurons (float64), best of {args.repeats}")
t_mne, rf = best_time(mne)
t_fixed, est = best_time(ours, alpha)
t_cv, _ = best_time(ours, None)
rel = np.abs(est.coef_ - rf.coef_).max() / np.abs(rf.coef_).max()
print(f"MNE ReceptiveField (TimeDelayingRidge)      {t_mne:7.2f} s")
print(f"LinearSTRFRegressor, fixed alpha            {t_fixed:7.2f} s   "
      f"(max relative coef difference from MNE: {rel:.1e})")
print(f"LinearSTRFRegressor, 5-fold CV of 13 alphas {t_cv:7.2f} s")
# the figures the docs quote (python docs/_results.py run benchmarks/strf_fit_time.py)
RESULTS = {"mne_s": t_mne, "fixed_alpha_s": t_fixed, "cv_s": t_cv,
           "max_relative_coef_difference": float(rel)}
RESULTS_TOLERANCE = {"max_relative_coef_difference": {"abs": 1e-6}}  # the test's rtol
