"""RTCIO's websocket (rtcio_flask.transport.websocket) under attack, as a
hostile client would make it: against the standalone ``rtcio-flask``
server (eventlet, as a user starts it) and gunicorn's eventlet and gevent
workers (where the websocket is read from readiness events), raw bytes on
a plain socket. Each attack gets a clear answer (a close frame with its
code, or a 400), a pair of bystanders keeps relaying, ``/healthz``
answers, and the server logs no traceback (it is watched).
The frame-by-frame cases are the RFC 6455 table
(tests/live/test_websocket_rfc6455.py)."""

import contextlib
import itertools
import socket
import sys
import time

import pytest
import requests

from tests.support.clients import Recorder
from tests.support.servers import LiveServer, serve_app
from tests.support.ws_frames import (CASES, CLOSE, CONT, PING, PONG, TEXT,
                                     Upgrade, client_frame, close_frame,
                                     text)

APP = "tests.apps.network_app:create_app"
_count = itertools.count()


def _server(mode, **env):
    if mode == "rtcio-flask":
        return LiveServer([sys.executable, "-m", "rtcio_flask", "--port",
                           "{port}"], env=env, watch=True)
    return serve_app(APP, mode, env=dict(env, RTCIO_WEBSOCKET="rtcio",
                                         RTCIO_HEALTH_PATH="/healthz"),
                     watch=True)


@pytest.fixture(scope="module", params=["rtcio-flask", "gunicorn-eventlet",
                                        "gunicorn-gevent"])
def served(request):
    with _server(request.param) as server, _bystanders(server):
        yield server


@contextlib.contextmanager
def _bystanders(server):
    """Two clients in a room of their own, as ``server.pair``."""
    server.pair = (Recorder(), Recorder())
    try:
        for name, client in zip("ab", server.pair):
            client.connect(server.url)
            client.emit("join-room", {"roomId": "bystanders", "name": name})
            client.wait_for("join-ok")
        yield
    finally:
        for client in server.pair:
            client.disconnect()


def _still_fine(server):
    """The bystanders relay an envelope, and ``/healthz`` answers."""
    a, b = server.pair
    n = next(_count)
    a.emit("#rtcio:message", {"target": b.sid, "data": {"n": n}})
    b.wait_for("#rtcio:message", count=len(b.events("#rtcio:message")) + 1,
               timeout=20)
    assert b.events("#rtcio:message")[-1]["data"] == {"n": n}
    assert requests.get(server.url + "/healthz", timeout=10).status_code \
        == 200


FOUR = [c for c in CASES if c.name in (
    "close-1-byte", "close-code-1005", "close-code-999",
    "close-reason-invalid-utf8")]


@pytest.mark.parametrize("case", FOUR, ids=[c.name for c in FOUR])
def test_the_four_close_frame_cases_of_issue_24(served, case):
    """The malformed-frame probe's four misses, against the standalone
    server too (the RFC 6455 table runs on the others): 1002, 1002, 1002,
    1007."""
    up = Upgrade(served.url)
    try:
        up.connect()
        for chunk in case.chunks:
            up.send(chunk)
        assert up.close_code() == case.expect[-1][1] != 1000
    finally:
        up.close()
    _still_fine(served)


def _drip(up, data):
    for i in range(len(data)):
        up.send(data[i:i + 1])
        time.sleep(0.002)


def test_frames_dripped_one_byte_at_a_time(served):
    """socket.io's CONNECT and a ping, one byte per TCP write: read as
    whole frames, while the bystanders relay."""
    up = Upgrade(served.url)
    try:
        assert up.read()[1].startswith(b"0{")
        _drip(up, text("40") + client_frame(PING, b"slow"))
        assert up.until(lambda op, data: data.startswith(b"40"))[0] == TEXT
        assert up.until(lambda op, data: op == PONG)[1] == b"slow"
        _still_fine(served)
        up.send(close_frame(1000))
        assert up.close_code() == 1000
    finally:
        up.close()


@pytest.mark.parametrize("length, code", [
    ((1 << 63) - 1, 1009), (1 << 63, 1002), (200_000_000, 1009)])
def test_a_huge_announced_length_is_refused_at_once(served, length, code):
    up = Upgrade(served.url)
    try:
        up.connect()
        up.send(client_frame(TEXT, b"", announce=length))
        assert up.close_code() == code
    finally:
        up.close()
    _still_fine(served)


def test_endless_fragments(served):
    """A text message in 200 000 fragments, empty but for the first and
    the last (a client that never ends its message holds no more than
    its bytes; the ping timeout ends it): the message arrives whole."""
    up = Upgrade(served.url)
    try:
        assert up.read()[1].startswith(b"0{")
        up.send(text("4", fin=False))
        empty = client_frame(CONT, b"", fin=False) * 10_000
        for _ in range(20):
            up.send(empty)
        up.send(client_frame(CONT, b"0"))
        assert up.until(lambda op, data: data.startswith(b"40"))[0] == TEXT
        _still_fine(served)
        up.send(close_frame(1000))
        assert up.close_code() == 1000
    finally:
        up.close()


def test_a_ping_flood_from_a_client_that_does_not_read(served):
    """20 MB of pings from a client that reads nothing meanwhile (more
    pongs than the kernel's buffers on both sides hold: the server's send
    buffer is at most net.ipv4.tcp_wmem's 4 MB here, the client's receive
    buffer is pinned at 64 KiB): the server keeps the latest ping's pong
    only, not one per ping, and still closes cleanly when asked."""
    up = Upgrade(served.url)
    up.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    pings = 160_000
    try:
        up.connect()
        batch = 1000
        for start in range(0, pings, batch):
            # Masked with zeros: the payload as it is (built fast).
            up.send(b"".join(b"\x89\xfb\x00\x00\x00\x00%123d" % i
                             for i in range(start, start + batch)))
        up.send(close_frame(1000))
        pongs = []
        while True:
            op, data = up.until(lambda op, data: op in (PONG, CLOSE, None),
                                timeout=30)
            if op != PONG:
                break
            pongs.append(int(data))
        assert op == CLOSE and data[:2] == b"\x03\xe8"
        assert pongs[-1] == pings - 1  # the latest ping was answered
        assert len(pongs) < pings
        assert pongs == sorted(pongs)
    finally:
        up.close()
    _still_fine(served)


def test_a_close_flood(served):
    """Connections sending fifty close frames and then a message each:
    every one gets one close frame (1000) and the end of the stream."""
    for _ in range(10):
        up = Upgrade(served.url)
        try:
            up.connect()
            up.send(close_frame(1000) * 50 + text("42[\"x\"]"))
            op, data = up.until(lambda op, data: op == CLOSE)
            assert data == b"\x03\xe8"
            assert up.until(lambda op, data: True)[0] is None
        finally:
            up.close()
    _still_fine(served)


def test_a_client_that_stops_sending_mid_frame(served):
    """Half a frame, then the client's end of the stream (it shut its
    side down, reading on): the server ends the connection, with no close
    frame (the client's stream ended without one, RFC 6455 7.1.5)."""
    up = Upgrade(served.url)
    try:
        up.connect()
        up.send(text("42[\"whoami\"]")[:5])
        up.sock.shutdown(socket.SHUT_WR)
        assert up.close_code() is None
    finally:
        up.close()
    _still_fine(served)


@pytest.mark.parametrize("mode", ["gunicorn-eventlet", "gunicorn-gevent"])
def test_a_silent_half_open_client_is_closed_at_the_ping_timeout(mode):
    """A client that vanished without a FIN (it sends nothing, not even
    its pongs, half a frame pending): the ping timeout ends it with a
    close frame, and the server serves on."""
    with _server(mode, TEST_PING_INTERVAL="0.5",
                 TEST_PING_TIMEOUT="0.5") as server:
        with _bystanders(server):
            up = Upgrade(server.url)
            try:
                up.connect()
                up.answer_pings = False
                up.send(text("42[\"whoami\"]")[:5])
                assert up.close_code(timeout=20) == 1000
                _still_fine(server)
            finally:
                up.close()


def test_permessage_deflate_offered_is_declined(served):
    """Browsers offer compression on every upgrade: the handshake goes
    through without it (no ``Sec-WebSocket-Extensions`` in the answer)
    and uncompressed frames work."""
    up = Upgrade(served.url, headers=[
        "Sec-WebSocket-Extensions: permessage-deflate; "
        "client_max_window_bits"])
    try:
        assert up.status == 101
        assert "sec-websocket-extensions" not in up.headers
        up.connect()
        # A compressed frame (RSV1) is then a protocol error.
        up.send(client_frame(TEXT, b"\xf2\x04\x00", rsv=4))
        assert up.close_code() == 1002
    finally:
        up.close()
    _still_fine(served)


@pytest.mark.parametrize("method, key, version", [
    ("GET", "short", "13"),
    ("GET", "x" * 24, "13"),                       # 24 bytes, not base64
    ("GET", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "13"),  # base64 of 20 bytes
    ("GET", "", "13"),
    ("GET", None, "8"),
    ("GET", None, ""),
    ("POST", None, "13"),
    ("PUT", None, "13"),
], ids=["key-short", "key-not-base64", "key-20-bytes", "key-empty",
        "version-8", "version-none", "post", "put"])
def test_a_bad_upgrade_is_refused(served, method, key, version):
    up = Upgrade(served.url, method=method, key=key, version=version)
    try:
        assert up.status == 400, (up.status, up.headers)
        if version != "13":
            assert up.headers["sec-websocket-version"] == "13"
    finally:
        up.close()
    _still_fine(served)
