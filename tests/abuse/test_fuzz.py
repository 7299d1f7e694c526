"""Property-based abuse of a live server: random payloads for every event
it handles (and unknown ones), sent by a real python-socketio client, and
malformed socket.io / Engine.IO packets sent over a raw websocket and raw
polling requests. Throughout, a well-formed pair of clients keeps relaying
numbered envelopes correctly, the server stays up, and its log never shows
a traceback (checked after every test: the server is watched, see
tests/support/servers.py).

Example counts are bounded (about half a minute in all) and the examples
are the same every run; for a longer hunt with fresh examples:
``RTCIO_FUZZ_EXAMPLES=1000 RTCIO_FUZZ_RANDOM=1 pytest tests/abuse``.
"""

import itertools
import json
import os
import socket

import pytest
import requests
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clients import Recorder
from tests.support.raw_eio import RawPolling, RawSocket
from tests.support.servers import serve_app

from rtcio_flask.core.limits import DEFAULT_MAX_ATTACHMENTS as MAX_ATTACHMENTS
from rtcio_flask.core.limits import DEFAULT_MAX_EVENT_BYTES as MAX_EVENT_BYTES

EXAMPLES = int(os.environ.get("RTCIO_FUZZ_EXAMPLES", 100))
# Same examples every run (CI), unless RTCIO_FUZZ_RANDOM=1 asks for new ones.
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=not os.environ.get("RTCIO_FUZZ_RANDOM"),
                suppress_health_check=list(HealthCheck),
                print_blob=True)

EVENTS = ["#rtcio:message", "join-room", "leave-room", "check-room",
          "media-state", "stopScreenShare", "chat-message", "ask-ice",
          "echo", "join", "#rtcio:init-offer", "#rtcio:peer-left",
          "connect", "disconnect", "message"]

# JSON the client can send: no NaN (not JSON), bytes leaves become
# socket.io binary attachments.
leaves = (st.none() | st.booleans() | st.integers() |
          st.integers(min_value=2**63, max_value=2**200) |
          st.floats(allow_nan=False, allow_infinity=False) |
          st.text(max_size=40) | st.binary(max_size=64))
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=5) |
    st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25)
huge_strings = st.integers(min_value=1, max_value=200_000).map(
    lambda n: "x" * n)
room_ids = (st.text(max_size=300) | st.integers() | st.none() |
            st.lists(st.text(max_size=3), max_size=3) | huge_strings)
room_payloads = st.fixed_dictionaries(
    {}, optional={"roomId": room_ids, "name": st.text(max_size=300) |
                  json_values, "password": st.text(max_size=100) |
                  json_values, "mic": json_values, "cam": json_values})


@pytest.fixture(scope="module")
def server():
    # Limits raised so payloads reach the handlers instead of being dropped
    # by the rate limit (which test_limits.py covers).
    limits = {"rate": 100_000, "burst": 100_000, "disconnect_after": None}
    with serve_app("tests.apps.abuse_app:create_app", "eventlet",
                   env={"TEST_ROOMS": "true",
                        "TEST_LIMITS": json.dumps(limits)},
                   watch=("Traceback", "handler error")) as srv:
        yield srv


def _binaries(value):
    """Binary leaves in a payload: each becomes a socket.io attachment."""
    if isinstance(value, (bytes, bytearray)):
        return 1
    if isinstance(value, dict):
        return sum(_binaries(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_binaries(v) for v in value)
    return 0


class Sentinel:
    """Two well-behaved clients in one room; ``check()`` relays a numbered
    envelope A -> B and B -> A and expects exactly that back."""

    def __init__(self, url):
        self.a = Recorder().connect(url)
        self.b = Recorder().connect(url)
        self.a.call("join-room", {"roomId": "sentinel", "name": "a"})
        self.b.call("join-room", {"roomId": "sentinel", "name": "b"})
        self.a.wait_for("#rtcio:init-offer")
        self.seq = itertools.count()
        self.sent = 0

    def check(self):
        n = next(self.seq)
        self.sent += 1
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            src.emit("#rtcio:message", {"source": "forged", "target": dst.sid,
                                        "data": {"mid": str(n)}})
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            got = dst.wait_for("#rtcio:message", count=self.sent, timeout=10)
            assert [e["data"]["mid"] for e in got] == [
                str(i) for i in range(self.sent)]
            assert all(e["source"] == src.sid and e["target"] == dst.sid
                       for e in got)

    def close(self):
        self.a.disconnect()
        self.b.disconnect()


@pytest.fixture(scope="module")
def sentinel(server):
    pair = Sentinel(server.url)
    yield pair
    pair.close()


@pytest.fixture(scope="module")
def fuzzer(server):
    client = Recorder().connect(server.url)
    yield client
    client.disconnect()


def _fresh(client_holder, server):
    """The fuzzing client, reconnected if the server closed it (an earlier
    example sent more attachments than allowed)."""
    client = client_holder[0].client
    if not client.connected or "/" not in client.namespaces:
        client_holder[0] = Recorder().connect(server.url)
    return client_holder[0]


# -- payloads through a real client ----------------------------------------------

@FUZZ
@given(event=st.sampled_from(EVENTS) | st.text(min_size=1, max_size=60),
       args=st.lists(json_values | room_payloads | huge_strings, max_size=3),
       with_ack=st.booleans())
def test_any_event_any_payload(server, sentinel, fuzzer_holder, event, args,
                               with_ack):
    client = _fresh(fuzzer_holder, server)
    # Only what the client can send: it refuses to emit its reserved event
    # names (the other values all encode; an example it refused would fail
    # here, never skip the test).
    if event in ("connect", "disconnect", "connect_error"):
        event = "x-" + event
    payload = tuple(args)
    if with_ack:
        client.client.emit(event, payload, callback=lambda *a: None)
    else:
        client.client.emit(event, payload)
    sentinel.check()


@FUZZ
@given(target=st.sampled_from(["self", "partner", "none"]) |
       st.text(max_size=200) | json_values,
       data=json_values | huge_strings,
       extra=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
       shape=st.sampled_from(["envelope", "bare", "list"]))
def test_relay_envelopes(server, sentinel, fuzzer_holder, target, data, extra,
                         shape):
    client = _fresh(fuzzer_holder, server)
    if target == "self":
        target = client.sid
    elif target == "partner":
        target = sentinel.b.sid  # not in a shared room: must be refused
    envelope = dict(extra, target=target, data=data)
    if shape == "bare":
        envelope = data
    elif shape == "list":
        envelope = [envelope]
    client.client.emit("#rtcio:message", envelope)
    sentinel.check()
    # The stranger never reached the sentinel pair.
    assert all(e["source"] in (sentinel.a.sid, sentinel.b.sid)
               for e in sentinel.b.events("#rtcio:message"))


@FUZZ
@given(event=st.sampled_from(["join-room", "leave-room", "check-room",
                              "media-state", "chat-message",
                              "stopScreenShare"]),
       payload=room_payloads)
def test_room_events(server, sentinel, fuzzer_holder, event, payload):
    client = _fresh(fuzzer_holder, server)
    if len(json.dumps([event, payload], default=repr)) > \
            MAX_EVENT_BYTES - 100 or _binaries(payload) > MAX_ATTACHMENTS:
        # Over the event size cap: dropped unanswered; over the attachment
        # cap: the connection is closed (see test_limits.py).
        client.emit(event, payload)
    else:
        answer = client.call(event, payload, timeout=10)
        # Every room event answers its acknowledgement (maybe an error).
        assert answer is None or isinstance(answer, (dict, list))
    sentinel.check()


@pytest.fixture(scope="module")
def fuzzer_holder(server):
    holder = [Recorder().connect(server.url)]
    yield holder
    holder[0].disconnect()


# -- malformed packets on the wire ------------------------------------------------

socketio_packets = (
    st.text(max_size=80) |
    st.builds(lambda t, rest: t + rest,
              st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "7",
                               "0/", "2/", "5", "51-", "599999999999-",
                               "2/nope,", "21", "3", "1/", "2[", "6-"]),
              st.text(max_size=60)) |
    json_values.map(lambda v: "2" + json.dumps(v, default=str)))
engineio_frames = st.text(max_size=40) | st.sampled_from(
    ["", "2probe", "3probe", "5", "6", "1", "0", "2", "3", "9", "4",
     "40/admin,", "41", "b4AAEC"])


@FUZZ
@given(packets=st.lists(socketio_packets, min_size=1, max_size=4),
       binary=st.lists(st.binary(max_size=200_000), max_size=2))
def test_malformed_socketio_packets_over_websocket(server, sentinel,
                                                   packets, binary):
    raw = RawSocket(server.url)
    try:
        for message in packets:
            raw.send("4" + message)  # an Engine.IO message carrying junk
        for blob in binary:
            raw.send(blob, binary=True)
    except (websocket.WebSocketException, OSError):
        pass  # closed by the server mid-way: allowed
    finally:
        raw.close()
    sentinel.check()


@FUZZ
@given(frames=st.lists(engineio_frames, min_size=1, max_size=4),
       namespace=st.booleans())
def test_malformed_engineio_frames_over_websocket(server, sentinel, frames,
                                                  namespace):
    raw = RawSocket(server.url, connect_namespace=namespace)
    try:
        for frame in frames:
            raw.send(frame)
    except (websocket.WebSocketException, OSError):
        pass
    finally:
        raw.close()
    sentinel.check()


@FUZZ
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(
           lambda t: t.encode("utf-8", "surrogatepass")) |
       st.lists(socketio_packets, max_size=4).map(
           lambda ps: "\x1e".join("4" + p for p in ps).encode(
               "utf-8", "surrogatepass")),
       content_type=st.sampled_from(["text/plain;charset=UTF-8",
                                     "application/octet-stream",
                                     "application/json", "x/y"]))
def test_malformed_polling_posts(server, sentinel, body, content_type):
    session = RawPolling(server.url)
    session.handshake()
    try:
        reply = session.post_body(body, content_type)
        assert reply.status_code < 500, (reply.status_code, reply.text)
    finally:
        session.close()
    sentinel.check()


@FUZZ
@given(query=st.dictionaries(
    st.sampled_from(["EIO", "transport", "sid", "t", "b64", "j"]),
    st.text(max_size=20), max_size=5),
       method=st.sampled_from(["GET", "POST", "OPTIONS", "PUT", "DELETE"]),
       body=st.binary(max_size=100))
def test_malformed_engineio_http_requests(server, sentinel, query, method,
                                          body):
    reply = requests.request(method, server.url + "/socket.io/",
                             params=query, data=body, timeout=10)
    assert reply.status_code < 500, (reply.status_code, reply.text[:200])
    sentinel.check()


def test_oversized_polling_post_is_refused(server, sentinel):
    """Refused with 413 before the body is read (python-engineio alone
    would hold the request open until the session's next poll)."""
    session = RawPolling(server.url)
    session.handshake()
    path = session.url().split(str(server.port), 1)[1]
    try:
        with socket.create_connection(("127.0.0.1", server.port),
                                      timeout=10) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Content-Type: text/plain\r\n"
                         f"Content-Length: 2000000\r\n\r\n".encode()
                         + b"4" * 1000)
            head = sock.recv(200)
        assert head.startswith(b"HTTP/1.1 413"), head
    finally:
        session.http.close()
    sentinel.check()
