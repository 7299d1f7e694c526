"""Connection state recovery that cannot work with the server it is given
is off with one WARNING saying why, and the server still serves: here a
server created with ``always_connect=True`` (python-socketio then answers
a CONNECT before the connect handler runs; recovery answers it itself,
after, with the id it recovers by)."""

import logging

import flask

from rtcio_flask import RTCIO
from tests.flask_client.polling import open_session


def _connect_reply(app):
    _, reply = open_session(app.test_client())
    assert '40{"sid":' in reply, reply
    return reply


def test_recovery_with_always_connect_is_off_with_one_warning(caplog):
    recovering = flask.Flask("recovering")
    RTCIO(recovering, recovery=30, async_mode="threading")
    # On, the CONNECT reply carries the private session id it recovers by.
    assert '"pid":' in _connect_reply(recovering)

    plain = flask.Flask("always_connect")
    with caplog.at_level(logging.WARNING, logger="rtcio_flask"):
        RTCIO(plain, recovery=30, always_connect=True,
              async_mode="threading")
    said = [r.getMessage() for r in caplog.records
            if "recovery" in r.getMessage()]
    assert said == ["rtcio: connection state recovery is off: the server "
                    "was created with always_connect=True"]
    assert '"pid"' not in _connect_reply(plain)
