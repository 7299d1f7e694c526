"""The app of the Redis load test (tests/deploy/test_redis_load.py), the
bench's app as a user would deploy it on a message queue: built-in rooms,
recovery on, event limits raised so the load generator's bursts are
measured rather than dropped, no per-address cap (every client comes from
127.0.0.1), metrics on (the pool waits), and the ``rtcio_flask`` log at
INFO on stderr, so a refusal or an outage line shows in the server log.
RTCIO_MESSAGE_QUEUE comes from the environment."""

import logging
import sys

import flask

from rtcio_flask import RTCIO


def create_app():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    app = flask.Flask("redis-load")
    RTCIO(app, cors="*", rooms=True, metrics=True,
          limits={"rate": 1_000_000, "burst": 1_000_000},
          max_connections_per_address=0)
    return app
