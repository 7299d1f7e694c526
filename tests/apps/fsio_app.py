"""A Flask-SocketIO app with RTCIO attached to its server (the legacy stack
the compatibility matrix runs: a python-socketio pinned by Flask-SocketIO).
The async mode comes from ``TEST_ASYNC_MODE`` (eventlet by default)."""

import os

import flask
import flask_socketio

from rtcio_flask import RTCIO


def create_app():
    app = flask.Flask("fsio_app")
    socketio = flask_socketio.SocketIO(
        app, async_mode=os.environ.get("TEST_ASYNC_MODE", "eventlet"))

    @socketio.on("hello")
    def hello(name):
        # Flask-SocketIO's own handler, beside RTCIO's relay and rooms.
        return f"hello {name} from {flask.request.sid}"

    RTCIO(app, server=socketio, rooms=True)
    return app
