"""Sphinx configuration of the tenctl documentation."""

import os
import sys

# autodoc imports tenctl_core and the switch templates from this checkout, installed or not.
sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(1, os.path.abspath("../plugins/switch_napalm"))

project = "tenctl"
author = "The tenctl developers"
copyright = "the tenctl developers"  # noqa: A001 - Sphinx's name

try:
    from tenctl_core import __version__ as release
except ImportError:  # pragma: no cover - the build needs tenctl_core's dependencies
    release = "0.1.0"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"
html_title = f"tenctl {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}
