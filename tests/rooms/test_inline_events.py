"""The rooms' events run in the greenlet (or thread) that read them when
nothing could make them wait on their own socket (no app handler on the
event, no ``authorize_join`` hook): a client's packets are then handled in
the order it sent them, as the relay's own packets always are. A relay sent
right behind a ``join-room``, without waiting for ``join-ok``, reaches the
room mate; with the handler in a greenlet of its own it could run after the
relay, which the room scope then refused."""

import json

import pytest

from tests.support.raw_eio import RawSocket
from tests.support.servers import serve_app

PREFIX = '42["#rtcio:message",'


@pytest.fixture(scope="module", params=["eventlet", "gevent", "threading"])
def server(request):
    with serve_app("tests.apps.network_app:create_app", request.param,
                   watch=True) as live:
        yield live


def test_a_relay_right_behind_a_join_is_in_the_room(server):
    receiver = RawSocket(server.url)
    senders = []
    try:
        receiver.join_room("inline")
        for seq in range(10):
            sender = RawSocket(server.url)
            senders.append(sender)
            sender.send("42" + json.dumps(["join-room",
                                           {"roomId": "inline"}]))
            sender.send("42" + json.dumps(["#rtcio:message", {
                "target": receiver.sid, "data": {"seq": seq}}]))
        got = [json.loads(receiver.recv_until(
            lambda m: m.startswith(PREFIX), timeout=10)[2:])[1]["data"]["seq"]
            for _ in range(10)]
        assert sorted(got) == list(range(10))
    finally:
        for raw in [receiver] + senders:
            raw.close()
    assert "dropped envelope" not in server.log(), server.log()[-2000:]
