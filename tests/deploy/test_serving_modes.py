"""Every supported way of serving, started for real: gunicorn with the
eventlet, gevent and gthread workers, eventlet's and gevent's own WSGI
servers, and Werkzeug's threaded development server. In each, RTCIO must
pick the matching async mode by itself, turn TCP_NODELAY on, and the
built-in rooms' init-offer, the relay and peer-left must work over websocket
and over polling."""

import pytest
import requests

from tests.support.clients import Recorder
from tests.support.gunicorn import serve_gunicorn
from tests.support.servers import serve_app

APP = "tests.apps.deploy_app"

# mode id -> (how to start it, the async mode RTCIO must pick)
MODES = {
    "gunicorn-eventlet": (lambda: serve_gunicorn(f"{APP}:create_app()",
                                                 "eventlet"), "eventlet"),
    "gunicorn-gevent": (lambda: serve_gunicorn(f"{APP}:create_app()",
                                               "gevent"), "gevent"),
    "gunicorn-gthread": (lambda: serve_gunicorn(f"{APP}:create_app()",
                                                "gthread", threads=16),
                         "threading"),
    "eventlet-wsgi": (lambda: serve_app(f"{APP}:create_app", "eventlet"),
                      "eventlet"),
    "gevent-pywsgi": (lambda: serve_app(f"{APP}:create_app", "gevent"),
                      "gevent"),
    "werkzeug-threaded": (lambda: serve_app(f"{APP}:create_app",
                                            "threading"), "threading"),
}


def leave(client):
    """Disconnect once everything the client queued has been sent.

    python-engineio's client over polling drops its goodbye packets when
    ``disconnect()`` races a POST still in flight (its write loop re-checks
    the state and exits), and the server then learns of the departure only
    at the ping timeout. That is a client-side race, not what these tests
    are about, so wait for the send queue to drain first."""
    client.client.eio.queue.join()
    client.disconnect()


@pytest.fixture(scope="module", params=list(MODES))
def served(request):
    start, expected_mode = MODES[request.param]
    with start() as server:
        server.watch()
        server.expected_mode = expected_mode
        server.mode_id = request.param
        yield server


@pytest.fixture
def clients():
    made = []

    def make(url, transport):
        client = Recorder().connect(url, transports=(transport,))
        made.append(client)
        return client

    yield make
    for client in made:
        client.disconnect()


def test_picks_the_async_mode_of_the_server(served, clients):
    client = clients(served.url, "websocket")
    assert client.call("info")["async_mode"] == served.expected_mode


def test_tcp_nodelay_is_on_for_websocket_connections(served, clients):
    """Small back-to-back writes (user-connected then init-offer) must not
    wait for the peer's delayed ACK: Nagle's algorithm is off."""
    client = clients(served.url, "websocket")
    assert client.call("nodelay") == {"found": True, "nodelay": True}


def test_health_check_answers(served):
    response = requests.get(served.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_relay_and_peer_left(served, clients, transport):
    alice = clients(served.url, transport)
    bob = clients(served.url, transport)
    room = f"room-{served.mode_id}-{transport}"
    alice.emit("join-room", {"roomId": room, "name": "alice"})
    alice.wait_for("join-ok")
    bob.emit("join-room", {"roomId": room, "name": "bob"})
    bob.wait_for("join-ok")
    assert alice.wait_for("#rtcio:init-offer") == [{"source": bob.sid}]

    offer = {"description": {"type": "offer", "sdp": "v=0 " * 500}}
    alice.emit("#rtcio:message", {"source": "forged", "target": bob.sid,
                                  "data": offer})
    [got] = bob.wait_for("#rtcio:message")
    assert got == {"source": alice.sid, "target": bob.sid, "data": offer}

    bob.emit("#rtcio:message", {"source": bob.sid, "target": alice.sid,
                                "data": {"candidate": {"candidate": ""}}})
    [answer] = alice.wait_for("#rtcio:message")
    assert answer["source"] == bob.sid
    assert alice.events("#rtcio:message") == [answer]  # never echoed

    bob_sid = bob.sid
    leave(bob)
    assert alice.wait_for("#rtcio:peer-left") == [{"id": bob_sid}]
