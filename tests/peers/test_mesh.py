"""Three aiortc peers join one room one after another, and the server's
``user-connected`` / ``#rtcio:init-offer`` flow alone (existing members
offer to each newcomer) ends in a full mesh of DataChannels (issue 3)."""

import asyncio
from itertools import combinations

import pytest

from tests.support.rtc_peer import INIT_OFFER, RtcPeer
from tests.support.servers import serve_app

SCENARIO_TIMEOUT = 90
ROOM = "mesh-room"


@pytest.fixture(scope="module")
def rooms_server():
    with serve_app("tests.peers.mesh_app:create_app", "eventlet") as server:
        yield server


def offers_received(peer):
    """Sids that sent ``peer`` an offer."""
    return {e["source"] for e in peer.envelopes
            if (e.get("data") or {}).get("description", {}).get("type")
            == "offer"}


def test_three_peers_joining_in_turn_end_in_a_full_mesh(rooms_server):
    async def scenario():
        peers = []
        try:
            for name in ("p1", "p2", "p3"):
                peer = await RtcPeer(rooms_server.url, name).connect()
                peers.append(peer)
                # Only join-room: the peers never call offer_to themselves.
                await peer.sio.emit("join-room", {"roomId": ROOM,
                                                  "name": name})
                await peer.wait_event("join-ok")
                # Everyone already in the room connects to the newcomer.
                for earlier in peers[:-1]:
                    await asyncio.gather(earlier.wait_connected(peer.sid),
                                         peer.wait_connected(earlier.sid))
            p1, p2, p3 = peers

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
            for one, other in combinations(peers, 2):
                one.send(other.sid, "ping", one.name)
                other.send(one.sid, "pong", other.name)
            for one, other in combinations(peers, 2):
                assert await other.receive(one.sid) == ("ping", [one.name])
                assert await one.receive(other.sid) == ("pong", [other.name])
            for peer in peers:
                assert len(peer.links) == 2
        finally:
            for peer in peers:
                await peer.close()

    asyncio.run(asyncio.wait_for(scenario(), SCENARIO_TIMEOUT))
