"""RTCIO's websocket transport (rtcio_flask.transport.websocket) under
gevent and eventlet: relays behave exactly as over the stack's websocket
(order, stamping, refusals, acknowledgements), and the RFC 6455 corners a
browser or a bad client reaches (fragments, pings, huge frames, bad UTF-8,
unmasked frames, close) are handled, with nobody else disturbed."""

import json
import os
import socket
import struct

import pytest
import websocket
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcio_flask.core import rfc6455
from rtcio_flask.core.values import UNSET
from rtcio_flask.transport import websocket as transport
from tests.support.raw_eio import RawSocket
from tests.support.clients import Recorder
from tests.support.servers import serve_app

APP = "tests.apps.basic:create_app"


def _envelope(target, seq, pad=""):
    return {"source": "someone-else", "target": target,
            "data": {"candidate": {"candidate": "c" + pad, "seq": seq}}}


def _no_traceback(server):
    assert "Traceback" not in server.log(), server.log()[-3000:]


@pytest.fixture(scope="module", params=[
    ("gevent", "rtcio"), ("gevent", "stack"), ("eventlet", "rtcio"),
    ("eventlet", "stack")], ids=lambda p: "-".join(p))
def served(request):
    mode, choice = request.param
    with serve_app(APP, mode, env={"RTCIO_WEBSOCKET": choice},
                   watch=True) as server:
        yield server


def _relayed(raw, count, timeout=20.0):
    """The next ``count`` relayed envelopes, in the order the frames came
    (read off the wire: python-socketio's client hands each message to a
    thread of its own, so its order is not the server's)."""
    prefix = '42["#rtcio:message",'
    return [json.loads(raw.recv_until(lambda m: m.startswith(prefix),
                                      timeout=timeout)[2:])[1]
            for _ in range(count)]


def test_relay_order_stamping_refusals_and_acks_match(served):
    """The same relay test passes over either transport (the parameters
    run it over RTCIO's and over the stack's websocket)."""
    a = Recorder().connect(served.url)
    b = RawSocket(served.url)
    try:
        for seq in range(60):
            a.emit("#rtcio:message", _envelope(b.sid, seq))
        got = _relayed(b, 60)
        assert [e["data"]["candidate"]["seq"] for e in got] == list(range(60))
        assert {e["source"] for e in got} == {a.sid}
        assert a.events("#rtcio:message") == []
        answer = a.call("#rtcio:message", {"target": "nobody", "data": {}})
        assert answer["error"] == "unknown-target"
        answer = a.call("#rtcio:message", {"target": a.sid, "data": {}})
        assert answer["error"] == "invalid-target"
    finally:
        a.disconnect()
        b.close()
    _no_traceback(served)


def test_large_and_fragmented_messages(served):
    """A 65 KB envelope (a server frame with a 64-bit length), and a
    client message in three fragments with a ping between them."""
    raw = RawSocket(served.url)
    b = Recorder().connect(served.url)
    try:
        big = _envelope(b.sid, 1, pad="x" * 65_000)
        raw.send('42' + json.dumps(["#rtcio:message", big]))
        got = b.wait_for("#rtcio:message", timeout=10)[0]
        assert got["source"] == raw.sid
        assert got["data"]["candidate"]["candidate"] == "c" + "x" * 65_000

        text = '42' + json.dumps(["#rtcio:message", _envelope(b.sid, 2)])
        parts = [text[:5], text[5:20], text[20:]]
        raw.ws.send_frame(websocket.ABNF.create_frame(
            parts[0], websocket.ABNF.OPCODE_TEXT, fin=0))
        raw.ws.send_frame(websocket.ABNF.create_frame(
            "hi", websocket.ABNF.OPCODE_PING))
        raw.ws.send_frame(websocket.ABNF.create_frame(
            parts[1], websocket.ABNF.OPCODE_CONT, fin=0))
        raw.ws.send_frame(websocket.ABNF.create_frame(
            parts[2], websocket.ABNF.OPCODE_CONT, fin=1))
        op, data = raw.ws.recv_data(control_frame=True)
        assert (op, data) == (websocket.ABNF.OPCODE_PONG, b"hi")
        got = b.wait_for("#rtcio:message", count=2, timeout=10)
        assert got[1]["data"]["candidate"]["seq"] == 2
        assert got[1]["source"] == raw.sid
    finally:
        raw.close()
        b.disconnect()
    _no_traceback(served)


def _close_code(raw, timeout=5.0):
    """The close code the server sent, or None if it sent none."""
    raw.ws.settimeout(timeout)
    while True:
        try:
            op, data = raw.ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, OSError):
            return None
        if op == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", data[:2])[0] if len(data) >= 2 \
                else None


def test_protocol_errors_close_only_that_socket(served):
    bystander_a = Recorder().connect(served.url)
    bystander_b = Recorder().connect(served.url)
    try:
        # Invalid UTF-8 in a text frame.
        raw = RawSocket(served.url)
        raw.ws.send(b"42\xff\xfe", websocket.ABNF.OPCODE_TEXT)
        code = _close_code(raw)
        assert code == 1007 or served_is_stack(served)
        raw.close()
        # An unmasked client frame (clients must mask).
        raw = RawSocket(served.url)
        frame = websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_TEXT, 0,
                               "42[\"x\"]")
        raw.ws.sock.sendall(frame.format())
        code = _close_code(raw)
        assert code == 1002 or served_is_stack(served)
        raw.close()
        # A message over max_http_buffer_size (1 MB by default).
        raw = RawSocket(served.url)
        try:
            raw.ws.send("4" + "x" * 1_100_000)
        except OSError:
            pass  # the server may close before it has read it all
        assert raw.closed_by_server(timeout=10)
        raw.close()
        # The others still relay.
        bystander_a.emit("#rtcio:message", _envelope(bystander_b.sid, 7))
        got = bystander_b.wait_for("#rtcio:message", timeout=10)
        assert got[0]["source"] == bystander_a.sid
    finally:
        bystander_a.disconnect()
        bystander_b.disconnect()
    _no_traceback(served)


def served_is_stack(server):
    return server.env.get("RTCIO_WEBSOCKET") == "stack"


def test_client_close_is_answered_and_the_peer_hears_it(served):
    raw = RawSocket(served.url)
    other = Recorder().connect(served.url)
    try:
        raw.ws.send_close(1000)
        assert _close_code(raw) in (1000, None)
        raw.close()
        # The server is still serving new connections.
        again = Recorder().connect(served.url)
        again.disconnect()
    finally:
        other.disconnect()
    _no_traceback(served)


# -- the pure parts -------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.binary(min_size=4, max_size=4))
def test_unmask_is_the_rfc_xor(data, mask):
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert rfc6455.unmask(data, mask) == expected
    # The reader's own: the buffer changed where it is, and returned.
    buffer = bytearray(data)
    assert rfc6455.unmask_in_place(buffer, bytearray(mask)) is buffer
    assert buffer == expected


def test_accept_key_is_the_rfc_example():
    # RFC 6455, section 1.3.
    assert transport.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == \
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_frame_lengths():
    for size, header in ((125, 2), (126, 4), (65535, 4), (65536, 10)):
        out = transport.frame(b"x" * size)
        assert len(out) == size + header
        assert out[0] == 0x81


def test_the_setting_refuses_unknown_values():
    assert transport.resolve("STACK", {}, {}) == "stack"
    assert transport.resolve(UNSET, {"RTCIO_WEBSOCKET": "stack"},
                             {"RTCIO_WEBSOCKET": "rtcio"}) == "stack"
    assert transport.resolve(UNSET, {}, {"RTCIO_WEBSOCKET": "stack"}) == \
        "stack"
    assert transport.resolve(UNSET, {}, {}) == "rtcio"
    with pytest.raises(ValueError, match="'rtcio'.*'stack'"):
        transport.resolve("wsproto", {}, {})


def test_only_eventlet_and_gevent_are_taken_over():
    class Eio:
        _async = {"websocket": object}

    class Server:
        async_mode = "threading"
        eio = Eio()

    assert transport.install(Server(), "rtcio") is False
    Server.async_mode = "gevent"
    assert transport.install(Server(), "stack") is False
    assert transport.install(Server(), "rtcio") is True
    assert Server.eio._async["websocket"] is transport.WebSocketWSGI


def test_a_socket_pair_round_trip():
    """WebSocket over a socketpair: masked client frames in, server frames
    out, a close answered with the same code."""
    server_sock, client_sock = socket.socketpair()
    ws = transport.WebSocket(server_sock, max_message=100)
    mask = os.urandom(4)
    payload = "héllo".encode()
    client_sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask +
                        rfc6455.unmask(payload, mask))
    assert ws.wait() == "héllo"
    ws.send("ok")
    assert client_sock.recv(10) == b"\x81\x02ok"
    client_sock.sendall(bytes((0x88, 0x82)) + mask +
                        rfc6455.unmask(struct.pack("!H", 1001), mask))
    assert ws.wait() is None
    assert client_sock.recv(10) == b"\x88\x02" + struct.pack("!H", 1001)
    server_sock.close()
    client_sock.close()


def test_writes_that_do_not_fit_wait_for_the_flusher_in_order():
    """With a ``spawn`` (eventlet, gevent) writes never wait: a plain
    socket offers no non-blocking raw send (``raw_sender`` is None), so
    every frame goes to ``pending`` and one flusher writes them in order;
    ``close()`` queues its close frame behind them and shuts the socket
    down only once they are written."""
    server_sock, client_sock = socket.socketpair()
    spawned = []
    ws = transport.WebSocket(server_sock, max_message=100,
                             spawn=spawned.append)
    assert transport.raw_sender(server_sock) is None
    ws.send("a")
    ws.send(b"\x01")
    assert len(spawned) == 1 and ws.pending_frames == 2
    assert ws.pending_bytes == len(b"\x81\x01a\x82\x01\x01")
    ws.close()
    spawned[0]()  # the flusher runs
    assert ws.pending is None
    got = b""
    while True:
        chunk = client_sock.recv(100)
        if not chunk:  # shut down after the last frame
            break
        got += chunk
    assert got == b"\x81\x01a\x82\x01\x01\x88\x02\x03\xe8"
    server_sock.close()
    client_sock.close()


def test_discarded_backlog_is_not_written():
    server_sock, client_sock = socket.socketpair()
    spawned = []
    ws = transport.WebSocket(server_sock, max_message=100,
                             spawn=spawned.append)
    ws.send("dropped")
    assert ws.discard_pending() == 1
    ws.send("kept")
    spawned[0]()
    client_sock.settimeout(1)
    assert client_sock.recv(100) == b"\x81\x04kept"
    server_sock.close()
    client_sock.close()
