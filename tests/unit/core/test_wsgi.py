"""core/wsgi.py: every environ a socket's request context may be rebuilt
from (the live handshake's, one that crossed processes through Redis as
strings, a held session's stored without one) yields a Flask request
that the app's handlers can read."""

import json

import flask
import pytest
from werkzeug.test import EnvironBuilder

from rtcio_flask.core.recovery_log import portable_environ
from rtcio_flask.core.wsgi import complete_environ


@pytest.fixture
def app():
    app = flask.Flask("wsgi_test")
    app.secret_key = "wsgi-test-secret"
    app.add_url_rule("/here", "here", lambda: "")
    return app


def _handshake():
    return EnvironBuilder(path="/socket.io/", query_string="EIO=4",
                          base_url="https://chat.example:8443",
                          headers={"Cookie": "a=b", "X-Test": "1"},
                          environ_base={"REMOTE_ADDR": "203.0.113.7"}
                          ).get_environ()


def _read(app, environ):
    """What a disconnect handler reads of its request."""
    with app.request_context(complete_environ(environ)):
        request = flask.request
        return {"url": request.url, "path": request.path,
                "addr": request.remote_addr, "method": request.method,
                "cookies": dict(request.cookies),
                "user": flask.session.get("user"),
                "link": flask.url_for("here")}


@pytest.mark.parametrize("stored", [
    {}, {"wsgi.url_scheme": "http"}, {"REMOTE_ADDR": "198.51.100.1"},
    {"HTTP_HOST": "[::1]:5000"}, {"SERVER_NAME": "srv"},
    {"wsgi.url_scheme": None, "PATH_INFO": "/x"}])
def test_a_minimal_stored_environ_yields_a_usable_request(app, stored):
    got = _read(app, stored)
    assert got["method"] == "GET"
    assert got["user"] is None
    assert got["link"] == "/here"
    assert got["url"].startswith("http://")
    assert got["addr"] == stored.get("REMOTE_ADDR")


def test_without_any_environ_the_request_is_the_handshake_path(app):
    assert _read(app, {})["url"] == "http://localhost/socket.io/"


def test_an_environ_through_redis_keeps_what_the_handlers_read(app):
    handshake = _handshake()
    travelled = json.loads(json.dumps(portable_environ(handshake)))
    assert _read(app, travelled) == _read(app, handshake) == {
        "url": "https://chat.example:8443/socket.io/?EIO=4",
        "path": "/socket.io/", "addr": "203.0.113.7", "method": "GET",
        "cookies": {"a": "b"}, "user": None, "link": "/here"}


def test_a_complete_environ_is_used_as_it_is(app):
    handshake = _handshake()
    assert complete_environ(handshake) is handshake
    partial = {"REMOTE_ADDR": "198.51.100.1"}
    assert complete_environ(partial) is not partial
    assert partial == {"REMOTE_ADDR": "198.51.100.1"}  # not changed
