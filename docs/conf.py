"""Sphinx configuration of the sk_icnet documentation site."""

import os
import sys
import warnings

sys.path.insert(0, os.path.abspath(".."))

import sk_icnet  # noqa: E402

project = "sk_icnet"
author = "the sk_icnet developers"
copyright = "2026, the sk_icnet developers"
release = sk_icnet.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "substitution"]
myst_substitutions = {"version": release}

# scikit-learn's generated metadata-routing setters refer to its own glossary, not ours
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "exclude-members": "set_fit_request,set_partial_fit_request,set_predict_request,"
                       "set_predict_proba_request,set_score_request,set_transform_request",
}
autodoc_typehints = "none"
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_title = f"sk_icnet {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # examples have long code lines: give them the room of the right-hand sidebar
    "secondary_sidebar_items": {"auto_examples/*": []},
}

# The gallery runs only the examples named plot_*.py (seconds each); the longer examples are
# rendered as code, and the user guide shows the figures and numbers they printed.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "abort_on_example_error": True,
}

warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")
