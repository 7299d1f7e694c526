"""A message-queue URL turned into python-socketio's client manager.

With ``message_queue="redis://host:6379/0"`` every process that shares the
URL publishes its emits on one Redis channel and delivers the ones meant for
its own sockets, so several processes (behind a sticky balancer) act as one
signaling server. This module only picks and checks the manager (of
a class with RTCIO's hooks mixed in, handed to ``socketio.Server`` as its
documented ``client_manager=``); python-socketio does the rest.
"""

from typing import Any

from ..config import REDIS_SCHEMES, url_scheme
from ..core.redis_url import parse_redis_url, redact
from .redis_client import outage_log, pool_options

#: Environment variable the standalone server reads (Heroku-style).
ENV_REDIS_URL = "REDIS_URL"

_KOMBU_SCHEMES = ("amqp", "amqps", "pyamqp", "kombu", "sqs")

#: The channel every process of one deployment shares; python-socketio's
#: default, kept so a mixed fleet (older processes) still talks.
DEFAULT_CHANNEL = "socketio"


def check_url(url: Any, where: str = "message_queue") -> str:
    """The scheme of a usable queue URL, or ValueError saying what to write."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{where} must be a URL such as "
                         f"'redis://127.0.0.1:6379/0', not {url!r}.")
    scheme = url_scheme(url)
    if scheme in REDIS_SCHEMES:
        # Valkey too: redis-py speaks to it (deploy/redis_client.py).
        _require("redis", "redis")
        parse_redis_url(pool_options(url.strip())[0], where)
    elif scheme in _KOMBU_SCHEMES:
        _require("kombu", "kombu")
    else:
        raise ValueError(
            f"{where}: unsupported message queue URL {url!r}; write "
            f"redis://host:6379/0 (or rediss://, unix://, valkey://, "
            f"redis+sentinel://h1:26379,h2:26379/0/mymaster, amqp:// with "
            f"kombu installed).")
    return scheme


def _require(module: str, package: str) -> None:
    try:
        __import__(module)
    except ImportError:
        extra = " (pip install 'rtcio-flask[redis]')" if module == "redis" \
            else ""
        raise ValueError(f"the message queue needs the {package!r} package: "
                         f"pip install {package}{extra}.") from None


def build_manager(url: str, channel: str = DEFAULT_CHANNEL,
                  write_only: bool = False) -> Any:
    """The python-socketio client manager for ``url``."""
    import socketio

    scheme = check_url(url)
    url = url.strip()
    from ..transport.compat.socketio import new_manager, redis_manager

    if scheme in _KOMBU_SCHEMES:
        return new_manager(socketio.KombuManager, url, channel=channel,
                           write_only=write_only)
    from .redis_client import connect

    def queue_client(queue_url: str, subscriber: bool) -> Any:
        # Bytes, as python-socketio expects. The subscriber's client has no
        # read timeout (it waits on the connection for the next message;
        # compat.socketio pings it when quiet); publishes keep the default
        # one, so none waits for ever on a connection gone silent.
        if subscriber:
            return connect(queue_url, decode_responses=False,
                           socket_timeout=None, max_connections=2,
                           where="the message queue URL")
        return connect(queue_url, decode_responses=False,
                       where="the message queue URL")

    outages = outage_log(url).uses("emits to sockets on other processes "
                                   "are lost")
    return redis_manager(url, channel, write_only, queue_client, outages)
