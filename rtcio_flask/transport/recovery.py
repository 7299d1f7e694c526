"""Connection state recovery, compatible with socket.io-client 4.6+.

What Node's socket.io does with ``connectionStateRecovery``, on a
python-socketio server:

- every CONNECT reply carries a private session id: ``40{"sid","pid"}``;
- every event the server sends through a room (python-socketio sends every
  ``server.emit`` through one: a sid is its own room; the relay's fast path
  too) is logged with an offset, appended as the event's last argument;
- when a connection drops (transport close or error, ping timeout; not a
  client's ``disconnect()`` nor a server's), the socket's id and rooms are
  held for the window instead of running its departure: members see
  nothing, the built-in rooms keep it, envelopes to it are logged;
- a client that reconnects within the window with ``{pid, offset}`` in its
  CONNECT auth gets its old sid and rooms back, every logged packet it
  missed after ``offset`` (once each, in order, before the CONNECT reply,
  as Node does) and ``socket.recovered === true``;
- when the window ends, the normal departure runs (``#rtcio:peer-left``,
  ``user-disconnected``, the app's ``disconnect`` handlers).

A client that still looks connected (its old connection is a zombie the
server has not noticed yet: polling, or a cut with no packet back) is
taken over: held, its old connection closed, then restored.

python-socketio's own client ignores ``pid`` and would pass the offset to
its handlers as an extra argument, so packets to it carry no offset; it is
recognised by the ``t=<seconds.fraction>`` timestamp of its handshake.

With ``message_queue=`` on Redis, the log is a Redis stream and held
sessions are Redis keys, so a client recovers on any process.
"""

import contextlib
import json
import logging
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, FrozenSet, Iterable, List, Mapping,
                    Optional, Set, Tuple)
from urllib.parse import parse_qs

from ..config import UNSET, pick
from ..core.recovery_log import (DEFAULT_MAX_BYTES, DEFAULT_MAX_PACKETS,
                                 DEFAULT_MAX_SESSIONS, DEFAULT_WINDOW,
                                 HeldSession, HeldSessions, PacketLog,
                                 as_rooms, as_skip, member_when,
                                 portable_environ, reaches_since)
from ..core.options import check_known
from ..core import resp
from ..core.protection import request_address
from ..core.throttle import guesser_key
from ..core.values import clipped, is_off, positive_number
from ..core.wsgi import complete_environ
from ..deploy.redis_client import execute_packed, outage_log
from . import compat
from .compat import engineio as eio_compat
from .compat import socketio as sio_compat

logger = logging.getLogger("rtcio_flask")

#: Engine.IO disconnect reasons after which a client may come back.
RECOVERABLE_REASONS = frozenset(["transport close", "transport error",
                                 "ping timeout"])

#: The reason a draining process (SIGTERM) closes its connections with
#: (Node's name for ``io.close()``). With the log in Redis the sockets are
#: held like a network drop, so their clients recover on another process;
#: in one process (nothing else to go to) they depart, as before.
SHUTTING_DOWN = "server shutting down"

#: Websocket close codes a client sends when it means to leave: 1000
#: (a normal close; 1005 is one without a code) and 1001 (going away:
#: the page closes or navigates). A socket closed with one departs at once.
GOODBYE_CLOSE_CODES = frozenset([1000, 1001, 1005])


def said_goodbye(eio: Any, eio_sid: str) -> bool:
    """Whether the Engine.IO session's websocket got a close frame that
    means "I am leaving" (see :data:`GOODBYE_CLOSE_CODES`). A reset, a
    read error or a silent peer leaves no close code: those are held.

    Read from RTCIO's own websocket (``close_code``) under a direct
    session (eventlet, gevent); other transports never say goodbye."""
    sock = eio.sockets.get(eio_sid)
    ws = getattr(sock, "_rtcio_direct", None)
    return getattr(ws, "close_code", None) in GOODBYE_CLOSE_CODES

_dumps = json.JSONEncoder(separators=(",", ":")).encode

#: Field names of a relayed log entry, packed once.
_ROOMS = resp.bulk("rooms")
_TEXT = resp.bulk("text")


def _one_room(room: str) -> str:
    """``_dumps([room])``, without the JSON encoder when ``room`` needs no
    escaping (a socket id always: this runs once per relayed envelope)."""
    if room.isascii() and room.isprintable() and '"' not in room and \
            "\\" not in room:
        return '["' + room + '"]'
    return _dumps([room])


#: Seconds a ping may go unanswered before a CONNECT naming that socket's
#: pid may take it over (a client answers within milliseconds; a zombie
#: connection never does).
PING_GRACE = 2.0

#: How long a held session's Redis key outlives the window (ms).
HOLD_KEY_MARGIN_MS = 10_000

#: Time-to-live of a process's "alive" key in Redis (ms), refreshed on
#: every tick (at most a second apart): a process whose key is gone died
#: or stopped, and another process ends the windows of its held sockets.
PROC_TTL_MS = 5_000

#: How long past a window's end another process leaves a held socket to
#: its owner when the owner still looks alive (ms): within the key's
#: margin, so the departure runs before the key expires.
ORPHAN_GRACE_MS = HOLD_KEY_MARGIN_MS // 2

#: server -> its Recovery when the log is in Redis (what a drain asks).
_SHARED: "weakref.WeakKeyDictionary[Any, Recovery]" = \
    weakref.WeakKeyDictionary()


def drain_reason(server: Any) -> str:
    """The reason a drain on SIGTERM closes ``server``'s connections with:
    :data:`SHUTTING_DOWN` (held, recovered on another process) when
    recovery shares its log through Redis, else python-engineio's
    ``server disconnect`` (a departure: one process has nowhere to
    recover to)."""
    recovery = _SHARED.get(server)
    if recovery is not None and not recovery.backend.down:
        return SHUTTING_DOWN
    return eio_compat.SERVER_DISCONNECT


@dataclass(frozen=True)
class RecoverySettings:
    """Resolved ``recovery=`` settings; see :func:`resolve_recovery`."""

    window: float = DEFAULT_WINDOW
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_bytes: int = DEFAULT_MAX_BYTES
    max_packets: int = DEFAULT_MAX_PACKETS
    #: One client address's share (see :func:`address_share`).
    max_sessions_per_address: int = DEFAULT_MAX_SESSIONS // 100
    max_bytes_per_address: int = DEFAULT_MAX_BYTES // 16
    max_packets_per_address: int = DEFAULT_MAX_PACKETS // 16


#: The keys of ``recovery={...}`` (each also ``RTCIO_RECOVERY_<KEY>``).
OPTIONS = ("window", "max_sessions", "max_bytes", "max_packets",
           "max_sessions_per_address", "max_bytes_per_address",
           "max_packets_per_address")

#: Default per-address share: the global bound divided by this. Sessions
#: take a hundredth (100 of 10,000: a NAT of 100 users who all drop at
#: once), the log a sixteenth (2 MiB, 12,500 packets).
SHARE_DIVISORS = {"max_sessions": 100, "max_bytes": 16, "max_packets": 16}


def address_share(bound: str, total: int) -> int:
    """The default per-address quota of a global ``bound``."""
    return max(1, total // SHARE_DIVISORS[bound])


def resolve_recovery(value: Any, config: Mapping[str, Any],
                     environ: Mapping[str, str]
                     ) -> Optional[RecoverySettings]:
    """``recovery=`` (seconds of window, True, False/0, or a dict with
    ``window``, ``max_sessions``, ``max_bytes``, ``max_packets``), then
    ``RTCIO_RECOVERY_WINDOW`` / ``_MAX_SESSIONS`` / ``_MAX_BYTES`` /
    ``_MAX_PACKETS`` in app.config, then the environment. None means off."""
    options: Dict[str, Any] = {}
    if isinstance(value, dict):
        check_known(value, OPTIONS, "RTCIO(recovery=...)", what="key")
        options = dict(value)
    elif value is True:
        pass
    elif value is not UNSET and value is not None:
        options["window"] = value
    found: Dict[str, Any] = {}
    where: Dict[str, str] = {}
    for name, default in (("window", DEFAULT_WINDOW),
                          ("max_sessions", DEFAULT_MAX_SESSIONS),
                          ("max_bytes", DEFAULT_MAX_BYTES),
                          ("max_packets", DEFAULT_MAX_PACKETS),
                          ("max_sessions_per_address", None),
                          ("max_bytes_per_address", None),
                          ("max_packets_per_address", None)):
        got = pick("recovery_" + name, options.get(name, UNSET), config,
                   environ, default)
        found[name] = got.value
        where[name] = got.where or f"RTCIO_RECOVERY_{name.upper()}"
    window = found["window"]
    if value is False or is_off(window):
        return None
    bounds: Dict[str, int] = {}
    for bound in ("max_sessions", "max_bytes", "max_packets"):
        unit = "bytes" if bound == "max_bytes" else ""
        total = bounds[bound] = int(positive_number(
            found[bound], where[bound], unit=unit))
        share = found[bound + "_per_address"]
        bounds[bound + "_per_address"] = address_share(bound, total) \
            if share is None else min(total, int(positive_number(
                share, where[bound + "_per_address"], unit=unit)))
    return RecoverySettings(
        window=float(positive_number(window, where["window"], whole=False,
                                     unit="seconds (0 turns recovery off)")),
        **bounds)


def takes_offsets(environ: Mapping[str, Any]) -> bool:
    """Whether the client of this handshake can use offsets: all but
    python-socketio's own client, whose Engine.IO handshake carries
    ``t=<time.time()>`` (socket.io-client's ``t`` has no dot)."""
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    stamp = (query.get("t") or [""])[0]
    head, dot, tail = stamp.partition(".")
    return not (dot and head.isdigit() and tail.isdigit())


@dataclass
class _Live:
    pid: str
    eio_sid: str
    #: Log position at connect (string offset or sequence, per backend).
    start: Any
    #: Room -> log position when the socket joined it: a replay gives it
    #: a room's packets only from then on.
    joined: Dict[str, Any] = field(default_factory=dict)
    #: The handshake's WSGI environ as it was at CONNECT: python-socketio
    #: forgets it when the connection closes, which may be before this
    #: socket is held (a zombie taken over, a connection that closed while
    #: its CONNECT was being served), and the app's handlers need it at
    #: the socket's departure.
    environ: Dict[str, Any] = field(default_factory=dict)


class _MemoryBackend:
    """One process: the log and the held sessions in memory."""

    shared = False

    def held_sid(self, namespace: str, sid: str) -> bool:
        return False  # the local HeldSessions are the store

    def __init__(self, settings: RecoverySettings) -> None:
        self.log = PacketLog(
            settings.window, settings.max_packets, settings.max_bytes,
            max_bytes_per_owner=settings.max_bytes_per_address,
            max_packets_per_owner=settings.max_packets_per_address)

    def start_position(self) -> Any:
        """The log's position now: what is logged from here on is after."""
        return self.log.next_seq - 1

    def record(self, namespace: str, room: Any, skip: Any,
               text: str, owner: Optional[str] = None) -> str:
        return self.log.append(namespace, as_rooms(room), as_skip(skip),
                               text, owner)

    def hold(self, session: HeldSession) -> None:
        pass

    def live(self, pid: str, alive: bool) -> None:
        pass

    def is_live(self, pid: str) -> bool:
        return False

    def take(self, pid: str) -> Optional[HeldSession]:
        return None  # the local HeldSessions are the store

    def release(self, session: HeldSession) -> bool:
        return True

    #: Never unreachable (the Redis backend's guard says when it is).
    down = False

    def beat(self) -> None:
        pass

    def orphans(self) -> List[HeldSession]:
        return []

    def settled(self, session: HeldSession) -> None:
        pass

    def missed(self, session: HeldSession, offset: Any
               ) -> Optional[List[Tuple[str, str]]]:
        start = session.extra.get("start")
        after = self.log.seq_of(offset)
        if after is None or not isinstance(start, int):
            return None
        entries = self.log.missed(after, session.namespace, session.sid,
                                  session.rooms, _joined(session),
                                  connected_at=start)
        if entries is None:
            return None
        return [(self.log.offset(e.seq), e.text) for e in entries]

    def after(self, offset: str, than: Optional[str]) -> bool:
        if than is None:
            return True
        a, b = self.log.seq_of(offset), self.log.seq_of(than)
        return a is not None and b is not None and a > b

    def trim(self) -> None:
        self.log.trim()


def _joined(session: HeldSession) -> Dict[str, Any]:
    """Room -> log position when the held socket joined it."""
    joined = session.extra.get("joined")
    return dict(joined) if isinstance(joined, dict) else {}


def _stream_id(offset: Any) -> Optional[Tuple[int, int]]:
    if not isinstance(offset, str):
        return None
    ms, dash, seq = offset.partition("-")
    if not dash or not ms.isdigit() or not seq.isdigit():
        return None
    return int(ms), int(seq)


class _RedisBackend:
    """Several processes on one Redis: the log is a stream (offsets are its
    entry ids), held sessions are keys with the window as time-to-live."""

    shared = True

    def __init__(self, settings: RecoverySettings, url: str,
                 prefix: str = "rtcio:recovery:") -> None:
        from ..deploy.redis_client import connect

        self.redis: Any = connect(url, where="the recovery log's Redis URL")
        self.settings = settings
        self.stream = prefix + "log"
        self.prefix = prefix + "session:"
        #: Held pid -> the window's end (ms since the epoch), every process's.
        self.deadlines = prefix + "deadlines"
        #: Names this process in the sessions it holds.
        self.proc_id = uuid.uuid4().hex
        self.proc_prefix = prefix + "proc:"
        #: Set by :meth:`stop`: no beat brings the key back.
        self.stopped = False

    def beat(self) -> None:
        """Say this process is alive (it ends its own held windows)."""
        if not self.stopped:
            self.redis.set(self.proc_prefix + self.proc_id, "1",
                           px=PROC_TTL_MS)

    def stop(self) -> None:
        """Say at once that this process no longer ends its held windows
        (it drained and exits): another process departs them when their
        window ends, instead of up to :data:`PROC_TTL_MS` later, when the
        key would have expired."""
        self.stopped = True
        self.redis.delete(self.proc_prefix + self.proc_id)

    def orphans(self, limit: int = 100) -> List[HeldSession]:
        """Claim held sessions whose window ended and whose owner process
        is gone (killed, or drained and exited) or did not end it within
        :data:`ORPHAN_GRACE_MS`: the caller runs their departure. Deleting
        the session's key is the claim, so exactly one process departs
        each (the owner's own window end deletes it the same way)."""
        now = int(time.time() * 1000)
        claimed = []
        for pid in self.redis.zrangebyscore(self.deadlines, "-inf", now,
                                            start=0, num=limit):
            raw = self.redis.get(self.prefix + pid)
            if not raw:  # recovered or departed already
                self.redis.zrem(self.deadlines, pid)
                continue
            data = json.loads(str(raw))
            owner = data.get("owner")
            if owner == self.proc_id:
                continue  # this process's own tick ends it
            late = now > int(data.get("deadline") or 0) + ORPHAN_GRACE_MS
            if owner and not late and \
                    self.redis.exists(self.proc_prefix + str(owner)):
                continue
            if not self.redis.delete(self.prefix + pid):
                continue  # another process claimed it first
            self.redis.zrem(self.deadlines, pid)
            self.redis.delete(self._sid_key(data["ns"], data["sid"]))
            claimed.append(_held_from(pid, data))
        return claimed

    def start_position(self) -> Any:
        """The stream's last entry id now (``0-0`` when empty): what is
        logged from here on is after it, whichever process logs it."""
        last = self.redis.xrevrange(self.stream, "+", "-", count=1)
        return str(last[0][0]) if last else "0-0"

    def record(self, namespace: str, room: Any, skip: Any,
               text: str, owner: Optional[str] = None) -> str:
        # One stream, bounded by maxlen and the window (no shares yet).
        rooms = as_rooms(room)
        fields = {"ns": namespace,
                  "rooms": "" if rooms is None else _dumps(sorted(rooms)),
                  "skip": _dumps(list(as_skip(skip))), "text": text}
        return str(self.redis.xadd(self.stream, fields,  # type: ignore
                                   maxlen=self.settings.max_packets,
                                   approximate=True))

    def record_many(self, entries: List[Tuple[str, Any, str]]
                    ) -> List[Optional[str]]:
        """Log relayed packets ``(namespace, target, text)`` in one round
        trip (a pipeline, no transaction: the stream orders them as sent),
        returning their offsets in the same order. The relay's batches on a
        message queue write through here, one call per batch instead of one
        ``XADD`` round trip per envelope.

        Its loop runs once per relayed envelope, so each entry carries only
        what :meth:`missed` needs (no ``skip``: a relayed packet skips
        nobody), the commands are packed here rather than by redis-py
        (which packs each argument in Python), and the stream is trimmed
        to ``max_packets`` once per batch, by the ``XTRIM`` at its end,
        instead of by every ``XADD``: the bound may be exceeded by one
        batch until that ``XTRIM``, in the same round trip."""
        xadd = resp.head(9, "XADD", self.stream, "*", "ns")
        parts: List[bytes] = []
        for namespace, target, text in entries:
            parts += (xadd, resp.bulk(namespace), _ROOMS,
                      resp.bulk(_one_room(target)), _TEXT, resp.bulk(text))
        parts.append(resp.command("XTRIM", self.stream, "MAXLEN", "~",
                                  str(self.settings.max_packets)))
        replies = execute_packed(self.redis, b"".join(parts),
                                 len(entries) + 1)
        return [str(entry_id) for entry_id in replies[:-1]]

    def live(self, pid: str, alive: bool) -> None:
        """Mark ``pid`` connected somewhere (so a process that does not
        know it asks the others to let go of a zombie connection)."""
        if alive:
            self.redis.set(self.prefix + "live:" + pid, "1",
                           px=24 * 3600 * 1000)
        else:
            self.redis.delete(self.prefix + "live:" + pid)

    def is_live(self, pid: str) -> bool:
        return bool(self.redis.exists(self.prefix + "live:" + pid))

    def hold(self, session: HeldSession) -> None:
        environ = session.extra.get("environ")
        deadline = int((time.time() + self.settings.window) * 1000)
        value = _dumps({"sid": session.sid, "ns": session.namespace,
                        "rooms": sorted(session.rooms),
                        "start": session.extra.get("start"),
                        "joined": _joined(session),
                        "reason": session.reason,
                        "owner": self.proc_id, "deadline": deadline,
                        "environ": portable_environ(
                            environ if isinstance(environ, dict) else {})})
        # Outlives the window by a margin: the process that holds it ends
        # the window (its tick) and deletes the key; a key that expired
        # first would read as "recovered elsewhere" and skip the departure.
        # If that process is gone, another one ends it (orphans()).
        ttl = int(self.settings.window * 1000) + HOLD_KEY_MARGIN_MS
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.prefix + session.pid, value, px=ttl)
            pipe.set(self._sid_key(session.namespace, session.sid), "1",
                     px=ttl)
            pipe.zadd(self.deadlines, {session.pid: deadline})
            pipe.execute()

    def _sid_key(self, namespace: str, sid: str) -> str:
        return f"{self.prefix}held:{namespace}:{sid}"

    def held_sid(self, namespace: str, sid: str) -> bool:
        """Whether some process holds socket ``sid`` (presence asks)."""
        return bool(self.redis.exists(self._sid_key(namespace, sid)))

    def take(self, pid: str) -> Optional[HeldSession]:
        raw = self.redis.getdel(self.prefix + pid)
        if not raw:
            return None
        data = json.loads(str(raw))
        # The socket's "held" mark stays until the restore is over
        # (settled()): presence still shows it, and the fleet sweep of the
        # process that held it, running meanwhile, leaves it in its rooms.
        self.redis.zrem(self.deadlines, pid)
        return _held_from(pid, data)

    def settled(self, session: HeldSession) -> None:
        """A taken session was restored (or departed): no longer held."""
        self.redis.delete(self._sid_key(session.namespace, session.sid))

    def release(self, session: HeldSession) -> bool:
        """Whether the session was still held (nobody restored it)."""
        held = bool(self.redis.delete(self.prefix + session.pid))
        if held:
            self.redis.delete(self._sid_key(session.namespace, session.sid))
            self.redis.zrem(self.deadlines, session.pid)
        return held

    def replayable(self, session: HeldSession, offset: Any
                   ) -> Optional[List[Tuple[str, str]]]:
        """``[]`` when :meth:`missed` can replay from ``offset`` (it is
        still in the stream, and was given to this session), else None:
        one entry read instead of the whole tail of the stream, which the
        restore reads once more anyway once the socket is registered."""
        start = str(session.extra.get("start"))
        if _stream_id(start) is None:
            return None
        if _stream_id(offset) is None or not self.after(offset, start):
            return None
        first = self.redis.xrange(self.stream, offset, offset, count=1)
        return [] if first and first[0][0] == offset else None

    def missed(self, session: HeldSession, offset: Any
               ) -> Optional[List[Tuple[str, str]]]:
        start = str(session.extra.get("start"))
        if _stream_id(start) is None:
            return None
        if _stream_id(offset) is None or not self.after(offset, start):
            return None  # from before it connected: never given to it
        entries = self.redis.xrange(self.stream, offset, "+")
        if not entries or entries[0][0] != offset:
            return None  # trimmed away, or not ours
        entries = entries[1:]
        out = []
        joined = _joined(session)
        # Each room as it appears in an entry's JSON list: an entry that
        # names none of them is skipped without decoding it (after a drain,
        # every recovering socket reads every other one's entries).
        tokens = [_dumps(room) for room in session.rooms]
        for entry_id, fields in entries:
            if fields.get("ns") != session.namespace:
                continue
            raw_rooms = fields.get("rooms")
            if raw_rooms and not any(t in raw_rooms for t in tokens):
                continue
            rooms = None if not raw_rooms else \
                frozenset(json.loads(raw_rooms))
            skip = tuple(json.loads(fields.get("skip") or "[]"))
            member = member_when(entry_id, joined, session.rooms, start,
                                 self.after)
            if reaches_since(rooms, skip, session.sid, member):
                out.append((entry_id, fields["text"]))
        return out

    def after(self, offset: str, than: Optional[str]) -> bool:
        if than is None:
            return True
        a, b = _stream_id(offset), _stream_id(than)
        return a is not None and b is not None and a > b

    def trim(self) -> None:
        oldest = int((time.time() - self.settings.window) * 1000)
        self.redis.xtrim(self.stream, minid=f"{oldest}-0", approximate=True)


def _held_from(pid: str, data: Dict[str, Any]) -> HeldSession:
    """A held session as :meth:`_RedisBackend.hold` stored it."""
    environ = data.get("environ")
    return HeldSession(pid=pid, sid=data["sid"], namespace=data["ns"],
                       rooms=frozenset(data["rooms"]), seq_at_connect=0,
                       reason=data.get("reason") or "transport close",
                       extra={"start": data.get("start"),
                              "joined": data.get("joined") or {},
                              "environ": _wsgi_environ(environ)})


def _wsgi_environ(portable: Any) -> Dict[str, Any]:
    """A WSGI environ again from :func:`portable_environ`'s strings, for
    the app's handlers in another process (a complete one even when the
    session was stored without any, as an earlier release did)."""
    strings = portable if isinstance(portable, dict) else {}
    return complete_environ({k: v for k, v in strings.items()
                             if isinstance(k, str) and isinstance(v, str)})


def _with_offset(text: str, offset: str) -> str:
    """An EVENT packet's text with ``offset`` as its last argument. Offsets
    are ``<hex>-<hex>`` (ours) or ``<ms>-<seq>`` (a Redis stream id), so
    quoting them needs no JSON encoder: this runs once per relayed
    envelope."""
    return text[:-1] + ',"' + offset + '"]'


def _lock_for(async_mode: str, shared: bool) -> Any:
    """The lock around recovery's bookkeeping and the sends it orders.

    Threads need a real lock, and so does the Redis backend, whose calls
    yield to other greenlets mid-section. Under eventlet and gevent the
    memory backend's sections do no I/O, so no other greenlet can run
    inside one, and a monkey-patched RLock (Python code) would cost about
    2 us on every relayed envelope for nothing."""
    if shared or async_mode == "threading":
        return threading.RLock()
    return contextlib.nullcontext()


class _OutageGuard:
    """The Redis backend with its outages absorbed: while Redis cannot be
    reached, packets are delivered without offsets (nothing new can be
    recovered), sockets depart as if recovery were off, and the outage is
    reported to that Redis's :class:`~rtcio_flask.deploy.redis_client.
    OutageLog` (one ERROR line per outage for every feature on it, one INFO
    when back), never once per packet."""

    #: What each call answers while Redis is down.
    _DEFAULTS: Dict[str, Any] = {
        "start_position": "0-0", "record": None, "record_many": None,
        "hold": None, "live": None,
        "is_live": False, "take": None, "release": True, "missed": None,
        "trim": None, "beat": None, "orphans": [], "settled": None,
        "replayable": None, "stop": None}

    def __init__(self, backend: Any, outages: Any) -> None:
        import redis

        self._backend = backend
        self._errors = (redis.RedisError, OSError)
        self.shared = backend.shared
        self.outages = outages.uses(
            "packets go out without recovery offsets and dropped sockets "
            "depart at once")

    @property
    def down(self) -> bool:
        return bool(self.outages.down)

    def after(self, offset: str, than: Optional[str]) -> bool:
        return bool(self._backend.after(offset, than))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._backend, name)
        if name not in self._DEFAULTS:
            return method
        default = self._DEFAULTS[name]
        outages = self.outages

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
            except self._errors as exc:
                outages.failed(exc)
                return default
            outages.ok()
            return result

        return guarded


class Recovery:
    """Connection state recovery for every namespace of one server."""

    def __init__(self, server: Any, settings: RecoverySettings,
                 queue_url: Optional[str] = None) -> None:
        self.server = server
        self.settings = settings
        self.backend: Any = (
            _OutageGuard(_RedisBackend(settings, queue_url),
                         outage_log(queue_url)) if queue_url
            else _MemoryBackend(settings))
        self.held = HeldSessions(settings.max_sessions,
                                 max_per_address=settings
                                 .max_sessions_per_address)
        #: sid -> whose share its packets and held session count against
        #: (its client's address, an IPv6 client's /64), while connected
        #: or held.
        self._owner: Dict[str, str] = {}
        #: Held sessions pushed out by the bounds since the last tick.
        self._evicted = 0
        self.lock = _lock_for(server.async_mode, self.backend.shared)
        #: The in-memory log when nothing needs a lock around it (one
        #: process under eventlet or gevent): the relay's lean path.
        self._memory_log: Optional[PacketLog] = (
            self.backend.log if isinstance(self.backend, _MemoryBackend)
            and isinstance(self.lock, contextlib.nullcontext) else None)
        #: eio_sids whose client takes offsets.
        self.offset_clients: Set[str] = set()
        self._live: Dict[Tuple[str, str], _Live] = {}
        self._pids: Dict[str, Tuple[str, str]] = {}
        self._eio_keys: Dict[str, List[Tuple[str, str]]] = {}
        #: eio_sid -> packets held back while that socket is restored.
        self._restoring: Dict[str, List[Tuple[Optional[str], str, str]]] = {}
        #: eio_sid -> last replayed offset (queued copies may still come).
        self._floor: Dict[str, str] = {}
        #: (namespace, sid) -> the held session whose departure runs now.
        self._departing: Dict[Tuple[str, str], HeldSession] = {}
        #: eio_sid -> None while its CONNECT is served, then (reason,
        #: recoverable) if the connection closed meanwhile.
        self._connecting: Dict[str, Optional[Tuple[str, bool]]] = {}
        #: namespace -> ``hint(sid, rooms)``: the rtc.io protocol's
        #: ``#rtcio:peer-left``, sent at once when a socket is held.
        self._hints: Dict[str, Any] = {}
        self._running = False
        #: Called once per recovered socket (the metrics count it).
        self.on_recovered: Callable[[], None] = lambda: None
        #: ``on_gone(sid, namespace)``: a held socket that came back on
        #: another process; what this one kept for its handlers can go.
        self.on_gone: Callable[[str, str], None] = lambda sid, ns: None
        #: ``(namespace, callback(sid, rooms))``: presence hears a socket
        #: held (its connection dropped) and one recovered (see
        #: :meth:`Rooms.reconnecting`).
        self.on_held: List[Tuple[str, Callable[[str, Any], None]]] = []
        self.on_back: List[Tuple[str, Callable[[str, Any], None]]] = []
        sio_compat.record_emits(server.manager, self)
        self._note_joins(server)

    def _note_joins(self, server: Any) -> None:
        """Wrap the server's public ``enter_room`` so each socket's join
        position per room is known: a replay gives a room's packets only
        from the moment it joined (a forged early offset gets nothing of
        the room's history)."""
        enter_room = server.enter_room

        def entering(sid: str, room: str, namespace: Optional[str] = None
                     ) -> Any:
            live = self._live.get((namespace or "/", sid))
            if live is not None and room != sid:
                try:
                    live.joined[room] = self.backend.start_position()
                except Exception:
                    logger.exception("rtcio: Redis unreachable for "
                                     "recovery")
            return enter_room(sid, room, namespace=namespace)

        server.enter_room = entering

    # -- connect --------------------------------------------------------------

    def connect(self, eio_sid: str, namespace: str, auth: Any) -> None:
        """Serve a CONNECT packet: recover the socket ``auth`` names, else
        connect a new one (with a pid)."""
        if eio_sid in self._connecting:  # a refused recovery's new socket
            self._connect(eio_sid, namespace, auth)
            return
        self._connecting[eio_sid] = None
        try:
            self._connect(eio_sid, namespace, auth)
        finally:
            closed = self._connecting.pop(eio_sid, None)
        if closed is not None:
            self._closed_while_connecting(eio_sid, *closed)

    def _closed_while_connecting(self, eio_sid: str, reason: str,
                                 recoverable: bool) -> None:
        """The connection closed while its CONNECT was served (the app's
        connect handler, Redis): python-socketio skipped the socket, still
        connecting then, and forgot the environ, so the socket would stay
        connected to nothing, in its rooms, for good. It ends now as it
        would have then: held (its client may come back), else its
        departure, with python-socketio's disconnect handlers in the
        handshake's request context (kept with it, :meth:`environ_of`)."""
        if not recoverable:
            for namespace, _sid in list(self._eio_keys.get(eio_sid, ())):
                sio_compat.handle_disconnect(self.server, eio_sid, namespace,
                                             reason)
        self._end(eio_sid, reason, recoverable)

    def _connect(self, eio_sid: str, namespace: str, auth: Any) -> None:
        server = self.server
        environ = server.environ.get(eio_sid, {})
        if takes_offsets(environ):
            self.offset_clients.add(eio_sid)
        session = None
        offset = None
        if isinstance(auth, dict) and isinstance(auth.get("pid"), str):
            # Both a pid and an offset, strings, as Node asks: a pid alone
            # (or with an offset of another type) recovers nothing. Its
            # held session, if any, is refused below (it departs at once,
            # as with an offset never given to it); a connected one is
            # left alone, since such a CONNECT could never take it over.
            offset = auth.get("offset")
            if not isinstance(offset, str):
                offset = None
            session = self._take(auth["pid"], namespace,
                                 takeover=offset is not None)
        if session is None:
            pid = self._new_pid()
            start = self.backend.start_position()
            self._mark(pid)
            sid = sio_compat.connect_socket(server, eio_sid, namespace,
                                            auth, None, pid)
            if sid is not None:
                self._remember(namespace, sid, pid, eio_sid, start,
                               environ=environ)
            else:
                self._unmark(pid)
            return
        self._restore(eio_sid, session, offset, auth, environ)

    def _restore(self, eio_sid: str, session: HeldSession,
                 offset: Optional[str], auth: Any,
                 environ: Dict[str, Any]) -> None:
        try:
            self._restore_taken(eio_sid, session, offset, auth, environ)
        finally:
            self.backend.settled(session)

    def _restore_taken(self, eio_sid: str, session: HeldSession,
                       offset: Optional[str], auth: Any,
                       environ: Dict[str, Any]) -> None:
        """Restore a session this process took (from its own held ones or
        from Redis): it is this process's to restore or to depart."""
        namespace, sid = session.namespace, session.sid
        # With Redis, only whether it can be replayed: the packets are
        # fetched once the socket is registered (before_reply).
        if offset is None:
            missed = None
            logger.info("rtcio: %s cannot be recovered (its CONNECT names "
                        "no offset); it gets a new socket", sid)
        else:
            missed = (self.backend.replayable(session, offset)
                      if self.backend.shared else
                      self.backend.missed(session, offset))
            if missed is None:
                logger.info("rtcio: %s cannot be recovered (offset %s is "
                            "no longer logged, or was never given to it); "
                            "it gets a new socket", sid, clipped(offset))
        if missed is None:
            self._depart(session, claimed=True)
            self.connect(eio_sid, namespace, {k: v for k, v in auth.items()
                                              if k not in ("pid",
                                                           "offset")})
            return
        self._restoring[eio_sid] = []
        replayed: List[Optional[str]] = [None]

        def before_reply(new_sid: str) -> None:
            with self.lock:
                sio_compat.restore_rooms(self.server.manager, sid, namespace,
                                         session.rooms)
                # Fetch again now that the socket is registered (what is
                # sent to it from here on is held back in _restoring), so
                # nothing falls between the replay and live packets.
                fresh = self.backend.missed(session, offset)
                if fresh is not None:
                    missed[:] = fresh
                elif self.backend.shared:
                    # Trimmed (or Redis gone) since replayable() said yes:
                    # rare, but say so rather than pass it over.
                    logger.warning("rtcio: %s recovered, but the packets it "
                                   "missed left the log meanwhile", sid)
                for off, text in missed:
                    self._send(eio_sid, text, off)
                    replayed[0] = off
                for off, text, _ in self._restoring.pop(eio_sid, []):
                    if off is None:  # logged during a Redis outage
                        self._send(eio_sid, text, None)
                    elif self.backend.after(off, replayed[0]):
                        self._send(eio_sid, text, off)
                        replayed[0] = off
                if self.backend.shared and replayed[0] is not None:
                    self._floor[eio_sid] = str(replayed[0])

        self._mark(session.pid)
        try:
            got = sio_compat.connect_socket(self.server, eio_sid, namespace,
                                            auth, sid, session.pid,
                                            before_reply)
        finally:
            self._restoring.pop(eio_sid, None)
        if got is None:
            self._depart(session, claimed=True)  # unmarks the pid
            return
        self._remember(namespace, sid, session.pid, eio_sid,
                       session.extra.get("start"), _joined(session), environ)
        logger.info("rtcio: %s recovered (%d missed packet(s) replayed)",
                    sid, len(missed))
        self.on_recovered()
        self._tell(self.on_back, namespace, sid, session.rooms)

    def _take(self, pid: str, namespace: str, takeover: bool = True
              ) -> Optional[HeldSession]:
        """The held session of ``pid``. ``takeover``: the CONNECT could
        recover, so a zombie connection of that pid may be closed for it
        (see :meth:`_take_over`); else a connected pid is left alone."""
        live = self._pids.get(pid)
        if live is not None and live[0] == namespace:
            if not takeover:
                return None
            if not self._take_over(live):
                logger.info("rtcio: a CONNECT names the pid of %s, which is "
                            "connected and answers its pings; it gets a "
                            "new socket", live[1])
                return None
        session = self.held.take(pid)
        if self.backend.shared:
            shared = self.backend.take(pid)
            if shared is None and session is None and live is None and \
                    takeover and self.backend.is_live(pid):
                shared = self._ask_takeover(pid)
            if session is None and shared is not None:
                session = shared
        if session is None:
            logger.info("rtcio: nothing to recover for that pid (expired, "
                        "or unknown); a new socket connects")
        if session is not None and session.namespace != namespace:
            return None
        return session

    def _ask_takeover(self, pid: str) -> Optional[HeldSession]:
        """The pid is connected on another process (a zombie there): ask
        every process to hold it, and wait a moment for the session."""
        self.server.manager.emit("takeover", pid,
                                 namespace=sio_compat.CONTROL_NAMESPACE)
        for _ in range(30):
            self.server.sleep(0.05)
            session = self.backend.take(pid)
            if session is not None:
                return session  # type: ignore[no-any-return]
        return None

    def control(self, event: Any, data: Any) -> None:
        """A request from another process (see :meth:`_ask_takeover`)."""
        if isinstance(data, list) and len(data) == 1:
            data = data[0]  # the queue carries arguments as a list
        if event == "takeover" and isinstance(data, str):
            key = self._pids.get(data)
            if key is not None:
                self._take_over(key)

    def _take_over(self, key: Tuple[str, str]) -> bool:
        """The client is back while its old connection still looks alive:
        if that connection has missed its pings (a zombie: the client
        answers none, or it is closing), hold that socket and close the
        old connection; True when done. A connection that answers its
        pings is its socket's own: a pid alone does not take it (Node
        gives the newcomer a new socket too)."""
        namespace, sid = key
        live = self._live.get(key)
        if live is None:
            return False
        if not eio_compat.ping_overdue(self.server.eio, live.eio_sid,
                                       PING_GRACE):
            return False
        self._hold(live.eio_sid, namespace, sid, "transport close")
        self.server.start_background_task(self._close_eio, live.eio_sid)
        return True

    def _close_eio(self, eio_sid: str) -> None:
        eio_compat.close_session(self.server.eio, eio_sid,
                                 eio_compat.SERVER_DISCONNECT,
                                 tell_client=True)

    def _owner_of(self, room: Any, skip_sid: Any) -> Optional[str]:
        """Whose share a ``server.emit`` is logged on: the socket it skips
        (the sender of a room broadcast: a chat line, a presence change),
        else the one socket it goes to, else nobody's (the server's)."""
        if isinstance(skip_sid, str):
            return self._owner.get(skip_sid)
        if isinstance(room, str):
            return self._owner.get(room)
        return None

    def _remember(self, namespace: str, sid: str, pid: str, eio_sid: str,
                  start: Any, joined: Optional[Dict[str, Any]] = None,
                  environ: Optional[Dict[str, Any]] = None) -> None:
        environ = environ or self.server.environ.get(eio_sid) or {}
        self._live[(namespace, sid)] = _Live(pid, eio_sid, start,
                                             joined or {}, environ)
        self._owner[sid] = guesser_key(request_address(environ))
        self._pids[pid] = (namespace, sid)
        self._eio_keys.setdefault(eio_sid, []).append((namespace, sid))

    def _mark(self, pid: str) -> None:
        """Say in Redis that ``pid`` is connected here, BEFORE the CONNECT
        reply: the client sends its first events as soon as it has the
        reply, and the reading greenlet handles none of them while it
        waits on Redis. Marked after the reply, a busy process read a
        client's ``join-room`` only after a second client had connected
        and joined (the loadgen's pairs came out reversed: issue 20)."""
        if self.backend.shared:
            try:
                self.backend.live(pid, True)
            except Exception:
                logger.exception("rtcio: Redis unreachable for recovery")

    @staticmethod
    def _new_pid() -> str:
        import secrets
        return secrets.token_urlsafe(16)

    # -- disconnect -----------------------------------------------------------

    def disconnected(self, eio_sid: str, reason: Any) -> None:
        """The Engine.IO connection ``eio_sid`` closed: hold its sockets if
        the client may come back (python-socketio then finds nothing left
        to disconnect for them), else forget them."""
        # A client that takes no offsets (python-socketio's) cannot come
        # back as the same socket: its departure is not put off.
        # A websocket closed with 1000/1001 (a tab closing, a page going
        # away) is a departure the client meant: nothing to wait for.
        # A drain (SIGTERM) with the log in Redis: held like a drop, the
        # client recovers on another process (drain_reason()).
        recoverable = (str(reason) in RECOVERABLE_REASONS or
                       (str(reason) == SHUTTING_DOWN and
                        self.backend.shared)) and \
            eio_sid in self.offset_clients and \
            not said_goodbye(self.server.eio, eio_sid)
        if eio_sid in self._connecting:
            self._connecting[eio_sid] = (str(reason), recoverable)
        self._end(eio_sid, str(reason), recoverable)

    def _end(self, eio_sid: str, reason: str, recoverable: bool) -> None:
        """Hold the sockets of a closed connection, or forget them."""
        self.offset_clients.discard(eio_sid)
        self._floor.pop(eio_sid, None)
        manager = self.server.manager
        for key in self._eio_keys.pop(eio_sid, ()):
            live = self._live.get(key)
            if live is None or live.eio_sid != eio_sid:
                continue
            namespace, sid = key
            if recoverable and manager.is_connected(sid, namespace):
                self._hold(eio_sid, namespace, sid, reason)
            else:
                self._forget_live(key)
                self._unmark(live.pid)
                self._owner.pop(sid, None)

    def _unmark(self, pid: str) -> None:
        if self.backend.shared:
            try:
                self.backend.live(pid, False)
            except Exception:
                logger.exception("rtcio: Redis unreachable for recovery")

    def _forget_live(self, key: Tuple[str, str]) -> Optional[_Live]:
        live = self._live.pop(key, None)
        if live is not None and self._pids.get(live.pid) == key:
            del self._pids[live.pid]
        return live

    def _hold(self, eio_sid: str, namespace: str, sid: str,
              reason: str) -> None:
        live = self._forget_live((namespace, sid))
        if live is None:
            return
        with self.lock:
            rooms = frozenset(self.server.manager.get_rooms(sid, namespace))
            sio_compat.drop_socket(self.server, sid, namespace)
        # The handshake's environ stays with the held socket (only in this
        # process's memory) so the app's handlers that run at its departure
        # see flask.request as in any other event.
        environ = self.server.environ.get(eio_sid) or live.environ
        session = HeldSession(pid=live.pid, sid=sid, namespace=namespace,
                              address=self._owner.get(sid, ""),
                              rooms=rooms | {sid}, seq_at_connect=0,
                              reason=reason, extra={"start": live.start,
                                                    "joined": live.joined,
                                                    "environ": environ})
        try:
            self.backend.hold(session)
        except Exception:
            logger.exception("rtcio: could not hold %s for recovery", sid)
        hint = self._hints.get(namespace)
        if hint is not None:
            try:
                hint(sid, rooms)
            except Exception:
                logger.exception("rtcio: peer-left hint for %s failed", sid)
        self._tell(self.on_held, namespace, sid, rooms)
        for evicted in self.held.hold(session, self.settings.window):
            # Summed up once a tick: an address churning connections
            # would otherwise write a line per connection.
            self._evicted += 1
            self._depart(evicted)

    def held_here(self) -> List[HeldSession]:
        """The sessions this process holds for recovery, oldest first."""
        return self.held.sessions()

    @staticmethod
    def _tell(callbacks: List[Tuple[str, Callable[[str, Any], None]]],
              namespace: str, sid: str, rooms: Any) -> None:
        for ns, callback in callbacks:
            if ns == namespace:
                try:
                    callback(sid, rooms)
                except Exception:
                    logger.exception("rtcio: presence update for %s failed",
                                     sid)

    def is_held(self, sid: str, namespace: str) -> bool:
        """Whether ``sid`` dropped and is held for recovery (here, or with
        Redis on any process)."""
        if self.held.holding(sid, namespace) is not None:
            return True
        return bool(self.backend.shared and
                    self.backend.held_sid(namespace, sid))

    def rooms_of_gone(self, sid: str, namespace: str
                      ) -> Optional[FrozenSet[str]]:
        """The rooms of a held socket whose departure is running now."""
        session = self._departing.get((namespace, sid))
        return None if session is None else session.rooms

    def environ_of(self, sid: str, namespace: str
                   ) -> Optional[Dict[str, Any]]:
        """The handshake environ of a socket held here or departing now,
        or connected here while its connection is already closed (see
        :meth:`_closed_while_connecting`): python-socketio forgot it when
        the connection dropped, and the app's handlers run in its request
        context all the same."""
        session = self._departing.get((namespace, sid)) or \
            self.held.holding(sid, namespace)
        if session is None:
            live = self._live.get((namespace, sid))
            return (live.environ or None) if live is not None else None
        environ = session.extra.get("environ")
        return environ if isinstance(environ, dict) and environ else None

    def _depart(self, session: HeldSession, claimed: bool = False) -> None:
        """The window ended (or recovery failed): the normal departure.
        ``claimed``: the session's Redis key is already ours to end (an
        orphan, see :meth:`_RedisBackend.orphans`)."""
        self.held.pop(session.pid)
        try:
            if not claimed and not self.backend.release(session):
                # restored by another process: nothing of it stays here
                self.on_gone(session.sid, session.namespace)
                self._drop_owner(session)
                return
        except Exception:
            logger.exception("rtcio: Redis unreachable ending the recovery "
                             "window of %s", session.sid)
        self._unmark(session.pid)
        key = (session.namespace, session.sid)
        self._departing[key] = session
        try:
            sio_compat.run_disconnect_handlers(self.server, session.sid,
                                               session.namespace,
                                               session.reason)
        except Exception:
            logger.exception("rtcio: departure of %s failed", session.sid)
        finally:
            self._departing.pop(key, None)
            self._drop_owner(session)

    def _drop_owner(self, session: HeldSession) -> None:
        if (session.namespace, session.sid) not in self._live:
            self._owner.pop(session.sid, None)

    # -- emits ----------------------------------------------------------------

    def _send(self, eio_sid: str, text: str, offset: Optional[str]) -> None:
        if offset is not None and eio_sid in self.offset_clients:
            text = _with_offset(text, offset)
        try:
            eio_compat.send_text(self.server.eio, eio_sid, text)
        except Exception:  # the connection just went away
            logger.debug("rtcio: could not send to %s", eio_sid)

    def _deliver(self, manager: Any, namespace: str, room: Any,
                 skip_sid: Any, text: str, offset: Optional[str],
                 queued: bool = False) -> None:
        if namespace not in manager.rooms:
            return
        skip = as_skip(skip_sid)
        with_offset = (text if offset is None else
                       _with_offset(text, offset))
        clients = self.offset_clients
        restoring = self._restoring
        floor = self._floor
        eio = self.server.eio
        send_text = eio_compat.send_text
        for sid, eio_sid in manager.get_participants(namespace, room):
            if sid in skip:
                continue
            if restoring and eio_sid in restoring:
                restoring[eio_sid].append((offset, text, sid))
                continue
            if queued and floor and eio_sid in floor and \
                    offset is not None and \
                    not self.backend.after(offset, floor[eio_sid]):
                continue
            try:
                send_text(eio, eio_sid,
                          with_offset if eio_sid in clients else text)
            except Exception:
                logger.debug("rtcio: could not send to %s", eio_sid)

    def emit_here(self, manager: Any, event: str, args: List[Any],
                  namespace: str, room: Any, skip_sid: Any) -> bool:
        """A ``server.emit`` in one process: log it, deliver it."""
        if sio_compat.is_binary(args):
            return False
        text = sio_compat.encode_event(self.server, namespace,
                                       [event] + args)
        with self.lock:
            offset = self.backend.record(namespace, room, skip_sid, text,
                                         self._owner_of(room, skip_sid))
            self._deliver(manager, namespace, room, skip_sid, text, offset)
        return True

    def log_queued(self, manager: Any, event: str, args: List[Any],
                   namespace: str, room: Any, skip_sid: Any
                   ) -> Optional[str]:
        """A ``server.emit`` with a message queue: log it; the offset rides
        with it to every process."""
        if sio_compat.is_binary(args):
            return None
        if namespace == sio_compat.CONTROL_NAMESPACE:
            return None
        text = sio_compat.encode_event(self.server, namespace,
                                       [event] + args)
        offset = self.backend.record(namespace, room, skip_sid, text)
        return None if offset is None else str(offset)

    def deliver_queued(self, manager: Any, event: str, args: List[Any],
                       namespace: str, room: Any, skip_sid: Any,
                       offset: str) -> None:
        text = sio_compat.encode_event(self.server, namespace,
                                       [event] + args)
        with self.lock:
            self._deliver(manager, namespace, room, skip_sid, text, offset,
                          queued=True)

    def deliver_relayed(self, namespace: str, target: str, text: str,
                        offset: Optional[str]) -> None:
        """A relayed packet already in the log (the message queue's batched
        path): send it to ``target`` if it is connected here, held back
        while that socket is restored and skipped if its replay already
        carried it, as a queued emit is."""
        with self.lock:
            self._deliver(self.server.manager, namespace, target, None,
                          text, offset, queued=True)

    def relay(self, namespace: str, target: str, target_eio: Optional[str],
              text: str) -> None:
        """The relay's fast path: log the pre-encoded packet to ``target``
        and send it (if ``target`` is connected here)."""
        log = self._memory_log
        if log is not None and not self._restoring:
            # One process, no socket being restored (the common case): no
            # lock, and the one-socket log entry, once per relayed envelope.
            offset = log.append_to(namespace, target, text,
                               self._owner.get(target))
            if target_eio is not None:
                self._send(target_eio, text, offset)
            return
        with self.lock:
            offset = self.backend.record(namespace, target, None, text,
                                         self._owner.get(target))
            if target_eio is None:
                return
            if self._restoring and target_eio in self._restoring:
                self._restoring[target_eio].append((offset, text, target))
                return
            self._send(target_eio, text, offset)

    # -- the window -----------------------------------------------------------

    def tick(self) -> None:
        """End expired windows; trim the log; say what the bounds cost."""
        if self._evicted:
            logger.warning(
                "rtcio: %d held socket(s) left before their recovery window "
                "ended, to keep within the bounds (%d per client address, "
                "%d in all; recovery={'max_sessions_per_address': ...})",
                self._evicted, self.settings.max_sessions_per_address,
                self.settings.max_sessions)
            self._evicted = 0
        for session in self.held.expire():
            logger.info("rtcio: %s did not come back within %.0f s",
                        session.sid, self.settings.window)
            self._depart(session)
        if self.backend.shared:
            self.backend.beat()
            for session in self.backend.orphans():
                logger.info("rtcio: %s did not come back within %.0f s "
                            "(held by a process that is gone; it departs "
                            "here)", session.sid, self.settings.window)
                # Its rooms and environ came from Redis.
                self._depart(session, claimed=True)
        with self.lock:
            self.backend.trim()  # an outage is logged by the guard

    def _run(self) -> None:
        interval = min(1.0, max(0.05, self.settings.window / 10))
        while self._running:
            self.server.sleep(interval)
            if not self._running:
                break  # stopped meanwhile: no more windows end here
            try:
                self.tick()
            except Exception:
                logger.exception("rtcio: recovery tick failed")

    def start(self) -> "Recovery":
        if not self._running:
            self._running = True
            self.server.start_background_task(self._run)
        return self

    def stop(self) -> None:
        """Stop ending windows here: the process drained and exits. With
        Redis, its alive key goes at once, so another process departs the
        sockets it still holds at their window's end."""
        self._running = False
        if self.backend.shared:
            self.backend.stop()


def stop_shared(server: Any) -> None:
    """A drain of ``server`` finished: stop its recovery if it shares its
    log through Redis (see :meth:`Recovery.stop`); in one process the
    drain departed every socket and nothing is left to hand over."""
    recovery = _SHARED.get(server)
    if recovery is not None:
        recovery.stop()


def install_recovery(value: Any, app_config: Mapping[str, Any], server: Any,
                     packet_hook: Any, dispatcher: Any,
                     protocols: Iterable[Any], rooms: Any,
                     state_redis: Optional[str],
                     on_recovered: Callable[[], None],
                     environ: Optional[Mapping[str, str]] = None
                     ) -> Optional[Recovery]:
    """Resolve ``recovery=`` and wire it into one app's server: the packet
    hook's CONNECT and disconnect, the dispatcher's held environs, every
    rtc.io protocol's relay and departures, the built-in rooms (or None)
    and their departures; ``state_redis`` is DeploySettings.state_redis,
    ``on_recovered()`` runs at each recovery. Returns the started
    Recovery, or None when it is off. Takes the app's pieces rather than
    its whole state: the caller (extension.py) keeps the result."""
    import os

    import socketio

    from ..config import is_redis_url

    settings = resolve_recovery(value, app_config,
                                os.environ if environ is None else environ)
    if settings is None:
        return None
    if not compat.enabled("recovery"):
        return None
    if getattr(server, "always_connect", False):
        logger.warning("rtcio: connection state recovery is off: the "
                       "server was created with always_connect=True")
        return None
    # The shared state's Redis: rooms_redis, else the queue's own.
    queue = state_redis
    if isinstance(server.manager, socketio.PubSubManager):
        if not is_redis_url(queue):
            logger.warning("rtcio: connection state recovery is off: it "
                           "needs Redis to work across processes: "
                           "message_queue= on Redis, or rooms_redis= "
                           "(RTCIO_ROOMS_REDIS) beside another queue (or "
                           "recovery=0 to say so)")
            return None
    else:
        queue = None
    recovery = Recovery(server, settings, queue)
    if recovery.backend.shared:
        _SHARED[server] = recovery
    packet_hook.connect_handler = recovery.connect
    packet_hook.before_disconnect = recovery.disconnected
    for protocol in protocols:
        wire_protocol(recovery, protocol)
    if rooms is not None:
        rooms.departures.rooms_of = recovery.rooms_of_gone
        rooms.held = lambda sid: recovery.is_held(sid, rooms.namespace)
        recovery.on_held.append((rooms.namespace, rooms.reconnecting))
        recovery.on_back.append((rooms.namespace, rooms.reconnected))
    recovery.on_recovered = on_recovered
    dispatcher.held_environ = recovery.environ_of
    recovery.on_gone = dispatcher.forget_held
    recovery.start()
    # DEBUG: it is the default; the CLI's start-up line names the window.
    logger.debug("rtcio: connection state recovery on (window %.0f s%s)",
                 settings.window, ", shared through Redis" if queue else "")
    return recovery


def wire_protocol(recovery: Recovery, protocol: Any) -> None:
    """Let one namespace's relay and departures know held sockets."""
    protocol.recovery = recovery
    departures = protocol.departures
    departures.rooms_of = recovery.rooms_of_gone

    def peer_left_hint(sid: str, rooms: FrozenSet[str]) -> None:
        # Only a hint: rtc.io checks it against the peer connection, so a
        # closed tab is noticed in seconds while a signaling blip (WebRTC
        # still up) changes nothing. Presence waits for the window.
        departures.announce(sid, (), [r for r in rooms if r != sid])

    recovery._hints[protocol.namespace] = peer_left_hint
