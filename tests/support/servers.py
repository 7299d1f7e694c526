"""Start real server processes on 127.0.0.1 for tests, and stop them.

Each server runs in its own process so that eventlet/gevent monkey patching
never leaks into pytest, and its log goes to a file the test can read.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=20.0, proc=None, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log = Path(log_path).read_text() if log_path else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


#: Running servers whose log tests/conftest.py checks after every test.
WATCHED = set()


class LiveServer:
    """A real server process. ``argv`` is the command; ``{port}`` in it is
    replaced with a free port.

    ``watch``: strings the log must never show (True: ``"Traceback"``).
    While a watched server runs, the suite checks after every test that
    what it logged since the previous check has none of them and that it
    is still running (tests/conftest.py), so a traceback fails the test
    that caused it, in any order, run alone or not."""

    def __init__(self, argv, env=None, cwd=None, port=None, watch=False):
        self.port = port or free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.env = dict(os.environ, PYTHONUNBUFFERED="1",
                        PYTHONPATH=str(ROOT) + os.pathsep +
                        os.environ.get("PYTHONPATH", ""))
        self.env.update(env or {})
        self.cwd = cwd or ROOT
        self.log_file = tempfile.NamedTemporaryFile(
            prefix="rtcio-server-", suffix=".log", delete=False)
        self.proc = None
        self.forbidden = ("Traceback",) if watch is True else \
            tuple(watch or ())
        self._checked = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30.0):
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=self.log_file,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_port(self.port, timeout, self.proc, self.log_file.name)
        if self.forbidden:
            WATCHED.add(self)
        return self

    def watch(self, forbidden=("Traceback",)):
        """Watch this running server from now on, as ``watch=`` at
        creation does (for a server made by a shared table of modes)."""
        self.forbidden = tuple(forbidden)
        WATCHED.add(self)
        return self

    def log(self):
        self.log_file.flush()
        return Path(self.log_file.name).read_text(errors="replace")

    def check_log(self, expected=()):
        """Fail if the log shows a forbidden string since the last check,
        or the process has ended. ``expected``: the messages of errors a
        test causes on purpose; each one logged excuses one forbidden
        string (its traceback)."""
        self.log_file.flush()
        data = Path(self.log_file.name).read_bytes()
        new = data[self._checked:].decode("utf-8", "replace")
        self._checked = len(data)
        excused = sum(new.count(message) for message in expected)
        for text in self.forbidden:
            assert new.count(text) <= excused, (
                f"{' '.join(self.argv)} logged {text!r}:\n" +
                new[max(0, new.index(text) - 1500):][:5000])
        assert self.proc.poll() is None, \
            f"{' '.join(self.argv)} exited with {self.proc.returncode}"

    def log_with(self, text, timeout=5.0):
        """The log once it contains ``text`` (a client may hear of an event
        before the server's handler has logged it), or as it is after
        ``timeout``."""
        deadline = time.monotonic() + timeout
        log = self.log()
        while text not in log and time.monotonic() < deadline:
            time.sleep(0.05)
            log = self.log()
        return log

    def stop(self, timeout=10.0):
        WATCHED.discard(self)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def check_watched():
    """:meth:`LiveServer.check_log` for every watched running server."""
    for server in list(WATCHED):
        server.check_log()


def serve_app(target, mode="eventlet", env=None, watch=False):
    """A LiveServer running ``module:factory`` in one of serve.py's modes,
    or, for ``mode`` "gunicorn-eventlet" or "gunicorn-gevent", under one
    gunicorn worker of that class (where websockets are read from
    readiness events, not by the request's greenlet)."""
    if mode.startswith("gunicorn-"):
        from .gunicorn import gunicorn_argv
        return LiveServer(gunicorn_argv(target + "()", mode.split("-", 1)[1]),
                          env=env, watch=watch)
    return LiveServer([sys.executable, "-m", "tests.support.serve", target,
                       "--mode", mode, "--port", "{port}"], env=env,
                      watch=watch)


def alive(pid):
    """Whether ``pid`` runs (not a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


#: After a SIGTERM a health check must never answer 200 to a probe sent
#: this long after the signal (issue 21). Only probe_after_sigterm's
#: schedule uses it (one probe at once, the next ones from then on): a
#: busy machine may take tens of milliseconds to deliver the signal from
#: gunicorn's arbiter to its worker, and a probe in between may still get
#: 200, which is allowed.
GRACE = 0.2


def probe_after_sigterm(url, pid):
    """SIGTERM to ``pid``, then ``/healthz`` at once and, from GRACE
    seconds after the signal, every 50 ms until the listener closes or
    ``pid`` is gone: [(seconds after the signal, status code or the
    exception's name)]."""
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    seen = []
    while time.monotonic() - sent < 10 and alive(pid):
        if len(seen) == 1:
            time.sleep(max(0.0, GRACE - (time.monotonic() - sent)))
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
    return seen
