"""The app the deployment tests serve in every mode: RTCIO with a health
check, a ``join`` handler, and an ``info`` event that tells which async mode
and process answered (so tests can check the mode RTCIO picked and which
process of a fleet a client landed on).

Settings come from the environment (RTCIO_MESSAGE_QUEUE,
RTCIO_STICKY_SESSIONS, ...), as an operator would set them.
"""

import os

import flask

from rtcio_flask import RTCIO

rtcio = RTCIO()


@rtcio.on("join")
def join(sid, room):
    rtcio.server.enter_room(sid, room)
    return {"joined": room}


@rtcio.on("info")
def info(sid, data=None):
    return {"async_mode": rtcio.server.async_mode, "pid": os.getpid()}


def create_app():
    app = flask.Flask("deploy")
    debug = bool(os.environ.get("DEPLOY_DEBUG"))
    rtcio.init_app(app, health_path="/healthz", logger=debug,
                   engineio_logger=debug)
    return app
