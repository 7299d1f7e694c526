"""The RFC 6455 case table (tests/support/ws_frames.py, printed in
docs/protocol-fidelity.rst) against a running server under gevent and
eventlet with RTCIO's websocket: raw frames on a socket.io websocket, one
case per connection (under gunicorn's workers too, where the websocket is
read from readiness events). Each case gets the close code, the pongs and the
acknowledgements the table says; once a server's cases have run (in any
order), other clients still relay and ``/healthz`` answers (the fixture
checks), and the server logs no traceback (it is watched)."""

import struct

import pytest
import requests
import websocket

from tests.support.raw_eio import RawSocket
from tests.support.clients import Recorder
from tests.support.servers import serve_app
from tests.support.ws_frames import CASES, close_frame

LIVE = [c for c in CASES if c.live]


@pytest.fixture(scope="module", params=["gevent", "eventlet",
                                        "gunicorn-eventlet", "gunicorn-gevent"])
def served(request):
    with serve_app("tests.apps.basic:create_app", request.param,
                   env={"RTCIO_WEBSOCKET": "rtcio",
                        "RTCIO_HEALTH_PATH": "/healthz"},
                   watch=True) as server:
        yield server
        # After every case of this server, whatever order they ran in.
        _the_server_is_fine(server)


def _ack_id(message):
    """The acknowledgement id of a :func:`ws_frames.call` event."""
    return int(message[2:message.index("[")])


def _read(raw, until, timeout=10.0):
    """Read server frames until ``until(seen)`` or the connection ends;
    ``seen`` holds the pongs, acknowledgement ids and close code."""
    seen = {"pongs": [], "acks": [], "close": None}
    raw.ws.settimeout(timeout)
    while not until(seen):
        try:
            op, data = raw.ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException,
                websocket.WebSocketTimeoutException, OSError):
            break
        if op == websocket.ABNF.OPCODE_PONG:
            seen["pongs"].append(bytes(data))
        elif op == websocket.ABNF.OPCODE_CLOSE:
            seen["close"] = struct.unpack("!H", data[:2])[0] \
                if len(data) >= 2 else None
            break
        elif op == websocket.ABNF.OPCODE_TEXT and data.startswith(b"43"):
            seen["acks"].append(int(data[2:data.index(b"[")]))
    return seen


@pytest.mark.parametrize("case", LIVE, ids=[c.name for c in LIVE])
def test_live_case(served, case):
    pongs = [e[1] for e in case.expect if e[0] == "pong"]
    acks = [_ack_id(e[1]) for e in case.expect if e[0] == "message"]
    code = case.expect[-1][1]
    bye = close_frame(1000)
    chunks = list(case.chunks)
    # A case the client ends with a close: it waits for every answer
    # first (an acknowledgement comes from a handler, after the reader has
    # moved on), then closes.
    polite = code == 1000 and chunks[-1] == bye
    if polite:
        chunks.pop()
    raw = RawSocket(served.url)
    try:
        for chunk in chunks:
            raw.ws.sock.sendall(chunk)
        if polite:
            seen = _read(raw, lambda s: len(s["pongs"]) >= len(pongs) and
                         len(s["acks"]) >= len(acks))
            assert (seen["pongs"], seen["acks"]) == (pongs, acks)
            raw.ws.sock.sendall(bye)
            assert _read(raw, lambda s: False)["close"] == 1000
        else:
            seen = _read(raw, lambda s: False)
            assert seen["close"] == code
            assert seen["pongs"] == pongs
            # What a handler answers after the error may not make it.
            assert set(seen["acks"]) <= set(acks)
    finally:
        raw.close()


def _the_server_is_fine(served):
    """Other clients relay and ``/healthz`` answers (the ``served``
    fixture checks it once the server's cases have run)."""
    a = Recorder().connect(served.url)
    b = Recorder().connect(served.url)
    try:
        a.emit("#rtcio:message", {"target": b.sid, "data": {"n": 1}})
        got = b.wait_for("#rtcio:message", timeout=10)
        assert got[0]["source"] == a.sid
    finally:
        a.disconnect()
        b.disconnect()
    assert requests.get(served.url + "/healthz", timeout=10).status_code \
        == 200
