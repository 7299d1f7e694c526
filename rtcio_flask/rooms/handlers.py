"""The built-in rooms (``RTCIO(app, rooms=True)``): the room server every
rtc.io app otherwise re-writes (PROTOCOL.md, "Rooms"), wired to
python-socketio.

The decisions (caps, passwords, who is where) are the store's
(:mod:`rtcio_flask.rooms.store`), taken atomically, so they hold across
processes with the Redis store; this module turns events into store calls
and fans the results out with python-socketio emits to rooms, which a
message queue (``RedisManager``) carries to every process.

Each room ``R`` is also the python-socketio room ``"room:" + R`` (see
:func:`sio_room`), so the core's ``#rtcio:peer-left`` and an app's own
``rtcio.server.emit(..., to=sio_room(R))`` reach its members. The prefix
keeps a room id from ever naming another socket's private sid-room.

Events served (``id`` is always the sender's real sid, stamped here)::

    join-room {roomId, name?, password?}
        -> join-error {reason, roomId, message}  invalid-room, forbidden,
                                                 wrong-password, password-required
        -> error {code: "room-full" | "too-many-rooms", roomId}
        -> to the newcomer: user-connected {id, name, roomId} per member,
           media-state {id, roomId, mic, cam} per member with cached state
        -> to the others: user-connected {id, name, roomId},
           #rtcio:init-offer {source}
        -> join-ok {roomId}
    leave-room {roomId}          -> user-disconnected {id, roomId} to the room
    (disconnect)                 -> user-disconnected {id, roomId} per room
    check-room {roomId, password?}
        -> room-check-ok {roomId, passwordRequired} or join-error
    (wrong passwords are throttled per guesser, its client address and
    socket; a room under attack refuses only guessers: past the allowance,
    join-error {reason: "too-many-attempts"})
    media-state {roomId, mic, cam}  booleans; cached, forwarded with id
    stopScreenShare {roomId}, chat-message {roomId, ...}  forwarded with id

Refusals also answer the client's acknowledgement, if it asked for one,
with ``{"ok": false, "error": <code>, "reason": <text>, "roomId": ...}``.
"""

import inspect
import json
import logging
import math
import threading
import time
from typing import (Any, Callable, Dict, FrozenSet, List, Mapping, Optional,
                    Protocol, Sequence, Set, Tuple, Union)

from ..core.acks import AccessDenied, JoinHook, ack_error
from ..core.envelope import EnvelopeError
from ..core.events import (USER_CONNECTED, USER_RECONNECTED,
                           USER_RECONNECTING, RtcioEvents, room_ids,
                           sio_room)
from ..core.ports import Builtins
from ..core.protection import request_address
from ..core.throttle import Guess, PasswordGuesses
from ..deploy.redis_client import OutageLog
from ..protocol.departure import Departures
from .config import (RoomInputError, echo_room_id, parse_join,
                     parse_password, parse_room_id, resolve_rooms)
from .config import RoomsConfig
from .store import (ALREADY_MEMBER, JOINED, PASSWORD_REQUIRED, ROOM_FULL,
                    TOO_MANY_ROOMS, WRONG_PASSWORD, Member, RestoredMember)


class RelayProtocol(Protocol):
    """What the rooms need of the rtc.io protocol on their namespace
    (:class:`rtcio_flask.protocol.relay.RtcioProtocol` satisfies it): its
    departure path, and its list of relay checks to add the room scope to."""

    departures: Departures
    relay_checks: List[Callable[[str, str, str], Any]]

logger = logging.getLogger("rtcio_flask")

#: How long a process trusts its copy of another process's socket's rooms
#: before asking the store again, should a leave notice from the queue
#: (at most once, like every pub/sub message) have been lost.
REMOTE_VIEW_SECONDS = 10.0

_dumps = json.JSONEncoder(separators=(",", ":")).encode

#: An acknowledgement: None, or the ack_error dict of a refusal.
Ack = Optional[Dict[str, Any]]
#: The sid(s) an emit goes to.
Recipients = Union[str, List[str]]
#: The acknowledgement error while the room store is unreachable.
STORE_UNAVAILABLE = "store-unavailable"
STORE_UNAVAILABLE_TEXT = ("the room store is not reachable; try again in a "
                          "few seconds")



def _log_refusal(sid: str, room_id: Optional[str], code: str,
                 message: str) -> None:
    """One line per refused join or check, for operators."""
    logger.info("rtcio: refused %s room %r [%s]: %s", sid, room_id, code,
                message)


def _refusal(code: str, message: str,
             room_id: Optional[str]) -> Dict[str, Any]:
    return ack_error(code, message, roomId=room_id)


#: The rooms' own events (besides disconnect).
ROOM_EVENTS = ("join-room", "leave-room", "check-room", "media-state",
               "stopScreenShare", "chat-message")


class Rooms:
    """The built-in rooms of one app: event handlers, and the server-side API
    reachable as ``rtcio.rooms``.

    API (all of it goes through the store, so with the Redis store it covers
    every process): :meth:`list`, :meth:`members`, :meth:`member`,
    :meth:`rooms_of`, :meth:`kick`, :meth:`emit`, :meth:`purge_server`.
    """

    def __init__(self, server: Any, dispatcher: Builtins,
                 config: RoomsConfig,
                 join_hooks: Sequence[JoinHook] = (),
                 address_of: Optional[Callable[[str, str], str]] = None
                 ) -> None:
        self.server = server
        self.dispatcher = dispatcher
        self.config = config
        self.namespace = config.namespace
        self.store = config.make_store()
        self.join_hooks = join_hooks
        # One socket's events run in parallel greenlets or threads, and a
        # Redis store call yields: store change + python-socketio room change
        # must be one step, or a leave or disconnect landing in between
        # would leave a socket in one and not the other (a ghost member).
        self._lock = threading.Lock()
        #: Announces leaves, kicks, disconnects and dead processes; the
        #: rtc.io protocol's own when it serves this namespace (see attach).
        self.departures = Departures(server, self.namespace)
        #: What this process knows of its own members beyond python-
        #: socketio's rooms (name, media state, password hash), by sid and
        #: room: enough to put them back if the store loses its data
        #: (:meth:`restore_local`).
        self._local: Dict[str, Dict[str, Dict[str, Any]]] = {}
        #: ``held(sid)``: whether connection state recovery holds the
        #: socket (its connection dropped; it may come back). Set by
        #: install_recovery; presence marks such members ``reconnecting``.
        self.held: Callable[[str], bool] = lambda sid: False
        #: Called with a sid after it joined or left a room here (the admin
        #: UI shows the socket's names in its rooms).
        self.on_member_changed: Callable[[str], None] = lambda sid: None
        #: Rooms of sockets in other processes that the store said a
        #: sender here shares, by sid: (rooms, when looked up). Only with a
        #: message queue (:attr:`on_left` set), which keeps it in step.
        self._remote: Dict[str, Tuple[FrozenSet[str], float]] = {}
        #: ``on_left(sid, room_ids)``: tell every other process that ``sid``
        #: left those rooms (all of them when empty), so their local views
        #: forget it (see :meth:`forget`); set with a message queue.
        self.on_left: Optional[Callable[[str, List[str]], None]] = None
        #: The store's outages, logged once each (shared with recovery, the
        #: heartbeat and the queue when they use the same Redis).
        self.outages = getattr(self.store, "outages", None) or \
            OutageLog("the room store")
        self.outages.uses(f"joins and relays are refused with "
                          f"'{STORE_UNAVAILABLE}'")
        #: Sockets that disconnected while the store was unreachable: they
        #: leave it once it answers again (no ghost members).
        self._pending_leaves: Set[str] = set()
        #: The raw-packet hook whose relay budgets follow room sizes (set by
        #: install_rooms).
        self.packet_hook: Any = None
        #: ``address_of(sid, namespace)``: a socket's client address by the
        #: app's one rule (AppState.socket_address: trusted proxies).
        self._address_of = address_of or self._peer_address
        self._guesses = PasswordGuesses(
            config.password_attempts_per_address,
            config.password_attempts_per_socket,
            config.password_attempts_per_room,
            config.password_attempt_window)

    def __repr__(self) -> str:
        return (f"<rtcio Rooms namespace={self.namespace!r} "
                f"store={self.store!r}>")

    def inline_allowed(self, event: str) -> Callable[[], bool]:
        """Whether ``event`` may run in the greenlet that read it (see
        ``PacketHook.add_inline_event``): when only the built-in step
        serves it and no join hook could wait on the socket (an
        ``authorize_join`` hook may do anything, a ``call`` to the same
        client included). The store's own round trips are fine there: they
        would hold the socket's next packets anyway."""
        ns = self.namespace
        only_builtin = self.dispatcher.only_builtin

        def allowed() -> bool:
            return not self.join_hooks and only_builtin(event, ns)

        return allowed

    def attach(self, protocol: Optional[RelayProtocol] = None) -> None:
        ns = self.namespace
        guard = self._guarded
        add = self.dispatcher.add_builtin
        add("join-room", guard(self._on_join, "join-error"), ns)
        add("leave-room", guard(self._on_leave), ns)
        add("check-room", guard(self._on_check, "join-error"), ns)
        add("media-state", guard(self._on_media_state), ns)
        add("stopScreenShare", guard(self._forwarder("stopScreenShare")), ns)
        add("chat-message", guard(self._forwarder("chat-message")), ns)
        if protocol is not None:
            # The protocol's disconnect step announces the departure (peer-
            # left and user-disconnected together) and asks us to leave.
            self.departures = protocol.departures
            if self.config.relay_scope == "room":
                protocol.relay_checks.append(self.relay_check)
        else:
            add("disconnect", self._on_disconnect, ns)
        self.departures.leave_rooms = self._leave_everywhere

    # -- helpers ------------------------------------------------------------

    def _guarded(self, handler: Callable[..., Ack],
                 error_event: Optional[str] = None) -> Callable[..., Ack]:
        """Run a room handler so that bad input (:class:`RoomInputError`
        from the parsers) is refused the same way by every event, and a
        failure (the store unreachable, a hook that raises) is logged and
        answered, instead of leaving the client waiting for a ``join-ok``
        that never comes."""
        def run(sid: str, data: Any = None, *extra: Any) -> Ack:
            try:
                return handler(sid, data, *extra)
            except RoomInputError as exc:
                room_id = echo_room_id(data)
                if error_event is not None:
                    return self._join_error(sid, exc.reason, room_id,
                                            exc.message)
                return _refusal(exc.reason, exc.message, room_id)
            except Exception as exc:
                room_id = echo_room_id(data)
                if self._store_outage(exc):
                    return _refusal(STORE_UNAVAILABLE, STORE_UNAVAILABLE_TEXT,
                                    room_id)
                logger.exception("rtcio: room handler %s failed for %s",
                                 getattr(handler, "__name__", handler), sid)
                message = "the server failed to handle the room event"
                if error_event is not None:
                    try:
                        self._emit(error_event, {"reason": "server-error",
                                                 "roomId": room_id,
                                                 "message": message}, sid)
                    except Exception:
                        logger.exception("rtcio: could not tell %s", sid)
                return _refusal("server-error", message, room_id)

        run.__name__ = getattr(handler, "__name__", "room_handler")
        return run

    def _emit(self, event: str, data: Any, to: Recipients,
              skip_sid: Optional[str] = None) -> None:
        self.server.emit(event, data, to=to, skip_sid=skip_sid,
                         namespace=self.namespace)

    def _join_error(self, sid: str, reason: str, room_id: Optional[str],
                    message: str) -> Dict[str, Any]:
        _log_refusal(sid, room_id, reason, message)
        self._emit("join-error", {"reason": reason, "roomId": room_id,
                                  "message": message}, sid)
        return _refusal(reason, message, room_id)

    # -- peers and password guesses ----------------------------------------

    def peers_of(self, sid: str) -> int:
        """Room mates of ``sid`` (over all its rooms, every process): the
        peers its relay budget is sized for (``limits.peer_burst``)."""
        return sum(max(0, len(self.store.members(room_id)) - 1)
                   for room_id in self.store.rooms_of(sid))

    def _peers_changed(self) -> None:
        if self.packet_hook is not None:
            self.packet_hook.peers_changed()

    def _peer_address(self, sid: str, namespace: str) -> str:
        environ = self.server.get_environ(sid, namespace) or {}
        return request_address(environ)

    def _address(self, sid: str) -> str:
        return self._address_of(sid, self.namespace)

    def _password_settled(self, sid: str, guess: Optional[Guess],
                          right: bool) -> None:
        """The outcome of a password attempt counted by :meth:`_admit`; one
        WARNING when an address, a socket or a room runs out of attempts."""
        if guess is None:
            return
        cfg = self.config
        for what, key in self._guesses.settle(guess, right):
            allowance = getattr(cfg, f"password_attempts_per_{what}")
            consequence = (
                "only sockets and addresses that guessed wrong are refused "
                "there now" if what == "room" else
                "further attempts are refused")
            logger.warning(
                "rtcio: too many wrong room passwords for %s %r (%s in "
                "%.0f s); %s with too-many-attempts "
                "(RoomsConfig.password_attempts_per_%s)", what, key,
                allowance, cfg.password_attempt_window, consequence, what)

    def _too_many_attempts(self, sid: str, room_id: str,
                           wait: float) -> Any:
        message = (f"too many wrong passwords; try again in "
                   f"{math.ceil(wait)} s")
        logger.debug("rtcio: refused %s room %r [too-many-attempts]", sid,
                     room_id)
        self._emit("join-error", {"reason": "too-many-attempts",
                                  "roomId": room_id, "message": message}, sid)
        return _refusal("too-many-attempts", message, room_id)

    def _admit(self, sid: str, room_id: str, name: str,
               password: Optional[str]
               ) -> Tuple[str, Ack, Optional[Guess]]:
        """What join-room and check-room ask before the store: the join
        hooks (which may rename), then the password-guess throttle.
        Returns ``(name, None, guess)``, or ``(name, refusal, None)``
        already sent; ``guess`` (a password attempt, counted as wrong
        until :meth:`_password_settled`) is None without a password."""
        name, refused = self._run_join_hooks(sid, room_id, name)
        if refused is not None:
            return name, self._join_error(sid, refused[0], room_id,
                                          refused[1]), None
        if password is None:
            return name, None, None
        wait, guess = self._guesses.begin(self._address(sid), sid, room_id)
        if wait is not None:
            return name, self._too_many_attempts(sid, room_id, wait), None
        return name, None, guess

    def _run_join_hooks(self, sid: str, room_id: str, name: str
                        ) -> Tuple[str, Optional[Tuple[str, str]]]:
        """``(name, None)``, or ``(name, (reason, message))`` if refused."""
        if not self.join_hooks:
            return name, None
        with self.dispatcher.request_context(sid, self.namespace):
            for hook in list(self.join_hooks):
                try:
                    verdict = hook(room_id, name)
                except AccessDenied as exc:
                    return name, (exc.reason, exc.message)
                if verdict is False:
                    return name, ("forbidden", "not allowed in this room")
                if isinstance(verdict, str):
                    name = verdict[:self.config.max_name_length]
        return name, None

    def _already_connected(self, sid: str, room_id: str,
                           others: Sequence[Member]) -> Set[str]:
        """Members of ``others`` that already share another room with
        ``sid``: they have a peer connection, so no second init-offer."""
        other_rooms = [r for r in self.store.rooms_of(sid) if r != room_id]
        if not other_rooms or not others:
            return set()
        candidates = {m.sid for m in others}
        found: Set[str] = set()
        for other in other_rooms:
            found.update(m.sid for m in self.store.members(other)
                         if m.sid in candidates)
        return found

    # -- events -------------------------------------------------------------

    def _on_join(self, sid: str, data: Any = None, *extra: Any) -> Ack:
        cfg = self.config
        room_id, name, password = parse_join(data, cfg)
        name, refusal, guess = self._admit(sid, room_id, name, password)
        if refusal is not None:
            return refusal

        try:
            with self._lock:
                if not self.server.manager.is_connected(sid,
                                                        self.namespace):
                    # Disconnecting: joining now would leave a ghost.
                    self._password_settled(sid, guess, right=True)
                    return None
                result = self.store.join(
                    room_id, sid, name, password=password,
                    max_members=cfg.max_members,
                    max_rooms=cfg.max_rooms_per_socket,
                    server_id=cfg.server_id)
                if result.ok:
                    self.server.enter_room(sid, sio_room(room_id),
                                           namespace=self.namespace)
                    if result.status == JOINED:
                        self._local.setdefault(sid, {})[room_id] = {
                            "name": name, "password": bool(password)}
        except Exception:
            # The store failed: the attempt was no guess.
            self._password_settled(sid, guess, right=True)
            raise
        if result.ok:
            self._peers_changed()
            self.on_member_changed(sid)

        status = result.status
        self._password_settled(sid, guess, status != WRONG_PASSWORD)
        if status in (WRONG_PASSWORD, PASSWORD_REQUIRED):
            message = ("the room password is wrong" if status ==
                       WRONG_PASSWORD else "the room needs a password")
            return self._join_error(sid, status, room_id, message)
        if status in (ROOM_FULL, TOO_MANY_ROOMS):
            message = (f"the room already has {cfg.max_members} members"
                       if status == ROOM_FULL else
                       f"a socket may be in at most "
                       f"{cfg.max_rooms_per_socket} rooms")
            _log_refusal(sid, room_id, status, message)
            self._emit("error", {"code": status, "roomId": room_id,
                                 "message": message}, sid)
            return _refusal(status, message, room_id)
        if status == ALREADY_MEMBER:
            # Idempotent: nobody hears about the socket a second time.
            self._emit("join-ok", {"roomId": room_id}, sid)
            return None
        assert status == JOINED, status

        if password:
            local = self._local.get(sid, {}).get(room_id)
            if local is not None and local.get("password") is True:
                local["password"] = self.store.password_hash(room_id)
        others = result.others
        for member in others:
            self._emit(USER_CONNECTED, self._presence(member, room_id), sid)
        for member in others:
            if member.has_media_state:
                self._emit("media-state", {"id": member.sid,
                                           "roomId": room_id,
                                           "mic": member.mic,
                                           "cam": member.cam}, sid)
        if others:
            # To the snapshot's members by sid, not to the room: a socket
            # that joined after the snapshot has the newcomer in its own
            # snapshot (backfill) and must not also get an init-offer, or
            # both sides would offer.
            existing = [m.sid for m in others]
            self._emit(USER_CONNECTED, {"id": sid, "name": name,
                                          "roomId": room_id}, existing)
            paired = self._already_connected(sid, room_id, others)
            offer_to = [s for s in existing if s not in paired]
            if offer_to:
                self._emit(RtcioEvents.INIT_OFFER, {"source": sid},
                           offer_to)
        self._emit("join-ok", {"roomId": room_id}, sid)
        return None

    def _presence(self, member: Member, room_id: str) -> Dict[str, Any]:
        """A member as the join answer and :meth:`members` show it: a held
        one (connection dropped, recovery window open) is marked
        ``reconnecting: true``."""
        shown: Dict[str, Any] = {"id": member.sid, "name": member.name,
                                 "roomId": room_id}
        if self.held(member.sid):
            shown["reconnecting"] = True
        return shown

    def reconnecting(self, sid: str, sio_rooms: Sequence[str]) -> None:
        """Recovery holds ``sid``: each of its built-in rooms hears
        ``user-reconnecting {id, roomId}`` once."""
        for room_id in room_ids(sio_rooms):
            self._emit(USER_RECONNECTING, {"id": sid, "roomId": room_id},
                       sio_room(room_id), skip_sid=sid)

    def reconnected(self, sid: str, sio_rooms: Sequence[str]) -> None:
        """``sid`` recovered: its rooms hear ``user-reconnected``."""
        self._recovered_here(sid, room_ids(sio_rooms))
        for room_id in room_ids(sio_rooms):
            self._emit(USER_RECONNECTED, {"id": sid, "roomId": room_id},
                       sio_room(room_id), skip_sid=sid)

    def _recovered_here(self, sid: str, rooms: Sequence[str]) -> None:
        """``sid`` recovered on this process, perhaps after another one
        dropped it or stopped (a rolling restart): the store records it
        under this process from now on, so the fleet sweep of the old one
        does not remove it, and this process's view knows its rooms (the
        relay's fast check, :meth:`restore_local`)."""
        for room_id in rooms:
            try:
                member = self.store.member(room_id, sid)
                if member is None or not self.store.move(
                        room_id, sid, self.config.server_id):
                    continue
            except Exception:
                logger.exception("rtcio: room store failed recording %s "
                                 "back in %r", sid, room_id)
                continue
            with self._lock:
                self._local.setdefault(sid, {}).setdefault(
                    room_id, {"name": member.name, "password": False})

    def _on_leave(self, sid: str, data: Any = None, *extra: Any) -> Ack:
        room_id = parse_room_id(data, self.config)
        if not self._leave(room_id, sid):
            return _refusal("not-in-room", "the socket is not in that room",
                            room_id)
        return None

    def _leave(self, room_id: str, sid: str) -> Optional[Member]:
        with self._lock:
            member = self.store.leave(room_id, sid)
            if member is None:
                return None
            self.server.leave_room(sid, sio_room(room_id),
                                   namespace=self.namespace)
            self._local.get(sid, {}).pop(room_id, None)
        self._left(sid, [room_id])
        self._peers_changed()
        self.on_member_changed(sid)
        self.departures.announce(sid, [room_id])
        return member

    def _leave_everywhere(self, sid: str) -> List[str]:
        """Take a disconnecting socket out of every room it is in; the
        departure announcement is the caller's. Runs while python-socketio
        still knows the socket's rooms; the store is the authority, so this
        also covers rooms joined through another process's view."""
        self._guesses.forget_socket(sid)
        with self._lock:
            self._local.pop(sid, None)
            try:
                left = self.store.leave_all(sid)
            except Exception as exc:
                if not self._store_outage(exc):
                    raise
                # The outage is logged once; the socket leaves the store
                # when it answers again (store_reachable).
                self._pending_leaves.add(sid)
                left = []
        self._left(sid, [])
        if left:
            self._peers_changed()
        return [room_id for room_id, _member in left]

    def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        # Only registered when no rtc.io protocol serves this namespace
        # (otherwise its disconnect step calls _leave_everywhere).
        self.departures.disconnected(sid, with_peer_left=False)

    def _on_check(self, sid: str, data: Any = None, *extra: Any) -> Ack:
        room_id = parse_room_id(data, self.config)
        password = parse_password(data, self.config)
        # A room the join hooks refuse is not even probed for a password.
        _, refusal, guess = self._admit(sid, room_id, "", password)
        if refusal is not None:
            return refusal
        try:
            check = self.store.check(room_id, password)
        except Exception:
            self._password_settled(sid, guess, right=True)
            raise
        self._password_settled(sid, guess, check.password_ok is not False)
        if check.password_ok is False:
            return self._join_error(sid, WRONG_PASSWORD, room_id,
                                    "the room password is wrong")
        self._emit("room-check-ok", {"roomId": room_id,
                                     "passwordRequired":
                                         check.password_required}, sid)
        return None

    def _on_media_state(self, sid: str, data: Any = None,
                        *extra: Any) -> Ack:
        room_id = parse_room_id(data, self.config)
        mic, cam = data.get("mic"), data.get("cam")
        if not isinstance(mic, bool) or not isinstance(cam, bool):
            return _refusal("invalid-media-state",
                            "mic and cam must both be true or false",
                            room_id)
        if not self.store.set_media(room_id, sid, mic, cam):
            return _refusal("not-in-room", "join the room first", room_id)
        local = self._local.get(sid, {}).get(room_id)
        if local is not None:
            local["mic"], local["cam"] = mic, cam
        self._emit("media-state", {"id": sid, "roomId": room_id,
                                   "mic": mic, "cam": cam},
                   sio_room(room_id), skip_sid=sid)
        return None

    def _forwarder(self, event: str) -> Callable[..., Ack]:
        """A handler that forwards ``{roomId, ...}`` to the room's other
        members, with ``id`` stamped, if the sender is a member."""
        def forward(sid: str, data: Any = None, *extra: Any) -> Ack:
            room_id = parse_room_id(data, self.config)
            if self.store.member(room_id, sid) is None:
                return _refusal("not-in-room", "join the room first",
                                room_id)
            outgoing = dict(data)
            outgoing["id"] = sid
            try:
                size = len(_dumps(outgoing))
            except (TypeError, ValueError):
                return _refusal("invalid-payload", "payload is not plain "
                                                   "JSON", room_id)
            if size > self.config.max_chat_bytes:
                return _refusal("payload-too-large",
                                f"{event} is {size} bytes, over the "
                                f"{self.config.max_chat_bytes} byte limit",
                                room_id)
            self._emit(event, outgoing, sio_room(room_id), skip_sid=sid)
            return None

        forward.__name__ = f"forward_{event}"
        return forward

    def _left(self, sid: str, room_ids: List[str]) -> None:
        """``sid`` left those rooms (all when empty): this process's view
        forgets it, and so do the others' (through the queue)."""
        self._remote.pop(sid, None)
        if self.on_left is not None:
            try:
                self.on_left(sid, room_ids)
            except Exception:
                logger.exception("rtcio: could not tell the other processes "
                                 "that %s left", sid)

    def forget(self, sid: str, room_ids: List[str]) -> None:
        """Another process says ``sid`` left those rooms (all when empty)."""
        self._remote.pop(sid, None)
        with self._lock:
            local = self._local.get(sid)
            if local is not None:
                for room_id in room_ids or list(local):
                    local.pop(room_id, None)

    def _shared_here(self, sender: str, target: str) -> bool:
        """Whether the local view already knows both share a room: the
        sender's rooms here, and the target's (here, or looked up in the
        store within :data:`REMOTE_VIEW_SECONDS` and not left since).
        False means "ask the store", not "they share none"."""
        mine = self._local.get(sender)
        if not mine:
            return False
        theirs: Any = self._local.get(target)
        if not theirs:
            cached = self._remote.get(target)
            if cached is None:
                return False
            if time.monotonic() - cached[1] > REMOTE_VIEW_SECONDS:
                self._remote.pop(target, None)
                return False
            theirs = cached[0]
        try:
            return not mine.keys().isdisjoint(theirs)
        except RuntimeError:  # changed by another thread meanwhile
            return False

    def relay_check(self, sender: str, target: str, namespace: str) -> None:
        """RtcioProtocol relay check: envelopes only between room mates.

        Answered from this process's view when it knows (no store round
        trip per envelope); otherwise from the store, and with a message
        queue the target's rooms are then remembered for the next ones."""
        if namespace != self.namespace:
            return
        if self.outages.down and target not in self._local:
            # Known from the local view or not, an envelope for another
            # process would be published to a Redis that is away and lost:
            # say so instead of accepting it.
            raise EnvelopeError(STORE_UNAVAILABLE, STORE_UNAVAILABLE_TEXT)
        if self._shared_here(sender, target):
            return
        try:
            shared = self.store.shares_room(sender, target)
            if shared and self.on_left is not None and \
                    target not in self._local:
                self._remote[target] = (
                    frozenset(self.store.rooms_of(target)), time.monotonic())
        except Exception as exc:
            # Fail closed: without the store nobody can tell room mates.
            if self._store_outage(exc):
                raise EnvelopeError(STORE_UNAVAILABLE,
                                    STORE_UNAVAILABLE_TEXT) from None
            logger.exception("rtcio: room store failed in the relay check")
            raise EnvelopeError("server-error", "the room store failed") \
                from None
        if self.outages.down:
            self.store_reachable()
        if not shared:
            raise EnvelopeError(
                "not-in-room",
                "the target shares no room with the sender; both must join "
                "the same room first (RoomsConfig.relay_scope='room')")

    # -- store outages -------------------------------------------------------

    def _store_outage(self, exc: BaseException) -> bool:
        """True when ``exc`` means the store is unreachable: reported to the
        outage log (one ERROR line per outage, no traceback), not logged
        once per event."""
        if not self.store.is_outage(exc):
            return False
        self.outages.failed(exc)
        return True

    def store_reachable(self) -> None:
        """The store answered (a relay check, the fleet heartbeat): the end
        of an outage is logged once, and sockets that disconnected during
        it leave the store now."""
        self.outages.ok()
        while self._pending_leaves and not self.outages.down:
            sid = self._pending_leaves.pop()
            try:
                left = self.store.leave_all(sid)
            except Exception as exc:
                self._pending_leaves.add(sid)
                if not self._store_outage(exc):
                    logger.exception("rtcio: room store failed removing %s",
                                     sid)
                return
            if left:  # told during the outage, the others may have missed it
                rooms = [room_id for room_id, _member in left]
                self.departures.announce(sid, rooms,
                                         [sio_room(r) for r in rooms])

    def restore_local(self) -> int:
        """Put this process's live members back into a store that lost its
        data (Redis restarted without persistence, or flushed): python-
        socketio's rooms still say which local socket is in which room, and
        :attr:`_local` has their names, media state and room passwords.
        Every process does it for its own sockets (the fleet heartbeat
        notices the loss), so presence, relays and caps are as before and
        clients see nothing. Returns the members re-added."""
        manager = self.server.manager
        prefix = sio_room("")
        entries = []
        with self._lock:
            rooms = manager.rooms.get(self.namespace, {})
            for name, participants in list(rooms.items()):
                if not isinstance(name, str) or not name.startswith(prefix):
                    continue
                room_id = name[len(prefix):]
                for sid in list(participants):
                    if not manager.is_connected(sid, self.namespace):
                        continue
                    local = self._local.get(sid, {}).get(room_id, {})
                    password = local.get("password")
                    entries.append(RestoredMember(
                        room_id, sid, local.get("name", ""),
                        self.config.server_id, local.get("mic"),
                        local.get("cam"),
                        password if isinstance(password, str) else None))
            added = self.store.restore(entries)
        self.store_reachable()
        return added

    # -- server-side API ----------------------------------------------------

    def list(self) -> List[str]:
        """Ids of the rooms that have members."""
        return self.store.rooms()

    def members(self, room_id: str) -> List[Dict[str, Any]]:
        """``[{"id": sid, "name": name}]`` in join order; a member whose
        connection dropped and may come back (connection state recovery
        holds it) also has ``"reconnecting": True``."""
        shown = []
        for m in self.store.members(room_id):
            member = self._presence(m, room_id)
            del member["roomId"]
            shown.append(member)
        return shown

    def member(self, room_id: str, sid: str) -> Optional[Dict[str, Any]]:
        """``{"id", "name", "mic", "cam"}`` of one member (mic/cam None until
        it reported its media state; ``reconnecting`` as in
        :meth:`members`), or None if it is not in the room."""
        m = self.store.member(room_id, sid)
        if m is None:
            return None
        shown = {"id": m.sid, "name": m.name, "mic": m.mic, "cam": m.cam}
        if self.held(sid):
            shown["reconnecting"] = True
        return shown

    def rooms_of(self, sid: str) -> List[str]:
        """Ids of the rooms ``sid`` is in."""
        return self.store.rooms_of(sid)

    def names_of(self, sid: str) -> Dict[str, str]:
        """``{room_id: name}`` of a socket connected to this process, from
        what the process remembers (no store call: the admin UI asks for
        every socket on every ping)."""
        return {room_id: str(info.get("name") or "")
                for room_id, info in dict(self._local.get(sid, {})).items()}

    def kick(self, room_id: str, sid: str, reason: str = "kicked") -> bool:
        """Remove ``sid`` from a room: it gets ``kicked {roomId, reason}``,
        the others ``user-disconnected {id, roomId}`` as if it left. Works
        for sockets on other processes too (with a message queue).

        Peer connections it already made are direct and stay up until its
        client closes them on ``kicked``; to cut it off entirely, also
        ``rtcio.server.disconnect(sid)``. Returns False if it was not in
        the room.
        """
        if self._leave(room_id, sid) is None:
            return False
        self._emit("kicked", {"roomId": room_id, "reason": reason}, sid)
        return True

    def emit(self, room_id: str, event: str, data: Any = None,
             skip_sid: Optional[str] = None) -> None:
        """Emit ``event`` to every member of a room (in every process)."""
        self._emit(event, data, sio_room(room_id), skip_sid=skip_sid)

    def purge_server(self, server_id: str) -> List[Tuple[str, str]]:
        """Remove the members a dead process left in the store and tell their
        rooms (``#rtcio:peer-left`` and ``user-disconnected``); returns
        ``[(room_id, sid)]``."""
        # A held member (its connection dropped, or its process drained)
        # stays: it recovers elsewhere, or departs at its window's end. A
        # store of the app's own may override purge_server without keep=.
        purge = self.store.purge_server
        purged = (purge(server_id, keep=self.held)
                  if "keep" in inspect.signature(purge).parameters
                  else purge(server_id))
        removed = [(room_id, m.sid) for room_id, m in purged]
        for sid in {sid for _room_id, sid in removed}:
            self._left(sid, [])
        self.departures.process_died(removed)
        return removed


def _warn_if_split(server: Any, config: RoomsConfig) -> None:
    """The default store keeps members in this process. ``message_queue=``
    gives the rooms Redis too, but a queue's client manager the app built
    itself (``client_manager=socketio.RedisManager(...)``, or a handed-in
    server's) leaves them in memory: each process then has rooms of its
    own, so members on another process are never announced and envelopes
    to them are dropped as sharing no room, with nothing in the log. One
    process with such a manager (an external emitter) is fine, hence a
    WARNING rather than a refusal."""
    import socketio

    if config.store is not None or config.store_url is not None or \
            not isinstance(server.manager, socketio.PubSubManager):
        return
    logger.warning(
        "rtcio: the built-in rooms keep their members in this process, but "
        "the server's client manager (a python-socketio message queue) "
        "links several processes: with "
        "more than one, each has rooms of its own (members on another "
        "process are not seen, envelopes to them are dropped); give the "
        "rooms Redis with rooms={'store_url': 'redis://...'} (or let RTCIO "
        "build the manager: message_queue='redis://...')")


def install_rooms(value: Any, app_config: Mapping[str, Any], server: Any,
                  dispatcher: Builtins, join_hooks: Sequence[JoinHook],
                  address_of: Callable[[str, str], str],
                  packet_hook: Any,
                  protocols: Mapping[str, RelayProtocol]) -> Optional[Rooms]:
    """Resolve ``rooms=`` / ``app.config`` and attach the rooms to an app's
    server; returns the :class:`Rooms`, or None when rooms are off.

    Takes the app's pieces one by one (its dispatcher, the raw-packet hook
    or None, the rtc.io protocols by namespace) rather than the extension's
    whole state, so this layer never imports the one above it."""
    config = resolve_rooms(value, app_config)
    if config is None:
        return None
    _warn_if_split(server, config)
    rooms = Rooms(server, dispatcher, config, join_hooks, address_of)
    if packet_hook is not None:
        rooms.packet_hook = packet_hook
        packet_hook.add_peer_counter(config.namespace, rooms.peers_of)
    protocol = protocols.get(config.namespace)
    if protocol is None:
        logger.warning("rtcio: rooms on namespace %r, which does not speak "
                       "the rtc.io protocol (protocol_namespaces); envelopes "
                       "there are not relayed", config.namespace)
    rooms.attach(protocol)
    if packet_hook is not None:
        for event in ROOM_EVENTS:
            packet_hook.add_inline_event(config.namespace, event,
                                         rooms.inline_allowed(event))
    return rooms
