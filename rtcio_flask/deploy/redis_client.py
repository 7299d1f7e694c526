"""The one way rtcio-flask opens Redis: the room store, the recovery log,
the fleet heartbeat and the message queue's own client all come from
:func:`connect`.

Why one factory:

- **Every URL the message queue accepts** (:mod:`rtcio_flask.core.redis_url`):
  ``redis://``, ``rediss://``, ``unix://``, ``valkey://``, ``valkeys://``
  and ``redis+sentinel://h1:p1,h2:p2/db/service``, the last through
  redis-py's ``Sentinel(...).master_for(service)``, whose pool asks the
  sentinels for the master whenever a connection (re)connects, so clients
  follow a failover by themselves.
- **A pool that waits instead of failing.** Under eventlet or gevent every
  greenlet in a Redis call holds a pooled connection; redis-py 8's default
  pool raises ``MaxConnectionsError`` at 100, which turned load into
  ``store-unavailable`` refusals and dropped publishes (issue 20). These
  pools block until a connection is free (or ``pool_timeout`` seconds, when
  the URL sets one) (redis-py's
  ``BlockingConnectionPool``; for Sentinel the same behaviour on its
  ``SentinelConnectionPool``) and count each call that had to wait
  (``rtcio_redis_pool_waits_total``) and each that gave up
  (``rtcio_redis_pool_timeouts_total``).
- **Timeouts**: a connection attempt or a command that does not answer
  fails after ``socket_timeout`` seconds instead of hanging a greenlet
  (the queue's subscriber passes None: it waits for messages).

Pool size and wait can be set per URL in its query string,
``redis://h:6379/0?max_connections=200&pool_timeout=30`` (Sentinel URLs
too), so the store, recovery and queue of one deployment agree.
"""

import logging
import re
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode

from ..core.outage import Outage
from ..core.redis_url import RedisTarget, parse_redis_url, redact

logger = logging.getLogger("rtcio_flask")

#: Connections per pool. Redis runs commands one at a time, so more
#: connections than this buy no throughput, only memory on both sides;
#: callers beyond it wait their turn.
DEFAULT_POOL_SIZE = 64

#: Seconds a call waits for a free connection before it fails (and is
#: counted as a timeout); None: as long as it takes. Nothing is refused for
#: lack of a connection while Redis is up (issue 20): each holder gives its
#: connection back within ``socket_timeout``, and a Redis that is down
#: fails each call at connect instead. ``?pool_timeout=`` sets a bound.
DEFAULT_POOL_TIMEOUT: Optional[float] = None

#: Seconds to connect or to get an answer to one command.
DEFAULT_SOCKET_TIMEOUT = 5.0

#: Query-string options this module reads (and removes) from a URL.
POOL_OPTIONS = ("max_connections", "pool_timeout")


class _Counting:
    """Mixin for a blocking pool: counts the calls that found every
    connection taken (``waits``) and those that gave up (``timeouts``).
    Counted here, with our own count of connections handed out, rather
    than by looking into redis-py's queue."""

    waits = 0
    timeouts = 0
    _in_use = 0

    def _count_init(self) -> None:
        self._count_lock = threading.Lock()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        with self._count_lock:
            if self._in_use >= self.max_connections:  # type: ignore
                self.waits += 1
            self._in_use += 1
        try:
            return super().get_connection(*args, **kwargs)  # type: ignore
        except Exception as exc:
            with self._count_lock:
                self._in_use = max(0, self._in_use - 1)
                if "No connection available" in str(exc):
                    self.timeouts += 1
            raise

    def release(self, connection: Any) -> None:
        try:
            super().release(connection)  # type: ignore
        finally:
            with self._count_lock:
                self._in_use = max(0, self._in_use - 1)


def _pool_classes() -> Tuple[Any, Any]:
    """The two counting pool classes (built on first use, so importing this
    module does not import redis)."""
    global _CLASSES
    if _CLASSES is None:
        import redis
        from redis.sentinel import SentinelConnectionPool

        class CountingPool(_Counting, redis.BlockingConnectionPool):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self._count_init()
                super().__init__(*args, **kwargs)

        class CountingSentinelPool(_Counting, SentinelConnectionPool,
                                   redis.BlockingConnectionPool):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self._count_init()
                super().__init__(*args, **kwargs)

        _CLASSES = (CountingPool, CountingSentinelPool)
    return _CLASSES


_CLASSES: Optional[Tuple[Any, Any]] = None


def pool_options(url: str) -> Tuple[str, Dict[str, Any]]:
    """``url`` without this module's query options, and those options
    (checked: a typo or a bad number fails here, at start-up)."""
    base, question, query = url.partition("?")
    if not question:
        return url, {}
    kept, found = [], {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in POOL_OPTIONS:
            kept.append((key, value))
            continue
        try:
            number = float(value) if key == "pool_timeout" else int(value)
        except ValueError:
            number = -1
        if number <= 0:
            raise ValueError(f"the Redis URL's {key}={value!r} must be a "
                             f"positive number, e.g. {key}="
                             f"{'30' if key == 'pool_timeout' else '200'}.")
        found[key] = number
    if not found:
        return url, found
    return base + ("?" + urlencode(kept) if kept else ""), found


_COMMAND_NAME: Optional[Tuple[str, ...]] = None


def _command_name() -> Tuple[str, ...]:
    """What ``ConnectionPool.get_connection`` is given: redis-py before
    5.3 requires a command name (the floor, 5.0, raises TypeError without
    one), later releases deprecate passing it."""
    global _COMMAND_NAME
    if _COMMAND_NAME is None:
        import inspect

        import redis

        param = inspect.signature(
            redis.ConnectionPool.get_connection).parameters.get(
                "command_name")
        required = param is not None and param.default is param.empty
        _COMMAND_NAME = ("XADD",) if required else ()
    return _COMMAND_NAME


def execute_packed(client: Any, packed: bytes, replies: int) -> List[Any]:
    """Send commands already packed (:mod:`rtcio_flask.core.resp`) in one
    write on one of ``client``'s pooled connections, and read their
    ``replies``: a pipeline's single round trip without redis-py packing
    every argument in Python. An error reply raises (redis-py's
    ``ResponseError``) after the connection is dropped, as any failure
    does, so no unread reply is left for the pool's next user."""
    pool = client.connection_pool
    conn = pool.get_connection(*_command_name())
    try:
        conn.send_packed_command([packed])
        return [conn.read_response() for _ in range(replies)]
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def connect(url: str, *, decode_responses: bool = True,
            socket_timeout: Optional[float] = DEFAULT_SOCKET_TIMEOUT,
            max_connections: Optional[int] = None,
            pool_timeout: Optional[float] = None,
            where: str = "the Redis URL", **options: Any) -> Any:
    """A ``redis.Redis`` for ``url`` (any form the message queue takes) on
    a counting blocking pool. ``max_connections`` and ``pool_timeout``
    default to the URL's query options, then to the module defaults."""
    import redis

    plain_url, from_url = pool_options(url)
    target = parse_redis_url(plain_url, where)
    size = int(max_connections or from_url.get("max_connections")
               or DEFAULT_POOL_SIZE)
    wait = pool_timeout or from_url.get("pool_timeout") or \
        DEFAULT_POOL_TIMEOUT
    kwargs: Dict[str, Any] = dict(options)
    kwargs.setdefault("socket_connect_timeout", DEFAULT_SOCKET_TIMEOUT)
    kwargs.setdefault("socket_timeout", socket_timeout)
    kwargs["decode_responses"] = decode_responses
    counting, counting_sentinel = _pool_classes()
    if not target.sentinel:
        pool = counting.from_url(target.url, max_connections=size,
                                 timeout=wait, **kwargs)
        return redis.Redis(connection_pool=pool)
    return _sentinel_master(target, counting_sentinel, size, wait, kwargs)


def _sentinel_master(target: RedisTarget, pool_class: type, size: int,
                     wait: Optional[float], kwargs: Dict[str, Any]) -> Any:
    from redis.sentinel import Sentinel

    # The sentinels themselves get the timeouts, never the master's
    # password or database (Sentinel's own authentication is separate).
    sentinel_kwargs = {key: kwargs[key] for key in
                       ("socket_connect_timeout", "socket_timeout")
                       if kwargs.get(key) is not None}
    sentinel = Sentinel(list(target.sentinels),
                        sentinel_kwargs=sentinel_kwargs)
    master_kwargs = dict(kwargs, **target.connection_kwargs())
    return sentinel.master_for(target.service,
                               connection_pool_class=pool_class,
                               max_connections=size, timeout=wait,
                               **master_kwargs)


class OutageLog:
    """The one ERROR line when a Redis becomes unreachable and the one INFO
    line when it is back, for every feature of the process that uses it
    (the room store, recovery, the fleet heartbeat, the queue): each
    reports its failures and successes here (:meth:`failed`, :meth:`ok`),
    and :class:`rtcio_flask.core.outage.Outage` decides, so features never
    log an outage themselves, never a traceback per event, and the log
    never flaps. Each feature names what it cannot do meanwhile
    (:meth:`uses`), and the ERROR line says all of it."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.state = Outage()
        self.consequences: List[str] = []
        self._lock = threading.Lock()

    def uses(self, consequence: str) -> "OutageLog":
        """Add what a feature cannot do while this Redis is down."""
        if consequence not in self.consequences:
            self.consequences.append(consequence)
        return self

    @property
    def down(self) -> bool:
        return self.state.down

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            started = self.state.failed(time.monotonic())
        if started:
            meanwhile = "; ".join(self.consequences) or "it is not used"
            logger.error("rtcio: %s is unreachable (%s: %s); until it is "
                         "back: %s; retrying", self.what, type(exc).__name__,
                         _reason(exc), meanwhile)

    def ok(self) -> None:
        if not self.state.down:  # the common case: one attribute read
            return
        with self._lock:
            length = self.state.succeeded(time.monotonic())
        if length is not None:
            logger.info("rtcio: %s is reachable again (after %.1f s)",
                        self.what, length)


_LOGS: Dict[str, OutageLog] = {}
_LOGS_LOCK = threading.Lock()


def outage_log(url: Optional[str], what: str = "") -> OutageLog:
    """The process's :class:`OutageLog` for the Redis ``url`` names (one
    per server: the store, recovery, the heartbeat and the queue on one
    URL share it); a private one for ``url=None`` (a store given as a
    client)."""
    if url is None:
        return OutageLog(what or "Redis")
    key = redact(pool_options(url.strip())[0])
    with _LOGS_LOCK:
        log = _LOGS.get(key)
        if log is None:
            log = _LOGS[key] = OutageLog(f"Redis at {key}")
        return log


def check_reachable(url: str, where: str = "the message queue",
                    timeout: float = 5.0, hint: str = "") -> None:
    """PING the Redis ``url`` names; a ValueError of one line when it
    cannot be reached (what the CLI and ``RTCIO(...)`` refuse to start
    with)."""
    import redis

    client = connect(url, socket_timeout=timeout, max_connections=1,
                     socket_connect_timeout=timeout, where=where)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = _reason(exc).rstrip(".")  # redis-py's ends with one
        raise ValueError(f"cannot reach {where} at {redact(url)}: {reason}"
                         + (f"; {hint}" if hint else "")) from None
    finally:
        client.close()


#: What redis-py 5.1+ puts before each sentinel's error when no sentinel
#: names a master: the sentinel client's repr (a whole line of pool and
#: connection settings; the address comes last) and the error's class.
_SENTINEL_REPR = re.compile(
    r"<redis\.client\.Redis\(.*?\)>\)>\)> - (?:[\w:.]+Error\b[^:]*: )?")


def _reason(exc: BaseException) -> str:
    """One line for a connection error (redis-py's can span several, and
    its Sentinel error names each sentinel by its client's repr: only the
    sentinels' own errors are kept, which name their addresses)."""
    text = _SENTINEL_REPR.sub("", " ".join(str(exc).split())) or \
        type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def pool_of(client: Any) -> Any:
    """The counting pool behind ``client`` (None for a client made
    elsewhere, e.g. ``RedisRoomStore(client=...)``)."""
    pool = getattr(client, "connection_pool", None)
    return pool if isinstance(pool, _Counting) else None


def app_pools(state: Any) -> List[Tuple[str, Any]]:
    """``[(name, pool)]`` of the Redis clients one app uses: ``rooms``,
    ``recovery``, ``fleet``, ``queue`` (for the metrics)."""
    found: List[Tuple[str, Any]] = []

    def add(name: str, client: Any) -> None:
        pool = pool_of(client)
        if pool is not None and all(pool is not p for _, p in found):
            found.append((name, pool))

    rooms = getattr(state, "rooms", None)
    add("rooms", getattr(getattr(rooms, "store", None), "redis", None))
    recovery = getattr(state, "recovery", None)
    backend = getattr(recovery, "backend", None)
    add("recovery", getattr(getattr(backend, "_backend", backend),
                            "redis", None))
    add("fleet", getattr(getattr(state, "fleet", None), "redis", None))
    manager = getattr(getattr(state, "server", None), "manager", None)
    add("queue", getattr(manager, "redis", None))
    return found


def pool_counts(state: Any) -> Iterator[Tuple[str, int, int]]:
    """``(name, waits, timeouts)`` for each pool of one app."""
    for name, pool in app_pools(state):
        yield name, pool.waits, pool.timeouts
