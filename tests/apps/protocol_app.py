"""The server the socket.io protocol test suite (socketio/socket.io-protocol,
test-suite/) expects, written as an RTCIO app: every socket that connects
to ``/`` or ``/custom`` is sent ``auth`` with its CONNECT payload, ``message``
is echoed back as ``message-back`` and ``message-with-ack`` is acknowledged
with its own arguments.

Environment: ``TEST_PING_INTERVAL`` and ``TEST_PING_TIMEOUT`` (seconds;
the suite's 0.3 and 0.2 by default). Connection state recovery is off, as
in the suite's reference Node server (with it on, the CONNECT reply also
carries a ``pid``, on Node as here).
"""

import os

import flask

from rtcio_flask import RTCIO

rtcio = RTCIO()


def _greet(namespace):
    def connect(sid, environ=None, auth=None):
        rtcio.server.emit("auth", auth if auth is not None else {}, to=sid,
                          namespace=namespace)
    return connect


for _namespace in ("/", "/custom"):
    rtcio.on("connect", _greet(_namespace), namespace=_namespace)


@rtcio.on("message")
def message(sid, *args):
    rtcio.server.emit("message-back", args, to=sid)


@rtcio.on("message-with-ack")
def message_with_ack(sid, *args):
    return args


def create_app():
    app = flask.Flask("protocol_app")
    rtcio.init_app(
        app, rooms=False, recovery=0,
        ping_interval=float(os.environ.get("TEST_PING_INTERVAL", 0.3)),
        ping_timeout=float(os.environ.get("TEST_PING_TIMEOUT", 0.2)))
    return app
