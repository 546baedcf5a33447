"""
In-silico physiology on neurons with known tuning
=================================================

The experiments of :mod:`sk_icnet.insilico` run on any model with ``predict``. Here the model is
the ground truth itself: :class:`sk_icnet.simulate.TunedNeurons`, simulated neurons whose
characteristic frequency, Q10, threshold, dynamic range, forward suppression and level adaptation
are set exactly, so each experiment's answer can be checked. Give a fitted
:class:`~sk_icnet.ICNetRegressor` or STRF instead to probe what it learnt
(``examples/insilico.py`` does that). Runs in a few seconds.
"""

# %%
# Four neurons at the paper's audio rate, with forward suppression of known time constants
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sk_icnet import insilico
from sk_icnet.simulate import TunedNeurons

neurons = TunedNeurons(
    cf_hz=[1500.0, 2500.0, 4000.0, 6000.0], q10=[3.0, 5.0, 7.0, 4.0],
    threshold_db=[15.0, 30.0, 20.0, 35.0], dynamic_range_db=[30.0, 25.0, 35.0, 30.0],
    suppression=0.6, suppression_tau_ms=[25.0, 50.0, 75.0, 100.0],
)
cf = neurons.tuning_.cf_hz.to_numpy()
neurons.tuning_[["cf_hz", "q10", "threshold_db", "dynamic_range_db", "suppression_tau_ms"]]

# %%
# Frequency response areas: CF, threshold and Q10 (tones, 8 per octave, 0-90 dB SPL)
fra = insilico.frequency_response_area(neurons)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
insilico.plot_fra(fra, neuron=0, ax=axes[0])
insilico.plot_fra(fra, neuron=2, ax=axes[1])
fra.summary[["neuron", "cf_hz", "threshold_db", "q10"]].round(2)

# %%
# Rate-level functions with tones at each neuron's CF, and with broadband noise
tones = insilico.rate_level(neurons, stimulus=cf)
noise = insilico.rate_level(neurons)
insilico.plot_rate_level({"tone at CF": tones, "noise": noise}, neuron=1)
tones.summary[["neuron", "threshold_db", "dynamic_range_db", "saturation_db"]].round(1)

# %%
# Modulation transfer functions: synchrony (vector strength) falls as the modulation gets
# faster than the envelope low-pass of each neuron
mtf = insilico.modulation_transfer(neurons, carrier=cf, level_db=60.0)
insilico.plot_mtf({"SAM tone at CF": mtf}, neuron=0)
mtf.summary.round(3)

# %%
# Forward masking: the recovery time constant of the probe response is the suppression's
fm = insilico.forward_masking(neurons, masker=cf, probe=cf)
insilico.plot_forward_masking({"tones at CF": fm}, neuron=0)
pd.DataFrame({"true tau (ms)": neurons.tuning_.suppression_tau_ms,
              "recovered tau (ms)": fm.summary.tau_ms.round(1)})

# %%
# Dynamic range adaptation (Dean et al. 2005): an adapting neuron's rate-level function moves
# towards the mean level of the sounds it hears
adapting = TunedNeurons(cf_hz=[3000.0], q10=3.0, threshold_db=20.0, adaptation_db_per_db=0.5,
                        adaptation_tau_ms=400.0)
dra = insilico.dynamic_range_adaptation(adapting, carrier=3000.0, means_db=(40, 55, 70),
                                        level_range_db=(10, 100))
insilico.plot_dynamic_range_adaptation(dra)
print(f"true shift 0.5 dB per dB; measured {dra.summary.slope_db_per_db.iloc[0]:.2f}")
np.round(dra.summary[["mean_db", "l50_db", "shift_db"]], 1)
