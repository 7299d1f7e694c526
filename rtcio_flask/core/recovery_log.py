"""Connection state recovery bookkeeping, without any socket.io: the log of
packets sent through rooms (each with an offset) and the sessions of
sockets that dropped and may come back.

socket.io-client 4.6+ remembers the offset of the last event it received
(the offset rides as the event's last argument) and, when it reconnects,
sends ``{pid, offset}`` in its CONNECT auth. The server then gives the
socket its old id and rooms and replays every logged packet after that
offset that the socket would have received. Node's in-memory adapter keeps
every broadcast for the whole window; this log does the same, but bounded
in packets and bytes as well as in time, and the held sessions are bounded
in count: what falls out of either simply cannot be recovered (the client
gets a fresh socket, as Node gives it when the offset is unknown).

Offsets are ``<log id>-<sequence>`` so an offset from another process or
an earlier run of this one is never mistaken for one of ours.
"""

import collections
import os
import time
from dataclasses import dataclass, field
from typing import (Any, Callable, Deque, Dict, FrozenSet, Iterable, List,
                    Mapping, NamedTuple, Optional, Tuple, Union)

#: Where a logged packet went: None (the whole namespace), or room names.
Rooms = Optional[FrozenSet[str]]

DEFAULT_WINDOW = 120.0
DEFAULT_MAX_SESSIONS = 10_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_PACKETS = 200_000


def as_rooms(room: Union[None, str, Iterable[str]]) -> Rooms:
    """python-socketio's ``to=``/``room=`` (None, a name or a list) as a
    frozen set, None meaning every socket of the namespace."""
    if room is None:
        return None
    if isinstance(room, str):
        return frozenset((room,))
    return frozenset(room)


def as_skip(skip_sid: Union[None, str, Iterable[Optional[str]]]
            ) -> Tuple[str, ...]:
    if skip_sid is None:
        return ()
    if isinstance(skip_sid, str):
        return (skip_sid,)
    return tuple(s for s in skip_sid if s is not None)


def reaches(rooms: Rooms, skip: Tuple[str, ...], sid: str,
            member_of: FrozenSet[str]) -> bool:
    """Whether a packet sent to ``rooms`` minus ``skip`` reached the socket
    ``sid`` that is in ``member_of`` (its own sid-room included)."""
    if sid in skip:
        return False
    return rooms is None or not rooms.isdisjoint(member_of)


def reaches_since(rooms: Rooms, skip: Tuple[str, ...], sid: str,
                  joined: Mapping[str, bool]) -> bool:
    """:func:`reaches`, for a replay: ``joined`` maps each room of the
    socket to whether it was already a member when the packet was logged
    (a packet to a room it joined later was never for it)."""
    if sid in skip:
        return False
    if rooms is None:
        return True
    return any(joined.get(room, False) for room in rooms)


def member_when(position: Any, joined_at: Mapping[str, Any],
                member_of: FrozenSet[str], start: Any,
                later: Callable[[Any, Any], bool]) -> Dict[str, bool]:
    """For each room in ``member_of``: whether the socket was in it at log
    ``position``, i.e. ``position`` is later than when it joined
    (``joined_at``; a room with no record, its own sid-room included,
    counts from the socket's connect, ``start``)."""
    return {room: later(position, joined_at.get(room, start))
            for room in member_of}


class Entry(NamedTuple):
    seq: int
    at: float
    namespace: str
    rooms: Rooms
    skip: Tuple[str, ...]
    #: The socket.io packet as encoded text, without the offset.
    text: str


class PacketLog:
    """Packets sent through rooms, oldest first, bounded by age, count and
    bytes (the text of each packet)."""

    def __init__(self, window: float = DEFAULT_WINDOW,
                 max_packets: int = DEFAULT_MAX_PACKETS,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic,
                 log_id: Optional[str] = None) -> None:
        self.window = window
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self.clock = clock
        self.log_id = log_id or os.urandom(6).hex()
        self._prefix = self.log_id + "-"
        self._entries: Deque[Entry] = collections.deque()
        self._next = 1
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def offset(self, seq: int) -> str:
        return f"{self._prefix}{seq:x}"

    def seq_of(self, offset: object) -> Optional[int]:
        """The sequence number of one of our offsets, else None."""
        if not isinstance(offset, str) or not offset.startswith(self._prefix):
            return None
        try:
            return int(offset[len(self._prefix):], 16)
        except ValueError:
            return None

    @property
    def next_seq(self) -> int:
        """The sequence the next packet will get (a socket connecting now
        has missed nothing before it)."""
        return self._next

    def append(self, namespace: str, rooms: Rooms, skip: Tuple[str, ...],
               text: str) -> str:
        """Log one packet; returns its offset."""
        seq = self._next
        self._next = seq + 1
        now = self.clock()
        self._entries.append(Entry(seq, now, namespace, rooms, skip, text))
        self.bytes += len(text)
        if (self.bytes > self.max_bytes or
                len(self._entries) > self.max_packets or
                now - self._entries[0].at > self.window):
            self.trim(now)
        return self._prefix + format(seq, "x")

    def append_to(self, namespace: str, sid: str, text: str) -> str:
        """:meth:`append` for a packet to one socket (the relay's case, once
        per envelope): the same entry, with less work on the way."""
        seq = self._next
        self._next = seq + 1
        now = self.clock()
        entries = self._entries
        entries.append(Entry(seq, now, namespace, frozenset((sid,)), (),
                             text))
        self.bytes += len(text)
        if (self.bytes > self.max_bytes or len(entries) > self.max_packets
                or now - entries[0].at > self.window):
            self.trim(now)
        return f"{self._prefix}{seq:x}"

    def trim(self, now: Optional[float] = None) -> None:
        """Drop what is too old, or over the count or byte bounds."""
        now = self.clock() if now is None else now
        entries = self._entries
        oldest = now - self.window
        while entries and (entries[0].at < oldest or
                           self.bytes > self.max_bytes or
                           len(entries) > self.max_packets):
            self.bytes -= len(entries.popleft().text)

    def missed(self, after_seq: Optional[int], namespace: str, sid: str,
               member_of: FrozenSet[str],
               joined_at: Optional[Mapping[str, int]] = None,
               connected_at: int = 0) -> Optional[List[Entry]]:
        """Packets logged after sequence ``after_seq`` (exclusive; None:
        since the socket connected) that reached ``sid`` in ``member_of``;
        None when the log no longer goes back that far (some may be lost,
        so no recovery), or ``after_seq`` is not after ``connected_at``
        (the last sequence before the socket connected: an offset it was
        never given). With ``joined_at`` (room -> last sequence before the
        socket joined it), a packet to a room counts only if logged after
        the socket joined that room."""
        if after_seq is None:
            after_seq = connected_at
        elif after_seq <= connected_at:
            return None
        entries = self._entries
        first = entries[0].seq if entries else self._next
        if after_seq + 1 < first or after_seq >= self._next:
            return None
        start = after_seq + 1 - first
        joined = joined_at or {}
        return [e for e in list(entries)[start:]
                if e.namespace == namespace and
                reaches_since(e.rooms, e.skip, sid, member_when(
                    e.seq, joined, member_of, connected_at,
                    int.__gt__))]


@dataclass
class HeldSession:
    """A socket that dropped and may come back within the window."""

    pid: str
    sid: str
    namespace: str
    #: Its python-socketio rooms, its own sid-room included.
    rooms: FrozenSet[str]
    #: The log sequence when it connected: with no offset from the client
    #: (it received nothing logged), replay starts after ``seq_at_connect``.
    seq_at_connect: int
    reason: str = "transport close"
    expires_at: float = 0.0
    extra: Dict[str, object] = field(default_factory=dict)


class HeldSessions:
    """Held sessions by pid, oldest first, at most ``max_sessions``."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.clock = clock
        self._by_pid: "collections.OrderedDict[str, HeldSession]" = \
            collections.OrderedDict()
        self._pid_of: Dict[Tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self._by_pid)

    def __contains__(self, pid: object) -> bool:
        return pid in self._by_pid

    def hold(self, session: HeldSession, window: float) -> List[HeldSession]:
        """Keep ``session`` for ``window`` seconds; returns the sessions
        pushed out to respect ``max_sessions`` (their departure is due)."""
        session.expires_at = self.clock() + window
        self._by_pid[session.pid] = session
        self._pid_of[(session.namespace, session.sid)] = session.pid
        evicted = []
        while len(self._by_pid) > self.max_sessions:
            evicted.append(self._forget(self._by_pid.popitem(last=False)[1]))
        return evicted

    def _forget(self, session: HeldSession) -> HeldSession:
        key = (session.namespace, session.sid)
        if self._pid_of.get(key) == session.pid:
            del self._pid_of[key]
        return session

    def take(self, pid: str) -> Optional[HeldSession]:
        """Remove and return a live (unexpired) session."""
        session = self._by_pid.get(pid)
        if session is None or session.expires_at < self.clock():
            return None  # an expired one is left for expire()
        return self._forget(self._by_pid.pop(pid))

    def pop(self, pid: str) -> Optional[HeldSession]:
        """Remove and return a session, expired or not."""
        session = self._by_pid.pop(pid, None)
        return None if session is None else self._forget(session)

    def sessions(self) -> List[HeldSession]:
        """Every held session, oldest first."""
        return list(self._by_pid.values())

    def holding(self, sid: str, namespace: str) -> Optional[HeldSession]:
        """The held session of socket ``sid``, if any."""
        pid = self._pid_of.get((namespace, sid))
        return None if pid is None else self._by_pid.get(pid)

    def expire(self) -> List[HeldSession]:
        """Remove and return every session whose window has passed."""
        now = self.clock()
        gone = [pid for pid, s in self._by_pid.items() if s.expires_at < now]
        return [self._forget(self._by_pid.pop(pid)) for pid in gone]

    def drain(self) -> List[HeldSession]:
        """Remove and return every session (recovery turned off, shutdown)."""
        sessions = list(self._by_pid.values())
        self._by_pid.clear()
        self._pid_of.clear()
        return sessions
