"""Three aiortc peers join one room one after another, and the server's
``user-connected`` / ``#rtcio:init-offer`` flow alone (existing members
offer to each newcomer) ends in a full mesh of DataChannels (issue 3)."""

import asyncio
from itertools import combinations

import pytest

from tests.support.rtc_peer import INIT_OFFER, PEER_LEFT, RtcPeer
from tests.support.servers import serve_app

SCENARIO_TIMEOUT = 90
ROOM = "mesh-room"


@pytest.fixture(scope="module")
def rooms_server():
    with serve_app("tests.apps.mesh_app:create_app", "eventlet",
                   watch=True) as server:
        yield server


def offers_received(peer):
    """Sids that sent ``peer`` an offer."""
    return {e["source"] for e in peer.envelopes
            if (e.get("data") or {}).get("description", {}).get("type")
            == "offer"}


async def join_in_turn(url, room, names):
    """Connect peers one after another; each only emits ``join-room`` and
    waits until everyone already in the room is connected to it."""
    peers = []
    try:
        for name in names:
            peer = await RtcPeer(url, name).connect()
            peers.append(peer)
            # Only join-room: the peers never call offer_to themselves.
            await peer.sio.emit("join-room", {"roomId": room, "name": name})
            await peer.wait_event("join-ok")
            for earlier in peers[:-1]:
                await asyncio.gather(earlier.wait_connected(peer.sid),
                                     peer.wait_connected(earlier.sid))
    except BaseException:
        await close_all(peers)
        raise
    return peers


async def close_all(peers):
    for peer in peers:
        await peer.close()


async def talk_both_ways(pairs):
    for one, other in pairs:
        one.send(other.sid, "ping", one.name)
        other.send(one.sid, "pong", other.name)
    for one, other in pairs:
        assert await other.receive(one.sid) == ("ping", [one.name])
        assert await one.receive(other.sid) == ("pong", [other.name])


def test_three_peers_joining_in_turn_end_in_a_full_mesh(rooms_server):
    async def scenario():
        peers = await join_in_turn(rooms_server.url, ROOM, ["p1", "p2", "p3"])
        p1, p2, p3 = peers
        try:
            # The server told the existing members, and only them, to offer.
            def init_offers(peer):
                return [p["source"] for e, p in peer.events
                        if e == INIT_OFFER]
            assert init_offers(p1) == [p2.sid, p3.sid]
            assert init_offers(p2) == [p3.sid]
            assert init_offers(p3) == []
            # So each newcomer answered and never offered.
            assert offers_received(p1) == set()
            assert offers_received(p2) == {p1.sid}
            assert offers_received(p3) == {p1.sid, p2.sid}
            # The newcomer learned who was there before it.
            backfill = {p["id"] for e, p in p3.events
                        if e == "user-connected"}
            assert backfill == {p1.sid, p2.sid}

            # A full mesh: every pair talks both ways over rtcio:ctrl.
            await talk_both_ways(list(combinations(peers, 2)))
            for peer in peers:
                assert len(peer.links) == 2
        finally:
            await close_all(peers)

    asyncio.run(asyncio.wait_for(scenario(), SCENARIO_TIMEOUT))


def test_a_peer_leaving_the_mesh_is_announced_and_the_rest_stay_up(
        rooms_server):
    async def scenario():
        peers = await join_in_turn(rooms_server.url, ROOM + "-leave",
                                   ["p1", "p2", "p3"])
        p1, p2, p3 = peers
        try:
            left, link_1, link_3 = p2.sid, p1.links[p2.sid], p3.links[p2.sid]
            await p2.close()
            for peer, link in ((p1, link_1), (p3, link_3)):
                gone = await peer.wait_event("user-disconnected")
                assert gone["id"] == left
                assert await peer.wait_event(PEER_LEFT) == {"id": left}
                await link.wait_closed()
            await talk_both_ways([(p1, p3)])
        finally:
            await close_all(peers)

    asyncio.run(asyncio.wait_for(scenario(), SCENARIO_TIMEOUT))
