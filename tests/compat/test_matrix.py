"""The compatibility subset noxfile.py runs on each resolution (lowest-
direct and highest, eventlet and gevent): through real servers, a relay
over websocket and polling, the built-in rooms, recovery through a cut
connection, a gunicorn worker, RTCIO attached to a Flask-SocketIO app.

``RTCIO_COMPAT_MODE`` picks the async mode (eventlet by default; the
gevent session has no eventlet installed).
"""

import os

import pytest

from tests.recovery.test_recovery import _envelopes, run_blip
from tests.support.clients import Recorder
from tests.support.gunicorn import serve_gunicorn
from tests.support.servers import serve_app

MODE = os.environ.get("RTCIO_COMPAT_MODE", "eventlet")
ROOMS = "tests.apps.rooms_app:create_app"
TRANSPORTS = pytest.mark.parametrize("transports", ["websocket", "polling"])

pytestmark = pytest.mark.compat


def _pair(url, transports, room="r"):
    a = Recorder().connect(url, transports=[transports])
    b = Recorder().connect(url, transports=[transports])
    a.call("join-room", {"roomId": room, "name": "a"})
    b.call("join-room", {"roomId": room, "name": "b"})
    return a, b


def _relays(a, b):
    a.emit("#rtcio:message", {"target": b.sid, "type": "offer",
                              "data": {"sdp": "v=0"}})
    got = b.wait_for("#rtcio:message")[-1]
    assert (got["source"], got["target"]) == (a.sid, b.sid)


def _check_recovers(server, transports):
    done = run_blip(server.url, server.port, "recover", transports)
    assert done["recovered"] is True and done["aIdAfter"] == done["aId"]
    assert _envelopes(done["log"]["a"]) == [1, 2, 3, 4, 5, 6, 7]


@pytest.fixture(scope="module")
def rooms_server():
    with serve_app(ROOMS, MODE, env={"RTCIO_RECOVERY_WINDOW": "60"},
                   watch=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def gunicorn_server():
    with serve_gunicorn(ROOMS + "()", MODE,
                        env={"RTCIO_RECOVERY_WINDOW": "60"},
                        watch=True) as srv:
        yield srv


@TRANSPORTS
def test_relay_and_rooms(rooms_server, transports):
    a, b = _pair(rooms_server.url, transports, room="r-" + transports)
    b_sid = b.sid
    try:
        _relays(a, b)
        _relays(b, a)
        joined = a.wait_for("user-connected")[-1]
        assert (joined["id"], joined["name"]) == (b.sid, "b")
    finally:
        b.disconnect()
    try:
        left = a.wait_for("user-disconnected")[-1]
        assert left["id"] == b_sid
    finally:
        a.disconnect()


@TRANSPORTS
def test_recovery_through_a_cut_connection(rooms_server, transports):
    _check_recovers(rooms_server, transports)


@TRANSPORTS
def test_a_gunicorn_worker_relays_and_recovers(gunicorn_server, transports):
    a, b = _pair(gunicorn_server.url, transports, room="g-" + transports)
    try:
        _relays(a, b)
    finally:
        a.disconnect()
        b.disconnect()
    _check_recovers(gunicorn_server, transports)


def test_attached_to_a_flask_socketio_app():
    with serve_app("tests.apps.fsio_app:create_app", MODE,
                   env={"TEST_ASYNC_MODE": MODE}) as server:
        a, b = _pair(server.url, "websocket")
        try:
            _relays(a, b)
            assert a.call("hello", "ann") == f"hello ann from {a.sid}"
        finally:
            a.disconnect()
            b.disconnect()
        assert "Traceback" not in server.log()


@pytest.fixture(scope="module")
def two_processes():
    from tests.support.redis_server import RedisProcess

    redis = RedisProcess().start()
    env = {"RTCIO_MESSAGE_QUEUE": redis.url, "RTCIO_RECOVERY_WINDOW": "60"}
    first = serve_app(ROOMS, MODE, env=env).start()
    second = serve_app(ROOMS, MODE, env=env).start()
    yield first, second
    first.stop()
    second.stop()
    redis.remove()


@TRANSPORTS
def test_two_processes_on_redis_relay_and_recover(two_processes, transports):
    """python-socketio's Redis queue between two processes (it pickled
    before 5.12, JSON after): a pair split over both relays, and a client
    cut from the first recovers on the second."""
    first, second = two_processes
    a = Recorder().connect(first.url, transports=[transports])
    b = Recorder().connect(second.url, transports=[transports])
    try:
        a.call("join-room", {"roomId": "q-" + transports, "name": "a"})
        b.call("join-room", {"roomId": "q-" + transports, "name": "b"})
        _relays(a, b)
        _relays(b, a)
    finally:
        a.disconnect()
        b.disconnect()
    done = run_blip(second.url, first.port, "recover", transports,
                    switch_to=second.port)
    assert done["recovered"] is True and done["aIdAfter"] == done["aId"]
    assert _envelopes(done["log"]["a"]) == [1, 2, 3, 4, 5, 6, 7]
    for server in two_processes:
        assert "Traceback" not in server.log()


def test_flask_test_client_speaks_to_the_extension():
    """A user's own tests drive the app with Flask's test client: the
    floor's Flask (2.3.3; 2.3.0's test client fails on Werkzeug 3.1) must
    carry a polling handshake, a CONNECT and the CORS header through it."""
    from flask import Flask

    from rtcio_flask import RTCIO
    from tests.flask_client.polling import acao, handshake, open_session

    app = Flask(__name__)
    RTCIO(app, cors="https://front.example")
    client = app.test_client()
    resp = handshake(client, origin="https://front.example")
    assert resp.status_code == 200, resp.data
    assert acao(resp) == ["https://front.example"]
    _, reply = open_session(client, origin="https://front.example")
    assert reply.startswith("40{") and '"sid"' in reply, reply


def test_admin_ui_and_an_app_disconnect_handler_through_a_recovery():
    """A user's app with its own connect and disconnect handlers, a login
    in the Flask session and the Admin UI on: a socket cut and recovered
    is reported connected again to the logged-in admin, and departs once,
    in its own session, with no traceback. python-socketio before 5.12.1
    reports sockets from the manager's connect/disconnect, which a
    recovered socket never passed: its next hold or departure raised
    KeyError in the instrumentation (compat/socketio_admin.py)."""
    import re

    from tests.first_run.test_admin_ui import ENV, GOOD, Admin
    from tests.recovery.test_presence import _login

    env = dict(ENV, RTCIO_RECOVERY_WINDOW="3")
    with serve_app("tests.apps.presence_app:create_app", MODE, env=env,
                   watch=True) as server:
        admin = Admin(server.url, GOOD)
        assert admin.admitted, admin.refusal
        done = run_blip(server.url, server.port, "recover", "websocket",
                        env={"COOKIE": _login(server, "alice")})
        a_id = done["aId"]
        assert done["recovered"] is True and done["aIdAfter"] == a_id
        assert _envelopes(done["log"]["a"]) == [1, 2, 3, 4, 5, 6, 7]
        admin.wait_for(lambda event, args: event == "socket_connected" and
                       sum(e == "socket_connected" and a[0]["id"] == a_id
                           for e, a in admin.events) == 2)
        # The Node client closes as it ends (or is ended first: then it
        # departs at the window's end); either way once.
        log = server.log_with(f"APP-DISCONNECT sid={a_id}", timeout=15)
        admin.client.disconnect()
    lines = re.findall(rf"APP-DISCONNECT sid={re.escape(a_id)} .*", log)
    assert len(lines) == 1, log[-3000:]
    assert " addr=127.0.0.1 user=alice path=/socket.io/ reason=" in lines[0]
    assert lines[0].rsplit("reason=", 1)[1] in (
        "client disconnect", "transport close", "transport error"), lines
    assert "Traceback" not in server.log()
