"""Pretend another release of a library to a server the tests start.

The "installed" release is a distribution record put in front of the real
one on the server's sys.path (importlib.metadata reads the first it
finds), so the real library runs under another version number, exactly as
a newer release with unchanged internals would (tests/compat/
test_versions.py, tests/deploy/test_gunicorn_ops.py).
"""

import pytest

from rtcio_flask.core.versions import parse_version

from .servers import ROOT


def real_release(distribution):
    """The installed release of ``distribution``, as a tuple."""
    from importlib import metadata
    return parse_version(metadata.version(distribution))


#: A pretended newer release stands for one with today's internals: it
#: means nothing on top of a release older than what it replaces (the
#: disconnect reasons of python-socketio 5.12 / python-engineio 4.11).
newer_than_real = pytest.mark.skipif(
    real_release("python-socketio") < (5, 12)
    or real_release("python-engineio") < (4, 11),
    reason="pretending a newer release needs the real one to be 5.12+/4.11+")


def pretend_release(tmp_path, distribution, version):
    """The environment of a server that sees ``distribution`` as
    ``version``: a PYTHONPATH whose first directory (under ``tmp_path``)
    holds a dist-info saying so."""
    name = distribution.replace("-", "_")
    info = tmp_path / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    return {"PYTHONPATH": f"{tmp_path}:{ROOT}"}
