"""The one-line call server: a Flask app with ``RTCIO(app, rooms=True)``
and nothing else, as a user would write it."""

import flask

from rtcio_flask import RTCIO


def create_app():
    app = flask.Flask("mesh_app")
    RTCIO(app, rooms=True)
    return app
