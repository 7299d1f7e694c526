"""Releases outside what the compatibility layer was verified with.

A python-socketio or python-engineio newer than the verified range must
give one start-up WARNING per feature it turns off and a server that still
relays; one older than the floor must stop start-up with one line saying
what to install. The "installed" release is a distribution record put in
front of the real one on the server's sys.path (importlib.metadata reads
the first it finds), so the real library runs under another version
number, exactly as a newer release with unchanged internals would.
"""

import os
import sys

import pytest
import socketio

from rtcio_flask.core.versions import Verified, at_least, parse_version
from tests.support.clients import Recorder
from tests.support.servers import ROOT, LiveServer, serve_app

APP = "tests.apps.rooms_app:create_app"
MODE = os.environ.get("RTCIO_COMPAT_MODE", "eventlet")

pytestmark = pytest.mark.compat


def _real(distribution):
    from importlib import metadata
    return parse_version(metadata.version(distribution))


# A pretended newer release stands for one with today's internals: it
# means nothing on top of a release older than what it replaces (the
# disconnect reasons of python-socketio 5.12 / python-engineio 4.11).
newer_than_real = pytest.mark.skipif(
    _real("python-socketio") < (5, 12) or _real("python-engineio") < (4, 11),
    reason="pretending a newer release needs the real one to be 5.12+/4.11+")


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


def _pretend(tmp_path, distribution, version):
    """A directory whose dist-info says ``distribution`` is ``version``."""
    name = distribution.replace("-", "_")
    info = tmp_path / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    return {"PYTHONPATH": f"{tmp_path}:{ROOT}"}


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


@newer_than_real
@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
def test_a_newer_python_socketio_turns_its_features_off_once(
        tmp_path, transports):
    env = dict(_pretend(tmp_path, "python-socketio", "5.99.0"),
               RTCIO_RECOVERY_WINDOW="60")
    with serve_app(APP, MODE, env=env) as server:
        _relay_works(server.url, list(transports))
        _relay_works(server.url, list(transports))
        log = server.log()
    assert log.count("connection state recovery is off") == 1, log
    assert log.count("the checked packet dispatch") == 1, log
    assert "python-socketio >=5.11,<5.19 (installed: python-socketio " \
        "5.99.0)" in log
    assert "Traceback" not in log


@newer_than_real
def test_a_newer_python_engineio_falls_back_to_its_own_websocket(tmp_path):
    env = _pretend(tmp_path, "python-engineio", "4.99.0")
    with serve_app(APP, MODE, env=env) as server:
        _relay_works(server.url, ["websocket"])
        _relay_works(server.url, ["polling"])
        log = server.log()
    assert log.count("RTCIO's websocket transport and its direct sessions "
                     "(no writer or ping greenlet per socket) is off") == 1
    assert log.count("connection state recovery is off") == 1, log
    assert "Traceback" not in log


def test_an_older_python_socketio_stops_start_up_with_one_line(tmp_path):
    env = _pretend(tmp_path, "python-socketio", "5.7.2")
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
    env = dict(_pretend(tmp_path, "python-socketio", "5.99.0"),
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
