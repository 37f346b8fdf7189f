"""Sphinx configuration: Markdown pages (MyST), the example notebooks with their committed outputs
(MyST-NB, not re-executed: CI runs them in tests/test_notebooks.py), and an API reference from the
numpydoc docstrings. ``docs/notebooks`` is a link to the repository's ``notebooks/``."""

from __future__ import annotations

import dask_zarrio

project = "dask_zarrio"
author = "the dask_zarrio developers"
release = version = dask_zarrio.__version__
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "notebooks/.ipynb_checkpoints"]
nb_execution_mode = "off"  # the committed outputs are shown as they are
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
myst_heading_anchors = 3
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]
