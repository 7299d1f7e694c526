"""Credentials vended over ask-ice open a relay on a real coturn; expired,
forged and tampered ones are refused by it.

A python-socketio client asks the live rtcio server, and aioice (the ICE
library under aiortc) allocates with what it got, as a browser's ICE agent
would.
"""

import asyncio
import time

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from rtcio_flask import make_credentials
from tests.support.clients import Recorder

TIMEOUT = 15


class Inbox(asyncio.DatagramProtocol):
    """Collects datagrams so a test can await the next one."""

    def __init__(self):
        self.queue = asyncio.Queue()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.queue.put_nowait((data, addr))

    def error_received(self, exc):
        self.queue.put_nowait((exc, None))


def ask_ice(server, namespace="/"):
    client = Recorder(namespace=namespace).connect(server.url)
    try:
        return client.sid, client.call("ask-ice", timeout=10)
    finally:
        client.disconnect()


def turn_entry(answer):
    [entry] = [s for s in answer["iceServers"] if "username" in s]
    return entry


async def relay_round_trip(coturn, username, password):
    """Allocate on coturn, send to a loopback peer through the relay and
    get its reply back; return (relayed address, what the peer saw)."""
    turn, inbox = await asyncio.wait_for(create_turn_endpoint(
        Inbox, coturn.address, username, password, lifetime=600), TIMEOUT)
    loop = asyncio.get_running_loop()
    peer_transport, peer = await loop.create_datagram_endpoint(
        Inbox, local_addr=("127.0.0.1", 0))
    try:
        relayed = turn.get_extra_info("sockname")
        peer_addr = peer_transport.get_extra_info("sockname")
        turn.sendto(b"ping through coturn", peer_addr)
        data, source = await asyncio.wait_for(peer.queue.get(), TIMEOUT)
        peer_transport.sendto(b"pong", source)
        reply, reply_from = await asyncio.wait_for(inbox.queue.get(), TIMEOUT)
        return relayed, data, source, reply, reply_from, peer_addr
    finally:
        peer_transport.close()
        turn.close()
        await asyncio.sleep(0)


async def refused_code(coturn, username, password):
    with pytest.raises(stun.TransactionFailed) as info:
        await asyncio.wait_for(create_turn_endpoint(
            Inbox, coturn.address, username, password), TIMEOUT)
    return info.value.response.attributes["ERROR-CODE"][0]


def test_vended_credentials_allocate_and_relay(coturn, vending_server):
    sid, answer = ask_ice(vending_server)
    assert answer["ttl"] == 600
    stun_entry, entry = answer["iceServers"]
    assert stun_entry == {"urls": [f"stun:127.0.0.1:{coturn.port}"]}
    assert entry["urls"] == [f"turn:127.0.0.1:{coturn.port}?transport=udp"]
    expiry, _, user = entry["username"].partition(":")
    assert user == sid
    assert time.time() < int(expiry) <= time.time() + 600 + 5

    relayed, data, source, reply, reply_from, peer_addr = asyncio.run(
        relay_round_trip(coturn, entry["username"], entry["credential"]))
    assert relayed[0] == "127.0.0.1" and relayed[1] != coturn.port
    assert data == b"ping through coturn"
    assert source == relayed           # the peer sees the relay, not us
    assert reply == b"pong" and reply_from == peer_addr


def test_other_protocol_namespaces_vend_too(coturn, vending_server):
    sid, answer = ask_ice(vending_server, namespace="/calls")
    entry = turn_entry(answer)
    assert entry["username"].endswith(":" + sid)
    relayed, *_ = asyncio.run(
        relay_round_trip(coturn, entry["username"], entry["credential"]))
    assert relayed[0] == "127.0.0.1"


def test_expired_credentials_are_refused(coturn):
    creds = make_credentials(coturn.secret, "late-user", ttl=60,
                             now=time.time() - 3600)
    assert creds.expires < time.time()
    code = asyncio.run(refused_code(coturn, creds.username,
                                    creds.credential))
    assert code in (401, 438)


def test_forged_credentials_are_refused(coturn):
    creds = make_credentials("not-the-secret", "mallory", ttl=600)
    code = asyncio.run(refused_code(coturn, creds.username,
                                    creds.credential))
    assert code == 401


def test_tampered_username_is_refused(coturn, vending_server):
    """A vended password is bound to its username: stretching the expiry
    (or renaming the user) breaks the HMAC."""
    _, answer = ask_ice(vending_server)
    entry = turn_entry(answer)
    expiry, _, user = entry["username"].partition(":")
    for username in (f"{int(expiry) + 86400}:{user}", f"{expiry}:someone"):
        code = asyncio.run(refused_code(coturn, username,
                                        entry["credential"]))
        assert code == 401
