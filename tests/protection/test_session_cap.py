"""The per-address Engine.IO session cap in front of Engine.IO, through
Flask's test client (polling handshakes), and its settings."""

import logging

import flask
import pytest

from rtcio_flask import RTCIO


def make_app(**options):
    app = flask.Flask(__name__)
    RTCIO(app, cors="*", **options)
    return app


def handshake(client, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.get("/socket.io/?EIO=4&transport=polling", headers=headers)


def test_sessions_over_the_cap_get_429_with_one_warning(caplog):
    app = make_app(max_connections_per_address=3)
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="rtcio_flask"):
        for _ in range(3):
            assert handshake(client).status_code == 200
        refused = [handshake(client) for _ in range(5)]
    assert {r.status_code for r in refused} == {429}
    assert refused[0].headers["Retry-After"] == "10"
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    assert warnings == [
        "rtcio: refusing new connections from 127.0.0.1: it already has 3 "
        "open (max_connections_per_address=3; raise it with "
        "RTCIO_MAX_CONNECTIONS_PER_ADDRESS, and behind a proxy set "
        "RTCIO_TRUSTED_PROXY_HOPS)"]


def test_forwarded_for_counts_only_behind_trusted_proxies():
    app = make_app(max_connections_per_address=1)
    client = app.test_client()
    assert handshake(client, "10.0.0.1").status_code == 200
    # Not trusted by default: the header is ignored, the peer counts.
    assert handshake(client, "10.0.0.2").status_code == 429
    app = make_app(max_connections_per_address=1, trusted_proxy_hops=1)
    client = app.test_client()
    assert handshake(client, "10.0.0.1").status_code == 200
    assert handshake(client, "10.0.0.2").status_code == 200
    assert handshake(client, "10.0.0.2").status_code == 429


def test_cap_off_and_bad_values(monkeypatch):
    client = make_app(max_connections_per_address=0).test_client()
    assert all(handshake(client).status_code == 200 for _ in range(250))
    monkeypatch.setenv("RTCIO_MAX_QUEUE_BYTES", "lots")
    with pytest.raises(ValueError, match="environment variable "
                       "RTCIO_MAX_QUEUE_BYTES must be a positive whole "
                       "number of bytes"):
        make_app()
