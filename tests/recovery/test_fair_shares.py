"""Recovery as a shared resource: one client address churning
connect-and-drop and flooding relays to its own held socket cannot push
out another address's held session or its missed packets.

The other address is 127.0.0.2 (all of 127.0.0.0/8 is loopback, so it is
a distinct client address on this machine). The server's bounds are made
small so a bounded loop crosses them: 20 held sessions in all, 5 per
address; a 200 KB log, 40 KB per address.
"""

import json
import socket
import struct

import pytest
import websocket

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
        "RTCIO_RECOVERY_MAX_BYTES_PER_ADDRESS": "40000"}).start()
    yield srv
    srv.stop()


class Other:
    """A socket.io socket from 127.0.0.2 over a raw websocket."""

    def __init__(self, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                        source_address=(OTHER, 0))
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
            socket=sock, timeout=5, suppress_origin=True)
        self.sock = sock
        assert self.ws.recv().startswith("0{")
        self.ws.send("40")
        self.sid = json.loads(self._until("40")[2:])["sid"]

    def _until(self, prefix, seen=None):
        for _ in range(1000):
            message = self.ws.recv()
            if message == "2":
                self.ws.send("3")
            elif message.startswith(prefix):
                return message
            elif seen is not None:
                seen.append(message)
        raise AssertionError(f"no {prefix!r}")

    def join(self, room):
        self.ws.send("42" + json.dumps(["join-room", {"roomId": room}]))
        self._until('42["join-ok"')

    def relay(self, target, size, ack):
        self.ws.send(f"42{ack}" + json.dumps(
            ["#rtcio:message", {"source": self.sid, "target": target,
                                "data": {"pad": "p" * size}}]))

    def cut(self):
        """RST, no close frame: the server holds the socket."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
        self.sock.close()


def churn(port):
    # 40 connect-and-drop cycles: twice the total bound
    for _ in range(40):
        Other(port).cut()
    return []


def flood(port):
    # a held socket of its own, flooded with 270 KB of permitted relays
    # (within the relay's burst allowance, so each one is logged)
    target, sender = Other(port), Other(port)
    target.join("other-room")
    sender.join("other-room")
    target.cut()
    for n in range(90):
        sender.relay(target.sid, 3000, n)
    acks = []
    last = sender._until("43" + "89", acks)  # the last acknowledgement
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
