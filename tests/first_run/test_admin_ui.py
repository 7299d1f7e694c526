"""The socket.io Admin UI as an operator meets it on the standalone server:
the login on the ``/admin`` namespace (real python-socketio clients), what
a refused login hears (nothing), the log line and per-address throttle of
failed logins, user names and held-for-recovery sockets in what the UI is
sent, and the UI page itself served by the extension."""

import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
import socketio

from tests.support.raw_eio import RawSocket
from tests.support.clients import Recorder
from tests.support.servers import ROOT, LiveServer

CLI = [sys.executable, "-m", "rtcio_flask", "--port", "{port}",
       "--trusted-proxy-hops", "1"]
ENV = {"RTCIO_ADMIN_USERNAME": "ops", "RTCIO_ADMIN_PASSWORD": "s3cret"}
GOOD = {"username": "ops", "password": "s3cret"}


class Admin:
    """A python-socketio client on ``/admin`` that records every event."""

    def __init__(self, url, auth, address="198.51.100.1"):
        self.events = []
        self.refusal = None
        self.changed = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._record, namespace="/admin")
        self.client.on("connect_error", self._refused, namespace="/admin")
        self.client.on("connect", self._answered, namespace="/admin")
        # Not connect()'s own wait: python-socketio's client before 5.12
        # waits out the whole wait_timeout after a refusal, and at 10 s a
        # guess the login throttle's bucket refills as fast as it drains.
        try:
            self.client.connect(url, namespaces=["/admin"], auth=auth,
                                transports=["websocket"], wait=False,
                                headers={"X-Forwarded-For": address})
        except socketio.exceptions.ConnectionError:
            return
        with self.changed:
            self.changed.wait_for(
                lambda: self.refusal is not None or self.admitted, 15)

    def _record(self, event, *args):
        with self.changed:
            self.events.append((event, args))
            self.changed.notify_all()

    def _refused(self, data=None):
        with self.changed:
            self.refusal = (data or {}).get("message") \
                if isinstance(data, dict) else str(data)
            self.changed.notify_all()

    def _answered(self):
        with self.changed:
            self.changed.notify_all()

    @property
    def admitted(self):
        return self.client.connected and "/admin" in self.client.namespaces

    def wait_for(self, test, timeout=15):
        """The first recorded (event, args) for which ``test`` is true."""
        end = time.monotonic() + timeout
        with self.changed:
            while True:
                for item in self.events:
                    if test(*item):
                        return item
                left = end - time.monotonic()
                assert left > 0, f"not received; got {self.events!r}"
                self.changed.wait(left)

    def close(self):
        self.client.disconnect()


def _sockets_with(events_test):
    def test(event, args):
        return event == "all_sockets" and events_test(args[0])
    return test


@pytest.fixture
def server():
    with LiveServer(CLI, env=ENV) as live:
        yield live


def test_refused_login_hears_nothing_and_is_logged(server):
    watcher = Admin(server.url, GOOD)
    assert watcher.admitted
    alice = Recorder().connect(server.url)
    try:
        alice.emit("join-room", {"roomId": "standup", "name": "alice"})
        alice.wait_for("join-ok")
        # The logged-in admin sees the name appear on alice's socket.
        watcher.wait_for(lambda event, args: event == "socket_updated" and
                         args[0]["id"] == alice.sid and
                         args[0]["data"]["rooms"] == {"standup": "alice"})
        intruder = Admin(server.url, {"username": "ops", "password": "no"},
                         address="203.0.113.9")
        assert not intruder.admitted
        assert intruder.refusal == "invalid credentials"
        assert intruder.events == []
        # What was said about the intruder's socket went to the admins.
        watcher.wait_for(lambda event, args: event == "socket_connected" and
                         args[0]["handshake"]["headers"].get(
                             "x_forwarded_for") == "203.0.113.9")
        silent = Admin(server.url, None, address="203.0.113.10")
        assert silent.refusal == "login required"
        assert silent.events == []
        # A new admin gets every socket with its names in the rooms.
        late = Admin(server.url, GOOD, address="198.51.100.2")
        _, (sockets,) = late.wait_for(_sockets_with(lambda sockets: True))
        mine = [s for s in sockets if s["id"] == alice.sid]
        assert mine and mine[0]["data"] == {"name": "alice",
                                            "rooms": {"standup": "alice"}}
        assert any("standup" in room for room in mine[0]["rooms"])
        late.close()
    finally:
        alice.disconnect()
        watcher.close()
    log = server.log()
    assert "admin login refused for user 'ops' from '203.0.113.9'" in log
    assert "Traceback" not in log


def test_failed_logins_are_throttled_per_address(server):
    attacker = "203.0.113.50"
    for _ in range(5):
        guess = Admin(server.url, {"username": "x" * 5000, "password": "no"},
                      address=attacker)
        assert guess.refusal == "invalid credentials"
    # The right password from that address is refused too, for a while.
    right = Admin(server.url, GOOD, address=attacker)
    assert not right.admitted
    assert right.refusal.startswith("too many failed logins")
    assert right.events == []
    # Another address is not affected.
    other = Admin(server.url, GOOD, address="203.0.113.51")
    assert other.admitted
    other.close()
    log = server.log()
    refused = [line for line in log.splitlines()
               if "admin login refused" in line]
    assert len(refused) == 5
    assert all(len(line) < 600 for line in refused), refused
    assert "further logins from that address are refused" in refused[-1]


def test_ipv6_logins_are_throttled_per_64_network(server):
    for n in range(1, 6):
        guess = Admin(server.url, {"username": "ops", "password": "no"},
                      address=f"2001:db8:1:2::{n}")
        assert guess.refusal == "invalid credentials"
    # A fresh address in the same /64 is the same guesser.
    same = Admin(server.url, GOOD, address="2001:db8:1:2::99")
    assert same.refusal.startswith("too many failed logins")
    other = Admin(server.url, GOOD, address="2001:db8:1:3::1")
    assert other.admitted
    other.close()


def test_a_socket_held_for_recovery_is_shown_as_held(server):
    watcher = Admin(server.url, GOOD)
    raw = RawSocket(server.url)   # a client that can recover (no t= query)
    raw.join_room("r")
    watcher.wait_for(lambda event, args: event == "room_joined" and
                     args[2] == raw.sid)
    # A cut, not a goodbye (no close frame): the socket is held.
    raw.ws.sock.shutdown(socket.SHUT_RDWR)
    raw.ws.sock.close()
    watcher.wait_for(lambda event, args: event == "socket_updated" and
                     args[0]["id"] == raw.sid and
                     args[0].get("transport") == "held for recovery" and
                     "heldForRecovery" in args[0]["data"])
    late = Admin(server.url, GOOD, address="198.51.100.3")
    _, (sockets,) = late.wait_for(_sockets_with(lambda sockets: any(
        s["id"] == raw.sid for s in sockets)))
    held = [s for s in sockets if s["id"] == raw.sid][0]
    assert held["data"]["heldForRecovery"]["reason"] == "transport close"
    late.close()
    watcher.close()


def test_the_ui_is_served_with_its_licence(server):
    page = requests.get(server.url + "/admin", timeout=5)
    assert page.status_code == 200
    assert page.url.endswith("/admin/")
    assert "Socket.IO Admin UI" in page.text
    assert "https://" not in page.text      # nothing from an outside host
    config = requests.get(server.url + "/admin/rtcio-admin-config.js",
                          timeout=5)
    assert '"path": "/socket.io"' in config.text
    assert "The Socket.IO team" in requests.get(
        server.url + "/admin/LICENSE", timeout=5).text


def test_the_vendored_ui_matches_the_npm_package():
    """rtcio_flask/admin_ui is what scripts/vendor_admin_ui.py makes from
    node_modules (npm ci): a stale copy fails here."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "vendor_admin_ui.py"),
         "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_held_socket_whose_window_ends_is_reported_gone():
    with LiveServer(CLI + ["--recovery-window", "3"], env=ENV) as server:
        watcher = Admin(server.url, GOOD)
        raw = RawSocket(server.url)
        raw.join_room("r")
        raw.ws.sock.shutdown(socket.SHUT_RDWR)
        raw.ws.sock.close()
        watcher.wait_for(lambda event, args: event == "socket_updated" and
                         args[0]["id"] == raw.sid and
                         args[0].get("transport") == "held for recovery")
        watcher.wait_for(lambda event, args:
                         event == "socket_disconnected" and
                         args[1] == raw.sid)
        watcher.close()
        assert "Traceback" not in server.log()
