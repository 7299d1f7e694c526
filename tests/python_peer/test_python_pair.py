"""Two Python peers (``rtcio_flask.peer.Peer``) in one room through the live
signaling server, no browser: what a bot author reaches beyond the
browser tests' exchange. A channel towards one peer only, handlers for
one channel's events, its binary and one peer's control events, the
``RemotePeer`` a handler gets (equal to the one ``peer()`` gives, with the
name it joined with), waiting for a peer and for a channel, ``leave()``
seen by the other side, the constructor's refusals, and the async
context manager closing everything."""

import asyncio
import subprocess
import sys

import pytest

from rtcio_flask.peer import ConnectError, IceError, Peer, PeerError
from rtcio_flask.protocol.ice import NOT_CONFIGURED_REASON
from tests.python_peer.conftest import TIMEOUT, room

NAMED = "notes"


def test_the_constructor_refuses_what_it_cannot_use():
    with pytest.raises(ValueError, match="ice_servers is a list of"):
        Peer("http://127.0.0.1:1", ice_servers="stun:stun.example.org")
    with pytest.raises(ValueError, match="receive takes 'audio' and "
                                         "'video', not 'screen'"):
        Peer("http://127.0.0.1:1", receive=("screen",))


#: Two servers that are not the signaling server, in a process of their
#: own (threads and locks in pytest's process may be eventlet's once an
#: in-process test has used it: a ``shutdown()`` waiting on one hung a CI
#: run): one answers every request with a 404 page, the other hangs up
#: without an HTTP answer. It prints both ports and runs until killed.
_NOT_SIGNALING = r"""
import socket, threading
body = b"<html><body>\n  no such   page\n</body></html>"
web = socket.create_server(("127.0.0.1", 0))
mute = socket.create_server(("127.0.0.1", 0))
print(web.getsockname()[1], mute.getsockname()[1], flush=True)

def not_found():
    while True:
        conn, _ = web.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)

threading.Thread(target=not_found, daemon=True).start()
while True:
    conn, _ = mute.accept()
    conn.close()
"""


def _connect_error(url):
    async def connect():
        peer = Peer(url, reconnect=False)
        try:
            await peer.connect(timeout=5)
        finally:
            await peer.close()
    with pytest.raises(ConnectError) as failed:
        asyncio.run(connect())
    return str(failed.value)


def test_a_url_that_is_no_signaling_server_is_said_in_one_line():
    """What a bot author reads when the URL is wrong: a web server that
    answers 404 (its page squeezed onto the line), and a port whose
    server hangs up without an HTTP answer."""
    servers = subprocess.Popen([sys.executable, "-c", _NOT_SIGNALING],
                               stdout=subprocess.PIPE, text=True)
    try:
        web_port, mute_port = servers.stdout.readline().split()
        url = f"http://127.0.0.1:{web_port}"
        assert _connect_error(url) == (
            "the server refused the connection (HTTP 404): <html><body> "
            "no such page </body></html>")
        url = f"http://127.0.0.1:{mute_port}"
        assert _connect_error(url).startswith(
            f"no socket.io server answered at {url}: ")
    finally:
        servers.kill()
        servers.wait()
        servers.stdout.close()


def test_asking_for_ice_servers_where_no_turn_is_configured(signaling, aio):
    async def ask():
        peer = Peer(signaling.url, ice_servers="ask")
        try:
            with pytest.raises(IceError) as failed:
                await peer.connect()
        finally:
            await peer.close()
        return str(failed.value)
    assert aio.run(ask()) == \
        f"ask-ice gave no ICE servers: {NOT_CONFIGURED_REASON}"


async def _until(condition, what):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not condition():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.02)


async def _pair(url):
    room_id = room()
    alice, bob = Peer(url), Peer(url)
    seen = []

    def record(kind):
        return lambda remote, *args: seen.append((kind, remote, args))

    with pytest.raises(ValueError, match="non-empty string"):
        alice.create_channel("")
    async with alice, bob:
        await alice.join(room_id, name="alice")  # join connects first
        # Nobody else in the room yet: a bounded wait says what it missed.
        with pytest.raises(PeerError, match="no peer connected within"):
            await alice.wait_for_peer(timeout=0.2)
        await bob.join(room_id, name="bob")
        to_bob = await alice.wait_for_peer()
        to_alice = await bob.wait_for_peer()
        assert to_bob == alice.peer(bob.id) and to_bob != to_alice
        assert hash(to_bob) == hash(alice.peer(bob.id))
        assert (to_bob.name, to_alice.name) == ("bob", "alice")
        assert repr(to_bob) == f"<RemotePeer {bob.id} 'bob'>"
        assert to_bob.connected and to_bob.connection is not None
        assert alice.peer("nobody").connection is None
        assert not alice.peer("nobody").connected

        # A channel towards one peer, made once the link exists: both
        # sides make it (its id derives from the name).
        mine = to_bob.create_channel(NAMED)
        theirs = to_alice.create_channel(NAMED)
        assert repr(mine) == f"<Channel {NAMED!r} to {bob.id}>"
        mine.on("note", record("note"))
        mine.on_binary(record("binary"))
        to_bob.on("direct", record("direct"))
        alice.on("direct", record("anyone"))
        await theirs.wait_open()
        await _until(mine.is_open, "the channel never opened on alice")

        assert theirs.emit("note", {"n": 1}) == 1
        assert theirs.send(b"\x00\xff" * 8) == 1
        assert to_alice.emit("direct", "to alice") is True
        assert bob.peer("nobody").emit("direct", "lost") is False
        await _until(lambda: len(seen) == 4, f"got only {seen}")
        by_kind = {kind: (remote, args) for kind, remote, args in seen}
        assert by_kind["note"] == (to_bob, ({"n": 1},))
        assert by_kind["binary"] == (to_bob, (b"\x00\xff" * 8,))
        assert by_kind["direct"] == (to_bob, ("to alice",))
        assert by_kind["anyone"] == (to_bob, ("to alice",))

        # bob leaves the room: alice sees it go; bob stays connected.
        gone = []
        alice.on("peer-disconnect", gone.append)
        await bob.leave()
        assert bob.room is None and bob.peers == []
        await _until(lambda: gone == [to_bob], f"peer-disconnect: {gone}")
        assert alice.peers == [] and not to_bob.connected
        assert mine.emit("note", "nobody hears") == 0
        assert not mine.is_open()
        assert bob.sio.connected
    # The context manager closed both sockets.
    assert not alice.sio.connected and not bob.sio.connected


def test_two_python_peers_one_channel_towards_one_peer(signaling, aio):
    aio.run(_pair(signaling.url), timeout=60)
