"""JSON that would hurt the decoder is refused before anything decodes it
(issue 14, defect 2): nesting deeper than ``limits.max_depth`` (32), numbers
a browser could not parse back (``1e999999``, ``NaN``) and integers over
100 digits. Each closes its connection with exactly one WARNING and no
traceback, on every path: the fast relay, app events, acknowledgements,
room events and binary events. Before, one connection sending envelopes
nested 1,000 deep wrote 75 MiB of tracebacks in 10 s and slowed a healthy
pair's round trip from 2 ms to seconds.
"""

import json
import statistics
import threading
import time

import pytest
import websocket

from rtcio_flask.core.decoding import json_hazard, strict_loads
from rtcio_flask.core.limits import build_limits
from tests.support.raw_eio import RawSocket
from tests.support.clients import Recorder
from tests.support.servers import serve_app

APP = "tests.apps.abuse_app:create_app"
DEEP = "[" * 1000 + "]" * 1000
NESTED = "JSON nested deeper than 32 levels"


@pytest.fixture(scope="module")
def server():
    with serve_app(APP, "eventlet", env={"TEST_ROOMS": "true"},
                   watch=True) as live:
        yield live


@pytest.fixture
def pair(server):
    a = Recorder().connect(server.url)
    b = Recorder().connect(server.url)
    for client in (a, b):
        assert client.call("join-room", {"roomId": "healthy"}) is None
    yield a, b
    a.disconnect()
    b.disconnect()


def _closing_line(raw, problem):
    return f"rtcio: closing {raw.handshake['sid']}: malformed socket.io " \
           f"packet ({problem})"


def _closed_once(server, raw, frames, problem):
    """``raw`` sends ``frames`` (bytes as binary frames): the server closes
    it, logging ``problem`` once and no traceback."""
    try:
        for frame in frames:
            raw.send(frame, binary=isinstance(frame, bytes))
        assert raw.closed_by_server()
    finally:
        raw.close()
    log = server.log()
    assert log.count(_closing_line(raw, problem)) == 1, log
    assert "Traceback" not in log


def _packets(target):
    """The same deep payload down every path a packet can take."""
    return {
        "fast relay": '42["#rtcio:message",{"target":"%s","data":%s}]'
                      % (target, DEEP),
        "event": '42["echo",%s]' % DEEP,
        "acknowledgement": "431[%s]" % DEEP,
        "room event": '42["chat-message",{"roomId":"healthy","x":%s}]'
                      % DEEP,
        "binary event": '451-["echo",%s,{"_placeholder":true,"num":0}]'
                        % DEEP,
        "unbalanced": '42["echo",%s]' % ("[" * 1000 + "}" * 1000),
    }


@pytest.mark.parametrize("path", list(_packets("x")))
def test_deep_packet_closes_its_connection_with_one_line(server, pair, path):
    a, b = pair
    raw = RawSocket(server.url)
    try:
        raw.send('42["join-room",{"roomId":"healthy"}]')
        raw.recv_until(lambda m: "join-ok" in m)
        for _ in range(20):  # back to back: one line for all of them
            raw.send(_packets(b.sid)[path])
        assert raw.closed_by_server()
    finally:
        raw.close()
    # The healthy pair still relays.
    a.emit("#rtcio:message", {"source": a.sid, "target": b.sid,
                              "data": {"mid": path}})
    assert b.wait_for("#rtcio:message", timeout=10)[-1]["data"] == \
        {"mid": path}
    log = server.log()
    assert log.count(_closing_line(raw, NESTED)) == 1, log
    assert log.count(raw.handshake["sid"]) == 1, log
    assert "Traceback" not in log
    assert "RecursionError" not in log


@pytest.mark.parametrize("packet, problem", [
    ('42["chat-message",{"roomId":"healthy","x":1e999999}]',
     "undecodable packet (ValueError: number 1e999999 is out of range)"),
    ('42["#rtcio:message",{"target":"%s","data":{"x":-1e400}}]',
     "undecodable packet (ValueError: number -1e400 is out of range)"),
    ('42["echo",NaN]', "undecodable packet (ValueError: NaN is not JSON)"),
    ('42["echo",Infinity]',
     "undecodable packet (ValueError: Infinity is not JSON)"),
    ('42["echo",%s]' % ("7" * 5000),
     "undecodable packet (ValueError: an integer with more than 100 "
     "digits)"),
], ids=["huge-float-room-event", "huge-float-relay", "NaN", "Infinity",
        "long-integer"])
def test_numbers_a_browser_cannot_read_are_refused(server, pair, packet,
                                                   problem):
    a, b = pair
    raw = RawSocket(server.url)
    raw.send('42["join-room",{"roomId":"healthy"}]')
    raw.recv_until(lambda m: "join-ok" in m)
    _closed_once(server, raw, [packet.replace("%s", b.sid)], problem)
    # Nothing non-finite reached the room mates.
    assert not [e for e in b.events("chat-message") if "x" in e]


def test_depth_within_the_limit_passes(server, pair):
    a, _b = pair
    nested = json.loads("[" * 30 + "1" + "]" * 30)
    assert a.call("echo", nested)["args"] == [nested]


def _round_trip(client):
    start = time.perf_counter()
    client.call("echo", "ping", timeout=30)
    return time.perf_counter() - start


def test_a_nesting_flood_logs_a_line_per_connection_and_spares_others(
        server, pair):
    a, b = pair
    idle = statistics.median(_round_trip(a) for _ in range(20))
    log_before = len(server.log().splitlines())
    sent = []
    connections = []
    stop = threading.Event()

    def flood():
        # Fresh connections, each pipelining deep packets until closed;
        # bounded in count and time.
        deadline = time.monotonic() + 4
        while not stop.is_set() and time.monotonic() < deadline and \
                len(connections) < 60:
            try:
                raw = RawSocket(server.url)
            except Exception:
                continue
            connections.append(raw.handshake["sid"])
            packets = list(_packets(b.sid).values())
            try:
                for i in range(50):
                    raw.send(packets[i % len(packets)])
                    sent.append(1)
            except (websocket.WebSocketException, OSError):
                pass
            raw.close()

    threads = [threading.Thread(target=flood, daemon=True)
               for _ in range(4)]
    for thread in threads:
        thread.start()
    during = []
    while any(t.is_alive() for t in threads) and len(during) < 200:
        during.append(_round_trip(a))
    stop.set()
    for thread in threads:
        thread.join(30)
    time.sleep(0.5)
    lines = server.log().splitlines()[log_before:]
    assert len(sent) > 10 * len(connections) > 0
    # Under a line per packet: at most one per abusive connection.
    assert len(lines) <= len(connections), lines[:20]
    assert not [line for line in lines if "Traceback" in line]
    assert all(NESTED in line or "malformed" in line for line in lines), \
        lines[:5]
    # A healthy pair's round trip stays within 10x of idle (with a 20 ms
    # floor: this machine is shared).
    assert statistics.median(during) <= 10 * max(idle, 0.02), (idle, during)


# -- the pure parts ------------------------------------------------------------

def test_json_hazard_counts_brackets_outside_strings_only():
    assert json_hazard('2["x",' + "[" * 31 + "]" * 31 + "]") is None
    assert json_hazard('2["x",' + "[" * 32 + "]" * 32 + "]") == NESTED
    assert json_hazard('2["x","' + "[{" * 500 + '"]') is None
    assert json_hazard('2["x","\\"' + "[" * 40 + '"]') is None
    assert json_hazard('2/a"b,["x",' + "[" * 40 + "]") == NESTED
    assert json_hazard('2["x",' + ",".join(["[1]"] * 100) + "]") is None
    assert json_hazard('2["x",' + "[" * 10 + "]", max_depth=8) == \
        "JSON nested deeper than 8 levels"


def test_strict_loads_refuses_what_browsers_cannot_round_trip():
    assert strict_loads('[1.5,-2,1e300,"NaN"]') == [1.5, -2, 1e300, "NaN"]
    for bad in ("[1e999]", "[NaN]", "[-Infinity]", "[%s]" % ("9" * 101)):
        with pytest.raises(ValueError):
            strict_loads(bad)


def test_max_depth_setting():
    assert build_limits({"max_depth": "16"}).max_depth == 16
    with pytest.raises(ValueError, match="cannot be switched off"):
        build_limits({"max_depth": None})
    with pytest.raises(ValueError, match="positive whole number"):
        build_limits({"max_depth": 0})


@pytest.mark.parametrize("frames, problem", [
    (['42{"event":"echo"}'], "an event must be a list starting with its "
                             "name"),
    (['42[7,"echo"]'], "an event must be a list starting with its name"),
    (['431{"not":"a list"}'], "an acknowledgement must be a list"),
    (['44{"message":"x"}'], "packet type 4 is not one a client may send"),
    ([b"\x01\x02"], "binary data that no packet announced"),
    (['451-["echo",{"_placeholder":true,"num":5}]', b"\x01"],
     "bad binary attachment (IndexError)"),
    (['451-[{"_placeholder":true,"num":0}]', b"\x01"],
     "an event must be a list starting with its name"),
    (['40[1]'], "a connect payload must be an object"),
], ids=["event-object", "event-unnamed", "ack-object", "connect-error",
        "unannounced-binary", "attachment-out-of-range", "binary-unnamed",
        "connect-list"])
def test_packets_of_the_wrong_shape_are_refused(server, pair, frames,
                                                problem):
    """Well-formed JSON in a shape no socket.io client sends (socket.io's
    own parser refuses each) closes its connection with one WARNING naming
    the problem; the room mates keep talking."""
    a, _b = pair
    # A CONNECT is only answered on a socket not yet connected.
    raw = RawSocket(server.url,
                    connect_namespace=not str(frames[0]).startswith("40"))
    _closed_once(server, raw, frames, problem)
    assert a.call("echo", "still here")["args"] == ["still here"]
