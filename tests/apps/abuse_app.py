"""The app the abuse and soak tests attack: RTCIO with its built-in protocol,
a couple of plain handlers, and limits taken from the environment
(``TEST_LIMITS`` as JSON, ``TEST_PING`` as "interval,timeout") so each test
starts the server it needs without another module."""

import json
import os

import flask

from rtcio_flask import RTCIO

rtcio = RTCIO()


@rtcio.on("echo")
def echo(sid, *args):
    """Answers with what it got, so a test can see a round trip work."""
    return {"sid": sid, "args": list(args)}


@rtcio.on("join")
def join(sid, room=None, *extra):
    if not isinstance(room, str) or not room or len(room) > 200:
        return {"ok": False, "error": "invalid-room"}
    rtcio.server.enter_room(sid, room)
    return {"ok": True, "joined": room}


#: Envelopes the app's own #rtcio:message handler saw (TEST_SPY_RELAY).
spied = []


def create_app():
    app = flask.Flask("abuse")
    if os.environ.get("TEST_SPY_RELAY"):
        @rtcio.on("#rtcio:message")
        def spy(sid, envelope=None, *extra):
            spied.append(envelope)
    options = {}
    limits = os.environ.get("TEST_LIMITS")
    if limits:
        options["limits"] = json.loads(limits)
    ping = os.environ.get("TEST_PING")
    if ping:
        interval, timeout = (float(x) for x in ping.split(","))
        options.update(ping_interval=interval, ping_timeout=timeout)
    if os.environ.get("TEST_ROOMS"):
        options["rooms"] = json.loads(os.environ["TEST_ROOMS"])
    rtcio.init_app(app, **options)

    @app.get("/spied")
    def spied_count():
        return {"count": len(spied)}

    @app.get("/limits-stats")
    def limits_stats():
        return app.extensions["rtcio"].limits.stats()

    return app
