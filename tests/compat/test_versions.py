"""Releases outside what the compatibility layer was verified with.

A python-socketio or python-engineio newer than the verified range must
give one start-up WARNING per feature it turns off and a server that still
relays; one older than the floor must stop start-up with one line saying
what to install. The servers see a pretended release
(tests/support/versions.py): the real library under another version
number, exactly as a newer release with unchanged internals would run.
"""

import os
import subprocess
import sys
import time

import pytest
import socketio

from rtcio_flask.core.versions import Verified, at_least, parse_version
from tests.support.clients import Recorder
from tests.support.raw_eio import RawPolling, RawSocket
from tests.support.servers import ROOT, LiveServer, serve_app
from tests.support.versions import newer_than_real, pretend_release

APP = "tests.apps.rooms_app:create_app"
MODE = os.environ.get("RTCIO_COMPAT_MODE", "eventlet")

pytestmark = pytest.mark.compat


def test_release_strings_become_comparable_tuples():
    assert parse_version("5.18.1") == (5, 18, 1)
    assert parse_version("26.0.0rc1") == (26, 0, 0)
    assert parse_version("v0.36") == (0, 36)
    assert parse_version("") is None and parse_version("dev") is None
    verified = Verified("python-socketio", (5, 11), (5, 19))
    assert verified.contains((5, 11, 0)) and verified.contains((5, 18, 9))
    assert not verified.contains((5, 19)) and not verified.contains((5, 10))
    assert not verified.contains(None)
    assert at_least((4, 11, 2), (4, 11)) and not at_least(None, (4, 11))


def _relay_works(url, transports):
    a = Recorder().connect(url, transports=transports)
    b = Recorder().connect(url, transports=transports)
    try:
        assert a.call("join-room", {"roomId": "r", "name": "a"}) is None
        assert b.call("join-room", {"roomId": "r", "name": "b"}) is None
        a.emit("#rtcio:message", {"target": b.sid, "type": "offer",
                                  "data": {"sdp": "x"}})
        got = b.wait_for("#rtcio:message")
        assert got[0]["source"] == a.sid
    finally:
        a.disconnect()
        b.disconnect()


#: A NaN is no JSON a browser sends: the server's strict decoding refuses it.
BAD_JSON = '42["join-room",{"roomId":NaN}]'


def _bad_json_is_closed(url, transport):
    """A client sending BAD_JSON is closed; its Engine.IO sid."""
    if transport == "websocket":
        raw = RawSocket(url)
        try:
            raw.send(BAD_JSON)
            assert raw.closed_by_server()
        finally:
            raw.close()
        return raw.eio_sid
    poller = RawPolling(url)
    poller.handshake()
    poller.connect_socketio()
    try:
        assert poller.post(BAD_JSON).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reply = poller.get()
            if reply.status_code != 200 or "1" in reply.text.split("\x1e"):
                break  # a close packet, or the session is already gone
        else:
            raise AssertionError("the session stayed open")
    finally:
        poller.http.close()
    return poller.sid


@newer_than_real
@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
def test_a_newer_python_socketio_turns_its_features_off_once(
        tmp_path, transports):
    """Also: the strict JSON (``serializer=StrictPacket``) holds where
    python-socketio's own dispatch decodes the packets, and closes the
    connection with one WARNING, as the checked dispatch does."""
    env = dict(pretend_release(tmp_path, "python-socketio", "5.99.0"),
               RTCIO_RECOVERY_WINDOW="60")
    with serve_app(APP, MODE, env=env) as server:
        _relay_works(server.url, list(transports))
        bad = _bad_json_is_closed(server.url, transports[0])
        _relay_works(server.url, list(transports))
        log = server.log()
    assert log.count(f"rtcio: closing {bad}: malformed socket.io packet "
                     f"(undecodable packet (ValueError: NaN is not "
                     f"JSON))") == 1, log
    assert log.count("connection state recovery is off") == 1, log
    assert log.count("the checked packet dispatch") == 1, log
    assert "python-socketio >=5.11,<5.19 (installed: python-socketio " \
        "5.99.0)" in log
    assert "Traceback" not in log


@newer_than_real
def test_a_newer_python_engineio_falls_back_to_its_own_websocket(tmp_path):
    env = pretend_release(tmp_path, "python-engineio", "4.99.0")
    with serve_app(APP, MODE, env=env) as server:
        _relay_works(server.url, ["websocket"])
        _relay_works(server.url, ["polling"])
        log = server.log()
    assert log.count("RTCIO's websocket transport and its direct sessions "
                     "(no writer or ping greenlet per socket) is off") == 1
    assert log.count("connection state recovery is off") == 1, log
    assert "Traceback" not in log


def test_an_older_python_socketio_stops_start_up_with_one_line(tmp_path):
    env = pretend_release(tmp_path, "python-socketio", "5.7.2")
    server = LiveServer([sys.executable, "-m", "tests.support.serve", APP,
                         "--mode", MODE, "--port", "{port}"], env=env)
    with pytest.raises(RuntimeError) as failed:
        server.start(timeout=20)
    assert "rtcio-flask needs python-socketio>=5.11 (5.7.2 is installed): " \
        "pip install 'python-socketio>=5.11'" in str(failed.value)


@newer_than_real
def test_a_newer_python_socketio_keeps_the_plain_admin_ui(tmp_path):
    """The Admin UI's additions subclass python-socketio's
    InstrumentedServer: on a release they were not verified with, they are
    off with one WARNING and python-socketio's own instrumentation serves
    the UI, behind the same login."""
    env = dict(pretend_release(tmp_path, "python-socketio", "5.99.0"),
               RTCIO_ADMIN_USERNAME="ops", RTCIO_ADMIN_PASSWORD="s3cret")
    server = LiveServer([sys.executable, "-m", "rtcio_flask", "--port",
                         "{port}"], env=env)
    with server:
        config = []
        for auth in ({"username": "ops", "password": "no"},
                     {"username": "ops", "password": "s3cret"}):
            admin = socketio.Client(reconnection=False)
            admin.on("config", config.append, namespace="/admin")
            try:
                admin.connect(server.url, namespaces=["/admin"], auth=auth,
                              transports=["websocket"], wait_timeout=10)
            except socketio.exceptions.ConnectionError:
                pass
            admitted = admin.connected and "/admin" in admin.namespaces
            assert admitted == (auth["password"] == "s3cret")
            for _ in range(200):  # python-socketio sends it from a task
                if config or not admitted:
                    break
                admin.sleep(0.05)
            admin.disconnect()
        _relay_works(server.url, ["websocket"])
        log = server.log()
    assert config and "supportedFeatures" in config[0]
    assert log.count("the Admin UI's additions (names, held sessions, the "
                     "login throttle, the socket list after login, reports "
                     "to logged-in admins only) is off") == 1, log
    assert "Traceback" not in log


@newer_than_real
def test_a_second_admin_ui_on_a_newer_python_socketio_stops_start_up(
        tmp_path):
    """python-socketio's own instrumentation (RTCIO's additions off)
    works for one server per process: a second app's ``admin=`` stops
    that app's start-up with one line, and the first still serves
    polling (its Admin UI wraps python-engineio's Socket class-wide)."""
    env = pretend_release(tmp_path, "python-socketio", "5.99.0")
    script = """if True:
        import flask
        from rtcio_flask import RTCIO
        from tests.flask_client.polling import open_session

        login = {"username": "ops", "password": "s3cret"}
        first = flask.Flask("first")
        RTCIO(first, admin=dict(login), async_mode="threading")
        try:
            RTCIO(flask.Flask("second"), admin=dict(login),
                  async_mode="threading")
        except RuntimeError as exc:
            print("refused:", exc)
        _, reply = open_session(first.test_client())
        print("first app:", reply)
    """
    done = subprocess.run([sys.executable, "-c", script],
                          env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "refused: RTCIO admin: python-socketio's own Admin UI "
        "instrumentation (RTCIO's additions are off with this "
        "python-socketio, see the WARNING above) works for one server per "
        "process, and another app of this process has it: turn admin= on "
        "for one app only, or install a python-socketio RTCIO was "
        "verified with."), done.stdout
    assert lines[1].startswith("first app:") and '40{"sid":' in lines[1], \
        done.stdout
    assert done.stderr.count("the Admin UI's additions") == 1, done.stderr
    assert "Traceback" not in done.stderr
