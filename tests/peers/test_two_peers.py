"""Two real WebRTC peers (aiortc) signal through the live server and open
real DataChannels: the rtc.io envelope relay proven end to end.

Each test runs its own asyncio loop (``asyncio.run``) inside a sync test,
bounded by ``wait_for``; the server is the basic test app under eventlet.
"""

import asyncio

from tests.support.rtc_peer import (CHANNEL_PREFIX, CONTROL_LABEL,
                                    PEER_LEFT, RtcPeer, channel_id)

SCENARIO_TIMEOUT = 60


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario, SCENARIO_TIMEOUT))


async def started(url, *names, **kwargs):
    return [await RtcPeer(url, name, **kwargs).connect() for name in names]


async def close_all(*peers):
    for peer in peers:
        await peer.close()


def data_of(envelopes, kind):
    return [e for e in envelopes if kind in (e.get("data") or {})]


async def exchange(one, other, name=None):
    """A message each way, on the control channel or the named channel."""
    send = one.send if name is None else (
        lambda r, *a: one.send_on(r, name, *a))
    send_back = other.send if name is None else (
        lambda r, *a: other.send_on(r, name, *a))
    send(other.sid, "hello", one.name, {"n": 1})
    assert await other.receive(one.sid, name) == ("hello", [one.name, {"n": 1}])
    send_back(one.sid, "hello-back", other.name)
    assert await one.receive(other.sid, name) == ("hello-back", [other.name])


def test_offer_answer_and_candidates_relayed_open_data_channels(live_server):
    async def scenario():
        a, b = await started(live_server.url, "A", "B")
        try:
            # The test plays the server's init-offer: A is told B's sid.
            await a.offer_to(b.sid)
            link_a = await a.wait_connected(b.sid)
            link_b = await b.wait_connected(a.sid)
            assert link_a.polite and not link_b.polite

            # The offer, the answer and the candidates all went through the
            # server as rtc.io envelopes, with source stamped to the sender.
            offers = data_of(b.envelopes, "description")
            answers = data_of(a.envelopes, "description")
            assert [e["data"]["description"]["type"] for e in offers] == [
                "offer"]
            assert [e["data"]["description"]["type"] for e in answers] == [
                "answer"]
            for got, sender, receiver in ((b, a, b), (a, b, a)):
                assert {e["source"] for e in got.envelopes} == {sender.sid}
                assert {e["target"] for e in got.envelopes} == {receiver.sid}
                cands = [e["data"]["candidate"]
                         for e in data_of(got.envelopes, "candidate")]
                assert any(c["candidate"].startswith("candidate:")
                           for c in cands), cands
                assert cands[-1]["candidate"] == "", "no end-of-candidates"
                # The SDP itself carried none: the trickle envelopes did it.
                sdps = data_of(got.envelopes, "description")
                assert "a=candidate:" not in sdps[0]["data"]["description"][
                    "sdp"]

            assert link_a.channels[CONTROL_LABEL].id == 0
            await exchange(a, b)

            await asyncio.gather(a.open_channel(b.sid, "chat"),
                                 b.open_channel(a.sid, "chat"))
            assert link_a.channels[CHANNEL_PREFIX + "chat"].id == \
                channel_id("chat")
            await exchange(a, b, "chat")
            await exchange(b, a)  # the control channel still works after
        finally:
            await close_all(a, b)

    run(scenario())


def test_server_stamps_source_so_a_false_claim_cannot_misroute(live_server):
    """Both peers claim a false ``source``; they only find each other
    because the server overwrites it with the sender's real sid."""
    async def scenario():
        a, b = await started(live_server.url, "A", "B",
                             claim_source="someone-else")
        try:
            await a.offer_to(b.sid)
            await asyncio.gather(a.wait_connected(b.sid),
                                 b.wait_connected(a.sid))
            assert {e["source"] for e in b.envelopes} == {a.sid}
            assert {e["source"] for e in a.envelopes} == {b.sid}
            await exchange(a, b)
        finally:
            await close_all(a, b)

    run(scenario())


def test_colliding_offers_settle_by_perfect_negotiation(live_server):
    """A (polite) and B (impolite) offer at the same moment: B ignores A's
    offer, A gives way and answers B's, and one connection results."""
    async def scenario():
        a, b = await started(live_server.url, "A", "B")
        try:
            await asyncio.gather(a.offer_to(b.sid),
                                 b.offer_to(a.sid, polite=False))
            link_a, link_b = await asyncio.gather(a.wait_connected(b.sid),
                                                  b.wait_connected(a.sid))
            assert link_b.ignore_offer, "B should have ignored A's offer"
            types_at_b = [e["data"]["description"]["type"]
                          for e in data_of(b.envelopes, "description")]
            assert types_at_b == ["offer", "answer"]
            await exchange(a, b)
        finally:
            await close_all(a, b)

    run(scenario())


def test_closing_peer_is_announced_with_peer_left(live_server):
    async def scenario():
        a, b = await started(live_server.url, "A", "B")
        try:
            for peer in (a, b):
                assert await peer.call("join", "peer-left-room") == {
                    "joined": "peer-left-room"}
            await a.offer_to(b.sid)
            link_a, _ = await asyncio.gather(a.wait_connected(b.sid),
                                             b.wait_connected(a.sid))
            await exchange(a, b)
            b_sid = b.sid
            await b.close()

            assert await a.wait_event(PEER_LEFT) == {"id": b_sid}
            # The hint agrees with WebRTC state: A's channel to B closed.
            await link_a.wait_closed(CONTROL_LABEL)
        finally:
            await close_all(a, b)

    run(scenario())
