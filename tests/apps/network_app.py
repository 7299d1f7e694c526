"""A Flask app with the built-in rooms and short, configurable heartbeats,
for the network tests (polling hang-ups, protocol fidelity).

Environment: ``TEST_PING_INTERVAL`` and ``TEST_PING_TIMEOUT`` (seconds,
floats; python-engineio's defaults otherwise); ``TEST_ENGINEIO_LOGGER=1``
turns python-engineio's INFO log on. Every socket.io disconnect
is logged as ``DISCONNECT <sid> <reason>`` so tests can read why a session
ended.
"""

import logging
import os

import flask

from rtcio_flask import RTCIO

rtcio = RTCIO()
log = logging.getLogger("network_app")


@rtcio.on("disconnect")
def on_disconnect(sid, reason=None):
    log.warning("DISCONNECT %s %s", sid, reason)


@rtcio.on("echo")
def echo(sid, data=None):
    return data


@rtcio.on("sessions")
def sessions(sid, data=None):
    """How many Engine.IO sessions this process holds."""
    return len(rtcio.server.eio.sockets)


@rtcio.on("note")
def note(sid, data=None):
    """Logs the request context it runs in (a handler may start after its
    socket disconnected)."""
    log.warning("NOTE %s request.sid=%s path=%s data=%s", sid,
                flask.request.sid, flask.request.path, data)


def create_app():
    app = flask.Flask("network_app")
    app.secret_key = "network-test-secret"
    options = {}
    # Hang-up detection and the ping timeout end the Engine.IO session; with
    # connection state recovery (on by default) the socket would then be
    # held for its window before the disconnect handlers run. These tests
    # watch the session end itself; tests/recovery covers the hold.
    options["recovery"] = float(os.environ.get("TEST_RECOVERY_WINDOW", 0))
    if os.environ.get("TEST_PING_INTERVAL"):
        options["ping_interval"] = float(os.environ["TEST_PING_INTERVAL"])
    if os.environ.get("TEST_PING_TIMEOUT"):
        options["ping_timeout"] = float(os.environ["TEST_PING_TIMEOUT"])
    if os.environ.get("TEST_ENGINEIO_LOGGER"):
        options["engineio_logger"] = True
    rtcio.init_app(app, rooms=True, **options)
    return app
