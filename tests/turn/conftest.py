"""A private coturn on 127.0.0.1 with the TURN REST API, and an rtcio app
that vends credentials for it."""

import secrets
import shutil

import pytest

from tests.support.coturn import TURNSERVER, Coturn
from tests.support.servers import serve_app

@pytest.fixture(scope="module")
def coturn():
    if not shutil.which(TURNSERVER):
        pytest.fail("coturn is not installed: scripts/test.sh installs the "
                    "Debian package coturn (/usr/bin/turnserver)")
    with Coturn(secrets.token_urlsafe(24)) as server:
        yield server


@pytest.fixture(scope="module")
def vending_server(coturn):
    """The rtcio app with TURN set through app.config, for this coturn."""
    env = {
        "RTCIO_TURN_SECRET": coturn.secret,
        "RTCIO_TURN_URLS": f"turn:127.0.0.1:{coturn.port}?transport=udp",
        "RTCIO_STUN_URLS": f"stun:127.0.0.1:{coturn.port}",
        "RTCIO_TURN_TTL": "600",
    }
    with serve_app("tests.apps.turn_app:create_app", "eventlet",
                   env=env, watch=True) as server:
        yield server
