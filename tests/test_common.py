"""scikit-learn's own estimator checks on ICNetRegressor, its seed ensemble and the STRFs."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_icnet import ICNetEnsemble, ICNetRegressor, LinearSTRFRegressor, PoissonSTRFRegressor


def _check_instance():
    # The generic checks feed tabular X (n_trials, n_features) with 1-D y. With
    # dt_ms=None the bin width is inferred from the shapes, so a 1-D y means one
    # bin per trial that spans the whole row: a valid waveform/response pair.
    return ICNetRegressor(
        audio_fs=1000.0, dt_ms=None, max_epochs=2, lr=1e-2, batch_size=32, verbose=0,
        random_state=0, train_split=None,
        module__n_filters=2, module__sincnet_kernel_size=4, module__encoder_channels=4,
        module__encoder_kernel_size=2, module__n_encoder_layers=1,
        module__bottleneck_channels=2,
    )


def _strf_instances():
    # tabular X as 1 kHz "audio", one bin per row; a 4 ms window and 3 mel bands
    front = dict(audio_fs=1000.0, dt_ms=None, n_bands=3, fmin=50.0, n_lags=2, win_ms=4.0)
    return [LinearSTRFRegressor(**front), PoissonSTRFRegressor(**front)]


SHARED_EXPECTED_FAILURES = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ sets history_, initialized_, virtual_params_ and stores "
        "dunder parameters (module__*) as attributes; this is how skorch routes parameters "
        "and cannot be changed in a subclass."
    ),
    "check_dtype_object": (
        "object-dtype X is refused with a TypeError by design: waveforms must be numeric "
        "arrays, and silently coercing object arrays hides data-loading mistakes."
    ),
    "check_regressor_multioutput": (
        "the check feeds negative multi-output targets from make_regression without "
        "enforcing positive_only; spike counts must be non-negative and negative y is "
        "refused with a ValueError."
    ),
}


def expected_failed_checks(estimator):
    failures = dict(SHARED_EXPECTED_FAILURES)
    if not isinstance(estimator, ICNetRegressor):
        failures.pop("check_no_attributes_set_in_init")
    return failures


@parametrize_with_checks([_check_instance(), *_strf_instances(),
                          ICNetEnsemble(_check_instance(), n_members=2, random_state=0)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_version_is_defined_once_and_cited():
    """sk_icnet.__version__ comes from sk_icnet/_version.py; the citation file must agree."""
    import re
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    import sk_icnet
    from sk_icnet._version import __version__

    assert sk_icnet.__version__ == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    root = Path(__file__).resolve().parents[1]
    cff = (root / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(__version__)}$", cff, re.M), \
        "CITATION.cff's version differs from sk_icnet/_version.py"
    assert f"## {__version__} " in (root / "CHANGELOG.md").read_text()
    try:  # the installed metadata (pyproject reads the same file)
        assert version("sk_icnet") == __version__
    except PackageNotFoundError:  # running from a source tree that is not installed
        pass
