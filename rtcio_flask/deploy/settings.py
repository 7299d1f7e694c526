"""How the process is deployed, from ``RTCIO(...)``, ``app.config`` and
``RTCIO_*`` environment variables (in that order, :func:`rtcio_flask.config.pick`):
the message queue and the room store it implies, sticky sessions, the health
route, the fleet heartbeat interval. Resolved once at ``init_app``; the
multi-worker trap is refused here (see :mod:`.gunicorn`).
"""

import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Union

from ..config import UNSET, Found, is_redis_url, pick, strict_flag
from .gunicorn import arbiter_stopping, check_workers, gunicorn_preloading
from .health import Health, add_health_route, install_sigterm_drain
from ..core.redis_url import redact
from .message_queue import build_manager
from .redis_client import check_reachable

logger = logging.getLogger("rtcio_flask")


#: The options this module takes from ``RTCIO(...)`` / ``init_app(...)``.
OPTIONS = ("message_queue", "sticky_sessions", "health_path",
           "fleet_interval", "rooms_redis", "start_without_queue")


@dataclass
class DeploySettings:
    """The resolved deployment options of one app."""

    #: The message queue URL, or None for one process.
    message_queue: Optional[str] = None
    sticky_sessions: bool = False
    #: Where the health route is served, or None for none.
    health_path: Optional[str] = None
    #: gunicorn's worker count, or None when not under gunicorn.
    gunicorn_workers: Optional[int] = None
    #: Seconds between fleet heartbeats (see fleet.py), as given (a number
    #: or its digits); None for the default.
    fleet_interval: Union[None, str, float] = None
    #: The Redis URL for the state processes share beyond the queue (the
    #: built-in rooms, recovery, the fleet heartbeat) when it is not the
    #: queue's own: required with a queue that is not Redis (amqp://...).
    rooms_redis: Optional[str] = None
    #: Start even when the queue's Redis cannot be reached (then one ERROR
    #: per outage until it is).
    start_without_queue: bool = False

    @property
    def state_redis(self) -> Optional[str]:
        """The Redis URL of the shared state: ``rooms_redis``, else the
        queue's own when the queue is Redis, else None."""
        if self.rooms_redis:
            return self.rooms_redis
        if self.message_queue and is_redis_url(self.message_queue):
            return self.message_queue
        return None


def _found(name: str, opts: Dict[str, Any], config: Mapping[str, Any],
           environ: Mapping[str, str], default: Any = None) -> Found:
    """:func:`rtcio_flask.config.pick`, taking the argument out of ``opts``
    (what is left there goes to ``socketio.Server``)."""
    given = opts.pop(name) if name in opts else UNSET
    return pick(name, given, config, environ, default)


def _pick(name: str, opts: Dict[str, Any], config: Mapping[str, Any],
          environ: Mapping[str, str], default: Any = None) -> Any:
    return _found(name, opts, config, environ, default).value


def _flag(name: str, opts: Dict[str, Any], config: Mapping[str, Any],
          environ: Mapping[str, str]) -> bool:
    """An on/off setting (off when unset or None). A word that is neither
    on nor off is refused, naming where it came from: a typo
    (``RTCIO_STICKY_SESSIONS=ture``) must not quietly mean off."""
    found = _found(name, opts, config, environ)
    if found.value is None:
        return False
    return strict_flag(found.value, str(found.where))


def resolve(config: Mapping[str, Any], opts: Dict[str, Any],
            environ: Optional[Mapping[str, str]] = None) -> DeploySettings:
    """Take the deployment options out of ``opts`` (arguments win over
    ``app.config``, which wins over ``RTCIO_*`` environment variables),
    put a message-queue client manager into ``opts`` for the new
    socketio.Server, and refuse the multi-worker trap."""
    environ = os.environ if environ is None else environ
    url = _pick("message_queue", opts, config, environ)
    sticky = _flag("sticky_sessions", opts, config, environ)
    health_path = _pick("health_path", opts, config, environ)
    fleet_interval = _pick("fleet_interval", opts, config, environ)
    rooms_redis = _pick("rooms_redis", opts, config, environ) or None
    start_without = _flag("start_without_queue", opts, config, environ)
    if rooms_redis is not None:
        check_state_url(rooms_redis)
    if url in ("", None, False):
        url = None
    else:
        if opts.get("server") is not None:
            raise ValueError(
                "RTCIO: message_queue= configures a new socketio.Server, but "
                "server= hands one in; create that server with "
                "client_manager=socketio.RedisManager(url) instead.")
        if opts.get("client_manager") is not None:
            raise ValueError("RTCIO: pass either message_queue= or "
                             "client_manager=, not both.")
        opts["client_manager"] = build_manager(url)
        if not start_without:
            for where, needed in (("the message queue", url),
                                  ("rooms_redis", rooms_redis)):
                if needed and is_redis_url(needed):
                    check_reachable(needed, where, hint=START_ANYWAY)
        logger.info("rtcio: sharing rooms and emits through the message "
                    "queue at %s", redact(url))
    if health_path in ("", False):
        health_path = None
    workers = check_workers(sticky=sticky, message_queue=url,
                            environ=environ)
    return DeploySettings(message_queue=url, sticky_sessions=sticky,
                          health_path=health_path, gunicorn_workers=workers,
                          fleet_interval=fleet_interval,
                          rooms_redis=rooms_redis,
                          start_without_queue=start_without)


#: What the start-up refusal of an unreachable Redis offers instead.
START_ANYWAY = ("start Redis, or pass start_without_queue=True "
                "(RTCIO_START_WITHOUT_QUEUE=1) to start without it")


def check_state_url(url: Any) -> None:
    """``rooms_redis`` must be a Redis URL (ValueError saying so)."""
    from ..core.redis_url import parse_redis_url
    from .redis_client import pool_options

    if not isinstance(url, str):
        raise ValueError(f"RTCIO: rooms_redis must be a Redis URL such as "
                         f"'redis://127.0.0.1:6379/0', not {url!r}.")
    parse_redis_url(pool_options(url.strip())[0], "RTCIO: rooms_redis")


def install(app: Any, server: Any, deploy: DeploySettings) -> Health:
    """Health route and SIGTERM drain for one app (after its server exists);
    returns the app's Health.

    The drain is installed by itself only under gunicorn, whose worker
    owns SIGTERM; the standalone server (cli.py) drains on its own."""
    under_gunicorn = deploy.gunicorn_workers is not None
    health = Health(arbiter_stopping if under_gunicorn else None)
    if deploy.health_path:
        add_health_route(app, health, deploy.health_path)
    if under_gunicorn:
        install_sigterm_drain(server, health, preload=gunicorn_preloading())
    return health


