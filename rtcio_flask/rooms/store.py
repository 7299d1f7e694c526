"""Where room state lives: who is in which room, room passwords, cached
media state. Pure Python, no socket.io imports, so it is unit-testable and
so the socket glue (:mod:`rtcio_flask.rooms.handlers`) can run on any store.

Two implementations share the :class:`RoomStore` interface:

- :class:`MemoryRoomStore` (the default): one process, a dict and a lock.
- :class:`rtcio_flask.rooms.redis_store.RedisRoomStore`: several processes
  or hosts behind a python-socketio message queue; every check (member cap,
  password, rooms per socket) and the presence snapshot are taken in one
  Redis transaction, so they hold across processes.

Every operation that decides something is one atomic call (``join`` checks
cap and password, snapshots the members and adds the newcomer together),
because the socket glue may run in several processes at once.

Passwords are never stored in clear: the first joiner's password is kept as
a salted PBKDF2 hash and compared with :func:`hmac.compare_digest`.
"""

import abc
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, replace
from typing import Callable, Collection, Dict, List, Optional, Set, Tuple

#: ``JoinResult.status`` values.
JOINED = "joined"
ALREADY_MEMBER = "already-member"
ROOM_FULL = "room-full"
TOO_MANY_ROOMS = "too-many-rooms"
WRONG_PASSWORD = "wrong-password"
PASSWORD_REQUIRED = "password-required"

# Room passwords live only as long as the room, so the hash guards a leaked
# store dump, not years of storage; it must also stay cheap (about 2 ms)
# because it runs on the event loop for every password join or check-room,
# where a high count would stall an eventlet hub and invite CPU exhaustion.
PASSWORD_HASH_ITERATIONS = 2_000
_HASH_NAME = "pbkdf2_sha256"


def hash_password(password: str, salt: Optional[bytes] = None,
                  iterations: int = PASSWORD_HASH_ITERATIONS) -> str:
    """``"pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>"`` for a password."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt,
                                 iterations)
    return f"{_HASH_NAME}${iterations}${salt.hex()}${digest.hex()}"


def password_matches(stored: Optional[str], password: object) -> bool:
    """Whether ``password`` matches a :func:`hash_password` value, compared
    in constant time. A malformed stored value matches nothing."""
    if not stored or not isinstance(password, str):
        return False
    try:
        name, count, salt_hex, digest_hex = stored.split("$")
        if name != _HASH_NAME:
            return False
        salt = bytes.fromhex(salt_hex)
        expected = bytes.fromhex(digest_hex)
        iterations = int(count)
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt,
                              iterations)
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Member:
    """One socket in one room. ``mic``/``cam`` are None until the socket
    reports its media state; ``server_id`` names the process it is
    connected to, so a crashed process's members can be purged."""

    sid: str
    name: str = ""
    server_id: str = ""
    mic: Optional[bool] = None
    cam: Optional[bool] = None
    #: Join order within the store (smaller joined earlier).
    seq: int = 0

    @property
    def has_media_state(self) -> bool:
        return self.mic is not None or self.cam is not None


@dataclass(frozen=True)
class JoinResult:
    """What :meth:`RoomStore.join` decided. ``others`` is the room's members
    other than the joiner, as they were just before the join (the snapshot
    the newcomer is backfilled from), in join order."""

    status: str
    others: Tuple[Member, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in (JOINED, ALREADY_MEMBER)


@dataclass(frozen=True)
class CheckResult:
    """What :meth:`RoomStore.check` found: whether the room has a password,
    and, when a password was given for such a room, whether it matches."""

    password_required: bool
    password_ok: Optional[bool] = None


@dataclass(frozen=True)
class RestoredMember:
    """A member a process still has locally, for :meth:`RoomStore.restore`
    after the store lost its data."""

    room_id: str
    sid: str
    name: str
    server_id: str
    mic: "bool | None" = None
    cam: "bool | None" = None
    password_hash: "str | None" = None


class RoomStore(abc.ABC):
    """The operations the rooms feature needs, each atomic."""

    @abc.abstractmethod
    def join(self, room_id: str, sid: str, name: str = "", *,
             password: Optional[str] = None,
             max_members: Optional[int] = None,
             max_rooms: Optional[int] = None,
             server_id: str = "") -> JoinResult:
        """Add ``sid`` to ``room_id`` unless a rule refuses it.

        Refusals, checked in this order: ``password-required`` /
        ``wrong-password`` (a non-empty room with a password), ``room-full``
        (``max_members`` reached), ``too-many-rooms`` (the socket is already
        in ``max_rooms`` rooms). The first joiner of an empty room sets its
        password (``None`` or ``""``: none). A socket already in the room
        gets ``already-member`` and nothing changes. Returns JoinResult.
        """

    @abc.abstractmethod
    def check(self, room_id: str,
              password: Optional[str] = None) -> CheckResult:
        """CheckResult for a room, without joining it."""

    @abc.abstractmethod
    def leave(self, room_id: str, sid: str) -> Optional[Member]:
        """Remove ``sid`` from the room; return its Member, or None if it was
        not there. The last one out forgets the password and media cache."""

    @abc.abstractmethod
    def set_media(self, room_id: str, sid: str, mic: Optional[bool],
                  cam: Optional[bool]) -> bool:
        """Cache a member's media state; False if ``sid`` is not a member."""

    @abc.abstractmethod
    def members(self, room_id: str) -> List[Member]:
        """The room's Members in join order (empty for an unknown room)."""

    @abc.abstractmethod
    def member(self, room_id: str, sid: str) -> Optional[Member]:
        """The Member, or None."""

    @abc.abstractmethod
    def rooms(self) -> List[str]:
        """Ids of rooms that have members, sorted."""

    @abc.abstractmethod
    def rooms_of(self, sid: str) -> List[str]:
        """Ids of the rooms ``sid`` is in, sorted."""

    @abc.abstractmethod
    def members_of_server(self, server_id: str
                          ) -> List[Tuple[str, Member]]:
        """``[(room_id, Member)]`` for every member connected through the
        process ``server_id``: what a crash left behind."""

    def shares_room(self, sid_a: str, sid_b: str) -> bool:
        """Whether two sockets are in at least one common room."""
        return bool(set(self.rooms_of(sid_a)) & set(self.rooms_of(sid_b)))

    def is_outage(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the store is unreachable for now (a
        network store's connection error), not a bug."""
        return False

    def password_hash(self, room_id: str) -> "str | None":
        """The stored password hash of a room (for :meth:`restore`)."""
        return None

    def restore(self, entries: "list[RestoredMember]") -> int:
        """Put back members the store lost (a Redis restarted without
        persistence): only stores that can lose their data implement it.
        Returns how many were added."""
        return 0

    def leave_all(self, sid: str) -> List[Tuple[str, Member]]:
        """Remove ``sid`` from every room; ``[(room_id, Member)]`` it left."""
        left = []
        for room_id in self.rooms_of(sid):
            member = self.leave(room_id, sid)
            if member is not None:
                left.append((room_id, member))
        return left

    def move(self, room_id: str, sid: str, server_id: str) -> bool:
        """Record member ``sid`` of a room as connected through process
        ``server_id`` from now on (it recovered there after its first
        process dropped it or stopped), so the fleet sweep of the old
        process leaves it alone. False when it is not a member. A store
        with no processes to tell apart (the default here) keeps it as
        it is."""
        return self.member(room_id, sid) is not None

    def purge_server(self, server_id: str,
                     keep: Callable[[str], bool] = lambda sid: False
                     ) -> List[Tuple[str, Member]]:
        """Remove the members a dead process left behind, but those
        ``keep(sid)`` says are still coming back (held by connection state
        recovery: they recover elsewhere or depart at their window's end);
        ``[(room_id, Member)]`` removed."""
        removed = []
        for room_id, member in self.members_of_server(server_id):
            if keep(member.sid):
                continue
            gone = self.leave(room_id, member.sid)
            if gone is not None and gone.server_id == server_id:
                removed.append((room_id, gone))
        return removed

    def close(self) -> None:
        """Release connections (nothing to do for the memory store)."""


class MemoryRoomStore(RoomStore):
    """Room state in this process's memory: the default, for one process.

    Under eventlet or gevent nothing here yields, so each call is atomic by
    itself; the lock makes it so under threads too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # room_id -> {sid: Member}, in join order
        self._members: Dict[str, Dict[str, Member]] = {}
        # room_id -> hash_password() value
        self._passwords: Dict[str, str] = {}
        # sid -> set(room_id)
        self._by_sid: Dict[str, Set[str]] = {}
        self._seq = 0

    def join(self, room_id: str, sid: str, name: str = "", *,
             password: Optional[str] = None,
             max_members: Optional[int] = None,
             max_rooms: Optional[int] = None,
             server_id: str = "") -> JoinResult:
        with self._lock:
            room = self._members.get(room_id, {})
            if sid in room:
                others = tuple(m for s, m in room.items() if s != sid)
                return JoinResult(ALREADY_MEMBER, others)
            stored = self._passwords.get(room_id) if room else None
            if stored is not None:
                if not password:
                    return JoinResult(PASSWORD_REQUIRED)
                if not password_matches(stored, password):
                    return JoinResult(WRONG_PASSWORD)
            if max_members is not None and len(room) >= max_members:
                return JoinResult(ROOM_FULL)
            mine: Collection[str] = self._by_sid.get(sid, ())
            if max_rooms is not None and len(mine) >= max_rooms:
                return JoinResult(TOO_MANY_ROOMS)
            others = tuple(room.values())
            if not room:
                self._passwords.pop(room_id, None)
                if password:
                    self._passwords[room_id] = hash_password(password)
            self._seq += 1
            room[sid] = Member(sid, name, server_id, seq=self._seq)
            self._members[room_id] = room
            self._by_sid.setdefault(sid, set()).add(room_id)
            return JoinResult(JOINED, others)

    def check(self, room_id: str,
              password: Optional[str] = None) -> CheckResult:
        with self._lock:
            stored = (self._passwords.get(room_id)
                      if self._members.get(room_id) else None)
        if stored is None:
            return CheckResult(False)
        if not password:
            return CheckResult(True)
        return CheckResult(True, password_matches(stored, password))

    def leave(self, room_id: str, sid: str) -> Optional[Member]:
        with self._lock:
            room = self._members.get(room_id)
            if not room or sid not in room:
                return None
            member = room.pop(sid)
            mine = self._by_sid.get(sid)
            if mine is not None:
                mine.discard(room_id)
                if not mine:
                    del self._by_sid[sid]
            if not room:
                del self._members[room_id]
                self._passwords.pop(room_id, None)
            return member

    def move(self, room_id: str, sid: str, server_id: str) -> bool:
        with self._lock:
            room = self._members.get(room_id)
            if not room or sid not in room:
                return False
            room[sid] = replace(room[sid], server_id=server_id)
            return True

    def set_media(self, room_id: str, sid: str, mic: Optional[bool],
                  cam: Optional[bool]) -> bool:
        with self._lock:
            room = self._members.get(room_id)
            if not room or sid not in room:
                return False
            room[sid] = replace(room[sid], mic=mic, cam=cam)
            return True

    def members(self, room_id: str) -> List[Member]:
        with self._lock:
            return list(self._members.get(room_id, {}).values())

    def member(self, room_id: str, sid: str) -> Optional[Member]:
        with self._lock:
            return self._members.get(room_id, {}).get(sid)

    def rooms(self) -> List[str]:
        with self._lock:
            return sorted(self._members)

    def rooms_of(self, sid: str) -> List[str]:
        with self._lock:
            return sorted(self._by_sid.get(sid, ()))

    def shares_room(self, sid_a: str, sid_b: str) -> bool:
        with self._lock:
            a = self._by_sid.get(sid_a)
            b = self._by_sid.get(sid_b)
            return bool(a and b and not a.isdisjoint(b))

    def members_of_server(self, server_id: str
                          ) -> List[Tuple[str, Member]]:
        with self._lock:
            return [(room_id, m) for room_id, room in self._members.items()
                    for m in room.values() if m.server_id == server_id]
