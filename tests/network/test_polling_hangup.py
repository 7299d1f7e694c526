"""Polling close detection: a client whose long-poll GET is waiting hangs
up (a tab closing), and the server ends its session at once, as Node's
engine.io does, instead of at the ping timeout (45 s by default).

Every serving mode, for real: eventlet's and gevent's WSGI servers,
Werkzeug's threads, and gunicorn's eventlet, gevent and gthread workers.
The departing client is a bare polling client (tests/support/raw_eio.py)
that leaves a GET waiting on a raw socket and closes it; a member of the
same room on websocket sees the departure through the built-in rooms.
"""

import json
import subprocess
import sys
import time

import pytest

from tests.support.clients import Recorder
from tests.support.gunicorn import serve_gunicorn
from tests.support.raw_eio import RawPolling
from tests.support.servers import ROOT, serve_app

APP = "tests.apps.network_app"
# python-engineio's defaults: a departure seen within the wait below can
# only come from the hang-up, never from the ping timeout.
PING_TIMEOUT_TOTAL = 25 + 20
WAIT = 10.0  # generous for a shared machine; far under the 45 s

MODES = {
    "eventlet-wsgi": lambda: serve_app(f"{APP}:create_app", "eventlet"),
    "gevent-pywsgi": lambda: serve_app(f"{APP}:create_app", "gevent"),
    "werkzeug-threaded": lambda: serve_app(f"{APP}:create_app",
                                           "threading"),
    "gunicorn-eventlet": lambda: serve_gunicorn(f"{APP}:create_app()",
                                                "eventlet"),
    "gunicorn-gevent": lambda: serve_gunicorn(f"{APP}:create_app()",
                                              "gevent"),
    "gunicorn-gthread": lambda: serve_gunicorn(f"{APP}:create_app()",
                                               "gthread", threads=8),
}


@pytest.fixture(scope="module", params=list(MODES))
def served(request):
    with MODES[request.param]() as server:
        server.watch()
        yield server


def joined_pair(url, room):
    """A websocket member watching ``room``, and a raw polling member in
    it; returns (observer, poller, poller's socket.io sid)."""
    observer = Recorder().connect(url)
    observer.call("join-room", {"roomId": room, "name": "observer"})
    poller = RawPolling(url)
    poller.handshake()
    sid = poller.connect_socketio()
    assert poller.emit("join-room", {"roomId": room,
                                     "name": "poller"}).status_code == 200
    observer.wait_for("user-connected", timeout=WAIT)
    return observer, poller, sid


def poll_until(poller, prefix):
    """Poll until a packet starting with ``prefix`` arrives (others, such
    as the join's replies, may come first)."""
    deadline = time.monotonic() + WAIT
    seen = []
    while time.monotonic() < deadline:
        seen += poller.packets()
        if any(p.startswith(prefix) for p in seen):
            return
    raise AssertionError(f"no {prefix!r} in {seen!r}")


def test_closing_a_waiting_poll_ends_the_session_at_once(served):
    observer, poller, sid = joined_pair(served.url, "hangup")
    try:
        # Drain what is queued, so the next GET really waits.
        poller.packets()
        pending = poller.pending_get()
        time.sleep(0.3)  # the GET is in the server, waiting
        assert f"DISCONNECT {sid}" not in served.log()
        closed_at = time.monotonic()
        pending.close()
        gone = observer.wait_for("user-disconnected", timeout=WAIT)
        left = observer.wait_for("#rtcio:peer-left", timeout=WAIT)
        elapsed = time.monotonic() - closed_at
        print(f"departure seen {elapsed * 1000:.0f} ms after the hang-up")
        assert gone[0]["id"] == sid and left[0]["id"] == sid
        assert elapsed < PING_TIMEOUT_TOTAL
        log = served.log_with(f"DISCONNECT {sid}")
        assert f"DISCONNECT {sid} transport close" in log
        assert "Traceback" not in log
        # The session is over: a later poll is refused as socket.io does.
        assert poller.get().status_code == 400
    finally:
        observer.disconnect()


def test_polls_that_complete_normally_leave_the_session_alone(served):
    observer, poller, sid = joined_pair(served.url, "normal")
    try:
        # Many polls on one keep-alive connection, each answered with data:
        # the watch of each is cancelled before its response goes out.
        for i in range(20):
            ask = f"42{i}" + json.dumps(["echo", i])
            assert poller.post(ask).status_code == 200
            poll_until(poller, f"43{i}[{i}]")
        observer.emit("#rtcio:message", {"target": sid, "data": {"n": 1}})
        # The poller is still a member and still receives.
        poll_until(poller, '42["#rtcio:message"')
        assert not observer.events("user-disconnected")
        assert f"DISCONNECT {sid}" not in served.log()
    finally:
        observer.disconnect()


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_watchers_fire_only_on_hangup_and_leave_nothing_behind(mode):
    out = subprocess.run(
        [sys.executable, "-m", "tests.network.watch_probe", mode],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "quiet_then_cancelled": [],
        "data_fired": [],
        "data_still_there": "GET / HTTP/1.1\r\n",
        "hangup_fired": ["hangup"],
        "left_registered": 0,
    }
