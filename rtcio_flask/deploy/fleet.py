"""Which server processes of a Redis-backed deployment are alive, so the room
members of one that died (SIGKILL, OOM, a lost host) do not stay as ghosts.

A process that dies without running its disconnect handlers leaves its
sockets in the shared room store: everyone else would keep seeing them in
``user-connected`` backfills and caps. Each process therefore writes a
heartbeat key with a time-to-live; every process sweeps now and then, and
the first to see a heartbeat gone claims that process and purges its
members through the room store (``Rooms.purge_server``, which tells their
rooms through the one departure path).

Keys (prefix ``rtcio:fleet:``)::

    servers       set  ids of processes that have heartbeated
    alive:<id>    str  set with a TTL of ``3 x interval``, refreshed each beat
    purge:<id>    str  SET NX claim, so one survivor purges a dead process
    epoch         str  a random token the first process sets (SET NX): when
                       it is gone or changed, Redis lost its data (a
                       restart without persistence, a flush), and every
                       process puts its own live members back
                       (``Rooms.restore_local``)
"""

import logging
import time
import uuid
from typing import Any, List, Optional, Protocol, Tuple

from ..core.values import positive_number
from .redis_client import OutageLog, connect

logger = logging.getLogger("rtcio_flask")

#: Seconds between heartbeats (and sweeps); a dead process is noticed
#: between 3 and 4 intervals after its last beat.
DEFAULT_INTERVAL = 5.0

PREFIX = "rtcio:fleet:"


class FleetRooms(Protocol):
    """What the fleet needs of the built-in rooms
    (:class:`rtcio_flask.rooms.handlers.Rooms` satisfies it), written here
    so this layer does not import the rooms layer."""

    config: Any
    store: Any
    outages: OutageLog

    def store_reachable(self) -> None:
        """The store answered."""

    def restore_local(self) -> int:
        """Put this process's live members back into the store."""

    def purge_server(self, server_id: str) -> List[Tuple[str, str]]:
        """Remove a dead process's members and tell their rooms."""


class Fleet:
    """Heartbeat of this process and sweep of dead ones, on one Redis."""

    def __init__(self, server: Any, rooms: FleetRooms, client: Any,
                 interval: Any = DEFAULT_INTERVAL,
                 prefix: str = PREFIX) -> None:
        interval = positive_number(interval, "RTCIO_FLEET_INTERVAL",
                                   whole=False, unit="seconds")
        self.server = server
        self.rooms = rooms
        self.redis = client
        self.interval = float(interval)
        self.ttl_ms = max(1, int(self.interval * 3000))
        self.prefix = prefix
        self.server_id = rooms.config.server_id
        self._running = False
        self.rooms.outages.uses("dead processes' members are not purged")
        # Sweep only after seeing Redis for a whole TTL without a break: after
        # a start or an outage, the others may not have beaten again yet.
        self._reachable_since: Optional[float] = None
        #: The epoch token seen last; None before the first beat.
        self._epoch: Optional[str] = None

    def _k(self, kind: str, ident: Optional[str] = None) -> str:
        return self.prefix + kind if ident is None else \
            f"{self.prefix}{kind}:{ident}"

    def beat(self) -> bool:
        """Say this process is alive; True when Redis lost its data since
        the last beat (the epoch token is new)."""
        with self.redis.pipeline() as pipe:
            pipe.set(self._k("alive", self.server_id), "1", px=self.ttl_ms)
            pipe.sadd(self._k("servers"), self.server_id)
            pipe.set(self._k("epoch"), uuid.uuid4().hex, nx=True)
            pipe.get(self._k("epoch"))
            epoch = pipe.execute()[-1]
        lost = self._epoch is not None and epoch != self._epoch
        self._epoch = epoch
        return lost

    def restore(self) -> int:
        """Redis lost the rooms: put this process's live members back."""
        added = self.rooms.restore_local()
        logger.warning("rtcio: Redis lost the room state (restarted without "
                       "persistence?); put back the %d room member(s) "
                       "connected to this process", added)
        return added

    def sweep(self) -> List[Tuple[str, str]]:
        """Purge every process whose heartbeat expired; returns the purged
        ``[(room_id, sid)]``. (``tick`` calls it only once this process has
        reached Redis for a whole TTL, so a start or a Redis outage never
        makes live processes look dead.)"""
        purged: List[Tuple[str, str]] = []
        for server_id in sorted(self.redis.smembers(self._k("servers"))):
            if server_id == self.server_id:
                continue
            if self.redis.exists(self._k("alive", server_id)):
                continue
            # One survivor does the purge and the announcements.
            if not self.redis.set(self._k("purge", server_id), self.server_id,
                                  nx=True, px=self.ttl_ms * 10):
                continue
            removed = self.rooms.purge_server(server_id)
            self.redis.srem(self._k("servers"), server_id)
            if removed:
                logger.warning(
                    "rtcio: server %s stopped heartbeating; removed its %d "
                    "room member(s) left behind", server_id, len(removed))
            purged.extend(removed)
        return purged

    def tick(self) -> bool:
        """One heartbeat and sweep; survives Redis being away (reported to
        the room store's outage log: one ERROR per outage for every feature
        on that Redis)."""
        try:
            if self.beat():
                self.restore()
            now = time.monotonic()
            if self._reachable_since is None:
                self._reachable_since = now
            if now - self._reachable_since >= self.ttl_ms / 1000:
                self.sweep()
        except Exception as exc:  # redis down, restarting, failing over
            self._reachable_since = None
            if self.rooms.store.is_outage(exc) or isinstance(exc, OSError):
                self.rooms.outages.failed(exc)
            else:
                logger.exception("rtcio: fleet heartbeat failed")
            return False
        # The rooms' end of outage: logged once, pending leaves done.
        self.rooms.store_reachable()
        return True

    def run(self) -> None:
        while self._running:
            self.tick()
            self.server.sleep(self.interval)

    def start(self) -> "Fleet":
        if not self._running:
            self._running = True
            self.server.start_background_task(self.run)
        return self

    def stop(self) -> None:
        self._running = False


def start_fleet(server: Any, rooms: Optional[FleetRooms],
                fleet_interval: Any) -> Optional[Fleet]:
    """Heartbeat and ghost sweep when rooms live in Redis; ``rooms`` is
    given only when their store is the Redis room store (the caller, above
    this layer, knows the store classes), ``fleet_interval`` is
    DeploySettings.fleet_interval. Returns the started Fleet, or None."""
    import socketio

    if rooms is None:
        return None
    if not isinstance(server.manager, socketio.PubSubManager):
        return None  # one process: its own disconnects clean up
    interval = positive_number(
        fleet_interval or DEFAULT_INTERVAL,
        "RTCIO_FLEET_INTERVAL", whole=False, unit="seconds")
    fleet = Fleet(server, rooms, _fleet_client(rooms.store, interval),
                  interval)
    return fleet.start()


def _fleet_client(store: Any, interval: float) -> Any:
    """A Redis client of its own on the room store's server, with timeouts
    shorter than a beat, so a Redis outage makes a heartbeat fail instead
    of hang (and a busy store pool never delays a beat)."""
    timeout = max(2.0, float(interval))
    if store.url is None:  # RedisRoomStore(client=...): share that client
        return store.redis
    return connect(store.url, socket_timeout=timeout,
                   socket_connect_timeout=timeout, max_connections=2,
                   where="the room store URL")
