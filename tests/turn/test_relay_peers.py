"""Two aiortc peers, each with its own vended credentials, signal through the
rtcio server and open a DataChannel relayed by coturn only
(``iceTransportPolicy="relay"``): the credentials work end to end."""

import asyncio

from aiortc import (RTCConfiguration, RTCIceServer, RTCPeerConnection,
                    RTCSessionDescription)
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from rtcio_flask import RtcioEvents
from tests.support.clients import Recorder

TIMEOUT = 20


def relay_only(answer):
    servers = [RTCIceServer(urls=entry["urls"],
                            username=entry.get("username"),
                            credential=entry.get("credential"))
               for entry in answer["iceServers"]]
    return RTCConfiguration(iceServers=servers,
                            iceTransportPolicy=RTCIceTransportPolicy.RELAY)


def candidate_types(sdp):
    return {line.split(" typ ")[1].split()[0] for line in sdp.splitlines()
            if line.startswith("a=candidate:")}


async def next_description(client, seen):
    """The next relayed envelope's description (blocking wait in a
    thread so aiortc's tasks keep running)."""
    messages = await asyncio.to_thread(client.wait_for, RtcioEvents.MESSAGE,
                                       seen + 1, TIMEOUT)
    envelope = messages[seen]
    return envelope["source"], envelope["data"]["description"]


async def call_through_relay(alice, bob):
    ice_a = await asyncio.to_thread(alice.call, "ask-ice", None, 10)
    ice_b = await asyncio.to_thread(bob.call, "ask-ice", None, 10)
    pc_a = RTCPeerConnection(relay_only(ice_a))
    pc_b = RTCPeerConnection(relay_only(ice_b))
    try:
        channel = pc_a.createDataChannel("chat")
        opened = asyncio.get_running_loop().create_future()
        channel.on("open", lambda: opened.done() or opened.set_result(True))
        echoed = asyncio.Queue()
        channel.on("message", echoed.put_nowait)

        @pc_b.on("datachannel")
        def on_channel(remote):
            remote.on("message", lambda msg: remote.send(f"echo {msg}"))

        await pc_a.setLocalDescription(await pc_a.createOffer())
        offer = pc_a.localDescription
        alice.emit(RtcioEvents.MESSAGE, {
            "source": alice.sid, "target": bob.sid,
            "data": {"description": {"type": offer.type, "sdp": offer.sdp}}})
        source, description = await next_description(bob, 0)
        assert source == alice.sid
        await pc_b.setRemoteDescription(RTCSessionDescription(**description))
        await pc_b.setLocalDescription(await pc_b.createAnswer())
        answer = pc_b.localDescription
        bob.emit(RtcioEvents.MESSAGE, {
            "source": bob.sid, "target": alice.sid,
            "data": {"description": {"type": answer.type,
                                     "sdp": answer.sdp}}})
        _, description = await next_description(alice, 0)
        await pc_a.setRemoteDescription(RTCSessionDescription(**description))

        await asyncio.wait_for(opened, TIMEOUT)
        channel.send("hello via TURN")
        reply = await asyncio.wait_for(echoed.get(), TIMEOUT)
        return offer.sdp, answer.sdp, reply, ice_a, ice_b
    finally:
        await pc_a.close()
        await pc_b.close()


def test_datachannel_over_coturn_relay_only(coturn, vending_server):
    alice = Recorder().connect(vending_server.url)
    bob = Recorder().connect(vending_server.url)
    try:
        offer_sdp, answer_sdp, reply, ice_a, ice_b = asyncio.run(
            call_through_relay(alice, bob))
    finally:
        alice.disconnect()
        bob.disconnect()
    assert reply == "echo hello via TURN"
    # Only relayed candidates were offered, so the channel went via coturn.
    assert candidate_types(offer_sdp) == {"relay"}
    assert candidate_types(answer_sdp) == {"relay"}
    log = coturn.log()
    for ice in (ice_a, ice_b):
        username = [s for s in ice["iceServers"] if "username" in s][0][
            "username"]
        assert f"user <{username}>" in log
