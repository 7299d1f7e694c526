"""Fixtures for the Python peer next to real browsers: the test signaling
app under ``gunicorn -k eventlet``, headless Chromium (Debian's, through
Playwright) with a fake microphone, a background asyncio loop for the
:class:`rtcio_flask.peer.Peer` API, and the ``rtcio-flask peer`` command as
a subprocess whose JSON lines the test reads.

Playwright's sync API owns the main thread's event loop, so the Python
peer's loop runs in a thread of its own.
"""

import asyncio
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.chromium import MEDIA_ARGS
from tests.support.coturn import TURNSERVER, Coturn
from tests.support.gunicorn import gunicorn_argv
from tests.support.servers import ROOT, LiveServer, free_port

TIMEOUT = 20.0


def start_signaling(env=None):
    """The test app under gunicorn -k eventlet, listing only its own page's
    origin in CORS (a browser origin)."""
    port = free_port()
    server = LiveServer(
        gunicorn_argv("tests.python_peer.peer_app:create_app()"),
        port=port, env=dict({"ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
                             "MAX_MEMBERS": "2"}, **(env or {})),
        watch=True)
    return server.start()


@pytest.fixture(scope="module")
def signaling():
    server = start_signaling()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium_args():
    """The suite's ``browser`` with a microphone that plays a beep."""
    return MEDIA_ARGS


def joined(page):
    page.wait_for_function("rtc.joined || rtc.joinError !== null")
    assert page.evaluate("rtc.joinError") is None
    return page.evaluate("rtc.me")


def wait_connected(page, remote_id):
    page.wait_for_function("id => rtc.connects.includes(id) && "
                           "rtc.channelOpen(id, null)", arg=remote_id)


def inbox(page, remote_id, count=1):
    """The first ``count`` messages the page got from ``remote_id``."""
    page.wait_for_function(
        "([id, n]) => rtc.inbox.filter(m => m.from === id).length >= n",
        arg=[remote_id, count])
    return page.evaluate("id => rtc.inbox.filter(m => m.from === id)",
                         remote_id)


class LoopThread:
    """An asyncio loop in a thread: ``run(coro)`` waits for its result."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       daemon=True)
        self.thread.start()

    def run(self, coro, timeout=TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(
            timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def aio():
    loop = LoopThread()
    try:
        yield loop
    finally:
        loop.close()


class PeerCommand:
    """``python -m rtcio_flask peer ...`` from this worktree; stdout is read
    line by line (JSON) in a thread, stderr kept whole."""

    def __init__(self, url, *args):
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.argv = [sys.executable, "-m", "rtcio_flask", "peer", url,
                     *args]
        self.proc = subprocess.Popen(
            self.argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))
        self._queue.put(None)

    def next(self, type_, timeout=TIMEOUT, where=lambda r: True):
        """The next JSON line of ``type_`` matching ``where`` (earlier
        lines of other kinds are kept in ``lines``)."""
        for record in self.lines:
            if record.get("type") == type_ and where(record) and \
                    not record.get("_seen"):
                record["_seen"] = True
                return record
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                record = self._queue.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(
                    f"no {type_!r} line within {timeout}s; got "
                    f"{self.lines}; stderr: {self.stderr_so_far()}")
            if record is None:
                raise AssertionError(
                    f"the command exited ({self.proc.wait()}) before a "
                    f"{type_!r} line; got {self.lines}; stderr: "
                    f"{self.proc.stderr.read()}")
            self.lines.append(record)
            if record.get("type") == type_ and where(record):
                record["_seen"] = True
                return record

    def stderr_so_far(self):
        return "(still running)" if self.proc.poll() is None \
            else self.proc.stderr.read()

    def terminate(self, timeout=15):
        """SIGTERM, then the exit code and stderr."""
        self.proc.send_signal(signal.SIGTERM)
        return self.finish(timeout)

    def finish(self, timeout=30):
        code = self.proc.wait(timeout)
        self._reader.join(5)
        while True:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                break
            if record is not None:
                self.lines.append(record)
        return code, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def commands():
    started = []

    def start(url, *args):
        command = PeerCommand(url, *args)
        started.append(command)
        return command

    try:
        yield start
    finally:
        for command in started:
            command.kill()


def room():
    return "r-" + secrets.token_hex(4)


@pytest.fixture(scope="module")
def turn_signaling():
    """coturn, and the test app vending credentials for it on ask-ice."""
    assert shutil.which(TURNSERVER), "coturn (/usr/bin/turnserver) missing"
    with Coturn(secrets.token_urlsafe(24)) as coturn:
        server = start_signaling({
            "RTCIO_TURN_SECRET": coturn.secret,
            "RTCIO_TURN_URLS": f"turn:127.0.0.1:{coturn.port}?transport=udp",
            "RTCIO_TURN_TTL": "600"})
        try:
            yield coturn, server
        finally:
            server.stop()
