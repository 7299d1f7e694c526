"""A Python rtc.io peer: joins a room through the signaling server and
talks to the other members (browsers or Python) over WebRTC DataChannels.

The API follows the rtc.io browser client (``emit`` to every peer,
``peer(id).emit`` to one, ``on``, ``create_channel``) with one Python
difference: like python-socketio's server handlers take the sid first,
every handler of a peer event gets the sending :class:`RemotePeer` first::

    peer = Peer("http://127.0.0.1:3001")

    @peer.on("chat")
    def chat(remote, text):
        remote.emit("chat", f"you said {text}")

    await peer.connect()
    await peer.join("lobby", name="bot")
    await peer.wait()
"""

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import (Any, Callable, Dict, List, Optional, Sequence, Set,
                    Tuple, Union)

import socketio
from aiortc import (MediaStreamTrack, RTCConfiguration, RTCIceServer,
                    RTCPeerConnection)
from aiortc.contrib.media import MediaRelay
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from .errors import JoinError, PeerError
from .link import Link
from .signaling import (ask_ice, explain_connect_failure, handshake_headers,
                        socket_client)
from .wire import (INIT_OFFER, MESSAGE, PEER_LEFT, check_binary,
                   decode_message, encode_message)

logger = logging.getLogger("rtcio_flask.peer")

Handler = Callable[..., Any]
#: Handlers are keyed by (channel name or None for control, remote id or
#: None for "from anyone").
_Key = Tuple[Optional[str], Optional[str]]
_BINARY = "\x00binary"  # internal key: no JSON event name can be this


@dataclass(frozen=True)
class Message:
    """One message a remote peer sent us, for catch-all handlers.

    ``channel`` is None for the control channel; ``data`` is set (and
    ``event`` None) for raw binary sent on a named channel.
    """

    remote: "RemotePeer"
    channel: Optional[str]
    event: Optional[str]
    args: Tuple[Any, ...] = ()
    data: Optional[bytes] = None


class Channel:
    """A named channel, towards every peer (from :meth:`Peer.create_channel`)
    or one (from :meth:`RemotePeer.create_channel`).

    Its messages are ``{"e", "d"}`` JSON (:meth:`emit`) or raw bytes
    (:meth:`send`), on the DataChannel ``rtcio:ch:<name>`` whose id both
    sides derive from the name.
    """

    def __init__(self, owner: "Peer", name: str,
                 remote_id: Optional[str] = None) -> None:
        self._owner = owner
        self.name = name
        self.remote_id = remote_id

    def __repr__(self) -> str:
        to = self.remote_id or "every peer"
        return f"<Channel {self.name!r} to {to}>"

    def _targets(self) -> List[Link]:
        return self._owner._links_for(self.remote_id)

    def emit(self, event: str, *args: Any) -> int:
        """Send ``event`` with JSON-able ``args``; returns how many peers
        it went to (those with this channel open)."""
        payload = encode_message(event, args)
        return sum(link.send(self.name, payload) for link in self._targets())

    def send(self, data: Union[bytes, bytearray, memoryview]) -> int:
        """Send raw bytes (the browser gets an ArrayBuffer)."""
        payload = check_binary(data)
        return sum(link.send(self.name, payload) for link in self._targets())

    def on(self, event: str, handler: Optional[Handler] = None) -> Any:
        """``handler(remote, *args)`` for ``event`` on this channel; usable
        as a decorator."""
        return self._owner._register((self.name, self.remote_id), event,
                                     handler)

    def on_binary(self, handler: Optional[Handler] = None) -> Any:
        """``handler(remote, data: bytes)`` for raw binary on this
        channel."""
        return self._owner._register((self.name, self.remote_id), _BINARY,
                                     handler)

    def is_open(self) -> bool:
        return any(link.is_open(self.name) for link in self._targets())

    async def wait_open(self, timeout: float = 15.0) -> None:
        """Until the channel is open towards at least one peer."""
        await self._owner._wait(self.is_open, timeout,
                                f"channel {self.name!r} did not open")


class RemotePeer:
    """Another member of the room, as seen from our side."""

    def __init__(self, owner: "Peer", remote_id: str) -> None:
        self._owner = owner
        self.id = remote_id

    def __repr__(self) -> str:
        return f"<RemotePeer {self.id} {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePeer) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def name(self) -> Optional[str]:
        """The name it joined with (``user-connected``), if known."""
        return self._owner._names.get(self.id)

    @property
    def connected(self) -> bool:
        """Whether the control channel to it is open."""
        link = self._owner._links.get(self.id)
        return link is not None and link.connected and not link.closed

    @property
    def connection(self) -> Optional[RTCPeerConnection]:
        """The aiortc RTCPeerConnection, for what this API does not wrap."""
        link = self._owner._links.get(self.id)
        return None if link is None else link.pc

    def emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` to this peer over the control channel."""
        payload = encode_message(event, args)
        link = self._owner._links.get(self.id)
        return link is not None and link.send(None, payload)

    def on(self, event: str, handler: Optional[Handler] = None) -> Any:
        """``handler(remote, *args)`` for ``event`` from this peer only."""
        return self._owner._register((None, self.id), event, handler)

    def create_channel(self, name: str) -> Channel:
        """The named channel ``name`` towards this peer only."""
        self._owner._peer_channels.setdefault(self.id, set()).add(name)
        link = self._owner._links.get(self.id)
        if link is not None:
            link.channel(name)
        return Channel(self._owner, name, self.id)


class Peer:
    """One rtc.io peer: a socket.io client plus a WebRTC connection to every
    other member of the room.

    ``ice_servers``: a list of browser-style dicts (``{"urls", "username",
    "credential"}``), or ``"ask"`` to fetch them (with TURN credentials)
    from the server's ``ask-ice`` after connecting; None for host
    candidates only. ``relay_only`` makes ICE use TURN relays only.
    ``receive``: media kinds to ask for even when the other side offers
    (``("audio",)`` to record a browser's microphone). ``peer_timeout``:
    seconds a room member has to connect before ``peer-failed`` fires.

    Local events (``on``): ``peer-connect(remote)``,
    ``peer-disconnect(remote)``, ``peer-failed(remote, reason)``,
    ``track-added(remote, track)``, ``disconnect()`` (signaling lost).
    Any other name is a control-channel event from a peer:
    ``handler(remote, *args)``.
    """

    def __init__(self, url: str, *,
                 ice_servers: Union[None, str, Sequence[Dict[str, Any]]]
                 = None,
                 relay_only: bool = False,
                 origin: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None,
                 auth: Optional[Dict[str, Any]] = None,
                 path: str = "socket.io",
                 reconnect: bool = True,
                 receive: Sequence[str] = (),
                 peer_timeout: Optional[float] = 30.0) -> None:
        if isinstance(ice_servers, str) and ice_servers != "ask":
            raise ValueError("ice_servers is a list of {urls, username, "
                             "credential} dicts, None, or 'ask'")
        for kind in receive:
            if kind not in ("audio", "video"):
                raise ValueError(f"receive takes 'audio' and 'video', not "
                                 f"{kind!r}")
        self.url = url.rstrip("/")
        self.path = path
        self.relay_only = relay_only
        self.peer_timeout = peer_timeout
        self.receive = list(receive)
        self._ice_option = ice_servers
        self.ice_servers: List[Dict[str, Any]] = (
            [] if ice_servers is None or isinstance(ice_servers, str)
            else [dict(s) for s in ice_servers])
        self._headers = handshake_headers(origin, headers)
        self._auth = auth
        #: The python-socketio client, for server events this class does
        #: not cover (``peer.sio.on("chat-message", ...)``).
        self.sio = socket_client(reconnect)
        self.room: Optional[str] = None
        self._name: Optional[str] = None
        self._password: Optional[str] = None
        self._links: Dict[str, Link] = {}
        self._names: Dict[str, str] = {}
        self._handlers: Dict[_Key, Dict[str, List[Handler]]] = {}
        self._catch_all: List[Handler] = []
        self._broadcast_channels: List[str] = []
        self._peer_channels: Dict[str, Set[str]] = {}
        self._tracks: List[MediaStreamTrack] = []
        self._relay = MediaRelay()
        self._incoming: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._timers: Dict[str, "asyncio.Task[Any]"] = {}
        self._worker: Optional["asyncio.Task[Any]"] = None
        self._join: Optional["asyncio.Future[None]"] = None
        self._refusal: Optional[str] = None
        self._closing = False
        self._ever_connected = False
        self._install_socket_handlers()

    # -- public API -------------------------------------------------------------

    @property
    def id(self) -> Optional[str]:
        """Our socket id in the namespace: what other peers know us by."""
        return self.sio.get_sid()

    @property
    def peers(self) -> List[RemotePeer]:
        """The peers whose control channel is open."""
        return [RemotePeer(self, rid) for rid, link in self._links.items()
                if link.connected and not link.closed]

    def peer(self, remote_id: str) -> RemotePeer:
        return RemotePeer(self, remote_id)

    def on(self, event: str, handler: Optional[Handler] = None) -> Any:
        """Register ``handler`` for a local event or a control-channel event
        from any peer (see the class docs); usable as a decorator."""
        return self._register((None, None), event, handler)

    def on_message(self, handler: Handler) -> Handler:
        """``handler(message: Message)`` for every message on every channel
        (the command's log and ``--echo`` use this)."""
        self._catch_all.append(handler)
        return handler

    def emit(self, event: str, *args: Any) -> int:
        """Send ``event`` to every connected peer over the control channel;
        returns how many peers it went to."""
        payload = encode_message(event, args)
        return sum(link.send(None, payload) for link in self._links_for(None))

    def create_channel(self, name: str) -> Channel:
        """The named channel ``name`` towards every peer, now and later."""
        if not isinstance(name, str) or not name:
            raise ValueError("a channel name is a non-empty string")
        if name not in self._broadcast_channels:
            self._broadcast_channels.append(name)
            for link in self._links.values():
                link.channel(name)
        return Channel(self, name)

    def add_track(self, track: MediaStreamTrack) -> None:
        """Send ``track`` (for example ``MediaPlayer(path).audio``) to every
        peer connected from now on; :meth:`close` stops it."""
        self._tracks.append(track)

    async def connect(self, timeout: float = 10.0) -> "Peer":
        """Open the signaling socket (websocket only, as a non-browser has
        no reason to poll); raises ConnectError with the reason."""
        self._refusal = None
        try:
            await self.sio.connect(
                self.url, transports=["websocket"], headers=self._headers,
                auth=self._auth, socketio_path=self.path,
                wait_timeout=timeout)
        except socketio.exceptions.ConnectionError:
            await self._close_http()
            raise await explain_connect_failure(
                self.url, self.path, self._headers, self._refusal) from None
        self._ever_connected = True
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._handle_incoming())
        if self._ice_option == "ask":
            self.ice_servers = await ask_ice(self.sio)
        return self

    async def join(self, room: str, name: Optional[str] = None,
                   password: Optional[str] = None,
                   timeout: float = 10.0) -> None:
        """``join-room`` (connecting first if need be): returns on
        ``join-ok``, raises JoinError on ``join-error`` or ``error {code}``
        (room full...)."""
        if not self.sio.connected:
            await self.connect(timeout)
        self.room, self._name, self._password = room, name, password
        await self._send_join(timeout)

    async def leave(self) -> None:
        """Leave the room (``leave-room``) and close every connection."""
        if self.room is not None and self.sio.connected:
            await self.sio.emit("leave-room", {"roomId": self.room})
        self.room = None
        await self._drop_all("left the room")

    async def close(self) -> None:
        """Close every peer connection, then the socket: the others get
        ``peer-disconnect`` at once (DataChannel close) and the server
        tells the room (``#rtcio:peer-left``)."""
        if self._closing:
            return
        self._closing = True
        await self._drop_all("closing")
        for track in self._tracks:
            track.stop()  # a MediaPlayer's thread ends with its tracks
        for task in list(self._timers.values()):
            task.cancel()
        if self.sio.connected:
            try:
                await asyncio.wait_for(self.sio.disconnect(), 5)
            except asyncio.TimeoutError:
                logger.info("socket did not close within 5 s")
        if self._worker is not None:
            self._worker.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_http(self) -> None:
        """python-engineio leaves its aiohttp session open when the first
        connect fails; close it so nothing warns at exit."""
        http = getattr(self.sio.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()

    async def wait(self) -> None:
        """Until the socket is gone for good (closed, or reconnecting gave
        up). Cancelling this wait leaves the socket alone."""
        # Shielded: a cancelled sio.wait() would cancel the socket's read
        # loop with it.
        await asyncio.shield(self.sio.wait())

    async def wait_for_peer(self, timeout: float = 30.0) -> RemotePeer:
        """The first connected peer (waiting for one if need be)."""
        await self._wait(lambda: bool(self.peers), timeout,
                         "no peer connected")
        return self.peers[0]

    async def __aenter__(self) -> "Peer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- handlers -----------------------------------------------------------------

    def _register(self, key: _Key, event: str,
                  handler: Optional[Handler]) -> Any:
        def add(fn: Handler) -> Handler:
            self._handlers.setdefault(key, {}).setdefault(event, []).append(
                fn)
            return fn
        return add if handler is None else add(handler)

    def _call(self, fn: Handler, *args: Any) -> None:
        try:
            result = fn(*args)
        except Exception:
            logger.exception("handler %r failed", fn)
            return
        if inspect.isawaitable(result):
            self._spawn(result)

    def _spawn(self, awaitable: Any) -> "asyncio.Task[Any]":
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("peer task failed: %r", task.exception(),
                         exc_info=task.exception())

    def _fire(self, event: str, *args: Any) -> None:
        for fn in list(self._handlers.get((None, None), {}).get(event, [])):
            self._call(fn, *args)

    def _dispatch(self, link: Link, channel: Optional[str],
                  raw: Union[str, bytes]) -> None:
        remote = RemotePeer(self, link.remote_id)
        if isinstance(raw, (bytes, bytearray)):
            if channel is None or len(raw) > 1024 * 1024:
                return  # the control channel carries JSON text only
            event, args, data = _BINARY, (bytes(raw),), bytes(raw)
        else:
            decoded = decode_message(raw)
            if decoded is None:
                logger.info("dropped a message from %s on %s", remote.id,
                            channel or "ctrl")
                return
            event, args, data = decoded[0], tuple(decoded[1]), None
        for key in ((channel, None), (channel, link.remote_id)):
            for fn in list(self._handlers.get(key, {}).get(event, [])):
                self._call(fn, remote, *args)
        message = Message(remote, channel, None if data is not None else
                          event, () if data is not None else args, data)
        for fn in list(self._catch_all):
            self._call(fn, message)

    # -- signaling --------------------------------------------------------------

    def _install_socket_handlers(self) -> None:
        sio = self.sio
        sio.on("connect", self._on_connect)
        sio.on("connect_error", self._on_connect_error)
        sio.on("disconnect", self._on_disconnect)
        sio.on(MESSAGE, lambda envelope: self._queue("envelope", envelope))
        sio.on(INIT_OFFER, lambda data: self._queue("init-offer", data))
        sio.on(PEER_LEFT, lambda data: self._queue("gone", data))
        sio.on("user-disconnected", lambda data: self._queue("gone", data))
        sio.on("user-connected", self._on_user_connected)
        sio.on("join-ok", self._on_join_ok)
        sio.on("join-error", self._on_join_error)
        sio.on("error", self._on_error)

    def _queue(self, kind: str, data: Any) -> None:
        # Handled one at a time in arrival order, as a browser's signaling
        # handler sees them (an offer before its candidates).
        if isinstance(data, dict):
            self._incoming.put_nowait((kind, data))

    async def _on_connect(self) -> None:
        if self._ever_connected and self.room is not None:
            # A reconnect: the server knows us under a new id, so join
            # again; the others connect to the new id.
            logger.info("reconnected; joining %s again", self.room)
            self._spawn(self._send_join(10.0))

    def _on_connect_error(self, data: Any = None) -> None:
        # The server's refusal (connect hook, middleware) is a dict with a
        # message; a transport failure comes as a bare string instead.
        if isinstance(data, dict):
            self._refusal = str(data.get("message") or data)

    async def _on_disconnect(self, *args: Any) -> None:
        await self._drop_all("signaling lost")
        if not self._closing:
            self._fire("disconnect")

    def _on_user_connected(self, data: Any = None) -> None:
        if not isinstance(data, dict) or data.get("id") in (None, self.id):
            return
        remote_id = str(data["id"])
        if isinstance(data.get("name"), str):
            self._names[remote_id] = data["name"]
        self._watch(remote_id)

    async def _send_join(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._join = loop.create_future()
        payload: Dict[str, Any] = {"roomId": self.room}
        if self._name is not None:
            payload["name"] = self._name
        if self._password is not None:
            payload["password"] = self._password
        await self.sio.emit("join-room", payload)
        try:
            await asyncio.wait_for(asyncio.shield(self._join), timeout)
        except asyncio.TimeoutError:
            raise JoinError("timeout", f"no answer to join-room "
                            f"{self.room!r} within {timeout:g} s",
                            self.room) from None

    def _settle_join(self, error: Optional[JoinError]) -> None:
        if self._join is None or self._join.done():
            return
        if error is None:
            self._join.set_result(None)
        else:
            self._join.set_exception(error)

    def _on_join_ok(self, data: Any = None) -> None:
        self._settle_join(None)

    def _on_join_error(self, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {}
        reason = str(data.get("reason") or "refused")
        message = data.get("message") or reason
        self._settle_join(JoinError(
            reason, f"could not join room {self.room!r}: {message} "
                    f"({reason})", self.room))

    def _on_error(self, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {}
        code = str(data.get("code") or "error")
        if self._join is not None and not self._join.done():
            message = data.get("message") or {
                "room-full": "the room is full",
                "too-many-rooms": "this socket is in too many rooms",
            }.get(code, code)
            self._settle_join(JoinError(
                code, f"could not join room {self.room!r}: {message} "
                      f"({code})", self.room))

    async def _handle_incoming(self) -> None:
        while True:
            kind, data = await self._incoming.get()
            try:
                if kind == "envelope":
                    await self._on_envelope(data)
                elif kind == "init-offer":
                    await self._on_init_offer(data)
                elif kind == "gone":
                    await self._drop(str(data.get("id")), "left")
            except Exception:  # one bad envelope must not stop signaling
                logger.exception("failed to handle %s %r", kind, data)

    async def _signal(self, remote_id: str, data: Dict[str, Any]) -> None:
        await self.sio.emit(MESSAGE, {"source": self.id, "target": remote_id,
                                      "data": data})

    def _configuration(self) -> RTCConfiguration:
        servers = []
        for entry in self.ice_servers:
            urls = entry.get("urls")
            if not isinstance(urls, (str, list)):
                raise ValueError(f"an ICE server needs urls: {entry!r}")
            servers.append(RTCIceServer(
                urls=urls, username=entry.get("username"),
                credential=entry.get("credential")))
        policy = (RTCIceTransportPolicy.RELAY if self.relay_only
                  else RTCIceTransportPolicy.ALL)
        return RTCConfiguration(iceServers=servers,
                                iceTransportPolicy=policy)

    def _link(self, remote_id: str, polite: bool) -> Link:
        link = self._links.get(remote_id)
        if link is None or link.closed:
            names = list(self._broadcast_channels) + sorted(
                self._peer_channels.get(remote_id, ()))
            link = Link(remote_id, polite, self._configuration(),
                        self._signal, self._dispatch, self._on_link_open,
                        self._on_link_close, self._on_link_track, names,
                        [self._relay.subscribe(t) for t in self._tracks],
                        self.receive)
            self._links[remote_id] = link
            self._watch(remote_id)
        return link

    async def _on_init_offer(self, data: Dict[str, Any]) -> None:
        source = data.get("source")
        if not isinstance(source, str) or source == self.id:
            return
        await self._link(source, polite=True).make_offer()

    async def _on_envelope(self, envelope: Dict[str, Any]) -> None:
        source = envelope.get("source")
        data = envelope.get("data")
        if not isinstance(source, str) or not isinstance(data, dict):
            return
        if "description" in data:
            # An offer from someone we have no connection with: we are the
            # newcomer, hence impolite.
            await self._link(source, polite=False).on_description(
                data["description"])
        elif "candidate" in data:
            link = self._links.get(source)
            if link is not None and not link.closed:
                await link.on_candidate(data["candidate"])

    # -- connection life ----------------------------------------------------------

    def _on_link_open(self, link: Link) -> None:
        timer = self._timers.pop(link.remote_id, None)
        if timer is not None:
            timer.cancel()
        self._fire("peer-connect", RemotePeer(self, link.remote_id))

    def _on_link_close(self, link: Link) -> None:
        if self._links.get(link.remote_id) is link and not link.closed:
            self._spawn(self._drop(link.remote_id, "connection closed"))

    def _on_link_track(self, link: Link, track: MediaStreamTrack) -> None:
        self._fire("track-added", RemotePeer(self, link.remote_id), track)

    def _watch(self, remote_id: str) -> None:
        """Give ``remote_id`` ``peer_timeout`` seconds to connect."""
        if self.peer_timeout is None or remote_id in self._timers:
            return
        link = self._links.get(remote_id)
        if link is not None and link.connected:
            return
        self._timers[remote_id] = asyncio.ensure_future(
            self._expire(remote_id, self.peer_timeout))

    async def _expire(self, remote_id: str, timeout: float) -> None:
        await asyncio.sleep(timeout)
        self._timers.pop(remote_id, None)
        link = self._links.get(remote_id)
        if link is not None and link.connected:
            return
        name = self._names.get(remote_id)
        who = f"{name!r} ({remote_id})" if name else remote_id
        reason = (f"peer {who} never connected (no open control channel "
                  f"after {timeout:g} s)")
        if link is not None:
            self._links.pop(remote_id, None)
            await link.close()
        self._fire("peer-failed", RemotePeer(self, remote_id), reason)

    async def _drop(self, remote_id: str, why: str) -> None:
        timer = self._timers.pop(remote_id, None)
        if timer is not None:
            timer.cancel()
        link = self._links.pop(remote_id, None)
        if link is None:
            return
        was_connected = link.connected and not link.closed
        link.closed = True
        logger.info("peer %s: %s", remote_id, why)
        if was_connected:
            self._fire("peer-disconnect", RemotePeer(self, remote_id))
        await link.pc.close()

    async def _drop_all(self, why: str) -> None:
        for remote_id in list(self._links):
            await self._drop(remote_id, why)

    def _links_for(self, remote_id: Optional[str]) -> List[Link]:
        if remote_id is None:
            return [link for link in self._links.values() if not link.closed]
        link = self._links.get(remote_id)
        return [] if link is None or link.closed else [link]

    async def _wait(self, condition: Callable[[], bool], timeout: float,
                    what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise PeerError(f"{what} within {timeout:g} s")
            await asyncio.sleep(0.02)
