"""The peer-sized relay budget of :class:`EventLimiter`, with a fake clock
and a fake peer count (the live proof is test_full_rooms.py)."""

from rtcio_flask.core.limits import (DISCONNECT, DROP_RATE, PASS,
                                     EventLimiter, Limits)
from tests.support.clock import FakeClock

RELAY = '2["#rtcio:message",{"target":"x","data":{}}]'
RELAY_NS = '2/calls,["#rtcio:message",{"target":"x","data":{}}]'
OTHER = '2["chat-message",{"roomId":"r"}]'


def _limiter(peers, **limits):
    clock = FakeClock()
    count = {"n": peers}
    limiter = EventLimiter(Limits(**limits), clock=clock,
                           peers=lambda key: count["n"])
    return limiter, clock, count


def _passed(limiter, key, packet, n):
    return sum(limiter.check(key, packet) == PASS for _ in range(n))


def test_relay_budget_grows_with_peers_other_events_do_not():
    limiter, _clock, _ = _limiter(49, rate=50, burst=100, peer_burst=20,
                                  disconnect_after=None)
    # 49 peers: 100 + 20 * 49 relay envelopes at once, on any namespace.
    assert _passed(limiter, "s", RELAY, 600) == 600
    assert _passed(limiter, "s", RELAY_NS, 600) == 1080 - 600
    # Everything else keeps the flat burst.
    assert _passed(limiter, "s", OTHER, 300) == 100


def test_new_peers_bring_their_budget_at_once_after_peers_changed():
    limiter, _clock, count = _limiter(0, rate=50, burst=10, peer_burst=20,
                                      disconnect_after=None)
    assert _passed(limiter, "s", RELAY, 20) == 10
    count["n"] = 5
    # Recounted only when told (or after PEER_RECOUNT_SECONDS).
    assert limiter.check("s", RELAY) == DROP_RATE
    limiter.peers_changed()
    assert _passed(limiter, "s", RELAY, 200) == 100


def test_recount_after_a_second_without_being_told():
    limiter, clock, count = _limiter(0, rate=1, burst=1, peer_burst=10,
                                     peer_rate=1, disconnect_after=None)
    assert _passed(limiter, "s", RELAY, 5) == 1
    count["n"] = 3
    clock.now = 0.5
    assert limiter.check("s", RELAY) == DROP_RATE
    clock.now = 1.2
    # The refilled token, then 10 per each of the 3 new peers.
    assert _passed(limiter, "s", RELAY, 100) == 1 + 30


def test_twice_the_allowance_is_cut_off_but_the_allowance_is_not():
    for factor, cut in ((1.0, False), (2.0, True)):
        limiter, clock, _ = _limiter(10, rate=50, burst=100, peer_burst=20,
                                     peer_rate=2, disconnect_after=250)
        allowance = 50 + 2 * 10
        verdicts = []
        for tick in range(60 * 100):  # 60 s in 10 ms steps
            clock.now = tick / 100
            for _ in range(int((tick + 1) * allowance * factor / 100) -
                           int(tick * allowance * factor / 100)):
                verdicts.append(limiter.check("s", RELAY))
        assert (DISCONNECT in verdicts) is cut, factor
