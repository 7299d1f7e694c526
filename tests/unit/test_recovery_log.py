"""The pure bookkeeping of connection state recovery: the bounded packet
log and the held sessions."""

import json

import pytest

from rtcio_flask.core.recovery_log import (HeldSession, HeldSessions,
                                           PacketLog, as_rooms,
                                           portable_environ)
from rtcio_flask.transport.recovery import (resolve_recovery,
                                            takes_offsets)
from tests.support.clock import FakeClock


def test_missed_is_what_reached_the_socket_after_its_offset_in_order():
    log = PacketLog(clock=FakeClock())
    o1 = log.append("/", as_rooms("A"), (), "2[1]")
    log.append("/", as_rooms(["room:r"]), ("A",), "2[2]")   # A skipped
    log.append("/", as_rooms("room:r"), (), "2[3]")
    log.append("/other", as_rooms("A"), (), "2[4]")         # other ns
    log.append("/", as_rooms("B"), (), "2[5]")              # not for A
    log.append("/", None, (), "2[6]")                       # everyone
    got = log.missed(log.seq_of(o1), "/", "A", frozenset({"A", "room:r"}))
    assert [e.text for e in got] == ["2[3]", "2[6]"]


def test_missed_gives_a_room_only_from_the_join_and_nothing_before_connect():
    log = PacketLog(clock=FakeClock())
    first = log.append("/", as_rooms("room:r"), (), "2[0]")  # before A
    connected = log.next_seq - 1
    log.append("/", as_rooms("room:r"), (), "2[1]")  # A not in it yet
    o_self = log.append("/", as_rooms("A"), (), "2[2]")
    joined = {"room:r": log.next_seq - 1}
    log.append("/", as_rooms("room:r"), (), "2[3]")
    member_of = frozenset({"A", "room:r"})
    got = log.missed(log.seq_of(o_self), "/", "A", member_of, joined,
                     connected_at=connected)
    assert [e.text for e in got] == ["2[3]"]
    got = log.missed(None, "/", "A", member_of, joined,
                     connected_at=connected)
    assert [e.text for e in got] == ["2[2]", "2[3]"]
    # an offset from before the socket connected was never given to it
    for before in (log.seq_of(first), connected, 0):
        assert log.missed(before, "/", "A", member_of, joined,
                          connected_at=connected) is None


def test_offsets_of_another_log_or_garbage_are_unknown():
    log, other = PacketLog(), PacketLog()
    off = other.append("/", None, (), "2[1]")
    assert log.seq_of(off) is None
    assert log.seq_of("nonsense") is None and log.seq_of(None) is None


def test_log_is_bounded_by_age_count_and_bytes():
    clock = FakeClock()
    log = PacketLog(window=10, max_packets=3, max_bytes=1000, clock=clock)
    first = log.append("/", None, (), "x" * 10)
    for _ in range(3):
        log.append("/", None, (), "x" * 10)
    assert len(log) == 3
    # everything after the first offset is still there
    assert len(log.missed(log.seq_of(first), "/", "A", frozenset())) == 3
    log.append("/", None, (), "x" * 10)
    # now a packet after it fell out: recovering must fail, not skip it
    assert log.missed(log.seq_of(first), "/", "A", frozenset()) is None
    big = PacketLog(max_bytes=25, clock=clock)
    for _ in range(5):
        big.append("/", None, (), "y" * 10)
    assert big.bytes <= 25 and len(big) == 2
    clock.now = 100.0
    log.trim()
    assert len(log) == 0 and log.bytes == 0


def test_held_sessions_expire_and_are_bounded_in_count():
    clock = FakeClock()
    held = HeldSessions(max_sessions=2, clock=clock)

    def session(pid):
        return HeldSession(pid, "sid-" + pid, "/", frozenset(), 0)

    assert held.hold(session("a"), 5) == []
    assert held.hold(session("b"), 5) == []
    evicted = held.hold(session("c"), 5)
    assert [s.pid for s in evicted] == ["a"]   # oldest leaves first
    assert held.holding("sid-b", "/").pid == "b"
    assert held.take("b").sid == "sid-b" and held.take("b") is None
    clock.now = 6.0
    assert held.take("c") is None              # expired: not recoverable
    assert [s.pid for s in held.expire()] == ["c"]
    assert len(held) == 0 and held.holding("sid-c", "/") is None


def test_settings_default_and_off_and_errors():
    on = resolve_recovery(None, {}, {})
    assert on is not None and on.window == 120
    assert resolve_recovery(0, {}, {}) is None
    assert resolve_recovery(None, {"RTCIO_RECOVERY_WINDOW": 0}, {}) is None
    assert resolve_recovery(None, {}, {"RTCIO_RECOVERY_WINDOW": "0"}) is None
    assert resolve_recovery(30, {}, {}).window == 30
    assert resolve_recovery({"max_sessions": 5}, {}, {}).max_sessions == 5
    # per-address shares: a fraction of the global bounds, or as given
    assert (on.max_sessions_per_address, on.max_bytes_per_address,
            on.max_packets_per_address) == (100, 2 * 1024 * 1024, 12500)
    small = resolve_recovery({"max_sessions": 500}, {}, {
        "RTCIO_RECOVERY_MAX_BYTES_PER_ADDRESS": "4096"})
    assert (small.max_sessions_per_address, small.max_bytes_per_address) \
        == (5, 4096)
    with pytest.raises(ValueError, match="RTCIO_RECOVERY_MAX_SESSIONS_PER_"):
        resolve_recovery(None, {"RTCIO_RECOVERY_MAX_SESSIONS_PER_ADDRESS":
                                "many"}, {})
    with pytest.raises(ValueError, match="RTCIO_RECOVERY_WINDOW"):
        resolve_recovery(None, {}, {"RTCIO_RECOVERY_WINDOW": "soon"})
    with pytest.raises(ValueError, match="unknown key 'windw' .did you "
                                         "mean 'window'"):
        resolve_recovery({"windw": 3}, {}, {})


def test_python_socketio_client_gets_no_offsets():
    assert not takes_offsets({"QUERY_STRING":
                              "EIO=4&transport=polling&t=1712345678.123"})
    assert takes_offsets({"QUERY_STRING": "EIO=4&transport=polling&t=P1a2"})
    assert takes_offsets({"QUERY_STRING": "EIO=4&transport=websocket"})


def test_append_to_one_socket_logs_what_append_logs():
    """The relay's lean path (append_to) and the general one (append) give
    the same offsets, bounds and replay."""
    clock = FakeClock()
    general = PacketLog(window=60, max_packets=3, max_bytes=100, clock=clock,
                        log_id="aa")
    lean = PacketLog(window=60, max_packets=3, max_bytes=100, clock=clock,
                     log_id="aa")
    for i in range(5):
        text = f'2["e",{i}]'
        assert lean.append_to("/", "s1", text) == general.append(
            "/", as_rooms("s1"), (), text)
        clock.now += 1
    assert (len(lean), lean.bytes) == (len(general), general.bytes) == (3, 24)
    member_of = frozenset({"s1"})
    assert lean.missed(2, "/", "s1", member_of) == general.missed(
        2, "/", "s1", member_of)
    assert [e.text for e in lean.missed(2, "/", "s1", member_of)] == [
        '2["e",2]', '2["e",3]', '2["e",4]']
    assert lean.missed(2, "/", "other", frozenset({"other"})) == []


def _held(pid, address):
    return HeldSession(pid=pid, sid="s" + pid, namespace="/",
                       rooms=frozenset(), seq_at_connect=0, address=address)


def test_held_sessions_fair_shares_per_address():
    held = HeldSessions(max_sessions=10, clock=FakeClock(), max_per_address=4)
    assert held.hold(_held("victim", "10.0.0.1"), 120) == []
    # one address churning: past its share, its own oldest go
    gone = []
    for i in range(50):
        gone += held.hold(_held(f"x{i}", "10.0.0.2"), 120)
    assert [s.pid for s in gone] == [f"x{i}" for i in range(46)]
    assert held.held_by("10.0.0.2") == 4 and "victim" in held
    # many addresses at their share: over the total, the largest goes
    for a in range(3, 6):
        for i in range(3):
            gone = held.hold(_held(f"y{a}-{i}", f"10.0.0.{a}"), 120)
    assert len(held) == 10 and "victim" in held
    assert held.held_by("10.0.0.2") < 4
    assert held.holding("svictim", "/").pid == "victim"


def test_log_fair_shares_per_owner_and_gaps_refuse_recovery():
    log = PacketLog(max_bytes=1000, max_packets=1000, clock=FakeClock(),
                    max_bytes_per_owner=300)
    connected = log.next_seq - 1
    log.append_to("/", "V", "v" * 100, owner="victim")
    for _ in range(50):  # another address floods its own held socket
        log.append_to("/", "X", "x" * 100, owner="attacker")
    assert log.owner_bytes("attacker") <= 300
    assert log.owner_bytes("victim") == 100
    got = log.missed(None, "/", "V", frozenset({"V"}), connected_at=connected)
    assert [e.text for e in got] == ["v" * 100]
    # the attacker's socket lost packets from the middle: no recovery
    assert log.missed(None, "/", "X", frozenset({"X"}),
                      connected_at=connected) is None
    # over the total with every owner within its share: the largest first
    for owner in ("a", "b", "c"):
        for _ in range(3):
            log.append_to("/", owner.upper(), owner * 100, owner=owner)
    assert log.bytes <= 1000 and log.owner_bytes("victim") == 100
    assert log.missed(None, "/", "V", frozenset({"V"}),
                      connected_at=connected) is not None


def test_portable_environ_keeps_the_strings_a_request_context_needs():
    environ = {"REQUEST_METHOD": "GET", "HTTP_COOKIE": "session=x",
               "REMOTE_ADDR": "10.0.0.1", "wsgi.url_scheme": "https",
               "wsgi.input": object(), "eventlet.input": object(),
               "SERVER_PORT": 443, "werkzeug.socket": object()}
    kept = portable_environ(environ)
    assert kept == {"REQUEST_METHOD": "GET", "HTTP_COOKIE": "session=x",
                    "REMOTE_ADDR": "10.0.0.1", "wsgi.url_scheme": "https"}
    assert json.loads(json.dumps(kept)) == kept
    assert portable_environ({}) == {"wsgi.url_scheme": "http"}
