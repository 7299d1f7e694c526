"""Direct websocket sessions (rtcio_flask.transport.compat.engineio
``patch_engineio_sockets``) under eventlet and gevent: with no writer
greenlet per socket, a relayed envelope is written by the sender's own
greenlet, so these tests check what that must never change. A receiver that
stops reading neither blocks its sender nor loses or reorders anything; a
socket upgraded from polling gets what was sent meanwhile; pings come from
timers, on time, and a silent client is still closed."""

import json
import time

import pytest
import websocket

from tests.support.raw_eio import RawSocket
from tests.support.clients import Recorder
from tests.support.gunicorn import serve_gunicorn
from tests.support.servers import serve_app

APP = "tests.apps.network_app:create_app"
ROOM = "direct"
# gunicorn's workers: the websocket outlives the request and is read from
# readiness events (WebSocket.watch).
MODES = ["eventlet", "gevent", "gunicorn-eventlet", "gunicorn-gevent"]
PREFIX = '42["#rtcio:message",'


def _envelope(target, seq, pad=""):
    return {"target": target, "data": {"candidate": {"candidate": pad,
                                                     "seq": seq}}}


def _send(raw, target, seq, pad=""):
    raw.send("42" + json.dumps(["#rtcio:message",
                                _envelope(target, seq, pad)]))


def _seqs(raw, count, timeout):
    return [json.loads(raw.recv_until(lambda m: m.startswith(PREFIX),
                                      timeout=timeout)[2:])[1]
            ["data"]["candidate"]["seq"] for _ in range(count)]


def stalled_reader(base_url):
    """A joined websocket with a 4 KiB receive buffer that reads nothing
    until told, so the server's writes to it back up."""
    raw = RawSocket(base_url, timeout=10, receive_buffer=4096)
    raw.join_room(ROOM)
    return raw


@pytest.fixture(scope="module", params=MODES)
def server(request):
    with serve_app(APP, request.param, watch=True) as live:
        yield live


@pytest.fixture(scope="module", params=MODES)
def short_ping_server(request):
    with serve_app(APP, request.param, env={"TEST_PING_INTERVAL": "0.3",
                                            "TEST_PING_TIMEOUT": "0.2"},
                   watch=True) \
            as live:
        yield live


def test_a_stalled_receiver_blocks_nobody_and_loses_nothing(server):
    """6 MB for a client that does not read: more than the kernel's
    buffers hold (4 MB at most here), so the rest waits for the websocket's
    flusher, below the 4 MiB outgoing cap. The sender
    goes on relaying to someone else at once, and once the stalled client
    reads it gets every envelope, once, in order."""
    stalled = stalled_reader(server.url)
    sender, other = RawSocket(server.url), RawSocket(server.url)
    try:
        sender.join_room(ROOM)
        other.join_room(ROOM)
        pad = "x" * 60_000
        for seq in range(100):
            _send(sender, stalled.sid, seq, pad)
        started = time.monotonic()
        for seq in range(5):
            _send(sender, other.sid, seq)
        assert _seqs(other, 5, timeout=5) == list(range(5))
        assert time.monotonic() - started < 3, \
            "the sender waited for the stalled receiver"
        assert _seqs(stalled, 100, timeout=30) == list(range(100))
    finally:
        for raw in (stalled, sender, other):
            raw.close()
    assert "Traceback" not in server.log(), server.log()[-3000:]


def test_sent_during_an_upgrade_from_polling_arrives(server):
    """A client that starts on polling and upgrades (socket.io's default):
    envelopes relayed while it upgrades come out of the queue before the
    session goes direct, none lost or doubled."""
    sender = RawSocket(server.url)
    sender.join_room(ROOM)
    receiver = Recorder(events=["#rtcio:message"])
    receiver.connect(server.url, transports=("polling", "websocket"))
    try:
        assert receiver.call("join-room", {"roomId": ROOM}) is None
        for seq in range(100):
            _send(sender, receiver.sid, seq)
            if seq % 10 == 0:
                time.sleep(0.01)
        deadline = time.monotonic() + 10
        while len(receiver.events("#rtcio:message")) < 100 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        got = sorted(e["data"]["candidate"]["seq"]
                     for e in receiver.events("#rtcio:message"))
        assert got == list(range(100))
        assert receiver.client.transport() == "websocket"
    finally:
        receiver.disconnect()
        sender.close()


def test_pings_come_on_time_and_a_silent_client_is_closed(
        short_ping_server):
    """Pings every 0.3 s from timers: a client that answers them stays
    connected for 3 s and sees about ten; one that stops answering is
    closed within the interval plus the timeout (and a little)."""
    answering = RawSocket(short_ping_server.url)
    ws = answering.ws
    pings = 0
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                message = ws.recv()
            except websocket.WebSocketTimeoutException:
                break
            if message == "2":
                pings += 1
                ws.send("3")
        assert 7 <= pings <= 12, pings
        ws.send('421["echo","still here"]')  # an event asking for an ack
        assert answering.recv_until(lambda m: m.startswith("43")) == \
            '431["still here"]'
    finally:
        answering.close()

    silent = RawSocket(short_ping_server.url)
    try:
        silent.ws.settimeout(0.1)
        started = time.monotonic()
        closed_at = None
        while time.monotonic() - started < 5:
            try:
                message = silent.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, OSError):
                closed_at = time.monotonic()
                break
            if message in ("", "1"):  # close frame, or Engine.IO close
                closed_at = time.monotonic()
                break
        assert closed_at is not None, "a client that never answered " \
            "pings was not closed"
        assert closed_at - started < 2.0
    finally:
        silent.close()
    log = short_ping_server.log_with(f"DISCONNECT {silent.sid}")
    assert f"DISCONNECT {silent.sid} ping timeout" in log
    assert "Traceback" not in log, log[-3000:]


def test_a_stalled_receiver_is_cut_off_at_its_ping_timeout(
        short_ping_server):
    """A client that stops reading stops answering pings too: at its pong
    deadline the session ends (its room hears it left) even while the
    flusher is stuck writing to it."""
    stalled = stalled_reader(short_ping_server.url)
    sender = RawSocket(short_ping_server.url)
    try:
        sender.join_room(ROOM)
        pad = "x" * 60_000
        for seq in range(100):
            _send(sender, stalled.sid, seq, pad)
        left = sender.recv_until(
            lambda m: m.startswith('42["user-disconnected"'), timeout=5)
        assert stalled.sid in left
        _send(sender, stalled.sid, 100)  # to a gone socket: refused, no harm
        log = short_ping_server.log_with(f"DISCONNECT {stalled.sid}")
        assert f"DISCONNECT {stalled.sid} ping timeout" in log
        assert "Traceback" not in log, log[-3000:]
    finally:
        stalled.close()
        sender.close()


@pytest.mark.parametrize("worker", ["eventlet", "gevent"])
def test_open_websockets_leave_gunicorns_connection_slots_free(worker):
    """Under gunicorn's eventlet and gevent workers an open websocket is
    read from readiness events once its handshake is done, so its request
    ends: with ``--worker-connections 2`` six websockets connect and all
    answer, where a greenlet per socket would leave the third waiting for a
    free slot (the idle-memory change, docs/performance.rst). A session
    whose websocket ends leaves the process's sessions at once (metrics,
    the shutdown drain and the per-address cap count them)."""
    # A ping timeout of 60 s: python-engineio's own sweep of closed
    # sessions then visits one every 10 s (six sessions).
    with serve_gunicorn(APP + "()", worker,
                        env={"TEST_PING_TIMEOUT": "60"},
                        extra=("--worker-connections", "2")) as live:
        clients = []
        try:
            for _ in range(6):
                clients.append(Recorder().connect(live.url))
            for index, client in enumerate(clients):
                assert client.call("echo", index, timeout=10) == index
            # A session whose websocket ended leaves the process's
            # sessions with its disconnect (it stayed until python-
            # engineio's service task swept it, 20-30 s later).
            for client in clients[1:]:
                client.disconnect()
            deadline = time.monotonic() + 15
            while clients[0].call("sessions", timeout=10) != 1:
                assert time.monotonic() < deadline, live.log()[-2000:]
                time.sleep(0.1)
        finally:
            for client in clients:
                client.disconnect()


@pytest.fixture(scope="module", params=MODES)
def logging_server(request):
    with serve_app(APP, request.param,
                   env={"TEST_ENGINEIO_LOGGER": "1"}, watch=True) as live:
        yield live


def _events_acks_and_relays(live, logged):
    """Events, acks and relays arrive once, in order, and a text that is
    JSON but no socket.io packet still closes the connection as
    malformed; python-engineio's INFO log shows every packet iff on."""
    sender, receiver = RawSocket(live.url), RawSocket(live.url)
    try:
        sender.join_room(ROOM)
        receiver.join_room(ROOM)
        for seq in range(20):
            _send(sender, receiver.sid, seq)
            sender.send(f'42{seq}["echo",{seq}]')
        assert _seqs(receiver, 20, timeout=10) == list(range(20))
        acks = [sender.recv_until(lambda m: m.startswith("43"))
                for _ in range(20)]
        assert acks == [f"43{seq}[{seq}]" for seq in range(20)]
        sender.send('4[1]')
        assert sender.closed_by_server(timeout=10)
    finally:
        sender.close()
        receiver.close()
    assert ("Received packet MESSAGE data 2" in live.log()) is logged
    assert "malformed socket.io packet" in live.log()
    assert "Traceback" not in live.log(), live.log()[-3000:]


def test_the_reader_hands_packets_to_python_socketio_itself(server):
    """A direct session's reader hands socket.io packets to python-socketio
    without an Engine.IO packet object (and the three calls around it):
    nothing a client sees changes."""
    _events_acks_and_relays(server, logged=False)


def test_with_engineio_logging_every_packet_is_still_logged(
        logging_server):
    """With python-engineio's INFO log on, packets take python-engineio's
    own path, which logs each one."""
    _events_acks_and_relays(logging_server, logged=True)
