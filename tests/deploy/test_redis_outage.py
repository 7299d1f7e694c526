"""Redis down at start and during service (issue 22): one gunicorn -k
eventlet worker on ``RTCIO_MESSAGE_QUEUE=redis://...`` and a real
redis-server that the test stops and starts. The app opted in to start
without Redis (``RTCIO_START_WITHOUT_QUEUE=1``); each outage is one ERROR
line and its end one INFO line in the log (the rooms, recovery, the
heartbeat and the queue share them), never a traceback per event or per
disconnect (with a goodbye, or a connection that just ends), and no
flapping; sockets that left during the outage leave
the store when Redis is back (no ghosts)."""

import re
import socket
import time

import pytest

from tests.support.clients import Recorder
from tests.support.gunicorn import serve_gunicorn
from tests.support.redis_server import RedisProcess

APP = "tests.apps.redis_load_app:create_app()"
MESSAGE = "#rtcio:message"
UNREACHABLE = r"ERROR:rtcio_flask:rtcio: Redis at redis://127\.0\.0\.1:\d+/0 " \
    r"is unreachable \(ConnectionError: [^\n]*\); until it is back: [^\n]*" \
    r"'store-unavailable'[^\n]*recovery offsets[^\n]*; retrying"
BACK = r"INFO:rtcio_flask:rtcio: Redis at redis://127\.0\.0\.1:\d+/0 is " \
    r"reachable again \(after [\d.]+ s\)"


@pytest.fixture
def redis_server():
    server = RedisProcess(persistent=True)  # not started yet
    yield server
    server.remove()


def wait_until(check, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def join(client, room, name):
    """The join-room acknowledgement and what the client heard."""
    before = len(client.events("join-ok"))
    ack = client.call("join-room", {"roomId": room, "name": name},
                      timeout=15)
    if ack is None:
        client.wait_for("join-ok", count=before + 1, timeout=15)
    return ack


@pytest.mark.parametrize("worker", ["eventlet", "gevent"])
def test_outages_are_one_error_and_one_info_and_leave_no_ghosts(
        redis_server, worker):
    server = serve_gunicorn(APP, worker, env={
        "RTCIO_MESSAGE_QUEUE": redis_server.url,
        "RTCIO_START_WITHOUT_QUEUE": "1", "RTCIO_FLEET_INTERVAL": "0.5"})
    clients = []

    def connect():
        client = Recorder().connect(server.url)
        clients.append(client)
        return client

    try:
        server.start()     # Redis is not running: the app starts anyway
        early = connect()
        assert join(early, "r", "early")["error"] == "store-unavailable"
        redis_server.start()
        wait_until(lambda: re.search(BACK, server.log()), "the first INFO")
        alice, bob = connect(), connect()
        assert join(alice, "r", "alice") is None
        assert join(bob, "r", "bob") is None
        assert alice.call(MESSAGE, {"target": bob.sid, "data": 1}) is None
        bob.wait_for(MESSAGE, timeout=10)

        # The outage: five clients come and go (their joins refused);
        # relays between two sockets of this process need no Redis (the
        # rooms' local view answers the relay scope) and still go through.
        redis_server.stop()
        for i in range(5):
            visitor = connect()
            assert join(visitor, "r", f"v{i}")["error"] == \
                "store-unavailable"
        for _ in range(5):
            assert alice.call(MESSAGE, {"target": bob.sid, "data": 2}) is None
        bob.wait_for(MESSAGE, count=6, timeout=10)
        bob_sid = bob.sid
        bob.disconnect()           # leaves while the store is away
        # Two visitors drop without a goodbye (their TCP connection ends,
        # no close frame): the recovery hold, during the outage.
        for client in clients[3:5]:
            client.client.eio.ws.sock.shutdown(socket.SHUT_RDWR)
        for client in clients[5:]:
            client.disconnect()
        time.sleep(2)              # heartbeats and ticks keep failing

        redis_server.start()       # with its data: bob is still a member
        wait_until(lambda: len(re.findall(BACK, server.log())) == 2,
                   "the second INFO")
        carol = connect()
        assert join(carol, "r", "carol") is None
        names = {e["name"] for e in carol.events("user-connected")}
        assert names == {"alice"}, (names, bob_sid)   # no ghost bob
        wait_until(lambda: alice.call(MESSAGE, {"target": carol.sid,
                                                "data": 3}) is None,
                   "relays to resume")
    finally:
        for client in clients:
            client.disconnect()
        server.stop()
    log = server.log()
    assert len(re.findall(UNREACHABLE, log)) == 2, log[-5000:]
    assert len(re.findall(BACK, log)) == 2, log[-5000:]
    for bad in ("Traceback", "disconnect step failed", "Cannot publish",
                "Cannot receive", "reachable again\n" * 2):
        assert bad not in log, log[-5000:]
    rtcio_lines = [ln for ln in log.splitlines() if "rtcio" in ln]
    assert len(rtcio_lines) < 40, "\n".join(rtcio_lines)
