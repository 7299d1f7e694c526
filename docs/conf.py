"""Sphinx configuration for the rtcio-flask docs.

Built without warnings in the test suite
(``sphinx-build -W -b html docs <out>``, tests/docs/test_docs.py).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from rtcio_flask import __version__  # noqa: E402

project = "rtcio-flask"
author = "the rtcio-flask authors"
copyright = "2026, the rtcio-flask authors"
release = version = __version__

extensions = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
# Pages other branches add (docs/*.rst) join the index's glob toctree.
master_doc = root_doc = "index"

try:
    import furo  # noqa: F401
    html_theme = "furo"
except ImportError:  # the docs extra is not installed: Sphinx's default
    html_theme = "alabaster"
html_title = f"rtcio-flask {release}"
