"""Docstring fragments the experiments and plots share, filled in by :func:`_fill_doc`."""

from __future__ import annotations

_FRAGMENTS = {
    "{estimator}": """estimator : ModelUnderTest
        A fitted model (see :class:`ModelUnderTest`).""",
    "{run_and_returns}": """predict_params : dict, optional
        Extra keyword arguments to ``estimator.predict`` (e.g. ``recording=``).
    progress : bool, default=False
        Show a progress bar (tqdm) over the batches of stimuli.

    Returns
    -------
    PhysiologyResult""",
    "{result_parameter}": """Parameters
    ----------
    result : PhysiologyResult""",
    "{results_parameter}": """Parameters
    ----------
    results : PhysiologyResult or dict of str to PhysiologyResult""",
    "{neuron_ax_returns}": """neuron : int, default=0
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes""",
}


def _fill_doc(func):
    """``func`` with the fragments named in its docstring (``{estimator}``, ...) filled in."""
    for key, text in _FRAGMENTS.items():
        func.__doc__ = func.__doc__.replace(key, text)
    return func
