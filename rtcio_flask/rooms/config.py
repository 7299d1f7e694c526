"""The rules of the built-in rooms: their settings (:class:`RoomsConfig`)
and the checks on what clients send (room ids, names, passwords).

Pure Python, so every limit is unit-tested without a socket. Bad client
input raises :class:`RoomInputError` with the ``join-error`` reason the
client gets; a bad setting raises ValueError at start-up.
"""

import os
import socket
import uuid
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from ..config import is_redis_url
from ..core.options import check_known
from ..core.redis_url import redact
from ..core.values import (UNSET, config_key, pick, positive_number,
                           strict_flag)

if TYPE_CHECKING:
    from .store import RoomStore

RELAY_SCOPES = ("room", "any")


class RoomInputError(ValueError):
    """Input refused before it reaches the store; ``reason`` goes to the
    client (``invalid-room`` for join-room / check-room)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _default_server_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RoomsConfig:
    """Settings of the built-in rooms (``RTCIO(app, rooms=RoomsConfig(...))``).

    Defaults are sized for WebRTC meshes, where every member connects to
    every other: past a dozen or so members a mesh stops being usable.

    Fields (each also ``app.config["RTCIO_ROOMS_<FIELD>"]`` when ``rooms=``
    is True or a dict):

    - ``store``: a :class:`RoomStore`; None: a MemoryRoomStore (one process).
    - ``store_url``: instead of ``store``, ``"memory://"`` or
      ``"redis://host:port/db"``.
    - ``max_members``: members per room (50); the next joiner gets
      ``error {code: "room-full"}``.
    - ``max_rooms_per_socket``: rooms one socket may be in at once (10).
    - ``max_room_id_length``, ``max_name_length``, ``max_password_length``:
      the longest room id (128), member name (64) and password (128).
    - ``max_chat_bytes``: largest ``chat-message`` forwarded, as compact
      JSON (16 KiB).
    - ``relay_scope``: ``"room"`` (``#rtcio:message`` only between sockets
      sharing a room, the default) or ``"any"`` (the Node server's way).
    - ``namespace``: the socket.io namespace of the room events (``"/"``).
    - ``server_id``: names this process in the store, so a crashed one's
      members can be purged (default: host, pid and a random part).
    """

    #: A RoomStore; None: a MemoryRoomStore (one process).
    store: Optional["RoomStore"] = None
    #: Instead of ``store``: ``"memory://"`` or ``"redis://host:port/db"``.
    store_url: Optional[str] = None
    #: Members per room; the next joiner gets ``error {code: "room-full"}``.
    max_members: int = 50
    #: Rooms one socket may be in at once.
    max_rooms_per_socket: int = 10
    max_room_id_length: int = 128
    max_name_length: int = 64
    max_password_length: int = 128
    #: Largest ``chat-message`` payload forwarded, as compact JSON.
    max_chat_bytes: int = 16 * 1024
    #: ``"room"``: ``#rtcio:message`` only between sockets sharing a room;
    #: ``"any"``: to any connected socket (the Node server's behaviour).
    relay_scope: str = "room"
    #: The socket.io namespace the room events are served on.
    namespace: str = "/"
    #: Names this process in the store (so a crashed one can be purged).
    server_id: str = field(default_factory=_default_server_id)
    #: Wrong room passwords one client address may send in a row before
    #: it gets ``join-error {reason: "too-many-attempts"}``...
    password_attempts_per_address: Optional[int] = 10
    #: ... one socket may send (a guesser behind a shared address is
    #: stopped before it uses up its neighbours' allowance)...
    password_attempts_per_socket: Optional[int] = 5
    #: ... and one room may receive, from everyone together, before it
    #: counts as under attack: then only sockets and addresses with a
    #: wrong guess on their books are refused (a member with the right
    #: password still gets in), and each wrong guess costs its guesser a
    #: whole window (see rtcio_flask.core.throttle.PasswordGuesses)...
    password_attempts_per_room: Optional[int] = 30
    #: ... each allowance refilled evenly over this many seconds (so 10,
    #: 5 and 30 guesses a minute, sustained). None switches a throttle off.
    password_attempt_window: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_members", "max_rooms_per_socket",
                     "max_room_id_length", "max_name_length",
                     "max_password_length", "max_chat_bytes"):
            setattr(self, name, positive_number(getattr(self, name),
                                                f"RoomsConfig.{name}"))
        for name in ("password_attempts_per_address",
                     "password_attempts_per_socket",
                     "password_attempts_per_room"):
            if getattr(self, name) is not None:
                setattr(self, name, positive_number(
                    getattr(self, name), f"RoomsConfig.{name}",
                    hint=" (or None to switch the throttle off)"))
        self.password_attempt_window = positive_number(
            self.password_attempt_window,
            "RoomsConfig.password_attempt_window", whole=False,
            unit="seconds")
        if self.relay_scope not in RELAY_SCOPES:
            raise ValueError(f"RoomsConfig.relay_scope must be 'room' (only "
                             f"between room mates, the safe default) or "
                             f"'any', not {self.relay_scope!r}.")
        if not isinstance(self.namespace, str) or \
                not self.namespace.startswith("/"):
            raise ValueError(f"RoomsConfig.namespace starts with '/', for "
                             f"example '/'; got {self.namespace!r}.")
        if self.store is not None and self.store_url is not None:
            raise ValueError("RoomsConfig: give store= or store_url=, not "
                             "both.")
        if self.store_url is not None and (
                not isinstance(self.store_url, str) or not (
                    self.store_url.startswith("memory:") or
                    is_redis_url(self.store_url))):
            raise ValueError(f"RoomsConfig.store_url must be 'memory://' or "
                             f"a redis URL such as 'redis://127.0.0.1:6379/0',"
                             f" not {self.store_url!r}.")
        if not isinstance(self.server_id, str) or not self.server_id:
            raise ValueError("RoomsConfig.server_id must be a non-empty "
                             "string naming this process.")

    def make_store(self) -> "RoomStore":
        """The store these settings ask for."""
        if self.store is not None:
            return self.store
        if self.store_url is None or self.store_url.startswith("memory:"):
            from .store import MemoryRoomStore
            return MemoryRoomStore()
        from .redis_store import RedisRoomStore
        return RedisRoomStore(self.store_url)


_FIELDS = tuple(f.name for f in fields(RoomsConfig))
#: The keys of ``rooms={...}`` (each also ``RTCIO_ROOMS_<KEY>``).
FIELDS = _FIELDS


def resolve_rooms(value: Any, config: Mapping[str, Any]
                  ) -> Optional[RoomsConfig]:
    """RoomsConfig or None from ``RTCIO(rooms=...)`` and ``app.config``.

    ``value`` (the argument) wins over ``app.config["RTCIO_ROOMS"]``. It may
    be None/False (off), True (defaults), a dict of RoomsConfig fields or a
    RoomsConfig. For True or a dict, ``app.config["RTCIO_ROOMS_<FIELD>"]``
    keys (``RTCIO_ROOMS_MAX_MEMBERS``, ``RTCIO_ROOMS_STORE_URL``...) fill in
    the fields the dict leaves out.
    """
    found = pick("rooms", UNSET if value is None else value, config,
                 default=None)
    value, where = found.value, found.where or "rooms="
    if isinstance(value, str):
        # "maybe" must not quietly turn the rooms off
        value = strict_flag(value, str(where))
    if value is None or value is False:
        return None
    if isinstance(value, RoomsConfig):
        return value
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(f"rooms= takes True, a dict of RoomsConfig fields or "
                         f"a RoomsConfig, not {type(value).__name__}.")
    check_known(value, _FIELDS, where, what="key")
    merged: Dict[str, Any] = {}
    for name in _FIELDS:
        key = config_key("rooms_" + name)
        if key in config:
            merged[name] = config[key]
    merged.update(value)
    return RoomsConfig(**merged)


def _text(value: Any, what: str, limit: int, *, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise RoomInputError("invalid-room",
                             f"{what} must be a string, not "
                             f"{type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RoomInputError("invalid-room", f"{what} is empty")
    if len(value) > limit:
        raise RoomInputError("invalid-room",
                             f"{what} is longer than {limit} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise RoomInputError("invalid-room",
                             f"{what} contains control characters")
    _check_unicode(value, what)
    return value


def _check_unicode(value: str, what: str) -> None:
    """JSON may carry a lone UTF-16 surrogate (``"\\ud800"``), which no
    store can encode (the Redis client raised UnicodeEncodeError, a
    server-error and a traceback per join)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RoomInputError("invalid-room",
                             f"{what} is not valid Unicode text (it holds a "
                             f"lone surrogate)") from None


def parse_room_id(data: Any, cfg: RoomsConfig) -> str:
    """The ``roomId`` of an event payload, checked."""
    if not isinstance(data, dict):
        raise RoomInputError("invalid-room",
                             "payload must be an object with a roomId")
    return _text(data.get("roomId"), "roomId", cfg.max_room_id_length,
                 allow_empty=False)


def parse_password(data: Dict[str, Any],
                   cfg: RoomsConfig) -> Optional[str]:
    """The optional ``password``: None when absent or empty."""
    password = data.get("password")
    if password is None or password == "":
        return None
    if not isinstance(password, str):
        raise RoomInputError("invalid-room", "password must be a string")
    if len(password) > cfg.max_password_length:
        raise RoomInputError("invalid-room", f"password is longer than "
                                             f"{cfg.max_password_length} "
                                             f"characters")
    _check_unicode(password, "password")
    return password


def parse_join(data: Any,
               cfg: RoomsConfig) -> Tuple[str, str, Optional[str]]:
    """``(room_id, name, password)`` from a ``join-room`` payload."""
    room_id = parse_room_id(data, cfg)
    name = data.get("name")
    name = "" if name is None else _text(name, "name", cfg.max_name_length,
                                         allow_empty=True)
    return room_id, name, parse_password(data, cfg)


def echo_room_id(data: Any) -> Optional[str]:
    """The roomId to put in an error reply: the client's own, if it is a
    string at all (truncated), else None."""
    room_id = data.get("roomId") if isinstance(data, dict) else None
    return room_id[:256] if isinstance(room_id, str) else None


def rooms_for_queue(rooms_option: Any, config: Mapping[str, Any],
                    message_queue: Optional[str],
                    state_url: Optional[str]) -> Any:
    """With a message queue, the built-in rooms must keep their state where
    every process sees it: unless the app chose a store, use the Redis room
    store on the queue's Redis (``state_url``: DeploySettings.state_redis).
    Returns what ``install_rooms`` takes."""
    if not message_queue:
        return rooms_option
    rooms = resolve_rooms(rooms_option, config)
    if rooms is None or rooms.store is not None or rooms.store_url:
        return rooms
    if state_url is None:
        raise ValueError(
            f"RTCIO: the built-in rooms need Redis to share their state "
            f"across processes, and the message queue "
            f"{redact(message_queue)!r} is not Redis: set "
            f"rooms_redis='redis://host:6379/0' (RTCIO_ROOMS_REDIS) for the "
            f"rooms, recovery and the fleet heartbeat, or rooms=False.")
    rooms.store_url = state_url
    return rooms
