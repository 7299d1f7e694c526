"""One RTCPeerConnection between us and one remote peer, negotiated the
rtc.io way.

How a connection comes about:

1. The member already in the room gets ``#rtcio:init-offer`` and is the
   *polite* side: it makes the offer. The newcomer answers (*impolite*).
2. Descriptions and candidates travel as ``#rtcio:message`` envelopes
   through the server. aiortc gathers every candidate before
   ``setLocalDescription`` returns; like a browser we send them one by one
   after the description, then an empty one for end-of-candidates.
3. W3C perfect negotiation: an offer that collides with ours is ignored by
   the impolite side; the polite side gives way. aiortc cannot roll back a
   local offer, so giving way means a fresh connection that answers.
4. Both sides create ``rtcio:ctrl`` (negotiated, id 0) and every named
   channel (negotiated, FNV-1a id) before or after negotiating, so they open
   by themselves once SCTP is up. The control channel opening is
   ``peer-connect``.
"""

import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Union

from aiortc import (MediaStreamTrack, RTCConfiguration, RTCDataChannel,
                    RTCPeerConnection, RTCSessionDescription)
from aiortc.sdp import candidate_from_sdp

from .wire import (CONTROL_ID, CONTROL_LABEL, channel_id, channel_label,
                   ice_ufrag, split_candidates)

logger = logging.getLogger("rtcio_flask.peer")

#: ``signal(remote_id, data)``: sends one envelope's ``data`` to the remote.
Signal = Callable[[str, Dict[str, Any]], Awaitable[None]]
#: ``on_message(link, channel_name_or_None, raw)``
OnMessage = Callable[["Link", Optional[str], Union[str, bytes]], None]
OnState = Callable[["Link"], None]
OnTrack = Callable[["Link", MediaStreamTrack], None]


class Link:
    """Our connection to the remote ``remote_id``.

    The owner (:class:`rtcio_flask.peer.Peer`) gives callbacks for channel
    messages, the control channel opening and closing, and remote tracks;
    this class knows nothing about rooms or events.
    """

    def __init__(self, remote_id: str, polite: bool,
                 configuration: RTCConfiguration, signal: Signal,
                 on_message: OnMessage, on_open: OnState,
                 on_close: OnState, on_track: OnTrack,
                 channel_names: List[str], tracks: List[MediaStreamTrack],
                 receive: List[str]) -> None:
        self.remote_id = remote_id
        self.polite = polite
        self.making_offer = False
        self.ignore_offer = False
        self.closed = False
        self.connected = False  # the control channel has opened
        self._signal = signal
        self._on_message = on_message
        self._on_open = on_open
        self._on_close = on_close
        self._on_track = on_track
        self._configuration = configuration
        self._tracks = list(tracks)
        self._receive = list(receive)
        self.channels: Dict[Optional[str], RTCDataChannel] = {}
        self.pc = self._new_connection(channel_names)

    # -- set-up ---------------------------------------------------------------

    def _new_connection(self, channel_names: List[str]) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._configuration)
        self.pc = pc
        self.channels = {}
        self._add_channel(None)
        for name in channel_names:
            self._add_channel(name)
        # Media goes in when we offer, or after we answered (an answer
        # cannot add m-lines the offer lacks): see _add_media.
        self._media_pending = bool(self._tracks or self._receive)

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            if pc is self.pc:
                self._on_track(self, track)

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc is self.pc and pc.connectionState in ("failed", "closed"):
                logger.info("connection to %s is %s", self.remote_id,
                            pc.connectionState)
                self._on_close(self)

        return pc

    def _add_channel(self, name: Optional[str]) -> RTCDataChannel:
        label = CONTROL_LABEL if name is None else channel_label(name)
        stream_id = CONTROL_ID if name is None else channel_id(name)
        channel = self.pc.createDataChannel(label, negotiated=True,
                                            id=stream_id, ordered=True)
        self.channels[name] = channel
        pc = self.pc

        @channel.on("message")
        def _on_message(raw: Union[str, bytes]) -> None:
            if pc is self.pc:
                self._on_message(self, name, raw)

        if name is None:
            @channel.on("open")
            def _on_open() -> None:
                if pc is self.pc and not self.connected:
                    self.connected = True
                    self._on_open(self)

            @channel.on("close")
            def _on_close() -> None:
                if pc is self.pc:
                    self._on_close(self)
        return channel

    def channel(self, name: Optional[str]) -> RTCDataChannel:
        """The DataChannel for ``name`` (None: control), created on first
        use; the other side opens the same negotiated id."""
        if name not in self.channels:
            self._add_channel(name)
        return self.channels[name]

    def is_open(self, name: Optional[str] = None) -> bool:
        channel = self.channels.get(name)
        return channel is not None and channel.readyState == "open"

    def send(self, name: Optional[str], payload: Union[str, bytes]) -> bool:
        """Send on channel ``name`` if it is open; False when it is not."""
        channel = self.channels.get(name)
        if channel is None or channel.readyState != "open":
            return False
        channel.send(payload)
        return True

    # -- negotiation ------------------------------------------------------------

    def _add_media(self, answering: bool) -> bool:
        """Put our tracks and wanted receive kinds on the connection; True
        when some are left over that need an offer of ours.

        Offering, everything goes in. Answering (after the remote offer is
        set), a track only rides on a transceiver the offer brought, and the
        rest waits for the renegotiation we start right after answering.
        """
        if not self._media_pending:
            return False
        pc = self.pc
        left = False
        kinds_sent = set()
        for track in self._tracks:
            free = [t for t in pc.getTransceivers() if t.kind == track.kind
                    and t.sender.track is None and
                    (t.mid is not None or not answering)]
            if answering and not free:
                left = True
                continue
            pc.addTrack(track)
            kinds_sent.add(track.kind)
        for kind in self._receive:
            if kind in kinds_sent or any(t.kind == kind for t in
                                         pc.getTransceivers()):
                continue
            if answering:
                left = True
                continue
            pc.addTransceiver(kind, direction="recvonly")
        self._media_pending = left
        return left

    async def make_offer(self) -> None:
        """Polite side: offer (what ``#rtcio:init-offer`` asks); also how we
        add media to a connection we answered."""
        pc = self.pc
        self.making_offer = True
        try:
            self._add_media(answering=False)
            await pc.setLocalDescription(await pc.createOffer())
            if pc is self.pc:
                await self._send_description(pc)
        finally:
            self.making_offer = False

    async def _send_description(self, pc: RTCPeerConnection) -> None:
        local = pc.localDescription
        sdp, candidates = split_candidates(local.sdp)
        await self._signal(self.remote_id, {
            "description": {"type": local.type, "sdp": sdp}})
        for candidate in candidates:
            if pc is not self.pc:
                return  # replaced after a collision: these are stale
            await self._signal(self.remote_id, {"candidate": candidate})
        end = dict(candidates[-1] if candidates else {}, candidate="")
        await self._signal(self.remote_id, {"candidate": end})

    async def on_description(self, description: Dict[str, Any]) -> None:
        desc = RTCSessionDescription(sdp=description["sdp"],
                                     type=description["type"])
        if desc.type == "offer":
            collision = (self.making_offer or
                         self.pc.signalingState != "stable")
            self.ignore_offer = not self.polite and collision
            if self.ignore_offer:
                logger.info("ignored a colliding offer from %s",
                            self.remote_id)
                return
            if collision:
                await self._give_way()
        pc = self.pc
        await pc.setRemoteDescription(desc)
        if desc.type == "offer":
            renegotiate = self._add_media(answering=True)
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send_description(pc)
            if renegotiate and pc is self.pc:
                logger.info("offering %s the media its offer lacked",
                            self.remote_id)
                await self.make_offer()

    async def _give_way(self) -> None:
        """Polite side of a collision: aiortc has no rollback, so drop the
        unanswered offer with its connection and start a fresh one."""
        logger.info("polite: giving way to %s's offer", self.remote_id)
        old = self.pc
        names = [name for name in self.channels if name is not None]
        self._new_connection(names)
        await old.close()

    async def on_candidate(self, init: Optional[Dict[str, Any]]) -> None:
        init = init or {}
        remote = self.pc.remoteDescription
        if remote is None or init.get("usernameFragment") not in (
                None, ice_ufrag(remote.sdp)):
            return  # stale, or for an offer we ignored: a browser drops it
        text = init.get("candidate") or ""
        if not text:
            return  # end of candidates: aiortc needs no marker
        try:
            candidate = candidate_from_sdp(text.split(":", 1)[1])
            candidate.sdpMid = init.get("sdpMid")
            candidate.sdpMLineIndex = init.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)
        except Exception as exc:  # one odd candidate must not stop the rest
            logger.info("candidate from %s not usable (%r): %s",
                        self.remote_id, exc, text)

    async def close(self) -> None:
        self.closed = True
        await self.pc.close()

