"""Which server processes of a Redis-backed deployment are alive, so the room
members of one that died (SIGKILL, OOM, a lost host) do not stay as ghosts.

A process that dies without running its disconnect handlers leaves its
sockets in the shared room store: everyone else would keep seeing them in
``user-connected`` backfills and caps. Each process therefore writes a
heartbeat key with a time-to-live; every process sweeps now and then, and
the first to see a heartbeat gone claims that process and purges its
members through the room store (``Rooms.purge_server``), telling their
rooms ``user-disconnected`` and ``#rtcio:peer-left``.

Keys (prefix ``rtcio:fleet:``)::

    servers       set  ids of processes that have heartbeated
    alive:<id>    str  set with a TTL of ``3 x interval``, refreshed each beat
    purge:<id>    str  SET NX claim, so one survivor purges a dead process
"""

import logging
import time

logger = logging.getLogger("rtcio_flask")

#: Seconds between heartbeats (and sweeps); a dead process is noticed
#: between 3 and 4 intervals after its last beat.
DEFAULT_INTERVAL = 5.0

PREFIX = "rtcio:fleet:"


class Fleet:
    """Heartbeat of this process and sweep of dead ones, on one Redis."""

    def __init__(self, server, rooms, url, interval=DEFAULT_INTERVAL,
                 prefix=PREFIX, client=None):
        if isinstance(interval, str):
            interval = float(interval)
        if isinstance(interval, bool) or not isinstance(
                interval, (int, float)) or interval <= 0:
            raise ValueError(f"RTCIO_FLEET_INTERVAL must be a positive "
                             f"number of seconds, not {interval!r}.")
        if client is None:
            import redis
            client = redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=max(2.0, interval),
                socket_connect_timeout=max(2.0, interval))
        self.server = server
        self.rooms = rooms
        self.redis = client
        self.interval = float(interval)
        self.ttl_ms = max(1, int(self.interval * 3000))
        self.prefix = prefix
        self.server_id = rooms.config.server_id
        self._running = False
        self._outage = False
        # Sweep only after seeing Redis for a whole TTL without a break: after
        # a start or an outage, the others may not have beaten again yet.
        self._reachable_since = None

    def _k(self, kind, ident=None):
        return self.prefix + kind if ident is None else \
            f"{self.prefix}{kind}:{ident}"

    def beat(self):
        """Say this process is alive."""
        with self.redis.pipeline() as pipe:
            pipe.set(self._k("alive", self.server_id), "1", px=self.ttl_ms)
            pipe.sadd(self._k("servers"), self.server_id)
            pipe.execute()

    def sweep(self):
        """Purge every process whose heartbeat expired; returns the purged
        ``[(room_id, sid)]``. (``tick`` calls it only once this process has
        reached Redis for a whole TTL, so a start or a Redis outage never
        makes live processes look dead.)"""
        purged = []
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
            self._announce_peer_left(removed)
            self.redis.srem(self._k("servers"), server_id)
            if removed:
                logger.warning(
                    "rtcio: server %s stopped heartbeating; removed its %d "
                    "room member(s) left behind", server_id, len(removed))
            purged.extend(removed)
        return purged

    def _announce_peer_left(self, removed):
        from .events import RtcioEvents
        from .rooms import sio_room

        namespace = self.rooms.config.namespace
        for room_id, sid in removed:
            self.server.emit(RtcioEvents.PEER_LEFT, {"id": sid},
                             to=sio_room(room_id), namespace=namespace)

    def tick(self):
        """One heartbeat and sweep; survives Redis being away."""
        try:
            self.beat()
            now = time.monotonic()
            if self._reachable_since is None:
                self._reachable_since = now
            if now - self._reachable_since >= self.ttl_ms / 1000:
                self.sweep()
        except Exception as exc:  # redis down, restarting, failing over
            self._reachable_since = None
            if not self._outage:
                logger.error("rtcio: cannot reach Redis for the fleet "
                             "heartbeat (%s); retrying every %.1f s", exc,
                             self.interval)
            self._outage = True
            return False
        if self._outage:
            logger.info("rtcio: Redis reachable again; fleet heartbeat "
                        "resumed")
            self._outage = False
        return True

    def run(self):
        while self._running:
            self.tick()
            self.server.sleep(self.interval)

    def start(self):
        if not self._running:
            self._running = True
            self.server.start_background_task(self.run)
        return self

    def stop(self):
        self._running = False
