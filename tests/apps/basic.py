"""A small Flask app with RTCIO for live tests: a login that sets a session
cookie, a JSON route under flask-cors, handlers that report what they see,
and the protocol on a second namespace.

Configuration comes from the environment, so each test can start it with the
CORS form it needs (``RTCIO_ALLOWED_ORIGINS``) without another app module.
"""

import os

import flask
from flask_cors import CORS

from rtcio_flask import RTCIO

rtcio = RTCIO()


@rtcio.on("connect")
def on_connect(sid, environ, auth):
    if os.environ.get("TEST_REQUIRE_LOGIN") and "user" not in flask.session:
        return False
    return True


@rtcio.on("whoami")
def whoami(sid, data=None):
    return {
        "sid": sid,
        "request_sid": flask.request.sid,
        "user": flask.session.get("user"),
        "header": flask.request.headers.get("X-Test"),
        "app": flask.current_app.name,
    }


@rtcio.on("join")
def join(sid, room):
    rtcio.server.enter_room(sid, room)
    return {"joined": room}


@rtcio.on("boom")
def boom(sid, data=None):
    raise RuntimeError("handler failure on purpose")


def create_app():
    app = flask.Flask("basic")
    app.secret_key = "test-secret"
    CORS(app, resources={r"/*": {"origins": "https://flask-cors.example"}})

    @app.get("/login")
    def login():
        flask.session["user"] = flask.request.args.get("user", "alice")
        return {"ok": True}

    @app.get("/api/ping")
    def ping():
        return {"pong": True}

    rtcio.init_app(app, max_envelope_bytes=int(
        os.environ.get("TEST_MAX_ENVELOPE", 65536)))
    rtcio.attach_protocol("/calls")
    return app
