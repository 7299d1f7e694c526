"""Many sockets joining one room at the same moment: every pair must end
up knowing each other exactly once and with exactly one init-offer between
them (one side offers, never both, never neither)."""

import itertools
import threading

import pytest
import redis

from rtcio_flask import RtcioEvents
from tests.support.clients import Recorder
from tests.support.servers import serve_app

COUNT = 10
ROUNDS = 5


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_simultaneous_joins_pair_everyone_once(store, request):
    env = {}
    if store == "redis":
        url = request.getfixturevalue("redis_server").url
        redis.Redis.from_url(url).flushdb()
        env["TEST_ROOMS_STORE_URL"] = url
    with serve_app("tests.apps.rooms_app:create_app", "eventlet",
                   env=env) as srv:
        clients = [Recorder().connect(srv.url) for _ in range(COUNT)]
        try:
            for round_no in range(ROUNDS):
                rush(clients, f"rush-{round_no}")
                for rec in clients:
                    assert rec.call("leave-room",
                                    {"roomId": f"rush-{round_no}"}) is None
        finally:
            for rec in clients:
                rec.disconnect()


def rush(clients, room):
    for rec in clients:
        with rec._cond:
            rec.received.clear()
    start = threading.Barrier(len(clients))

    def go(rec, i):
        start.wait(10)
        rec.emit("join-room", {"roomId": room, "name": f"p{i}"})

    threads = [threading.Thread(target=go, args=(rec, i))
               for i, rec in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for rec in clients:
        rec.wait_for("join-ok", timeout=10)
    # Everyone must come to know the other COUNT-1 members.
    for rec in clients:
        rec.wait_for("user-connected", count=COUNT - 1, timeout=10)
    # Quiesce: a chat through the room arrives after anything queued for
    # each member earlier.
    clients[0].emit("chat-message", {"roomId": room, "text": "end"})
    for rec in clients[1:]:
        rec.wait_for("chat-message", timeout=10)

    for rec in clients:
        known = [p["id"] for p in rec.events("user-connected")]
        assert len(known) == COUNT - 1 == len(set(known)), known
        assert rec.sid not in known
    for x, y in itertools.combinations(clients, 2):
        x_offers_y = sum(p["source"] == y.sid
                         for p in x.events(RtcioEvents.INIT_OFFER))
        y_offers_x = sum(p["source"] == x.sid
                         for p in y.events(RtcioEvents.INIT_OFFER))
        assert x_offers_y + y_offers_x == 1, (room, x.sid, y.sid)
    members = clients[0].call("api-members", room)
    assert sorted(m["id"] for m in members) == sorted(
        rec.sid for rec in clients)
