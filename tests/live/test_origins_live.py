"""Origin checks against a live server, with real clients over websocket and
polling (what the test client cannot do: a real websocket upgrade)."""

import pytest
import socketio

from rtcio_flask import RtcioEvents
from tests.support.clients import Recorder
from tests.support.servers import serve_app

ALLOWED = "https://app.example.com"


@pytest.fixture(scope="module")
def restricted_server():
    env = {"RTCIO_ALLOWED_ORIGINS": f"{ALLOWED}, https://other.example.com"}
    with serve_app("tests.apps.basic:create_app", "eventlet", env=env,
                   watch=True) as srv:
        yield srv


def test_websocket_from_allowed_origin_relays(restricted_server):
    opts = {"websocket_extra_options": {"origin": ALLOWED}}
    a = Recorder(**opts).connect(restricted_server.url)
    b = Recorder(**opts).connect(restricted_server.url)
    try:
        a.emit(RtcioEvents.MESSAGE, {"target": b.sid, "data": {"x": 1}})
        assert b.wait_for(RtcioEvents.MESSAGE)[0]["source"] == a.sid
    finally:
        a.disconnect()
        b.disconnect()


def test_websocket_default_python_origin_is_refused(restricted_server):
    # websocket-client sends Origin: http://127.0.0.1:<port> by default.
    rec = Recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        rec.connect(restricted_server.url)
    log = restricted_server.log()
    assert f"Origin 'http://127.0.0.1:{restricted_server.port}' may not " \
           f"connect" in log
    assert "RTCIO_ALLOWED_ORIGINS" in log


def test_websocket_without_origin_is_not_a_cors_request(restricted_server):
    rec = Recorder(websocket_extra_options={"suppress_origin": True})
    rec.connect(restricted_server.url)
    assert rec.client.connected
    rec.disconnect()


def test_polling_origin_checked_too(restricted_server):
    good = Recorder().connect(restricted_server.url, transports=("polling",),
                              headers={"Origin": ALLOWED})
    assert good.client.connected
    good.disconnect()
    with pytest.raises(socketio.exceptions.ConnectionError):
        Recorder().connect(restricted_server.url, transports=("polling",),
                           headers={"Origin": "https://evil.example.net"})
