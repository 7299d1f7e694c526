"""A Flask app with the built-in rooms and its own ``disconnect`` handler
that reads ``flask.request`` and ``flask.session`` (as docs/own-app.rst
shows), for the presence and recovery tests. ``TEST_PING_INTERVAL``
(seconds) sets the ping interval.

The handler logs one line, ``APP-DISCONNECT sid=... addr=... user=...
path=... reason=...``; a test reads the server log to see that it ran in
the socket's own context. ``/login?user=NAME`` puts a user in the Flask
session (the cookie then goes with the socket.io handshake).
"""

import os
import time

import flask

from rtcio_flask import RTCIO

rtcio = RTCIO()


@rtcio.on("disconnect")
def disconnect(sid, reason=None):
    request = flask.request
    print(f"APP-DISCONNECT sid={request.sid} same={request.sid == sid} "
          f"addr={request.remote_addr} user={flask.session.get('user')} "
          f"path={request.path} reason={reason}", flush=True)


@rtcio.on("connect")
def connect(sid, environ, auth=None):
    # ``{"slow": seconds}``: the connection may close meanwhile (a test
    # closes it while this runs).
    if isinstance(auth, dict) and isinstance(auth.get("slow"), (int, float)):
        eio_sid = rtcio.server.manager.eio_sid_from_sid(sid, "/")
        print(f"APP-CONNECT-SLOW eio={eio_sid} sid={sid}", flush=True)
        time.sleep(auth["slow"])


def create_app():
    app = flask.Flask("presence_app")
    app.secret_key = "presence-test-secret"

    @app.get("/login")
    def login():
        flask.session["user"] = flask.request.args.get("user", "alice")
        return {"ok": True}

    options = {}
    if os.environ.get("TEST_PING_INTERVAL"):  # pings that have been
        options["ping_interval"] = float(os.environ["TEST_PING_INTERVAL"])
    rtcio.init_app(app, rooms=True, **options)
    return app


@rtcio.on("api-members")
def api_members(sid, room_id):
    return rtcio.rooms.members(room_id)


@rtcio.on("api-ping")
def api_ping(sid, data=None):
    # An emit to the socket's own room: logged, so it carries an offset.
    rtcio.server.emit("pong", {"n": data}, to=sid)


@rtcio.on("api-server-id")
def api_server_id(sid, data=None):
    # Names the process in the room store and the fleet's heartbeats.
    return rtcio.rooms.config.server_id
