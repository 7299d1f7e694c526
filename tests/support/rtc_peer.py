"""A real WebRTC peer (aiortc) that signals like an rtc.io browser client.

It speaks the peer side of the rtc.io protocol (PROTOCOL.md, "Peer side")
through a real python-socketio ``AsyncClient`` over websocket, so tests can
prove that signaling through the server opens real DataChannels.

How one connection between two peers comes about, in one read:

1. Someone already in the room gets ``#rtcio:init-offer {source: newcomer}``
   (or a test calls :meth:`RtcPeer.offer_to`). That peer is *polite* for
   this pair and makes the offer.
2. The newcomer gets an offer from a sid it has no connection with, so it is
   the *impolite* side: it answers.
3. Every description and ICE candidate travels as one
   ``#rtcio:message {source, target, data}`` envelope, relayed by the server.
   aiortc gathers its candidates before ``setLocalDescription`` returns and
   writes them into the SDP; like a trickling browser, this peer takes them
   out of the SDP and sends them as separate candidate envelopes, then an
   empty candidate for end-of-candidates. So the connection only works if
   the server relays the candidate envelopes too.
4. Perfect negotiation (W3C): if an offer arrives while we are making our
   own, the impolite side ignores it and the polite side gives way. aiortc
   cannot roll back a local offer, so "giving way" here means replacing the
   unused connection with a fresh one that answers.
5. Both sides create the control channel ``rtcio:ctrl`` (negotiated, id 0)
   before negotiating, so it opens on its own once DTLS and SCTP are up.
   Control messages are JSON ``{"e": event, "d": [args]}``.

Only loopback host candidates are used: no STUN or TURN servers, and the
host candidate is 127.0.0.1 (see :func:`_loopback_host_addresses`).
"""

import asyncio
import contextvars
import json
import logging

import aioice.ice
import socketio
from aiortc import (RTCConfiguration, RTCPeerConnection,
                    RTCSessionDescription)
from aiortc.sdp import candidate_from_sdp

# The pure rules are the product's (rtcio_flask.peer.wire); this test peer
# keeps its own signaling so it can check the server independently.
from rtcio_flask.peer.wire import (channel_id, decode_message,  # noqa: F401
                                   fnv1a_utf16, ice_ufrag, split_candidates)

logger = logging.getLogger("tests.rtc_peer")

MESSAGE = "#rtcio:message"
INIT_OFFER = "#rtcio:init-offer"
PEER_LEFT = "#rtcio:peer-left"

CONTROL_LABEL = "rtcio:ctrl"
CHANNEL_PREFIX = "rtcio:ch:"

MAX_CONTROL_BYTES = 1024 * 1024


# -- pure helpers -------------------------------------------------------------

def encode_control(event, *args):
    return json.dumps({"e": event, "d": list(args)}, separators=(",", ":"))


def decode_control(message):
    """``(event, args)`` for an acceptable control message, else None.

    Drops what an rtc.io client drops from a peer: oversized or malformed
    envelopes, and names reserved for the protocol or for local events.
    """
    if isinstance(message, bytes):
        return ("binary", [message]) if len(message) <= MAX_CONTROL_BYTES \
            else None
    return decode_message(message)


# -- loopback-only ICE ----------------------------------------------------------

# aioice always leaves 127.0.0.1 out of its host candidates and offers the
# machine's real interfaces instead. Tests must stay on loopback, so while
# one of our peers gathers (and only then) the host address is 127.0.0.1.
_gathering_on_loopback = contextvars.ContextVar("rtc_peer_loopback",
                                                default=False)
_aioice_host_addresses = aioice.ice.get_host_addresses


def _loopback_host_addresses(use_ipv4, use_ipv6):
    if _gathering_on_loopback.get():
        return ["127.0.0.1"] if use_ipv4 else []
    return _aioice_host_addresses(use_ipv4, use_ipv6)


aioice.ice.get_host_addresses = _loopback_host_addresses


async def _set_local_description(pc, description=None):
    token = _gathering_on_loopback.set(True)
    try:
        await pc.setLocalDescription(description)
    finally:
        _gathering_on_loopback.reset(token)


# -- one connection to one remote peer --------------------------------------------

class PeerLink:
    """The RTCPeerConnection between us and one remote sid, with its channels.

    ``inbox[label]`` is a queue of ``(event, args)`` received on that channel.
    """

    def __init__(self, remote, polite, channel_names=()):
        self.remote = remote
        self.polite = polite
        self.making_offer = False
        self.ignore_offer = False
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channels = {}
        self.inbox = {}
        self._opened = {}
        self._closed = {}
        self._add_channel(CONTROL_LABEL, 0)
        for name in channel_names:
            self.open_channel(name)

    def _add_channel(self, label, stream_id):
        channel = self.pc.createDataChannel(label, negotiated=True,
                                            id=stream_id, ordered=True)
        self.channels[label] = channel
        self.inbox.setdefault(label, asyncio.Queue())
        opened = self._opened.setdefault(label, asyncio.Event())
        closed = self._closed.setdefault(label, asyncio.Event())
        opened.clear()
        closed.clear()

        @channel.on("open")
        def _on_open():
            opened.set()

        @channel.on("close")
        def _on_close():
            closed.set()

        @channel.on("message")
        def _on_message(message):
            decoded = decode_control(message)
            if decoded is None:
                logger.info("dropped a control message on %s", label)
                return
            self.inbox[label].put_nowait(decoded)

        if channel.readyState == "open":
            opened.set()
        return channel

    def open_channel(self, name):
        label = CHANNEL_PREFIX + name
        if label not in self.channels:
            self._add_channel(label, channel_id(name))
        return self.channels[label]

    @property
    def named_channels(self):
        return [label[len(CHANNEL_PREFIX):] for label in self.channels
                if label.startswith(CHANNEL_PREFIX)]

    def is_open(self, label=CONTROL_LABEL):
        return self._opened[label].is_set()

    async def wait_open(self, label=CONTROL_LABEL, timeout=15.0):
        await asyncio.wait_for(self._opened[label].wait(), timeout)

    async def wait_closed(self, label=CONTROL_LABEL, timeout=15.0):
        await asyncio.wait_for(self._closed[label].wait(), timeout)

    async def close(self):
        await self.pc.close()


# -- the peer -------------------------------------------------------------------------

class RtcPeer:
    """One rtc.io client: a socket.io connection plus a PeerLink per remote.

    ``envelopes`` keeps every ``#rtcio:message`` exactly as the server
    delivered it, and ``events`` every other event, so tests can check what
    went over the wire. ``claim_source`` makes outgoing envelopes carry a
    false ``source``, to prove the server stamps the real one.
    """

    def __init__(self, url, name="peer", claim_source=None):
        self.url = url
        self.name = name
        self.claim_source = claim_source
        self.sio = socketio.AsyncClient(reconnection=False)
        self.links = {}
        self.envelopes = []
        self.events = []
        self._incoming = asyncio.Queue()
        self._event_arrived = asyncio.Condition()
        self._worker = None
        self._offers = set()  # init-offer tasks, kept so none is lost
        self.sio.on(MESSAGE, self._on_envelope)
        self.sio.on("*", self._on_other_event)

    # socket.io side

    async def connect(self, timeout=10.0):
        await self.sio.connect(self.url, transports=["websocket"],
                               wait_timeout=timeout)
        self._worker = asyncio.create_task(self._handle_envelopes())
        return self

    @property
    def sid(self):
        return self.sio.get_sid()

    async def call(self, event, data=None, timeout=5.0):
        """Emit an event and return the server's acknowledgement."""
        return await self.sio.call(event, data, timeout=timeout)

    def _on_envelope(self, envelope):
        # Sync on purpose: envelopes are queued in arrival order and handled
        # one at a time, as a browser's signaling handler sees them.
        self.envelopes.append(envelope)
        self._incoming.put_nowait(envelope)

    async def _on_other_event(self, event, *args):
        async with self._event_arrived:
            self.events.append((event, args[0] if len(args) == 1 else args))
            self._event_arrived.notify_all()
        if event == INIT_OFFER and isinstance(args[0], dict):
            # Existing member: we are polite and make the offer.
            task = asyncio.create_task(self.offer_to(args[0]["source"]))
            self._offers.add(task)
            task.add_done_callback(self._offer_done)

    def _offer_done(self, task):
        self._offers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: offer after init-offer failed: %r", self.name,
                         task.exception())

    async def wait_event(self, name, timeout=10.0, where=lambda p: True):
        """The payload of the first ``name`` event matching ``where``."""
        async def found():
            async with self._event_arrived:
                while True:
                    for event, payload in self.events:
                        if event == name and where(payload):
                            return payload
                    await self._event_arrived.wait()
        return await asyncio.wait_for(found(), timeout)

    async def _signal(self, remote, data):
        await self.sio.emit(MESSAGE, {
            "source": self.claim_source or self.sid,
            "target": remote,
            "data": data,
        })

    # negotiation

    def _link(self, remote, polite):
        if remote not in self.links:
            self.links[remote] = PeerLink(remote, polite)
        return self.links[remote]

    async def offer_to(self, remote, polite=True):
        """Make the offer to ``remote`` (what ``#rtcio:init-offer`` asks).

        ``polite=False`` only serves tests that force a collision.
        """
        link = self._link(remote, polite)
        link.making_offer = True
        try:
            await _set_local_description(link.pc)
            await self._send_description(link)
        except Exception:
            if self.links.get(remote) is link:
                raise
            # We gave way to the remote's offer meanwhile and closed this
            # connection: nothing is lost.
        finally:
            link.making_offer = False
        return self.links[remote]

    async def _send_description(self, link):
        local = link.pc.localDescription
        sdp, candidates = split_candidates(local.sdp)
        await self._signal(link.remote, {"description": {"type": local.type,
                                                         "sdp": sdp}})
        for candidate in candidates:
            if self.links.get(link.remote) is not link:
                return  # replaced after a collision: these are stale
            await self._signal(link.remote, {"candidate": candidate})
        end = dict(candidates[-1] if candidates else {}, candidate="")
        await self._signal(link.remote, {"candidate": end})

    async def _handle_envelopes(self):
        while True:
            envelope = await self._incoming.get()
            try:
                await self._handle(envelope)
            except Exception:  # one bad envelope must not stop signaling
                logger.exception("%s: failed to handle %r", self.name,
                                 envelope)

    async def _handle(self, envelope):
        remote, data = envelope.get("source"), envelope.get("data") or {}
        if "description" in data:
            await self._on_description(remote, data["description"])
        elif "candidate" in data:
            await self._on_candidate(remote, data["candidate"])

    async def _on_description(self, remote, description):
        # An offer from someone we have no connection with: we are the
        # newcomer, hence impolite.
        link = self._link(remote, polite=False)
        desc = RTCSessionDescription(sdp=description["sdp"],
                                     type=description["type"])
        if desc.type == "offer":
            collision = link.making_offer or link.pc.signalingState != "stable"
            link.ignore_offer = not link.polite and collision
            if link.ignore_offer:
                logger.info("%s: ignored a colliding offer from %s",
                            self.name, remote)
                return
            if collision:
                link = await self._give_way(link)
        await link.pc.setRemoteDescription(desc)
        if desc.type == "offer":
            await _set_local_description(link.pc)  # the answer
            await self._send_description(link)

    async def _give_way(self, link):
        """Polite side of a collision: drop our unanswered offer by starting
        a fresh connection (aiortc has no rollback), keeping its channels."""
        logger.info("%s: polite, giving way to %s's offer", self.name,
                    link.remote)
        fresh = PeerLink(link.remote, polite=True,
                         channel_names=link.named_channels)
        self.links[link.remote] = fresh
        await link.close()
        return fresh

    async def _on_candidate(self, remote, init):
        link = self.links.get(remote)
        if link is None:
            return
        init = init or {}
        remote_sdp = link.pc.remoteDescription
        if remote_sdp is None or init.get("usernameFragment") not in (
                None, ice_ufrag(remote_sdp.sdp)):
            # Before any description, or for a connection we ignored or
            # replaced: a browser drops these too.
            return
        text = init.get("candidate") or ""
        if not text:
            # End of candidates: lets ICE fail fast instead of waiting.
            await link.pc.addIceCandidate(None)
            return
        candidate = candidate_from_sdp(text.split(":", 1)[1])
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        try:
            await link.pc.addIceCandidate(candidate)
        except Exception:
            if not link.ignore_offer:
                raise

    # data channels

    async def wait_connected(self, remote, timeout=20.0):
        """Wait until the control channel to ``remote`` is open (rtc.io's
        ``peer-connect``). Polls, because a collision may replace the link."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            link = self.links.get(remote)
            if link is not None and link.is_open(CONTROL_LABEL):
                return link
            if loop.time() > deadline:
                raise asyncio.TimeoutError(
                    f"{self.name}: no open control channel to {remote} "
                    f"after {timeout}s")
            await asyncio.sleep(0.02)

    def send(self, remote, event, *args):
        """Send a control message over ``rtcio:ctrl``."""
        self.links[remote].channels[CONTROL_LABEL].send(
            encode_control(event, *args))

    async def open_channel(self, remote, name, timeout=10.0):
        """Open the named channel ``name`` towards ``remote`` (the other side
        must open it too, as with any negotiated channel)."""
        link = self.links[remote]
        link.open_channel(name)
        await link.wait_open(CHANNEL_PREFIX + name, timeout)

    def send_on(self, remote, name, event, *args):
        self.links[remote].channels[CHANNEL_PREFIX + name].send(
            encode_control(event, *args))

    async def receive(self, remote, name=None, timeout=10.0):
        """The next ``(event, args)`` from ``remote`` on the control channel,
        or on the named channel ``name``."""
        label = CONTROL_LABEL if name is None else CHANNEL_PREFIX + name
        return await asyncio.wait_for(
            self.links[remote].inbox[label].get(), timeout)

    async def close(self, timeout=10.0):
        """Close every connection, then the socket."""
        for task in list(self._offers):
            task.cancel()
        for link in list(self.links.values()):
            await asyncio.wait_for(link.close(), timeout)
        if self._worker is not None:
            self._worker.cancel()
        if self.sio.connected:
            await asyncio.wait_for(self.sio.disconnect(), timeout)
