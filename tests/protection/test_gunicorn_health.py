"""``/healthz`` answers 503 from the moment a SIGTERM arrives, under
gunicorn's eventlet and gevent workers, with and without ``--preload``,
whether the signal goes to the arbiter (which passes it on to the worker)
or to the worker itself, until the listener closes.

Asserted as an order of events, never a time: the first answer after the
signal is 503, no 200 follows, and the answers end when the listener
closes, with the worker exiting cleanly. Before, with ``--preload`` the
drain handler was the arbiter's and workers answered 200 until they exited
(1-2 s); an app preloaded under ``-k gevent`` runs python-socketio in
threading mode, and its drain started a thread inside gevent's event loop:
BlockingSwitchOutError, the worker died with status 255. Between a SIGTERM
to the arbiter and the worker receiving it, the worker sees the signal
pending on the arbiter (``rtcio_flask.deploy.gunicorn.arbiter_stopping``).

(gthread is left out: its worker stops reading new connections as soon as
it gets SIGTERM, so a health check there times out, which a balancer also
reads as down.)"""

import logging
import os
import signal
import time
from pathlib import Path

import pytest
import requests

from rtcio_flask.deploy.gunicorn import arbiter_stopping
from tests.support.gunicorn import serve_gunicorn

APP = "tests.apps.deploy_app:create_app()"
log = logging.getLogger(__name__)


def worker_pid(arbiter):
    path = Path(f"/proc/{arbiter}/task/{arbiter}/children")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = path.read_text().split()
        if len(children) == 1:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError(f"arbiter {arbiter} has children {children}")


def alive(pid):
    """Whether ``pid`` runs (not a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("worker,extra,target", [
    ("eventlet", [], "arbiter"),
    ("eventlet", ["--preload"], "worker"),
    ("gevent", [], "worker"),
    ("gevent", ["--preload"], "arbiter"),
])
def test_healthz_answers_503_from_the_sigterm_on(worker, extra, target):
    server = serve_gunicorn(APP, worker, graceful_timeout=30, extra=extra)
    with server:
        url = server.url + "/healthz"
        assert requests.get(url, timeout=5).status_code == 200
        pid = server.proc.pid if target == "arbiter" else \
            worker_pid(server.proc.pid)
        sent = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        seen = []
        # Until the listener closes (SIGTERM to the arbiter) or the worker
        # is gone (to the worker: the arbiter then boots a fresh one).
        while time.monotonic() - sent < 10 and alive(pid):
            at = round(time.monotonic() - sent, 3)
            try:
                answer = requests.get(url, timeout=2)
            except requests.RequestException as exc:
                seen.append((at, type(exc).__name__))
                break
            if not alive(pid):
                break   # maybe answered by the worker booted in its place
            seen.append((at, answer.status_code))
            time.sleep(0.05)
        if target == "worker":
            # The arbiter boots a worker in its place: a quick shutdown.
            server.proc.send_signal(signal.SIGINT)
        server.proc.wait(30)
        text = server.log()
    log.info("%s %s, SIGTERM to the %s: /healthz answered %s", worker,
             extra, target, seen)
    codes = [code for _, code in seen]
    # The probe sent in the same instant as the signal may still be
    # answered 200 (the arbiter has not passed the signal on yet); every
    # later one is 503. The old code answered 200 for about 2 s (~40
    # probes) after SIGTERM to the arbiter.
    assert 503 in codes, (seen, text[-3000:])
    first_503 = codes.index(503)
    assert first_503 <= 1, (seen, text[-3000:])
    assert 200 not in codes[first_503:], seen
    if target == "arbiter":
        assert codes[-1] == "ConnectionError", seen
    assert "exited with code" not in text, text[-3000:]
    assert "rtcio_flask/" not in text, text[-3000:]


def test_arbiter_stopping_reads_pending_signals(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tgunicorn\nSigPnd:\t0000000000000000\n"
                      "ShdPnd:\t0000000000000000\nSigBlk:\t0000000000004000\n")
    assert arbiter_stopping(str(status)) is False
    status.write_text("SigPnd:\t0000000000000000\nShdPnd:\t0000000000004000\n")
    assert arbiter_stopping(str(status)) is True       # SIGTERM (15)
    status.write_text("SigPnd:\t0000000000000004\nShdPnd:\t0000000000000000\n")
    assert arbiter_stopping(str(status)) is True       # SIGQUIT (3)
    status.write_text("ShdPnd:\t0000000000000200\n")
    assert arbiter_stopping(str(status)) is False      # SIGUSR1 (10)
    assert arbiter_stopping(str(tmp_path / "missing")) is False
