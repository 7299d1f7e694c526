"""rtcio_flask.core.eio_requests: which Engine.IO requests socket.io's
server refuses, which are long-polls, and the advertised ping interval."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcio_flask.core.eio_requests import (advertised_ping_interval_ms,
                                           is_websocket_request,
                                           long_poll_sid, parse_query,
                                           request_problem)

TRANSPORTS = ["polling", "websocket"]


@pytest.mark.parametrize("method,query,refused", [
    ("GET", "EIO=4&transport=polling", False),
    ("GET", "EIO=4&transport=websocket", False),
    ("POST", "EIO=4&transport=polling&sid=x", False),
    ("OPTIONS", "EIO=4", False),          # preflights are the gate's
    ("GET", "EIO=4", True),               # no transport
    ("GET", "EIO=4&transport=", True),
    ("GET", "EIO=4&transport=foo", True),
    ("GET", "EIO=4&transport=__proto__", True),
    ("PUT", "EIO=4&transport=polling", True),
    ("DELETE", "EIO=4&transport=polling&sid=x", True),
    ("PATCH", "EIO=4&transport=polling", True),
    ("", "EIO=4&transport=polling", True),
])
def test_request_problem(method, query, refused):
    problem = request_problem(method, parse_query(query), TRANSPORTS)
    assert (problem is not None) is refused, problem


def test_a_server_without_websocket_refuses_it():
    assert request_problem("GET", parse_query("EIO=4&transport=websocket"),
                           ["polling"])


@pytest.mark.parametrize("method,query,upgrade,sid", [
    ("GET", "EIO=4&transport=polling&sid=abc", None, "abc"),
    ("GET", "EIO=4&transport=polling", None, None),         # handshake
    ("POST", "EIO=4&transport=polling&sid=abc", None, None),
    ("GET", "EIO=4&transport=websocket&sid=abc", "websocket", None),
    ("GET", "EIO=4&transport=polling&sid=abc", "websocket", None),
])
def test_long_poll_sid(method, query, upgrade, sid):
    assert long_poll_sid(method, parse_query(query), upgrade) == sid


def test_is_websocket_request():
    query = parse_query("EIO=4&transport=websocket&sid=a")
    assert is_websocket_request(query, "WebSocket")
    assert not is_websocket_request(query, None)
    assert not is_websocket_request(parse_query("transport=polling"),
                                    "websocket")


@pytest.mark.parametrize("interval,grace,ms", [
    (25, 0, 25000), (0.3, 0, 300), (0.25, 0, 250), (1.5, 0.5, 2000),
    (0.1 + 0.2, 0, 300), (25, 5, 30000)])
def test_advertised_ping_interval(interval, grace, ms):
    assert advertised_ping_interval_ms(interval, grace) == ms


@given(st.integers(min_value=0, max_value=10 ** 6))
def test_advertised_ping_interval_round_trips_milliseconds(ms):
    assert advertised_ping_interval_ms(ms / 1000) == ms
