"""Sphinx configuration: Markdown pages (MyST) and an API reference from the numpydoc docstrings."""

from __future__ import annotations

import dask_zarrio

project = "dask_zarrio"
author = "the dask_zarrio developers"
release = version = dask_zarrio.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
myst_heading_anchors = 3
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]
