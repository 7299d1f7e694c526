"""Operating RTCIO under real gunicorn: clean logs under ``-k eventlet``,
the multi-worker trap refused at start-up, and SIGTERM telling clients to
go elsewhere at once."""

import signal
import threading
import time

import pytest
import requests
import socketio

from tests.support.clients import Recorder
from tests.support.gunicorn import serve_gunicorn
from tests.support.versions import newer_than_real, pretend_release

APP = "tests.apps.deploy_app:create_app()"


#: What a release outside the verified range turns off (the WARNING's text).
WEBSOCKET_OFF = ("RTCIO's websocket transport and its direct sessions (no "
                 "writer or ping greenlet per socket) is off")
IDLE_READER_OFF = ("idle websockets read from readiness events under "
                   "gunicorn -k eventlet (no greenlet per idle socket) is off")


@pytest.mark.parametrize("pretend", [
    None, pytest.param(("python-engineio", "4.99.0"), marks=newer_than_real),
    ("gunicorn", "99.0.0")], ids=["verified", "newer-engineio",
                                  "newer-gunicorn"])
def test_eventlet_worker_log_stays_clean_when_websockets_close(
        pretend, tmp_path):
    """gunicorn 25's eventlet worker + eventlet's websocket used to log
    ``socket shutdown error: [Errno 9] Bad file descriptor`` for every
    websocket that closed (and, through RTCIO's gate, to answer every
    upgrade with a 500). RTCIO's own websocket transport reads and closes
    the socket itself; where it is off (a python-engineio it was not
    verified with), python-engineio's websocket is eventlet's, on
    gunicorn's socket as RTCIO hands it over
    (``compat.gunicorn.GunicornSocket``). With a gunicorn it was not
    verified with, each websocket is read by its request's greenlet, as
    under eventlet.wsgi, instead of from readiness events."""
    env = None if pretend is None else pretend_release(tmp_path, *pretend)
    with serve_gunicorn(APP, "eventlet", env=env) as server:
        for _ in range(4):
            alice = Recorder().connect(server.url)
            bob = Recorder().connect(server.url)
            alice.call("join", "r")
            bob.call("join", "r")
            bob.disconnect()
            alice.wait_for("#rtcio:peer-left")
            alice.disconnect()
        # The server side of the last close runs after the client returns.
        probe = Recorder().connect(server.url)
        assert probe.call("info")["async_mode"] == "eventlet"
        probe.disconnect()
        time.sleep(0.5)
        log = server.log()
    assert "Booting worker" in log
    off = [text for text in (WEBSOCKET_OFF, IDLE_READER_OFF) if text in log]
    assert off == {None: [], "python-engineio": [WEBSOCKET_OFF],
                   "gunicorn": [IDLE_READER_OFF]}[pretend and pretend[0]], log
    assert "socket shutdown error" not in log
    assert "Bad file descriptor" not in log
    assert "Error handling request" not in log
    assert "Traceback" not in log


def _refused(server, timeout=60):
    """Start gunicorn and wait for the master to give up on its workers."""
    server.start()
    try:
        code = server.proc.wait(timeout)
    finally:
        server.stop()
    return code, server.log()


@pytest.mark.parametrize("how", ["-w 2", "WEB_CONCURRENCY=2"])
def test_several_workers_are_refused_with_the_two_right_set_ups(how):
    if how == "-w 2":
        server = serve_gunicorn(APP, "gthread", workers=2)
    else:
        server = serve_gunicorn(APP, "gthread", workers=None,
                                env={"WEB_CONCURRENCY": "2"})
    code, log = _refused(server)
    assert code != 0
    assert "RTCIO refuses to start: gunicorn runs 2 worker processes" in log
    assert "one worker per process: gunicorn -w 1" in log
    assert "sticky sessions" in log and "message queue" in log
    assert "RTCIO_STICKY_SESSIONS=1" in log


def test_operator_can_say_the_balancer_is_sticky():
    env = {"RTCIO_STICKY_SESSIONS": "1"}
    with serve_gunicorn(APP, "gthread", workers=2, threads=4,
                        env=env) as server:
        client = Recorder().connect(server.url)
        try:
            assert client.call("info")["async_mode"] == "threading"
        finally:
            client.disconnect()
        log = server.log()
    assert "RTCIO refuses" not in log
    assert "no message queue" in log  # the warning that remains


@pytest.mark.parametrize("worker", ["eventlet", "gevent", "gthread"])
def test_sigterm_disconnects_clients_so_they_reconnect_elsewhere(worker):
    # A graceful timeout far longer than the test waits: the disconnect must
    # come from RTCIO's drain, not from gunicorn killing the worker.
    server = serve_gunicorn(APP, worker, threads=8 if worker == "gthread"
                            else None, graceful_timeout=60)
    with server:
        client = socketio.Client(reconnection=False)
        gone = threading.Event()
        reasons = []

        @client.on("disconnect")
        def on_disconnect(reason=None):
            reasons.append(reason)
            gone.set()

        client.connect(server.url, transports=["websocket"],
                       wait_timeout=10)
        assert requests.get(server.url + "/healthz",
                            timeout=5).json() == {"status": "ok"}
        server.proc.send_signal(signal.SIGTERM)
        assert gone.wait(20), "client was not disconnected after SIGTERM"
        # A transport loss, not a server-side socket.io disconnect: browsers
        # reconnect by themselves after this one.
        assert reasons != [client.reason.SERVER_DISCONNECT]
        # With its websockets closed, the worker has nothing left to wait
        # for and exits long before the 60 s graceful timeout.
        assert server.proc.wait(30) == 0
