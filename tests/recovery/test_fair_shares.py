"""Recovery as a shared resource: one client address churning
connect-and-drop and flooding relays to its own held socket cannot push
out another address's held session or its missed packets.

The other address is 127.0.0.2 (all of 127.0.0.0/8 is loopback, so it is
a distinct client address on this machine). The server's bounds are made
small so a bounded loop crosses them: 20 held sessions in all, 5 per
address; a 200 KB log, 40 KB per address.
"""

import json

import pytest

from tests.support.raw_eio import RawSocket
from tests.support.servers import serve_app

from .test_recovery import _envelopes, run_blip

APP = "tests.apps.rooms_app:create_app"
OTHER = "127.0.0.2"


@pytest.fixture(scope="module")
def small_bounds():
    srv = serve_app(APP, "eventlet", env={
        "RTCIO_RECOVERY_WINDOW": "120",
        "RTCIO_RECOVERY_MAX_SESSIONS": "20",
        "RTCIO_RECOVERY_MAX_SESSIONS_PER_ADDRESS": "5",
        "RTCIO_RECOVERY_MAX_BYTES": "200000",
        "RTCIO_RECOVERY_MAX_BYTES_PER_ADDRESS": "40000"},
        watch=True).start()
    yield srv
    srv.stop()


def other(port):
    """A socket.io socket from 127.0.0.2 over a raw websocket."""
    return RawSocket(f"http://127.0.0.1:{port}", source_address=(OTHER, 0))


def relay(sender, target, size, ack):
    sender.send(f"42{ack}" + json.dumps(
        ["#rtcio:message", {"source": sender.sid, "target": target,
                            "data": {"pad": "p" * size}}]))


def churn(port):
    # 40 connect-and-drop cycles: twice the total bound
    for _ in range(40):
        other(port).cut()
    return []


def flood(port):
    # a held socket of its own, flooded with 270 KB of permitted relays
    # (within the relay's burst allowance, so each one is logged)
    target, sender = other(port), other(port)
    target.join_room("other-room")
    sender.join_room("other-room")
    target.cut()
    for n in range(90):
        relay(sender, target.sid, 3000, n)
    acks = []
    # the last acknowledgement
    last = sender.recv_until(lambda m: m.startswith("4389"), 30, acks)
    refused = [a for a in acks + [last] if '"ok":false' in a]
    sender.cut()
    return refused


@pytest.mark.parametrize("attack", [churn, flood])
def test_another_address_cannot_push_out_a_held_session(small_bounds,
                                                        attack):
    srv = small_bounds
    refused = []
    done = run_blip(srv.url, srv.port, "recover", "websocket",
                    during_gap=lambda: refused.extend(attack(srv.port)))
    # the flood was permitted: every relay logged (270 KB > the 200 KB log)
    assert refused == []
    assert done["recovered"] is True and done["aIdAfter"] == done["aId"]
    assert _envelopes(done["log"]["a"]) == [1, 2, 3, 4, 5, 6, 7]
    if attack is churn:
        log = srv.log_with("left before their recovery window ended")
        assert "to keep within the bounds (5 per client address, 20 in " \
            "all" in log
    assert "Traceback" not in srv.log()
