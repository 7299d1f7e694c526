"""Soak sizes. The default run is short (CI); the long one is asked for:

    RTCIO_SOAK=long python -m pytest tests/soak -q      # 2,000 clients, 3 min
    RTCIO_SOAK_CLIENTS=4000 RTCIO_SOAK_SECONDS=600 RTCIO_SOAK=long ...

``-m soak_long`` selects only the long tests (they are skipped unless
RTCIO_SOAK=long, so a plain ``pytest`` never starts them by accident).
"""

import os

import pytest

LONG = os.environ.get("RTCIO_SOAK") == "long"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "soak_long: minutes-long soak; needs RTCIO_SOAK=long")


def pytest_collection_modifyitems(config, items):
    if LONG:
        return
    skip = pytest.mark.skip(reason="long soak: set RTCIO_SOAK=long to run it")
    for item in items:
        if "soak_long" in item.keywords:
            item.add_marker(skip)
