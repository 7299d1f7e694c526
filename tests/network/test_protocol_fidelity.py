"""The socket.io protocol to the letter, where python-engineio and
python-socketio answer differently from socket.io's own server: each
behaviour of the socket.io protocol test suite (socketio/socket.io-protocol,
test-suite/test-suite.js) that failed here, against a live server over raw
HTTP and raw websockets (websocket-client), and with a real python-socketio
client where a user would notice.

See docs/protocol-fidelity.rst.
"""

import json
import time

import pytest
import requests
import websocket

from tests.support.clients import Recorder
from tests.support.raw_eio import (RawPolling, eio_url,
                                   recv_skipping_pings, ws_url)
from tests.support.servers import serve_app

APP = "tests.apps.network_app:create_app"
# The protocol test suite's own heartbeat: 300 ms interval, 200 ms timeout.
SHORT_PINGS = {"TEST_PING_INTERVAL": "0.3", "TEST_PING_TIMEOUT": "0.2"}


@pytest.fixture(scope="module")
def server():
    with serve_app(APP, "eventlet", watch=True) as live:
        yield live


@pytest.fixture(scope="module")
def short_ping_server():
    with serve_app(APP, "eventlet", env=SHORT_PINGS, watch=True) as live:
        yield live


def no_tracebacks(server):
    log = server.log()
    assert "Traceback" not in log, log[-3000:]


# -- handshake ---------------------------------------------------------------

@pytest.mark.parametrize("query", [
    {"transport": "foo"}, {"transport": "abc"}, {},
    {"transport": "__proto__"}])
def test_missing_or_unknown_transport_is_400(server, query):
    reply = requests.get(eio_url(server, **query), timeout=10)
    assert reply.status_code == 400, reply.text
    # ... while the real transport still opens a session.
    ok = requests.get(eio_url(server, transport="polling"), timeout=10)
    assert ok.status_code == 200 and ok.text.startswith("0{")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_unsupported_methods_are_400(server, method):
    reply = requests.request(method, eio_url(server, transport="polling"),
                             timeout=10)
    assert reply.status_code == 400, (reply.status_code, reply.text)
    # With the sid of a live session too, and the session carries on.
    poller = RawPolling(server.url)
    poller.handshake()
    reply = requests.request(method, poller.url(), timeout=10)
    assert reply.status_code == 400
    poller.connect_socketio()
    no_tracebacks(server)


def test_post_without_a_session_is_400(server):
    reply = requests.post(eio_url(server, transport="polling"), timeout=10)
    assert reply.status_code == 400


def test_handshake_reports_sub_second_ping_interval(short_ping_server):
    poller = RawPolling(short_ping_server.url)
    opened = poller.handshake()
    assert opened["pingInterval"] == 300
    assert opened["pingTimeout"] == 200
    ws = websocket.create_connection(ws_url(short_ping_server), timeout=10)
    try:
        opened = json.loads(ws.recv()[1:])
        assert (opened["pingInterval"], opened["pingTimeout"]) == (300, 200)
    finally:
        ws.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_client_stays_connected_with_sub_second_pings(short_ping_server,
                                                        transport):
    """With ``pingInterval`` 0 (python-engineio's truncation) a client
    expects a ping within pingTimeout and drops the connection."""
    client = Recorder().connect(short_ping_server.url,
                                transports=(transport,))
    try:
        sid = client.sid
        time.sleep(2.0)  # several ping periods
        assert client.call("echo", "still here", timeout=10) == "still here"
        assert client.sid == sid
    finally:
        client.disconnect()


# -- heartbeat and close over polling -----------------------------------------

def test_polling_session_is_closed_after_the_ping_timeout(short_ping_server):
    poller = RawPolling(short_ping_server.url)
    poller.handshake()
    sid = poller.connect_socketio()
    # Wait for the server's ping (a poll returns it), so the clock starts
    # when it was really sent even on a busy machine; then leave it
    # unanswered for longer than the 0.2 s ping timeout. (The suite sleeps
    # interval + timeout from the handshake.)
    ping = poller.get()
    assert ping.status_code == 200 and "2" in ping.text.split("\x1e"), \
        ping.text
    time.sleep(0.2 + 0.1)
    reply = poller.get()
    assert reply.status_code == 400, reply.text
    assert f"DISCONNECT {sid} ping timeout" in \
        short_ping_server.log_with(f"DISCONNECT {sid}")
    no_tracebacks(short_ping_server)


def test_close_packet_ends_the_waiting_poll_with_a_noop(server):
    poller = RawPolling(server.url)
    poller.handshake()
    sid = poller.connect_socketio()
    assert poller.close_while_polling() == (200, "6")
    assert poller.get().status_code == 400
    assert f"DISCONNECT {sid} client disconnect" in \
        server.log_with(f"DISCONNECT {sid}")
    no_tracebacks(server)


def test_close_packet_with_no_poll_waiting_closes_the_session(server):
    poller = RawPolling(server.url)
    poller.handshake()
    poller.connect_socketio()
    assert poller.post("1").status_code == 200
    assert poller.get().status_code == 400


# -- upgrade -----------------------------------------------------------------

def upgrade(server, poller, finish=True):
    ws = websocket.create_connection(ws_url(server, sid=poller.sid),
                                     timeout=10)
    ws.send("2probe")
    assert recv_skipping_pings(ws) == "3probe"
    if finish:
        ws.send("5")
    return ws


def assert_ignored(server, sid):
    """The handshake succeeds and the server closes the websocket at once
    (a close frame, 1000), as Node's engine.io does: socket.io's protocol
    suite waits for the second websocket's ``close`` (a 400 would be an
    ``error`` there)."""
    second = websocket.create_connection(ws_url(server, sid=sid), timeout=10)
    try:
        second.settimeout(10)
        opcode, frame = second.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert frame[:2] == (1000).to_bytes(2, "big")
    finally:
        second.close()


@pytest.mark.parametrize("finish_first", [True, False],
                         ids=["after-upgrade", "during-upgrade"])
def test_second_websocket_for_an_upgraded_session_is_ignored(
        server, finish_first):
    poller = RawPolling(server.url)
    poller.handshake()
    poller.connect_socketio()
    first = upgrade(server, poller, finish=finish_first)
    try:
        assert_ignored(server, poller.sid)
        if not finish_first:
            first.send("5")
        # The first websocket still works.
        first.send('421["echo","still works"]')
        assert recv_skipping_pings(first) == '431["still works"]'
        # And HTTP requests for the upgraded session are refused too.
        assert poller.get().status_code == 400
    finally:
        first.close()
    no_tracebacks(server)


def test_protocol_suite_second_websocket_with_its_own_client(server):
    """The protocol suite's test, with its client (Node's ws): the second
    websocket gets "close", not "error", and the first still works."""
    import json
    import subprocess
    from pathlib import Path

    from tests.support.servers import ROOT

    script = Path(__file__).with_name("second_websocket.mjs")
    out = subprocess.run(["node", str(script)], cwd=ROOT, timeout=60,
                         capture_output=True, text=True,
                         env={"URL": server.url, "PATH": "/usr/bin:/bin",
                              "NODE_PATH": str(ROOT / "node_modules")})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"ok": True, "probe": "3probe", "code": 1000,
                      "reply": '40{"sid"'}, out.stderr
    no_tracebacks(server)


# -- socket.io namespaces -----------------------------------------------------

def test_unknown_namespace_is_refused_as_invalid_namespace(server):
    ws = websocket.create_connection(ws_url(server), timeout=10)
    try:
        assert ws.recv().startswith("0{")
        ws.send("40/random,")
        assert recv_skipping_pings(ws) == \
            '44/random,{"message":"Invalid namespace"}'
        # The connection itself is fine: the main namespace connects.
        ws.send("40")
        assert recv_skipping_pings(ws).startswith('40{"sid":')
    finally:
        ws.close()


def test_python_client_sees_invalid_namespace(server):
    client = Recorder(namespace="/nowhere")
    with pytest.raises(Exception):
        client.connect(server.url)
    assert client.connect_error == {"message": "Invalid namespace"}
