"""Which Redis a URL names, read the way python-socketio's ``RedisManager``
reads a message-queue URL, so the room store, the recovery log and the
fleet heartbeat reach the same Redis as the queue whatever form its URL
takes.

redis-py's ``Redis.from_url`` opens ``redis://``, ``rediss://`` and
``unix://`` only; python-socketio also accepts ``valkey://``/``valkeys://``
(Valkey speaks the Redis protocol, so redis-py serves them as
``redis://``/``rediss://``) and Sentinel URLs,
``redis+sentinel://[user:password@]h1:p1,h2:p2/db/service``, which need
``redis.sentinel.Sentinel(...).master_for(service)``. This module only
reads the URL (pure); :mod:`rtcio_flask.deploy.redis_client` connects.
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote, urlparse

#: Schemes redis-py opens as they are.
PLAIN_SCHEMES = ("redis", "rediss", "unix")
#: Valkey's names for the same two TCP forms.
VALKEY_SCHEMES = {"valkey": "redis", "valkeys": "rediss"}
#: Sentinel URLs (python-socketio 5.13+).
SENTINEL_SCHEMES = ("redis+sentinel", "valkey+sentinel")
#: Every URL scheme that names a Redis (or Valkey) server.
ALL_SCHEMES = PLAIN_SCHEMES + tuple(VALKEY_SCHEMES) + SENTINEL_SCHEMES

#: The Sentinel service when the URL names none: python-socketio's
#: RedisManager then uses its channel name, ``socketio`` by default, so the
#: room store follows the same master as the queue.
DEFAULT_SERVICE = "socketio"

SENTINEL_FORM = "redis+sentinel://[:password@]host1:26379,host2:26379/0/mymaster"


def scheme_of(url: Any) -> str:
    """The lower-cased scheme of ``url`` ('' when it is not a string)."""
    if not isinstance(url, str):
        return ""
    try:
        return urlparse(url.strip()).scheme.lower()
    except ValueError:
        return ""


def is_redis_url(url: Any) -> bool:
    """Whether ``url`` names a Redis or Valkey server (directly, over TLS,
    a Unix socket or through Sentinel)."""
    return scheme_of(url) in ALL_SCHEMES


def redact(url: str) -> str:
    """``url`` without its password, for log lines and errors."""
    try:
        parsed = urlparse(url)
        password = parsed.password
    except ValueError:
        return url
    if password:
        netloc = parsed.netloc.replace(":" + password + "@", ":***@", 1)
        return parsed._replace(netloc=netloc).geturl()
    return url


@dataclass(frozen=True, repr=False)
class RedisTarget:
    """What to connect to.

    Either ``url`` for redis-py's ``from_url`` (a ``valkey`` scheme already
    rewritten to its ``redis`` twin), or, when ``sentinels`` is not empty,
    the Sentinel addresses, the ``service`` whose master to follow and the
    master's ``db``, ``username`` and ``password``."""

    url: str
    sentinels: Tuple[Tuple[str, int], ...] = ()
    service: str = DEFAULT_SERVICE
    db: int = 0
    username: Optional[str] = None
    password: Optional[str] = None

    def __repr__(self) -> str:  # never the password
        return f"<RedisTarget {redact(self.url)}>"

    @property
    def sentinel(self) -> bool:
        return bool(self.sentinels)

    def connection_kwargs(self) -> Dict[str, Any]:
        """The master's connection options (Sentinel URLs only)."""
        kwargs: Dict[str, Any] = {"db": self.db}
        if self.username:
            kwargs["username"] = self.username
        if self.password:
            kwargs["password"] = self.password
        return kwargs


def parse_redis_url(url: Any, where: str = "the Redis URL") -> RedisTarget:
    """Read ``url``; a ValueError (naming ``where``) says what to write
    instead when it is not a Redis URL or a Sentinel URL is malformed."""
    scheme = scheme_of(url)
    if scheme not in ALL_SCHEMES:
        raise ValueError(
            f"{where}: {redact(url) if isinstance(url, str) else url!r} is "
            f"not a Redis URL; write redis://host:6379/0 (or rediss://, "
            f"unix:///path/redis.sock, valkey://, valkeys://, or "
            f"{SENTINEL_FORM}).")
    url = url.strip()
    if scheme in SENTINEL_SCHEMES:
        return _parse_sentinel(url, where)
    if scheme != "unix":
        _check_tcp(url, where)
    if scheme in VALKEY_SCHEMES:
        url = VALKEY_SCHEMES[scheme] + url[len(scheme):]
    return RedisTarget(url)


def _check_tcp(url: str, where: str) -> None:
    """The port and database of a ``redis://``/``rediss://`` URL. redis-py
    fails on a bad port with a message that names neither the setting nor
    the form to write, and silently uses database 0 for a database that is
    not a number (``/abc``), or joins the digits of ``/1/2`` into 12."""
    def bad(why: str) -> ValueError:
        return ValueError(f"{where}: {redact(url)!r}: {why}; write "
                          f"redis://[user:password@]host:6379/0.")

    parsed = urlparse(url)
    hostport = parsed.netloc.rpartition("@")[2]
    port = hostport.rpartition("]")[2].rpartition(":")[2] \
        if ":" in hostport.rpartition("]")[2] else ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise bad(f"the port {port!r} is not a number from 1 to 65535")
    db = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
    if db and not db.isdigit():
        raise bad(f"the database {db!r} is not a number")


def _parse_sentinel(url: str, where: str) -> RedisTarget:
    def bad(why: str) -> ValueError:
        return ValueError(f"{where}: {redact(url)!r}: {why}; write "
                          f"{SENTINEL_FORM}.")

    parsed = urlparse(url)
    hosts = parsed.netloc.rpartition("@")[2]
    sentinels = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # an IPv6 address
        if not colon or not host or not port.isdigit() or \
                not 0 < int(port) < 65536:
            raise bad(f"{item!r} is not a sentinel host:port")
        sentinels.append((host, int(port)))
    parts = parsed.path.split("/")
    db = 0
    if len(parts) >= 2 and parts[1]:
        if not parts[1].isdigit():
            raise bad(f"the database {parts[1]!r} is not a number")
        db = int(parts[1])
    service = parts[2] if len(parts) >= 3 and parts[2] else DEFAULT_SERVICE
    if len(parts) > 3 and any(parts[3:]):
        raise bad("the path has more than /db/service")
    return RedisTarget(
        url, tuple(sentinels), service, db,
        unquote(parsed.username) if parsed.username else None,
        unquote(parsed.password) if parsed.password else None)
