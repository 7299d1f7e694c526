"""The app the deployment tests serve in every mode: RTCIO with a health
check, the built-in rooms, a plain ``join`` handler, and an ``info`` event that tells which async mode
and process answered (so tests can check the mode RTCIO picked and which
process of a fleet a client landed on).

Settings come from the environment (RTCIO_MESSAGE_QUEUE,
RTCIO_STICKY_SESSIONS, ...), as an operator would set them.
"""

import gc
import os
import socket

import flask

from rtcio_flask import RTCIO
from rtcio_flask.transport.sockets import client_socket

rtcio = RTCIO()


@rtcio.on("join")
def join(sid, room):
    rtcio.server.enter_room(sid, room)
    return {"joined": room}


@rtcio.on("info")
def info(sid, data=None):
    return {"async_mode": rtcio.server.async_mode, "pid": os.getpid()}


@rtcio.on("nodelay")
def nodelay(sid, data=None):
    """Whether TCP_NODELAY is on for this socket's connection, read from the
    kernel (the handshake's environ holds the server's socket object)."""
    environ = flask.request.environ
    # Under gunicorn the websocket has its own copy of the descriptor (the
    # one found at the request's start is closed when the request ends).
    sock = environ.get("gunicorn.socket") or environ.get("deploy.socket")
    if sock is None:
        return {"found": False}
    return {"found": True, "nodelay": bool(
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))}


def create_app():
    app = flask.Flask("deploy")
    debug = bool(os.environ.get("DEPLOY_DEBUG"))
    rtcio.init_app(app, health_path="/healthz", rooms=True, logger=debug,
                   engineio_logger=debug)
    app.wsgi_app = _KeepSocket(app.wsgi_app)
    # How many objects this process froze (RTCIO's gc_freeze, at its first
    # socket.io request), read over plain HTTP, which freezes nothing.
    app.add_url_rule("/gc-frozen", "gc_frozen",
                     lambda: str(gc.get_freeze_count()))
    return app


class _KeepSocket:
    """Note the client socket in the environ before the request runs: once
    gevent's pywsgi hands a connection to the websocket it detaches the file
    the socket is found through, so a handler could not find it later."""

    def __init__(self, wrapped):
        self.wrapped = wrapped

    def __call__(self, environ, start_response):
        environ["deploy.socket"] = client_socket(environ)
        return self.wrapped(environ, start_response)
