"""Learning curves: how much data does ICNet need, and how do ensembles and transfer help?

Run:  python benchmarks/learning_curve.py --sizes 3,10,30,60 --arms ensemble,transfer,strf
      python benchmarks/learning_curve.py --sweep          (the recipe's measurements)
      python benchmarks/learning_curve.py --report          (table and figure from the results)

Ground truth: 8 simulated inferior-colliculus-like neurons (``sk_icnet.simulate.ICNeurons``:
frequency tuning, thresholds, level adaptation, forward suppression off, band-pass modulation
tuning from delayed self-inhibition) with known rates, 10-40 spikes/s, single trials (Poisson
counts), 2 ms bins, sound at 8 kHz (a lower rate than the paper's 24,414 Hz, to fit a 2-core CPU).
Sound: 1 s trials of speech-like sound and random chords at 40-80 dB SPL (``make_natural_mix``).
Training sets are the first 3, 10, 30 or 60 minutes of one 60-minute pool (nested); the test set is
3 separate minutes. Held-out Poisson D² is reported as a fraction of the D² of the true rates on the
same test counts (the attainable D²).

Arms (``--arms``): ``ensemble`` fits ``ICNetEnsemble`` of 3 members with ``small_data_params``
(member 0 is also reported as ``scratch``, the members' mean as ``scratch_mean``; ``scratch`` alone
where ``ensemble`` is not run, ``--arms scratch``); ``transfer`` pretrains an ICNet on 32 other
simulated neurons (20 minutes of other sound, ``small_data_params(1200)``) and fits the 8 target
neurons from its encoder, frozen (``transfer_frozen``) or fine-tuned at a tenth of the learning rate
(``transfer_slow``) with ``transfer_params``; ``strf`` fits ``PoissonSTRFRegressor`` and
``LinearSTRFRegressor`` (16 log-mel bands from 100 Hz, 8 ms windows, 30 ms of lags).
For every model, the in-silico FRA (CF, threshold) and MTF (rate BMF) of ``sk_icnet.insilico`` are
compared with the same experiments run on the true neurons.

Other families of simulated neurons (issue 33): ``--family periphery`` (``PeripheryNeurons``)
or ``--family level`` (``LevelNeurons``) replaces the target neurons (same sound, same seeds);
their rows go to ``benchmarks/results/learning_curve_<family>.json`` unless ``--out`` is given.
``--seed`` sets the fits' ``random_state`` (for the spread over seeds); every row records the
family, the seed and whether the fit learned (``learned``, from ``DidNotLearnCheck``).
``--arms choices`` fits the recipe with one choice changed at a time (``recipe_choices``: the next
smaller network, learning rate 1e-3 or 1e-2, twice the early-stopping patience) with the same seed
and data as the ``scratch`` row it is compared with (``choice: <name>`` rows; ``--families``
reports each choice per family and the worst family under it).

Each run appends its rows to ``benchmarks/results/learning_curve.json`` (one JSON object per line;
``--out`` to change), so arms can run as separate processes. ``--report`` writes the table
(markdown, stdout) and ``docs/images/learning_curve.png``. One torch thread per process.
"""

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
import torch

from sk_icnet import (
    ICNetEnsemble,
    ICNetRegressor,
    LinearSTRFRegressor,
    PoissonSTRFRegressor,
    insilico,
    small_data_params,
    transfer_params,
)
from sk_icnet.metrics import d2_poisson_score
from sk_icnet.simulate import (
    make_ic_neurons,
    make_level_neurons,
    make_natural_mix,
    make_periphery_neurons,
)

FS, DT, TRIAL_S = 8000.0, 2.0, 1.0
N_TARGET, N_PRE = 8, 32
POOL_MIN, TEST_MIN, PRE_MIN = 60, 3, 20
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "learning_curve.json")
FIGURE = os.path.join(HERE, "..", "docs", "images", "learning_curve.png")
FAMILIES = {"ic": make_ic_neurons, "periphery": make_periphery_neurons,
            "level": make_level_neurons}
STRF = dict(audio_fs=FS, dt_ms=DT, n_bands=16, fmin=100.0, win_ms=8.0, lags_ms=30.0)


def trials(minutes):
    return int(round(minutes * 60 / TRIAL_S))


def test_data(family="ic"):
    """Target neurons and the test set: 3 minutes at 40-80 dB SPL (fixed seeds)."""
    neurons = FAMILIES[family](N_TARGET, audio_fs=FS, dt_ms=DT, random_state=1)
    X_test = make_natural_mix(trials(TEST_MIN), TRIAL_S, FS, random_state=20)
    rates_test = neurons.predict(X_test)
    y_test = np.random.RandomState(21).poisson(rates_test).astype(np.float32)
    return neurons, X_test, y_test, rates_test


def target_data(family="ic", train_levels=None, pool_min=POOL_MIN):
    """Target neurons, the training pool (``pool_min`` minutes, sound at ``train_levels`` dB SPL,
    default 40-80) and the test set (:func:`test_data`)."""
    neurons, X_test, y_test, rates_test = test_data(family)
    levels = {} if train_levels is None else {"level_range_db": tuple(train_levels)}
    X = make_natural_mix(trials(pool_min), TRIAL_S, FS, random_state=10, **levels)
    y = neurons.sample(X, random_state=11).astype(np.float32)
    return neurons, X, y, X_test, y_test, rates_test


def physiology(model):
    """CF and threshold (FRA), rate BMF (MTF) and the noise rate-level threshold and midpoint
    per neuron."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fra = insilico.frequency_response_area(model).summary
        mtf = insilico.modulation_transfer(model).summary
        rlf = insilico.rate_level(model).summary
    return dict(cf_hz=fra.cf_hz.to_numpy(), threshold_db=fra.threshold_db.to_numpy(),
                bmf_hz=mtf.rate_bmf_hz.to_numpy(), noise_threshold_db=rlf.threshold_db.to_numpy(),
                l50_db=rlf.l50_db.to_numpy())


def physiology_errors(found, truth):
    cf = np.abs(np.log2(found["cf_hz"] / truth["cf_hz"]))
    thr = np.abs(found["threshold_db"] - truth["threshold_db"])
    bmf = np.abs(np.log2(found["bmf_hz"] / truth["bmf_hz"]))
    noise_thr = np.abs(found["noise_threshold_db"] - truth["noise_threshold_db"])
    l50 = np.abs(found["l50_db"] - truth["l50_db"])

    def median(a):
        a = a[np.isfinite(a)]
        return float(np.median(a)) if a.size else None

    return dict(cf_err_oct=median(cf), cf_found=int(np.isfinite(cf).sum()),
                threshold_err_db=median(thr), bmf_err_oct=median(bmf),
                noise_threshold_err_db=median(noise_thr), l50_err_db=median(l50))


def epochs_and_time(est):
    return len(est.history), float(sum(est.history[:, "dur"]))


class Runner:
    def __init__(self, out, family="ic", seed=0, train_levels=None, predictions=None,
                 pool_min=POOL_MIN):
        self.out, self.family, self.seed = out, family, seed
        self.train_levels, self.predictions = train_levels, predictions
        t0 = time.perf_counter()
        (self.neurons, self.X, self.y, self.X_test, self.y_test,
         self.rates_test) = target_data(family, train_levels, pool_min)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.attainable = float(d2_poisson_score(self.y_test, self.rates_test))
        self.truth = physiology(self.neurons)
        rate = float(self.y.mean() / DT * 1000)
        print(f"data in {time.perf_counter() - t0:.0f} s: attainable D2 {self.attainable:.3f}, "
              f"{rate:.1f} spikes/s on average", flush=True)

    def subset(self, minutes):
        n = trials(minutes)
        return self.X[:n], self.y[:n]

    def record(self, minutes, arm, model, fit_s, **extra):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predicted = model.predict(self.X_test)
            d2 = float(d2_poisson_score(self.y_test, predicted))
        row = dict(minutes=minutes, arm=arm, d2=d2, fraction=d2 / self.attainable,
                   attainable=self.attainable, fit_s=round(fit_s, 1), family=self.family,
                   seed=self.seed, learned=getattr(model, "learned_", None), **extra)
        if self.train_levels is not None:
            row["train_levels_db"] = list(self.train_levels)
        if self.predictions:
            levels = "" if self.train_levels is None else "_{:g}-{:g}dB".format(*self.train_levels)
            name = f"{self.family}_{arm}_{minutes}min_seed{self.seed}{levels}.npy"
            os.makedirs(self.predictions, exist_ok=True)
            np.save(os.path.join(self.predictions, name), predicted.astype(np.float32))
            row["predictions"] = name
        row.update(physiology_errors(physiology(model), self.truth))
        row["machine"] = f"{platform.machine()}, torch threads {torch.get_num_threads()}"
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        with open(self.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        return row

    def scratch(self, minutes):
        X, y = self.subset(minutes)
        est = ICNetRegressor(**small_data_params(minutes * 60, audio_fs=FS, dt_ms=DT,
                                                 n_neurons=N_TARGET), random_state=self.seed,
                             verbose=0)
        t0 = time.perf_counter()
        est.fit(X, y)
        epochs, _ = epochs_and_time(est)
        self.record(minutes, "scratch", est, time.perf_counter() - t0, epochs=epochs)

    def fit_variant(self, minutes, arm, params):
        """Fit ``ICNetRegressor(**params)`` on the first ``minutes`` and record it as ``arm``,
        with its epochs and parameter count."""
        X, y = self.subset(minutes)
        est = ICNetRegressor(**params)
        t0 = time.perf_counter()
        est.fit(X, y)
        self.record(minutes, arm, est, time.perf_counter() - t0, epochs=len(est.history),
                    n_params=int(sum(p.numel() for p in est.module_.parameters())))

    def choices(self, minutes):
        """The recipe with one choice changed at a time (:func:`recipe_choices`), this seed."""
        base = small_data_params(minutes * 60, audio_fs=FS, dt_ms=DT, n_neurons=N_TARGET)
        for name, change in recipe_choices(base).items():
            self.fit_variant(minutes, f"choice: {name}",
                             {**base, "random_state": self.seed, "verbose": 0, **change})

    def ensemble(self, minutes, n_members=3):
        X, y = self.subset(minutes)
        member = ICNetRegressor(**small_data_params(minutes * 60, audio_fs=FS, dt_ms=DT,
                                                    n_neurons=N_TARGET), verbose=0)
        t0 = time.perf_counter()
        ens = ICNetEnsemble(member, n_members=n_members, random_state=self.seed).fit(X, y)
        total = time.perf_counter() - t0
        times = [epochs_and_time(m) for m in ens.estimators_]
        first = ens.estimators_[0]
        self.record(minutes, "scratch", first, times[0][1], epochs=times[0][0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            members = [float(d2_poisson_score(self.y_test, m.predict(self.X_test)))
                       for m in ens.estimators_]
        self.record(minutes, "ensemble", ens, total, n_members=n_members, member_d2=members,
                    members_learned=ens.members_learned_, excluded_seeds=ens.excluded_seeds_,
                    member_d2_mean=float(np.mean(members)))

    def pretrained(self):
        neurons = make_ic_neurons(N_PRE, audio_fs=FS, dt_ms=DT, random_state=2)
        X = make_natural_mix(trials(PRE_MIN), TRIAL_S, FS, random_state=30)
        y = neurons.sample(X, random_state=31).astype(np.float32)
        est = ICNetRegressor(**small_data_params(PRE_MIN * 60, audio_fs=FS, dt_ms=DT,
                                                 n_neurons=N_PRE), random_state=0, verbose=0)
        t0 = time.perf_counter()
        est.fit(X, y)
        print(f"pretrained on {N_PRE} neurons, {PRE_MIN} min, in {time.perf_counter() - t0:.0f} s "
              f"({len(est.history)} epochs)", flush=True)
        return est

    def transfer(self, minutes, source):
        X, y = self.subset(minutes)
        for mode in ("frozen", "slow"):
            est = ICNetRegressor(**transfer_params(source, minutes * 60, mode=mode),
                                 random_state=0, verbose=0)
            t0 = time.perf_counter()
            est.fit(X, y)
            self.record(minutes, f"transfer_{mode}", est, time.perf_counter() - t0,
                        epochs=len(est.history))

    def strf(self, minutes):
        X, y = self.subset(minutes)
        for arm, est in (("poisson_strf", PoissonSTRFRegressor(**STRF)),
                         ("ridge_strf", LinearSTRFRegressor(**STRF))):
            t0 = time.perf_counter()
            est.fit(X, y)
            self.record(minutes, arm, est, time.perf_counter() - t0)


def sweep(runner, minutes=3):
    """The recipe against one change at a time, at ``minutes`` of the target data."""
    from sk_icnet.icnet._recipe import SIZE_PRESETS, SMALLER_PRESETS

    base = small_data_params(minutes * 60, audio_fs=FS, dt_ms=DT, n_neurons=N_TARGET)
    presets = {**SMALLER_PRESETS, **{name: p for _, name, p in SIZE_PRESETS}}
    sizes = {name: {f"module__{k}": v for k, v in p.items()} for name, p in presets.items()}
    tiny = {**sizes["tiny"], "module__bottleneck_channels": N_TARGET}
    # measured with the 5 k-parameter network as the base (the first version of the recipe)
    variants = {
        "recipe": tiny, "recipe seed 1": {**tiny, "random_state": 1},
        "size small": sizes["small"], "size medium": sizes["medium"],
        "lr 1e-3": {**tiny, "lr": 1e-3}, "lr 1e-2": {**tiny, "lr": 1e-2},
        "Adam, no weight decay": {**tiny, "optimizer": torch.optim.Adam,
                                  "optimizer__weight_decay": 0.0},
        "no LR schedule": {**tiny, "callbacks": None},
    }
    for name, change in variants.items():
        runner.fit_variant(minutes, f"sweep: {name}",
                           {**base, "random_state": 0, "verbose": 0, **change})


def recipe_choices(base):
    """One change at a time to the recipe's parameters ``base`` (``--arms choices``): the
    next smaller network, the learning rate 3x lower and 3x higher, twice the early-stopping
    patience."""
    from sk_icnet.icnet._recipe import SMALLER_PRESETS

    small = {f"module__{k}": v for k, v in SMALLER_PRESETS["small"].items()
             if f"module__{k}" in base}
    return {"size small": small, "lr 1e-3": {"lr": 1e-3}, "lr 1e-2": {"lr": 1e-2},
            "patience x2": {"early_stopping_patience": 2 * base["early_stopping_patience"]}}


FAMILY_NAMES = ("ic", "periphery", "level")
#: the figures the small-data guide quotes (``--families``; docs/_results.py writes them)
RESULTS = {}
#: seeds differ by a few points of attainable D²; the report itself is deterministic
RESULTS_TOLERANCE = {"*": {"abs": 1e-6}}


def rows_path(suffix):
    """``benchmarks/results/learning_curve_<suffix>.json``."""
    return DEFAULT_OUT.replace(".json", f"_{suffix}.json")


def read_rows(path):
    """The rows of a results file (one JSON object per line); none if it does not exist."""
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def family_rows(family):
    return read_rows(rows_path(family))


def ensembles(predictions, size=3):
    """Ensembles of the saved single fits' test predictions (seeds in consecutive groups of
    ``size``, each group averaged as ``ICNetEnsemble`` does: members that did not learn left
    out, all kept if none learnt); appends ``ensemble_of_seeds`` rows to each family's file."""
    for family in FAMILY_NAMES:
        every = family_rows(family)
        rows = [r for r in every if r["arm"] == "scratch" and r.get("predictions")
                and "train_levels_db" not in r]
        done = {(r["minutes"], tuple(r["member_seeds"])) for r in every
                if r["arm"] == "ensemble_of_seeds"}
        y_test = test_data(family)[2]
        out = rows_path(family)
        for minutes in sorted({r["minutes"] for r in rows}):
            by_seed = {r["seed"]: r for r in rows if r["minutes"] == minutes}
            seeds = sorted(by_seed)
            for start in range(0, len(seeds) - size + 1, size):
                group = seeds[start:start + size]
                if (minutes, tuple(group)) in done:
                    continue
                members = [by_seed[s] for s in group]
                keep = [m for m in members if m["learned"] is not False] or members
                pred = np.mean([np.load(os.path.join(predictions, m["predictions"]))
                                for m in keep], axis=0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    d2 = float(d2_poisson_score(y_test, pred))
                attainable = members[0]["attainable"]
                row = dict(minutes=minutes, arm="ensemble_of_seeds", family=family, d2=d2,
                           fraction=d2 / attainable, attainable=attainable, member_seeds=group,
                           member_fractions=[m["fraction"] for m in members],
                           excluded_seeds=[m["seed"] for m in members if m not in keep])
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


def _slug(text):
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_").replace("__", "_")


def _raw_file_run(path):
    """The commit and date that last changed a raw results file (git), for the page."""
    import subprocess

    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h %ad", "--date=short", "--", path],
                             cwd=HERE, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    return dict(commit=out[0], date=out[1]) if len(out) == 2 else dict(commit="?", date="?")


def arms_and_sweep():
    """The first measurements on the IC-like family (one seed: transfer, ensemble and STRF arms,
    ``learning_curve.json``; the recipe's sweep, ``learning_curve_sweep.json``) into ``RESULTS``."""
    keys = ("fit_s", "epochs", "cf_err_oct", "threshold_err_db", "bmf_err_oct", "n_params")
    for name, path in (("ic_arms", DEFAULT_OUT), ("sweep", rows_path("sweep"))):
        rows = read_rows(path)
        if not rows:
            continue
        block = RESULTS.setdefault(name, {"run": _raw_file_run(path)})
        for r in rows:
            arm = _slug(r["arm"].removeprefix("sweep: "))
            entry = dict(pct=round(100 * r["fraction"], 1), d2=round(r["d2"], 4),
                         **{k: (round(r[k], 2) if isinstance(r[k], float) else r[k])
                            for k in keys if r.get(k) is not None})
            if r.get("member_d2"):
                entry["member_d2"] = {f"m{i}": round(v, 4) for i, v in enumerate(r["member_d2"])}
                entry["member_pct_mean"] = round(100 * float(np.mean(r["member_d2"]))
                                                 / r["attainable"], 1)
                entry["member_pct_best"] = round(100 * max(r["member_d2"]) / r["attainable"], 1)
            if name == "sweep":
                block[arm] = entry
            else:
                block.setdefault(arm, {})[f"m{r['minutes']}"] = entry


def recipe_choices_report():
    """``RESULTS["choices"]``: each changed choice's D² (% of attainable) per family against the
    recipe's fit of the same seed and minutes, and the worst family under each."""
    block = {}
    for family in FAMILY_NAMES:
        rows = family_rows(family)
        recipe = {(r["minutes"], r["seed"]): r for r in rows
                  if r["arm"] == "scratch" and "train_levels_db" not in r}
        for r in rows:
            if not r["arm"].startswith("choice: ") or (r["minutes"], r["seed"]) not in recipe:
                continue
            base = recipe[(r["minutes"], r["seed"])]
            for name, row in (("recipe", base), (_slug(r["arm"].removeprefix("choice: ")), r)):
                block.setdefault(f"m{r['minutes']}", {}).setdefault(name, {})[family] = dict(
                    pct=round(100 * row["fraction"], 1), epochs=row["epochs"],
                    delta_pts=round(100 * (row["fraction"] - base["fraction"]), 1),
                    learned=row["learned"] is not False)
    for by_choice in block.values():
        complete = {name: fams for name, fams in by_choice.items()
                    if set(fams) == set(by_choice["recipe"])}
        for fams in complete.values():
            fams["worst_pct"] = min(f["pct"] for f in fams.values())
        recipe_worst = by_choice["recipe"]["worst_pct"]
        by_choice["n_better_worst_family"] = sum(fams["worst_pct"] > recipe_worst
                                                 for fams in complete.values())
    if block:
        RESULTS["choices"] = block


def families_report():
    """Per-family learning curves (median and range over seeds), the ensembles of seeds, the
    level-range experiment: ``RESULTS`` and ``docs/images/learning_curve_families.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    errors = ("cf_err_oct", "threshold_err_db", "l50_err_db", "bmf_err_oct")
    for family, colour in zip(FAMILY_NAMES, ("C0", "C1", "C2"), strict=True):
        rows = family_rows(family)
        single = [r for r in rows if r["arm"] == "scratch" and "train_levels_db" not in r]
        if not single:
            continue
        fam = RESULTS.setdefault("families", {}).setdefault(family, {})
        fam["attainable"] = round(single[0]["attainable"], 4)
        minutes_list = sorted({r["minutes"] for r in single})
        medians = []
        for minutes in minutes_list:
            sub = [r for r in single if r["minutes"] == minutes]
            pct = np.array([100 * r["fraction"] for r in sub])
            entry = dict(n_seeds=len(sub), n_learned=sum(r["learned"] is not False for r in sub),
                         median_pct=round(float(np.median(pct)), 1),
                         min_pct=round(float(pct.min()), 1), max_pct=round(float(pct.max()), 1),
                         spread_pts=round(round(float(pct.max()), 1)
                                          - round(float(pct.min()), 1), 1),
                         epochs_median=float(np.median([r["epochs"] for r in sub])),
                         fit_s_median=float(np.median([r["fit_s"] for r in sub])))
            for err in errors:
                vals = [r[err] for r in sub if r.get(err) is not None]
                if vals:
                    entry[err] = round(float(np.median(vals)), 2)
            fam[f"m{minutes}"] = entry
            medians.append(entry["median_pct"])
            axes[0].plot([minutes] * len(pct), pct, "o", color=colour, alpha=0.35, ms=4)
            axes[1].plot([minutes], [entry.get("threshold_err_db", np.nan)], "o", color=colour)
            axes[2].plot([minutes], [entry.get("l50_err_db", np.nan)], "o", color=colour)
        axes[0].plot(minutes_list, medians, "-", color=colour, label=family)
        for ax, err in ((axes[1], "threshold_err_db"), (axes[2], "l50_err_db")):
            ax.plot(minutes_list, [fam[f"m{m}"].get(err, np.nan) for m in minutes_list], "-",
                    color=colour, label=family)
        upto10 = [r for r in single if r["minutes"] <= 10]
        fam["closest_upto_m10"] = {err: round(float(min(r[err] for r in upto10)), 1)
                                   for err in ("threshold_err_db", "l50_err_db")
                                   if all(r.get(err) is not None for r in upto10)}
        ens = [r for r in rows if r["arm"] == "ensemble_of_seeds"]
        for minutes in sorted({r["minutes"] for r in ens}):
            sub = [r for r in ens if r["minutes"] == minutes]
            gains = [100 * (r["fraction"] - np.median(r["member_fractions"])) for r in sub]
            below = sum(r["fraction"] < np.median(r["member_fractions"]) for r in sub)
            below_best = sum(r["fraction"] < max(r["member_fractions"]) for r in sub)
            fam[f"ensemble_m{minutes}"] = dict(
                n=len(sub), below_median_member=int(below), below_best_member=int(below_best),
                median_pct=round(float(np.median([100 * r["fraction"] for r in sub])), 1),
                gain_over_median_member_pts=round(float(np.median(gains)), 1),
                min_gain_pts=round(float(min(gains)), 1),
                excluded=int(sum(len(r["excluded_seeds"]) for r in sub)))
    recipe_choices_report()
    fams = RESULTS.get("families", {})
    entries = [e for f in fams.values() for k, e in f.items() if k.startswith("m")]
    if entries:
        RESULTS["summary"] = dict(
            n_fits=sum(e["n_seeds"] for e in entries),
            n_learned=sum(e["n_learned"] for e in entries),
            max_seed_spread_m3_pts=max(f["m3"]["spread_pts"] for f in fams.values() if "m3" in f))
    level_rows = read_rows(rows_path("level_range"))
    asked = {(r["minutes"], r["seed"]) for r in level_rows}
    # the default range from the same kind of pool when it was run (--train-levels 40,80),
    # else the family's own fit of the same minutes and seed (the default pool's first minutes)
    # (kept as ``db40_80_pool60`` beside it: two draws of the same sound, for their spread)
    own_default = any(r["train_levels_db"] == [40.0, 80.0] for r in level_rows)
    base = [r for r in family_rows("level") if r["arm"] == "scratch"
            and (r["minutes"], r["seed"]) in asked and "train_levels_db" not in r]
    tagged = [(r, "") for r in level_rows] + [
        (dict(b, train_levels_db=[40.0, 80.0]), "_pool60" if own_default else "") for b in base]
    for r, tag in tagged:
        lo, hi = r["train_levels_db"]
        name = f"db{lo:g}_{hi:g}{tag}"
        RESULTS.setdefault("level_range", {})[name] = dict(
            minutes=r["minutes"], pct=round(100 * r["fraction"], 1),
            **{err: round(r[err], 2) for err in errors + ("noise_threshold_err_db",)
               if r.get(err) is not None})
    arms_and_sweep()
    for ax, ylabel in zip(axes, ("held-out D² (% of attainable)", "median FRA threshold error (dB)",
                                 "median rate-level midpoint error (dB)"), strict=True):
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks([3, 10, 30], ["3", "10", "30"])
        ax.set_xlabel("training sound (minutes)")
        ax.set_ylabel(ylabel)
    axes[0].axhline(50, color="0.6", ls=":")
    axes[0].legend(fontsize=8)
    fig.suptitle("small_data_params on three families of 8 simulated neurons, one dot per seed "
                 "(benchmarks/learning_curve.py)", fontsize=10)
    fig.tight_layout()
    fig.savefig(FIGURE.replace(".png", "_families.png"), dpi=110)
    print(json.dumps(RESULTS, indent=1))


ARM_ORDER = ["scratch", "ensemble", "transfer_frozen", "transfer_slow", "poisson_strf",
             "ridge_strf"]


def report(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = pd.DataFrame(read_rows(out))
    sweep_rows = rows[rows.arm.str.startswith("sweep")]
    rows = rows[~rows.arm.str.startswith("sweep")].drop_duplicates(["minutes", "arm"], keep="last")
    if len(sweep_rows):
        print(sweep_rows[["arm", "d2", "fraction", "epochs", "n_params", "fit_s", "cf_err_oct",
                          "threshold_err_db"]].to_markdown(index=False, floatfmt=".3f"))
    if rows.empty:
        return
    table = rows.pivot(index="arm", columns="minutes", values="fraction").reindex(
        [a for a in ARM_ORDER if a in set(rows.arm)])
    print("\nheld-out D2 as a fraction of attainable\n")
    print((100 * table).round(0).to_markdown(floatfmt=".0f"))
    for col, label in (("fit_s", "fit wall time (s)"), ("cf_err_oct", "median CF error (octave)"),
                       ("threshold_err_db", "median threshold error (dB)"),
                       ("bmf_err_oct", "median rate-BMF error (octave)")):
        print(f"\n{label}\n")
        print(rows.pivot(index="arm", columns="minutes", values=col).reindex(table.index)
              .to_markdown(floatfmt=".2f"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for arm in table.index:
        sub = rows[rows.arm == arm].sort_values("minutes")
        axes[0].plot(sub.minutes, 100 * sub.fraction, "o-", label=arm)
        axes[1].plot(sub.minutes, sub.cf_err_oct, "o-", label=arm)
        axes[2].plot(sub.minutes, sub.threshold_err_db, "o-", label=arm)
    axes[0].axhline(50, color="0.6", ls=":")
    for ax, ylabel in zip(axes, ("held-out D² (% of attainable)", "median CF error (octave)",
                                 "median threshold error (dB)"), strict=True):
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks([3, 10, 30, 60], ["3", "10", "30", "60"])
        ax.set_xlabel("training sound (minutes)")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=8)
    fig.suptitle("8 simulated IC-like neurons, single trials, 2 ms bins "
                 "(benchmarks/learning_curve.py)", fontsize=10)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)
    print(f"\nwrote {os.path.normpath(FIGURE)}")


def parse_seeds(text):
    """``"0-2"`` or ``"0,1,2"`` -> [0, 1, 2]."""
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(v) for v in text.split(",") if v]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,10,30,60", help="minutes of training sound")
    parser.add_argument("--arms", default="ensemble,transfer,strf")
    parser.add_argument("--transfer-sizes", default="3,10",
                        help="sizes for the transfer arm (the arm costs two fits per size)")
    parser.add_argument("--sweep", action="store_true", help="the recipe's measurements")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--out", default=None, help=f"default {DEFAULT_OUT} (family ic)")
    parser.add_argument("--family", default="ic", choices=sorted(FAMILIES))
    parser.add_argument("--seed", type=int, default=0, help="random_state of the fits")
    parser.add_argument("--plan", nargs="*", default=None,
                        help="MINUTES:SEEDS entries run in order with --arms, e.g. 3:0-2 10:0-2 "
                             "3:3-9 (seeds as a range or a comma list); replaces --sizes/--seed")
    parser.add_argument("--pool-minutes", type=float, default=POOL_MIN,
                        help="minutes of the training pool (default 60; the sizes are its first "
                             "minutes)")
    parser.add_argument("--train-levels", default=None,
                        help="LO,HI: the training sound's level range in dB SPL (default 40,80; "
                             "the test set stays 40-80)")
    parser.add_argument("--predictions", default=None,
                        help="folder for each fit's test-set predictions (.npy), for ensembles "
                             "of seeds formed afterwards (--ensembles)")
    parser.add_argument("--ensembles", action="store_true",
                        help="ensembles of the saved seeds' predictions (--predictions), "
                             "appended to each family's rows")
    parser.add_argument("--families", action="store_true",
                        help="the per-family report: RESULTS and the families figure")
    args = parser.parse_args()
    if args.out is None:
        args.out = DEFAULT_OUT if args.family == "ic" else rows_path(args.family)
    if args.report:
        report(args.out)
        return
    if args.families:
        families_report()
        return
    if args.ensembles:
        ensembles(args.predictions)
        return
    torch.set_num_threads(1)
    levels = None if args.train_levels is None else \
        [float(v) for v in args.train_levels.split(",")]
    runner = Runner(args.out, args.family, args.seed, levels, args.predictions,
                    args.pool_minutes)
    if args.sweep:
        sweep(runner)
        return
    if args.plan:
        for entry in args.plan:
            minutes, seeds = entry.split(":")
            minutes = float(minutes) if "." in minutes else int(minutes)
            for seed in parse_seeds(seeds):
                runner.seed = seed
                for arm in [a for a in args.arms.split(",") if a]:
                    getattr(runner, arm)(minutes)
        return
    sizes = [float(s) if "." in s else int(s) for s in args.sizes.split(",") if s]
    arms = [a for a in args.arms.split(",") if a]
    if "transfer" in arms:
        source = runner.pretrained()
        for minutes in [int(s) for s in args.transfer_sizes.split(",") if s]:
            runner.transfer(minutes, source)
    for minutes in sizes:
        for arm in arms:
            if arm != "transfer":
                getattr(runner, arm)(minutes)


if __name__ == "__main__":
    main()
