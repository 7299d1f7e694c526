"""The signaling app for the Python-peer tests: built-in rooms, CORS that
lists only the test page's origin (a browser origin; the Python peer sends
none), optional TURN vending and member cap from the environment, and the
test page with socket.io-client on the same origin.

Run under ``gunicorn -k eventlet`` by the tests.
"""

import os
from pathlib import Path

import flask

from rtcio_flask import RTCIO, RoomsConfig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLIENT_JS = ROOT / "node_modules" / "socket.io-client" / "dist"


def create_app():
    app = flask.Flask("python-peer-test")
    for key in ("RTCIO_TURN_SECRET", "RTCIO_TURN_URLS", "RTCIO_TURN_TTL",
                "RTCIO_STUN_URLS"):
        if key in os.environ:
            app.config[key] = os.environ[key]
    origins = [o for o in os.environ["ALLOWED_ORIGINS"].split(",") if o]
    RTCIO(app, cors={"origin": origins},
          rooms=RoomsConfig(max_members=int(os.environ.get("MAX_MEMBERS",
                                                           "50"))))

    @app.get("/")
    def page():
        return flask.send_from_directory(HERE / "page", "index.html")

    @app.get("/rtc.js")
    def rtc_js():
        return flask.send_from_directory(HERE / "page", "rtc.js")

    @app.get("/socket.io.min.js")
    def client_js():
        return flask.send_from_directory(CLIENT_JS, "socket.io.min.js")

    return app
