"""Flask apps with TURN vending for the live tests.

``create_app`` takes TURN from ``app.config`` (filled from the environment
the test sets), the way a deployed app would; ``create_login_app`` passes a
TurnConfig whose user id is the logged-in Flask user.
"""

import os

import flask

from rtcio_flask import RTCIO, TurnConfig


def create_app():
    app = flask.Flask("turn")
    for key in ("RTCIO_TURN_SECRET", "RTCIO_TURN_URLS", "RTCIO_TURN_TTL",
                "RTCIO_STUN_URLS"):
        if key in os.environ:
            app.config[key] = os.environ[key]
    RTCIO(app, protocol_namespaces=["/", "/calls"])
    return app


def create_login_app():
    app = flask.Flask("turn-login")
    app.secret_key = "turn-test-secret-key"

    @app.get("/login")
    def login():
        flask.session["user"] = flask.request.args["user"]
        return {"ok": True}

    RTCIO(app, turn=TurnConfig(
        secret=os.environ["RTCIO_TURN_SECRET"],
        urls=os.environ["RTCIO_TURN_URLS"].split(","),
        ttl=600,
        user_id=lambda sid: flask.session.get("user")))
    return app


def create_own_handler_app():
    """No TURN configured, but the app answers ask-ice itself."""
    app = flask.Flask("turn-own")
    rtcio = RTCIO(app)

    @rtcio.on("ask-ice")
    def ask_ice(sid, data=None):
        return {"iceServers": [{"urls": ["stun:app.example:3478"]}],
                "from": "app"}

    return app
