"""The rtc.io protocol on a live eventlet server with real python-socketio
clients, over websocket and over polling."""

import time

import pytest
import requests

from rtcio_flask import RtcioEvents
from tests.support.clients import Recorder

MESSAGE = RtcioEvents.MESSAGE
OFFER = {"description": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n"}}

TRANSPORTS = [("websocket",), ("polling",)]


@pytest.fixture
def clients(live_server):
    made = []

    def make(transports=("websocket",), namespace="/", **kwargs):
        rec = Recorder(namespace=namespace).connect(
            live_server.url, transports=transports, **kwargs)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.disconnect()


def quiet_for(rec, event, seconds=0.3):
    """Nothing called ``event`` arrives within a short grace period."""
    time.sleep(seconds)
    return rec.events(event) == []


@pytest.mark.parametrize("transports", TRANSPORTS, ids=lambda t: t[0])
def test_relay_reaches_target_only_with_real_source(clients, transports):
    a, b, c = (clients(transports) for _ in range(3))
    a.emit(MESSAGE, {"source": c.sid, "target": b.sid, "data": OFFER})
    got = b.wait_for(MESSAGE)[0]
    assert got == {"source": a.sid, "target": b.sid, "data": OFFER}
    assert quiet_for(a, MESSAGE) and quiet_for(c, MESSAGE)


def test_candidate_and_unknown_variants_pass_through(clients):
    a, b = clients(), clients()
    payloads = [
        {"candidate": {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 "
                                    "5000 typ host", "sdpMid": "0",
                       "sdpMLineIndex": 0, "usernameFragment": "abcd"}},
        {"candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}},
        {"mid": "1", "events": ["mute"]},
        {"mid": "1"},
        {"future": {"nested": [1, 2, {"x": None}]}, "flag": True},
    ]
    for data in payloads:
        a.emit(MESSAGE, {"source": a.sid, "target": b.sid, "data": data})
    got = b.wait_for(MESSAGE, count=len(payloads))
    assert [m["data"] for m in got] == payloads


def test_ack_for_a_good_envelope_reports_no_error(clients):
    a, b = clients(), clients()
    assert a.call(MESSAGE, {"target": b.sid, "data": OFFER}) is None
    b.wait_for(MESSAGE)


@pytest.mark.parametrize("transports", TRANSPORTS, ids=lambda t: t[0])
def test_bad_input_is_refused_and_disturbs_nobody(clients, live_server,
                                                  transports):
    bad, a, b = clients(transports), clients(), clients()
    cases = [
        ("just a string", "invalid-envelope"),
        ([1, 2, 3], "invalid-envelope"),
        ({"data": OFFER}, "invalid-target"),
        ({"target": 12345, "data": OFFER}, "invalid-target"),
        ({"target": "no-such-socket-id-000", "data": OFFER}, "unknown-target"),
        ({"target": bad.sid, "data": OFFER}, "invalid-target"),
        ({"target": a.sid, "data": {"sdp": "x" * 70_000}},
         "envelope-too-large"),
    ]
    for envelope, code in cases:
        a.emit(MESSAGE, {"target": b.sid, "data": {"seq": code}})
        ack = bad.call(MESSAGE, envelope)
        assert ack["ok"] is False and ack["error"] == code, (envelope, ack)
    # The well-behaved pair kept relaying throughout, in order.
    got = b.wait_for(MESSAGE, count=len(cases))
    assert [m["data"]["seq"] for m in got] == [code for _, code in cases]
    assert a.events(MESSAGE) == []  # the oversized one never reached a
    assert bad.client.connected
    # Without an ack the bad envelope is dropped silently for the client...
    bad.emit(MESSAGE, {"target": "nobody", "data": {}})
    assert quiet_for(bad, MESSAGE)
    # ...and each reason is logged once for that socket, with the reason.
    log = live_server.log()
    lines = [line for line in log.splitlines()
             if "dropped envelope from " + bad.sid in line]
    assert len(lines) == 4, lines  # four distinct codes
    assert any("no connected socket has that id" in line for line in lines)
    # (No traceback either: the server is watched, tests/conftest.py.)


@pytest.mark.parametrize("transports", TRANSPORTS, ids=lambda t: t[0])
def test_peer_left_reaches_every_room_of_the_leaver_once(clients, transports):
    leaver = clients(transports)
    both, only_r1, outsider = clients(), clients(), clients()
    for rec, rooms in ((leaver, ["r1", "r2"]), (both, ["r1", "r2"]),
                       (only_r1, ["r1"]), (outsider, ["elsewhere"])):
        for room in rooms:
            rec.call("join", f"{transports[0]}-{room}")
    leaver_sid = leaver.sid
    leaver.disconnect()
    assert both.wait_for(RtcioEvents.PEER_LEFT) == [{"id": leaver_sid}]
    assert only_r1.wait_for(RtcioEvents.PEER_LEFT) == [{"id": leaver_sid}]
    assert quiet_for(outsider, RtcioEvents.PEER_LEFT)
    assert both.events(RtcioEvents.PEER_LEFT) == [{"id": leaver_sid}]


def test_no_peer_left_without_shared_rooms(clients):
    a, b = clients(), clients()
    a.disconnect()
    assert quiet_for(b, RtcioEvents.PEER_LEFT)


def test_protocol_on_a_second_namespace(clients):
    a, b = clients(namespace="/calls"), clients(namespace="/calls")
    a.emit(MESSAGE, {"target": b.sid, "data": OFFER})
    assert b.wait_for(MESSAGE)[0]["source"] == a.sid


def test_handlers_see_the_session_cookie_and_headers(clients, live_server):
    login = requests.get(live_server.url + "/login?user=bob", timeout=5)
    cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
    rec = clients(("polling",), headers={"Cookie": cookie, "X-Test": "hi"})
    who = rec.call("whoami")
    assert who["user"] == "bob"
    assert who["header"] == "hi"
    assert who["sid"] == who["request_sid"] == rec.sid
    anonymous = clients()
    assert anonymous.call("whoami")["user"] is None


def test_a_failing_handler_answers_an_error_and_the_server_goes_on(
        clients, live_server):
    a, b = clients(), clients()
    ack = a.call("boom")
    assert ack == {"ok": False, "error": "server-error",
                   "reason": "the server failed to handle 'boom'"}
    a.emit(MESSAGE, {"target": b.sid, "data": OFFER})
    b.wait_for(MESSAGE)
    # Its traceback is logged, and that one only.
    live_server.log_with("handler failure on purpose")
    live_server.check_log(expected=["handler failure on purpose"])
