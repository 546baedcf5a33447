"""Seed ensembles of ICNet: k models from different seeds, predicting their mean rate.

Models fitted to minutes of data differ from seed to seed (held-out D² and
in-silico parameters both move; see ``docs/user_guide/small_data.md``); the mean of their
rates is a better prediction than a typical member (3 members at 3 minutes of
simulated IC-like neurons: 57 % of the attainable D² against 51 % for the mean
member and 53 % for the best; ``benchmarks/learning_curve.py``). :class:`ICNetEnsemble` is a
scikit-learn regressor with the same data contract, ``predict`` and ``score``
as :class:`~sk_icnet.ICNetRegressor`, and the fitted attributes that
:func:`~sk_icnet.compare` and :mod:`sk_icnet.insilico` read (``audio_fs_``,
``dt_ms_``, ``samples_per_bin_``, ``n_neurons_``, ``training_summary_``).
"""

from __future__ import annotations

import copy
import numbers
import reprlib
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.dataset import ValidSplit

from .._core.exceptions import DidNotLearnWarning
from .._core.timebase import rates_agree
from .._core.validation import _describe, is_json_real
from ._estimator import ICNetRegressor
from ._inference import score_arrays

__all__ = ["ICNetEnsemble"]

#: fitted attributes copied from the first member (all members share them)
_SHARED = ("audio_fs_", "dt_ms_", "samples_per_bin_", "n_neurons_", "n_features_in_", "y_ndim_",
           "neurons_per_recording_", "recording_names_", "training_summary_")


#: what every member of an ensemble must share, by kind: fitted attributes (ending in ``_``)
#: and the parameters that shape the input and output (their default where not given). A
#: mean over members that disagree would be a wrong average (neurons broadcast into others,
#: rates mixed), so an ensemble of such members is refused at fit and at load.
MEMBER_AGREEMENT = {
    "rates": ("audio_fs_", "dt_ms_", "samples_per_bin_"),
    "neurons": ("n_neurons_", "neurons_per_recording_"),
    "recordings": ("recording_names_",),
    "input and output layout": ("n_features_in_", "y_ndim_", "head", "module__n_classes",
                                "module__time_input"),
}
_RATES = frozenset(("audio_fs_", "dt_ms_"))
_DEFAULTS = {"head": "poisson", "module__n_classes": None, "module__time_input": False}


def member_record(fitted, params):
    """The values :data:`MEMBER_AGREEMENT` compares, from a member's fitted attributes and
    parameters (plain mappings: a model file's records, or an estimator's ``vars``)."""
    return {key: fitted.get(key) if key.endswith("_") else params.get(key, _DEFAULTS[key])
            for keys in MEMBER_AGREEMENT.values() for key in keys}


def _same(key, a, b):
    if key in _RATES and is_json_real(a) and is_json_real(b):
        return rates_agree(a, b)
    return isinstance(a, bool) == isinstance(b, bool) and bool(a == b)


def check_members_agree(records, source):
    """Refuse members that disagree with member 0 on anything in :data:`MEMBER_AGREEMENT`.

    Parameters
    ----------
    records : list of dict
        :func:`member_record` of each member, in order.
    source : str
        What holds them, for the message (``"the model file 'x'"``, ``"ICNetEnsemble"``).
    """
    short = reprlib.Repr()
    short.maxstring = short.maxother = 60  # values from a file: quoted short
    short = short.repr
    first = records[0]
    for index, record in enumerate(records[1:], start=1):
        for kind, keys in MEMBER_AGREEMENT.items():
            for key in keys:
                if not _same(key, record[key], first[key]):
                    raise ValueError(
                        f"{source}, member {index}: its {key} is {short(record[key])}, but member "
                        f"0's is {short(first[key])}. Every member of an ensemble must agree on "
                        f"rates, neurons, recordings and output layout (here: {kind}), or their "
                        "mean mixes different outputs; build the ensemble from members fitted to "
                        "the same data with the same rates and head (ICNetEnsemble.fit).")


def _estimator_record(est):
    fitted = {key: getattr(est, key, None) for keys in MEMBER_AGREEMENT.values() for key in keys
              if key.endswith("_")}
    fitted = {k: v.tolist() if isinstance(v, (np.ndarray, np.generic))
              else list(v) if isinstance(v, tuple) else v for k, v in fitted.items()}
    return member_record(fitted, est.get_params(deep=False))


def _fit_member(estimator, X, y, fit_params):
    return estimator.fit(X, y, **fit_params)


def _member_seeds(random_state, n_members):
    return check_random_state(random_state).randint(2**31 - 1, size=n_members).tolist()


def _members_to_keep(fitted, learned, seeds):
    """Indices of the members to average: all but those that did not learn (warned); if none
    learnt, the one with the best validation D²."""
    failed = [i for i, flag in enumerate(learned) if flag is False]
    if not failed:
        return list(range(len(fitted)))
    scores = [getattr(m, "valid_d2_", None) for m in fitted]
    described = ", ".join(f"member {i} (seed {seeds[i]}, validation D² {scores[i]:.4f})"
                          if scores[i] is not None else f"member {i} (seed {seeds[i]})"
                          for i in failed)
    keep = [i for i in range(len(fitted)) if i not in failed]
    if keep:
        what = (f"left out of the average; {len(keep)} of {len(fitted)} member(s) are averaged "
                "(members_learned_, excluded_seeds_)")
    else:
        best = max(range(len(fitted)), key=lambda i: -np.inf if scores[i] is None else scores[i])
        keep = [best]
        what = (f"no member learnt, so only member {best} (the best validation D²) is kept; the "
                "ensemble predicts about the mean rate. Check the data (responses that follow the "
                "sound?) and the learning rate, or add members")
    warnings.warn(f"{len(failed)} ensemble member(s) did not learn (never beat the mean-rate "
                  f"model on their validation loss): {described}; {what}.", DidNotLearnWarning,
                  stacklevel=3)
    return keep


def _check_members(n_members):
    if isinstance(n_members, bool) or not isinstance(n_members, numbers.Integral) or n_members < 1:
        raise ValueError(f"n_members must be an int >= 1 (the number of models averaged); "
                         f"received {_describe(n_members)}. Use e.g. n_members=5.")
    return int(n_members)


class ICNetEnsemble(RegressorMixin, BaseEstimator):
    """An ensemble of ICNets fitted from different seeds; predicts the mean of their rates.

    Parameters
    ----------
    estimator : ICNetRegressor, optional
        The member to clone (unfitted; its parameters, the small-data recipe's
        for instance). Default: ``ICNetRegressor()``.
    n_members : int, default=5
    random_state : int, RandomState instance or None, default=None
        Draws one seed per member (their ``random_state``): an int makes the
        ensemble reproducible.
    vary_split : bool, default=False
        Give each member its own random validation split of the same size as
        the estimator's (``ValidSplit(fraction, random_state=seed)``), so that
        between them the members see every trial. Needs a float or int
        ``ValidSplit`` (the default is ``ValidSplit(5)``: a fifth of trials).
    n_jobs : int or None, default=None
        Members fitted in parallel by joblib (``None``: one at a time; inside
        ``joblib.parallel_backend("dask")`` on a Dask cluster). Each member
        still uses torch's own threads: set ``torch.set_num_threads`` so that
        ``n_jobs`` times it fits the machine.

    Attributes
    ----------
    estimators_ : list of ICNetRegressor
        The fitted members that are averaged: those that learnt.
    seeds_ : list of int
        Each averaged member's ``random_state``.
    members_learned_ : list of bool or None
        For every member fitted (in the order of the drawn seeds): whether it
        beat the mean-rate model on its validation loss (its ``learned_``, set
        by :class:`~sk_icnet.icnet.DidNotLearnCheck`, which
        :func:`~sk_icnet.small_data_params` includes; None where the member
        had no such check). Members with False are left out of
        ``estimators_`` with a :class:`~sk_icnet.exceptions.DidNotLearnWarning`:
        the mean of a member that predicts the mean rate and members that learnt
        is worse than the members that learnt (issue 33: members at D² 0.086,
        0.081 and 0.0005 averaged to 0.076). If no member learnt, the one with
        the best validation D² is kept alone, and the warning says so. Not
        stored in model files (a loaded ensemble holds the kept members).
    excluded_seeds_ : list of int
        Seeds of the members left out.
    audio_fs_, dt_ms_, samples_per_bin_, n_neurons_, n_features_in_, training_summary_
        As on the members (all equal).

    Examples
    --------
    >>> from sk_icnet import ICNetRegressor
    >>> from sk_icnet.icnet import ICNetEnsemble
    >>> from sk_icnet.simulate import make_auditory_dataset
    >>> data = make_auditory_dataset(n_trials=10, duration_s=0.25, audio_fs=8000, dt_ms=4.0,
    ...                              n_neurons=2, random_state=0)
    >>> member = ICNetRegressor(audio_fs=8000, dt_ms=4.0, max_epochs=1, verbose=0,
    ...                         module__n_filters=4, module__encoder_channels=4,
    ...                         module__encoder_kernel_size=4, module__n_encoder_layers=2,
    ...                         module__bottleneck_channels=4)
    >>> ens = ICNetEnsemble(member, n_members=2, random_state=0).fit(data.X, data.y)
    >>> ens.predict(data.X).shape
    (10, 2, 62)
    """

    def __init__(self, estimator=None, *, n_members=5, random_state=None, vary_split=False,
                 n_jobs=None):
        self.estimator, self.n_members, self.random_state = estimator, n_members, random_state
        self.vary_split, self.n_jobs = vary_split, n_jobs

    def __sklearn_tags__(self):
        """The member's tags (data contract, targets): an ensemble takes what its members take."""
        return (ICNetRegressor() if self.estimator is None else self.estimator).__sklearn_tags__()

    # ------------------------------------------------------------------ fit
    def _base(self):
        base = ICNetRegressor() if self.estimator is None else self.estimator
        if not isinstance(base, ICNetRegressor):
            raise TypeError(f"estimator must be an ICNetRegressor (unfitted; it is cloned for each "
                            f"member); received {_describe(base)}. Wrap other models yourself.")
        return base

    def _members(self):
        """Unfitted members: clones of the estimator with their own seeds (and splits)."""
        base = self._base()
        n = _check_members(self.n_members)
        if not isinstance(self.vary_split, (bool, np.bool_)):
            raise TypeError(f"vary_split must be True or False; received {_describe(self.vary_split)}.")
        split = base.train_split
        fraction = None
        if self.vary_split:
            cv = getattr(split, "cv", None)
            if not isinstance(split, ValidSplit) or isinstance(cv, bool) \
                    or not isinstance(cv, numbers.Real) or getattr(split, "stratified", False):
                raise ValueError(f"vary_split=True draws a random validation split per member of the "
                                 f"estimator's size, which needs train_split=ValidSplit(k) or "
                                 f"ValidSplit(fraction); the estimator has train_split={split!r}. "
                                 "Pass vary_split=False, or set such a train_split.")
            fraction = 1.0 / cv if isinstance(cv, numbers.Integral) else float(cv)
        seeds = _member_seeds(self.random_state, n)
        members = []
        for seed in seeds:
            member = clone(base).set_params(random_state=seed)
            if fraction is not None:
                member.set_params(train_split=ValidSplit(fraction, random_state=seed))
            members.append(member)
        return members, seeds

    def fit(self, X, y, **fit_params):
        """Fit every member on ``(X, y)`` (joblib, ``n_jobs``).

        Parameters
        ----------
        X, y
            As :meth:`ICNetRegressor.fit <sk_icnet.ICNetRegressor.fit>`
            (arrays, or a WindowDataset with ``y=None``).
        **fit_params
            Passed to each member's ``fit`` (e.g. ``sample_weight``).

        Returns
        -------
        self
        """
        members, seeds = self._members()
        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(member, X, y, fit_params) for member in members)
        learned = [getattr(member, "learned_", None) for member in fitted]
        keep = _members_to_keep(fitted, learned, seeds)
        self._set_members([fitted[i] for i in keep], [seeds[i] for i in keep])
        self.members_learned_ = learned
        self.excluded_seeds_ = [seed for i, seed in enumerate(seeds) if i not in keep]
        return self

    def _set_members(self, fitted, seeds):
        check_members_agree([_estimator_record(m) for m in fitted], type(self).__name__)
        self.estimators_ = list(fitted)
        self.seeds_ = list(seeds)
        first = self.estimators_[0]
        for name in _SHARED:
            if hasattr(first, name):
                setattr(self, name, copy.deepcopy(getattr(first, name)))

    # -------------------------------------------------------------- predict
    def predict(self, X, **predict_params):
        """Mean of the members' predicted rates.

        Parameters
        ----------
        X
            As :meth:`ICNetRegressor.predict <sk_icnet.ICNetRegressor.predict>`.
        **predict_params
            ``recording=``, ``time_s=``, passed to every member.

        Returns
        -------
        ndarray
            In the layout of the members' predictions (for arrays: that of the
            ``y`` used at fit).
        """
        check_is_fitted(self, ["estimators_"])
        total = None
        for member in self.estimators_:
            pred = member.predict(X, **predict_params)
            if isinstance(pred, list):  # a WindowDataset: one array per window
                pred = [np.asarray(p, dtype=np.float64) for p in pred]
                total = pred if total is None else [t + p for t, p in zip(total, pred, strict=True)]
            else:
                pred = np.asarray(pred, dtype=np.float64)
                total = pred if total is None else total + pred
        n = len(self.estimators_)
        if isinstance(total, list):
            return [(t / n).astype(np.float32) for t in total]
        return total / n

    def predict_members(self, X, **predict_params):
        """Each member's prediction, stacked: ``(n_members, *prediction shape)`` (arrays only)."""
        check_is_fitted(self, ["estimators_"])
        return np.stack([np.asarray(m.predict(X, **predict_params)) for m in self.estimators_])

    def score(self, X, y, sample_weight=None):
        """Poisson D² of the mean prediction, per neuron over observed bins, averaged over neurons.

        The same measure as :meth:`ICNetRegressor.score <sk_icnet.ICNetRegressor.score>`
        (the members' ``skip_bins`` first bins of each trial left out); arrays only.
        """
        check_is_fitted(self, ["estimators_"])
        return score_arrays(self.predict(X), y, self.estimators_[0].skip_bins, sample_weight)

    # ---------------------------------------------------------- model files
    def save_model(self, path, *, overwrite=False):
        """Write the fitted ensemble to one safetensors file: every member as
        :meth:`ICNetRegressor.save_model <sk_icnet.ICNetRegressor.save_model>` writes it.
        An existing file is replaced only with ``overwrite=True``, and only if it is a
        model file."""
        from .. import io

        io.save_model(self, path, overwrite=overwrite)

    @classmethod
    def load_model(cls, path, *, device="cpu"):
        """Read a file written by :meth:`save_model`; every member passes the checks an
        ICNetRegressor's model file does."""
        from .. import io

        return io.load_model(path, cls, device=device)
