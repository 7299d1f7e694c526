"""Event limits through a live server: rate, size, attachments, abusers
disconnected, malformed packets closed, each logged once, and nobody else
disturbed. Pure bucket arithmetic is checked at the end with a fake clock."""

import json
import threading

import pytest
import requests

from rtcio_flask.core.limits import (DISCONNECT, DROP_RATE, DROP_SIZE, PASS,
                                EventLimiter, Limits, TokenBucket,
                                build_limits, resolve_limits)
from tests.support.raw_eio import RawSocket
from tests.support.clients import Recorder
from tests.support.clock import FakeClock
from tests.support.servers import serve_app

APP = "tests.apps.abuse_app:create_app"


def _serve(limits, watch=False, **env):
    env = dict(env, TEST_LIMITS=json.dumps(limits))
    return serve_app(APP, "eventlet", env=env, watch=watch)


def _stats(server):
    return requests.get(server.url + "/limits-stats", timeout=5).json()


def _acked(client, count, payload_for):
    """Emit ``count`` echo events back to back; return how many were acked
    once the server has gone quiet (a final call proves it processed all)."""
    got = []
    lock = threading.Lock()

    def ack(*_):
        with lock:
            got.append(1)

    for i in range(count):
        client.emit("echo", payload_for(i), callback=ack)
    return got


def _call_eventually(client, event, data, tries=15):
    """A call on a rate-limited socket: dropped calls are retried, bounded."""
    import socketio
    for attempt in range(tries):
        try:
            client.attempts = attempt + 1
            return client.call(event, data, timeout=1)
        except socketio.exceptions.TimeoutError:
            continue
    raise AssertionError(f"{event!r} was never answered")


def _pair(url):
    a = Recorder().connect(url)
    b = Recorder(ordered=True).connect(url)
    return a, b


def _relay_works(a, b, tag):
    a.emit("#rtcio:message", {"source": a.sid, "target": b.sid,
                              "data": {"mid": tag}})
    for _ in range(50):
        found = [e for e in b.events("#rtcio:message")
                 if e["data"].get("mid") == tag]
        if found:
            return True
        b.wait_for("#rtcio:message", count=len(b.events("#rtcio:message"))
                   + 1, timeout=5)
    return False


@pytest.fixture(scope="module")
def slow_server():
    # 5 events/s with a burst of 10; abusers are never disconnected here.
    with _serve({"rate": 5, "burst": 10, "disconnect_after": None,
                 "max_event_bytes": 4096}, watch=True) as server:
        yield server


def test_rate_limit_drops_excess_and_counts_it(slow_server):
    before = _stats(slow_server)
    mark = len(slow_server.log())
    flooder = Recorder().connect(slow_server.url)
    try:
        got = _acked(flooder, 60, lambda i: i)
        # Tokens refill at 5/s: within a few seconds the socket may send again.
        answer = _call_eventually(flooder, "echo", "after")
        assert answer["args"] == ["after"]
        after = _stats(slow_server)
        dropped = after["dropped_rate"] - before["dropped_rate"]
        assert 0 < len(got) < 60
        # Dropped: the rest of the 60, and any retries of the last call.
        assert dropped == 60 - len(got) + flooder.attempts - 1
    finally:
        flooder.disconnect()
    # Once, in what this test logged (other tests of the module flood the
    # same server).
    log = slow_server.log()[mark:]
    assert log.count("faster than the rate limit") == 1, log
    assert "Traceback" not in log


def test_flooder_does_not_disturb_a_relaying_pair(slow_server):
    flooder = Recorder().connect(slow_server.url)
    a, b = _pair(slow_server.url)
    try:
        stop = threading.Event()

        def flood():
            for i in range(2000):
                if stop.is_set():
                    return
                flooder.emit("echo", i)

        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        # Below the pair's own budget: 8 envelopes, each must arrive once.
        for i in range(8):
            a.emit("#rtcio:message", {"source": a.sid, "target": b.sid,
                                      "data": {"candidate": {"seq": i}}})
        got = b.wait_for("#rtcio:message", count=8, timeout=10)
        stop.set()
        thread.join(10)
        assert [e["data"]["candidate"]["seq"] for e in got] == list(range(8))
        assert all(e["source"] == a.sid for e in got)
    finally:
        for c in (flooder, a, b):
            c.disconnect()


def test_oversized_event_dropped_smaller_passes(slow_server):
    client = Recorder().connect(slow_server.url)
    try:
        before = _stats(slow_server)
        got = _acked(client, 1, lambda i: "x" * 5000)
        answer = _call_eventually(client, "echo", "y" * 3000)
        assert answer["args"] == ["y" * 3000]
        assert got == []
        assert _stats(slow_server)["dropped_size"] - before[
            "dropped_size"] == 1
    finally:
        client.disconnect()
    assert slow_server.log().count("sent an event over 4096 bytes") == 1


def test_oversized_binary_attachment_closes_connection(slow_server):
    raw = RawSocket(slow_server.url)
    try:
        raw.send('451-["echo",{"_placeholder":true,"num":0}]')
        raw.send(b"\x00" * 5000, binary=True)
        assert raw.closed_by_server()
    finally:
        raw.close()


def test_too_many_attachments_closes_connection(slow_server):
    raw = RawSocket(slow_server.url)
    try:
        raw.send('4511-["echo"]')
        assert raw.closed_by_server()
    finally:
        raw.close()
    assert "Traceback" not in slow_server.log()


def test_binary_event_within_limits_is_handled(slow_server):
    client = Recorder().connect(slow_server.url)
    try:
        answer = _call_eventually(client, "echo", b"\x01\x02\x03")
        assert answer["args"] == [b"\x01\x02\x03"]
    finally:
        client.disconnect()


def test_abuser_is_disconnected_and_its_room_told():
    limits = {"rate": 20, "burst": 20, "disconnect_after": 30}
    with _serve(limits) as server:
        abuser = Recorder().connect(server.url)
        peer = Recorder().connect(server.url)
        try:
            assert abuser.call("join", "r1")["ok"]
            assert peer.call("join", "r1")["ok"]
            abuser_sid = abuser.sid
            for i in range(400):
                if not abuser.client.connected:
                    break
                abuser.emit("echo", i)
            left = peer.wait_for("#rtcio:peer-left", timeout=10)
            assert left == [{"id": abuser_sid}]
            assert _stats(server)["disconnected"] == 1
            # The server still answers others.
            assert peer.call("echo", 1)["args"] == [1]
        finally:
            abuser.disconnect()
            peer.disconnect()
        log = server.log()
        assert log.count("kept exceeding the event limits") == 1, log
        assert "Traceback" not in log


@pytest.mark.parametrize("junk", [
    "2[]", "2{}", "2", '2"abc', "2[1,2]", "9", "2[\"echo\"", "0/nope,{]",
])
def test_malformed_packet_closes_only_that_connection(slow_server, junk):
    a, b = _pair(slow_server.url)
    raw = RawSocket(slow_server.url)
    try:
        raw.send(junk)
        # Either the packet was harmless (server keeps answering) or the
        # connection was closed; never a traceback, never a stalled server.
        raw.closed_by_server(timeout=1.0)
        assert _relay_works(a, b, junk)
    finally:
        raw.close()
        a.disconnect()
        b.disconnect()
    log = slow_server.log()
    assert "Traceback" not in log, log


def test_limits_off_lets_a_burst_through():
    with _serve(False) as server:
        client = Recorder().connect(server.url)
        try:
            got = _acked(client, 300, lambda i: i)
            client.call("echo", "last", timeout=10)
            # Acks arrive in order; the last call's ack came after all 300.
            assert len(got) == 300
            assert _stats(server)["dropped_rate"] == 0
        finally:
            client.disconnect()


# -- configuration and the pure parts ------------------------------------------

def test_config_keys_and_errors():
    limits = resolve_limits({"RTCIO_RATE_LIMIT": "20", "RTCIO_RATE_BURST": 40})
    assert (limits.rate, limits.burst) == (20.0, 40)
    assert resolve_limits({"RTCIO_LIMITS": False}).enabled is False
    assert resolve_limits({}, {"rate": 7, "burst": 9}).rate == 7
    assert build_limits({"max_event_bytes": None}).max_event_bytes is None
    with pytest.raises(ValueError, match="unknown key"):
        build_limits({"rates": 5})
    with pytest.raises(ValueError, match="positive"):
        build_limits({"rate": -1})
    with pytest.raises(ValueError, match="positive whole number"):
        build_limits({"burst": 2.5})
    with pytest.raises(ValueError, match="needs a burst"):
        build_limits({"burst": None})
    with pytest.raises(ValueError, match="takes a dict"):
        build_limits("fast")


def test_rtcio_refuses_bad_limits_at_start_up():
    import flask

    from rtcio_flask import RTCIO
    app = flask.Flask("bad")
    with pytest.raises(ValueError, match="RTCIO\\(limits=...\\)"):
        RTCIO(app, limits={"rate": "lots"})


def test_bucket_refills_at_rate_up_to_capacity():
    bucket = TokenBucket(rate=10, capacity=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_limiter_verdicts_with_a_fake_clock():
    clock = FakeClock()
    limiter = EventLimiter(Limits(rate=1, burst=2, max_event_bytes=10,
                                  disconnect_after=3), clock=clock)
    assert limiter.check("s", "2[\"a\"]") == PASS
    assert limiter.check("s", "2[\"a\"]") == PASS
    assert limiter.check("s", "2[\"a\"]") == DROP_RATE
    assert limiter.check("s", "2" + "x" * 20) == DROP_SIZE
    assert limiter.check("s", "2[\"a\"]") == DROP_RATE
    assert limiter.check("s", "2[\"a\"]") == DISCONNECT
    assert limiter.check("s", "2[\"a\"]") == DISCONNECT
    assert limiter.stats()["disconnected"] == 1
    # Another connection has its own budget; forgetting frees state.
    assert limiter.check("t", "2[\"a\"]") == PASS
    limiter.forget("s")
    limiter.forget("t")
    assert limiter.stats()["connections"] == 0


def test_dropped_binary_header_swallows_its_attachments():
    clock = FakeClock()
    limiter = EventLimiter(Limits(rate=1, burst=1, disconnect_after=None),
                           clock=clock)
    assert limiter.check("s", "2[\"a\"]") == PASS
    assert limiter.check("s", '52-["a",{}]') == DROP_RATE
    clock.now = 10.0  # plenty of tokens again, but these belong to the drop
    assert limiter.check("s", b"1") == DROP_RATE
    assert limiter.check("s", b"2") == DROP_RATE
    assert limiter.check("s", "2[\"a\"]") == PASS


# -- room caps (owned by the rooms feature) under a flood -------------------------

def test_room_caps_hold_under_a_join_flood():
    rooms = {"max_members": 3, "max_rooms_per_socket": 2}
    with serve_app(APP, "eventlet", env={
            "TEST_ROOMS": json.dumps(rooms),
            "TEST_LIMITS": json.dumps({"rate": 1000, "burst": 1000})}) as server:
        clients = [Recorder().connect(server.url) for _ in range(5)]
        try:
            flooder = clients[0]
            answers = [flooder.call("join-room", {"roomId": f"r{i}"})
                       for i in range(40)]
            joined = [a for a in answers if a is None or a.get("ok", True)]
            assert len(joined) == 2
            assert {a["error"] for a in answers if a not in joined} == {
                "too-many-rooms"}
            crowd = [c.call("join-room", {"roomId": "r0"})
                     for c in clients[1:]]
            # The flooder is one of the 3 members already.
            assert [a is None or a.get("ok", True) for a in crowd] == [
                True, True, False, False]
            assert crowd[-1]["error"] == "room-full"
        finally:
            for c in clients:
                c.disconnect()
        assert "Traceback" not in server.log()
