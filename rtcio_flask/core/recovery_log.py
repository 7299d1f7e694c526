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
                    Mapping, NamedTuple, Optional, Set, Tuple, Union)

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


def portable_environ(environ: Mapping[str, Any]) -> Dict[str, str]:
    """The part of a handshake's WSGI environ that can travel through Redis
    (CGI variables and headers, which are strings, and the URL scheme), so
    that another process can run a held socket's departure in a request
    context like its own: ``flask.request`` (headers, cookies, the client's
    address) and a cookie-based ``flask.session`` work there too. Server
    objects (input stream, the server's own keys) stay behind."""
    kept = {key: value for key, value in environ.items()
            if isinstance(key, str) and isinstance(value, str)
            and "." not in key}
    scheme = environ.get("wsgi.url_scheme")
    kept["wsgi.url_scheme"] = scheme if isinstance(scheme, str) else "http"
    return kept


class Entry(NamedTuple):
    seq: int
    at: float
    namespace: str
    rooms: Rooms
    skip: Tuple[str, ...]
    #: The socket.io packet as encoded text, without the offset.
    text: str
    #: Whose share it counts against (a client address), or None.
    owner: Optional[str] = None


class PacketLog:
    """Packets sent through rooms, oldest first, bounded by age, count and
    bytes (the text of each packet).

    Fair shares: each packet may name an *owner* (the client address it is
    logged for), and an owner may hold at most ``max_bytes_per_owner``
    bytes and ``max_packets_per_owner`` packets; past that its own oldest
    packets go. When the whole log is over a bound, packets go from the
    largest owner first (then, if owners alone cannot make room, oldest
    first). A packet taken out of the middle leaves a gap that
    :meth:`missed` reports for the sockets it was for: they cannot
    recover, rather than recover with a hole."""

    def __init__(self, window: float = DEFAULT_WINDOW,
                 max_packets: int = DEFAULT_MAX_PACKETS,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic,
                 log_id: Optional[str] = None,
                 max_bytes_per_owner: Optional[int] = None,
                 max_packets_per_owner: Optional[int] = None) -> None:
        self.window = window
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self.max_bytes_per_owner = max_bytes_per_owner or max_bytes
        self.max_packets_per_owner = max_packets_per_owner or max_packets
        self.clock = clock
        self.log_id = log_id or os.urandom(6).hex()
        self._prefix = self.log_id + "-"
        self._entries: Deque[Entry] = collections.deque()
        self._next = 1
        #: Bytes and count of the live packets (the deque also holds the
        #: ones taken out of the middle until they reach its front).
        self.bytes = 0
        self.count = 0
        self._owned: Dict[str, Deque[Entry]] = {}
        self._owner_bytes: Dict[str, int] = {}
        self._dead: Set[int] = set()
        #: room (or sid) -> the last sequence of a packet for it that was
        #: taken out of the middle; "" for namespace-wide packets.
        self._lost: Dict[str, int] = {}

    def __len__(self) -> int:
        return self.count

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

    def owner_bytes(self, owner: str) -> int:
        """Bytes logged now on ``owner``'s share."""
        return self._owner_bytes.get(owner, 0)

    def append(self, namespace: str, rooms: Rooms, skip: Tuple[str, ...],
               text: str, owner: Optional[str] = None) -> str:
        """Log one packet, on ``owner``'s share; returns its offset."""
        seq = self._next
        self._next = seq + 1
        self._add(Entry(seq, self.clock(), namespace, rooms, skip, text,
                        owner))
        return self._prefix + format(seq, "x")

    def append_to(self, namespace: str, sid: str, text: str,
                  owner: Optional[str] = None) -> str:
        """:meth:`append` for a packet to one socket (the relay's case, once
        per envelope)."""
        seq = self._next
        self._next = seq + 1
        self._add(Entry(seq, self.clock(), namespace, frozenset((sid,)), (),
                        text, owner))
        return f"{self._prefix}{seq:x}"

    def _add(self, entry: Entry) -> None:
        entries = self._entries
        entries.append(entry)
        size = len(entry.text)
        self.bytes += size
        self.count += 1
        owner = entry.owner
        if owner is not None:
            owned = self._owned.get(owner)
            if owned is None:
                owned = self._owned[owner] = collections.deque()
            owned.append(entry)
            used = self._owner_bytes.get(owner, 0) + size
            self._owner_bytes[owner] = used
            while owned and (used > self.max_bytes_per_owner or
                             len(owned) > self.max_packets_per_owner):
                self._take_out(owned[0])
                used = self._owner_bytes.get(owner, 0)
        if (self.bytes > self.max_bytes or self.count > self.max_packets
                or entry.at - entries[0].at > self.window):
            self.trim(entry.at)

    def _take_out(self, entry: Entry) -> None:
        """Remove a live packet from the middle (an owner's oldest): its
        sockets lose it, so :meth:`missed` refuses them past this point."""
        owner = entry.owner
        assert owner is not None
        self._owned[owner].popleft()
        self._forget_share(owner, len(entry.text))
        self._dead.add(entry.seq)
        self.bytes -= len(entry.text)
        self.count -= 1
        lost = self._lost
        for room in (entry.rooms if entry.rooms is not None else ("",)):
            lost[room] = entry.seq

    def _forget_share(self, owner: str, size: int) -> None:
        left = self._owner_bytes[owner] - size
        if self._owned[owner]:
            self._owner_bytes[owner] = left
        else:
            del self._owner_bytes[owner]
            del self._owned[owner]

    def trim(self, now: Optional[float] = None) -> None:
        """Drop what is too old; then, over the count or byte bounds, from
        the largest owner first, and oldest first for what is left."""
        now = self.clock() if now is None else now
        oldest = now - self.window
        entries = self._entries
        while entries and (entries[0].at < oldest or
                           entries[0].seq in self._dead):
            self._pop_front()
        if self.bytes > self.max_bytes or self.count > self.max_packets:
            self._evict_largest()
        while entries and (self.bytes > self.max_bytes or
                           self.count > self.max_packets or
                           entries[0].seq in self._dead):
            self._pop_front()
        if len(self._lost) > 4 * (len(self._owned) + 64):
            first = entries[0].seq if entries else self._next
            self._lost = {k: v for k, v in self._lost.items() if v >= first}

    def _pop_front(self) -> None:
        entry = self._entries.popleft()
        if entry.seq in self._dead:
            self._dead.discard(entry.seq)
            return
        self.bytes -= len(entry.text)
        self.count -= 1
        if entry.owner is not None:
            self._owned[entry.owner].popleft()
            self._forget_share(entry.owner, len(entry.text))

    def _evict_largest(self) -> None:
        """Over a bound: level the largest owners down (by bytes, and by
        packets when the count is over), oldest packets first, until the
        log is at 90 % of its bounds: one ranking of the owners per tenth
        of the log, not one per packet."""
        byte_goal = self.max_bytes * 9 // 10
        count_goal = self.max_packets * 9 // 10
        if self.count > count_goal:
            self._level({o: len(q) for o, q in self._owned.items()},
                        self.count - count_goal, lambda e: 1)
        if self.bytes > byte_goal:
            self._level(dict(self._owner_bytes), self.bytes - byte_goal,
                        lambda e: len(e.text))

    def _level(self, shares: Dict[str, int], excess: int,
               size: Callable[[Entry], int]) -> None:
        """Take ``excess`` (in ``size`` units) from the owners with the
        largest ``shares``: find the level L such that cutting every
        share above L down to L frees ``excess``, then cut."""
        ranked = sorted(shares.values(), reverse=True)
        level, freed = 0, 0
        for i, share in enumerate(ranked):
            below = ranked[i + 1] if i + 1 < len(ranked) else 0
            # lowering the top i+1 owners from `share` to `below`
            step = (share - below) * (i + 1)
            if freed + step >= excess:
                level = share - -(-(excess - freed) // (i + 1))
                break
            freed += step
        for owner, share in shares.items():
            if share <= level:
                continue
            owned = self._owned.get(owner)
            while owned and share > level:
                entry = owned[0]
                share -= size(entry)
                self._take_out(entry)

    def missed(self, after_seq: Optional[int], namespace: str, sid: str,
               member_of: FrozenSet[str],
               joined_at: Optional[Mapping[str, int]] = None,
               connected_at: int = 0) -> Optional[List[Entry]]:
        """Packets logged after sequence ``after_seq`` (exclusive; None:
        since the socket connected) that reached ``sid`` in ``member_of``;
        None when the log no longer goes back that far or lost one of its
        packets (some may be missing, so no recovery), or ``after_seq`` is
        not after ``connected_at`` (the last sequence before the socket
        connected: an offset it was never given). With ``joined_at`` (room
        -> last sequence before the socket joined it), a packet to a room
        counts only if logged after the socket joined that room."""
        if after_seq is None:
            after_seq = connected_at
        elif after_seq <= connected_at:
            return None
        entries = self._entries
        first = entries[0].seq if entries else self._next
        if after_seq + 1 < first or after_seq >= self._next:
            return None
        lost = self._lost
        if lost and any(lost.get(room, 0) > after_seq
                        for room in list(member_of) + [""]):
            return None
        start = after_seq + 1 - first
        joined = joined_at or {}
        dead = self._dead
        return [e for e in list(entries)[start:]
                if e.namespace == namespace and e.seq not in dead and
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
    #: Whose share it counts against (its client's address).
    address: str = ""


class HeldSessions:
    """Held sessions by pid, oldest first, at most ``max_sessions``, and at
    most ``max_per_address`` for one client address: past that, that
    address's own oldest goes; past ``max_sessions``, the oldest of the
    address holding the most goes. One address cannot push out
    another's."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic,
                 max_per_address: Optional[int] = None) -> None:
        self.max_sessions = max_sessions
        self.max_per_address = max_per_address or max_sessions
        self.clock = clock
        self._by_pid: "collections.OrderedDict[str, HeldSession]" = \
            collections.OrderedDict()
        self._pid_of: Dict[Tuple[str, str], str] = {}
        #: address -> its held pids, oldest first.
        self._of_address: Dict[str, "collections.OrderedDict[str, None]"] = {}
        #: how many an address holds -> the addresses holding that many
        #: (the largest is found among at most max_per_address counts;
        #: ordered dicts, whose first key is found in constant time).
        self._by_count: Dict[int, "collections.OrderedDict[str, None]"] = {}

    def __len__(self) -> int:
        return len(self._by_pid)

    def __contains__(self, pid: object) -> bool:
        return pid in self._by_pid

    def held_by(self, address: str) -> int:
        """How many sessions ``address`` holds now."""
        return len(self._of_address.get(address, ()))

    def _count(self, address: str, delta: int) -> None:
        pids = self._of_address.get(address)
        now = len(pids) if pids is not None else 0
        before = now - delta
        if before > 0:
            bucket = self._by_count[before]
            del bucket[address]
            if not bucket:
                del self._by_count[before]
        if now > 0:
            grown = self._by_count.get(now)
            if grown is None:
                grown = self._by_count[now] = collections.OrderedDict()
            grown[address] = None

    def hold(self, session: HeldSession, window: float) -> List[HeldSession]:
        """Keep ``session`` for ``window`` seconds; returns the sessions
        pushed out to respect the bounds (their departure is due)."""
        session.expires_at = self.clock() + window
        old = self._by_pid.get(session.pid)
        if old is not None:
            self._forget(self._by_pid.pop(session.pid))
        self._by_pid[session.pid] = session
        self._pid_of[(session.namespace, session.sid)] = session.pid
        address = session.address
        pids = self._of_address.get(address)
        if pids is None:
            pids = self._of_address[address] = collections.OrderedDict()
        pids[session.pid] = None
        self._count(address, 1)
        evicted = []
        while len(pids) > self.max_per_address:
            evicted.append(self._forget(self._by_pid.pop(next(iter(pids)))))
        while len(self._by_pid) > self.max_sessions:
            largest = next(iter(self._by_count[max(self._by_count)]))
            oldest = next(iter(self._of_address[largest]))
            evicted.append(self._forget(self._by_pid.pop(oldest)))
        return evicted

    def _forget(self, session: HeldSession) -> HeldSession:
        key = (session.namespace, session.sid)
        if self._pid_of.get(key) == session.pid:
            del self._pid_of[key]
        pids = self._of_address.get(session.address)
        if pids is not None and session.pid in pids:
            del pids[session.pid]
            if not pids:
                del self._of_address[session.address]
            self._count(session.address, -1)
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
        self._of_address.clear()
        self._by_count.clear()
        return sessions
