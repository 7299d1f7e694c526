"""How the process is deployed: the multi-worker trap, the message queue
and its room store, the health check, and draining sockets on SIGTERM.
The options (``message_queue``, ``sticky_sessions``, ``health_path``,
``fleet_interval``) come from ``RTCIO(...)``, ``app.config["RTCIO_*"]`` or
``RTCIO_*`` environment variables, in that order.

socket.io keeps a session in the memory of the process that opened it.
``gunicorn -w 4`` (or a platform setting ``WEB_CONCURRENCY``) spreads one
client's polling requests over four processes that do not know each other's
sessions, and clients get intermittent ``400 Invalid session``. That is the
most common socket.io deployment failure, so RTCIO refuses to start in it
unless the operator says the balancer keeps each client on one worker.
"""

import logging
import os
import signal
import sys
from dataclasses import dataclass
from urllib.parse import urlparse

from .message_queue import build_manager, redact
from .settings import parse_flag

logger = logging.getLogger("rtcio_flask")

#: Environment variable an operator sets to say sessions are sticky.
ENV_STICKY = "RTCIO_STICKY_SESSIONS"

# -- gunicorn ---------------------------------------------------------------

def find_gunicorn_cfg(max_frames=200):
    """gunicorn's resolved ``Config`` when the app is being loaded by gunicorn.

    gunicorn imports the app from ``Worker.load_wsgi`` (or, with
    ``--preload``, from the arbiter), so the loading object, which holds the
    configuration after command line, config file, ``GUNICORN_CMD_ARGS``
    and ``WEB_CONCURRENCY`` were applied, is on the call stack. Returns None
    outside gunicorn.
    """
    if "gunicorn" not in sys.modules:
        return None
    try:
        from gunicorn.config import Config
    except ImportError:  # pragma: no cover - a module merely named gunicorn
        return None
    frame = sys._getframe(1)
    for _ in range(max_frames):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        cfg = getattr(owner, "cfg", None)
        if isinstance(cfg, Config):
            return cfg
        frame = frame.f_back
    return None


def gunicorn_workers(environ=None):
    """How many gunicorn worker processes serve this app, or None when the
    app is not served by gunicorn."""
    cfg = find_gunicorn_cfg()
    if cfg is not None:
        return int(cfg.workers)
    if "gunicorn" in sys.modules and "gunicorn" in (
            sys.argv[0] if sys.argv else ""):  # gunicorn or -m gunicorn
        # Loaded by gunicorn in a way we could not see: gunicorn's own
        # default for --workers is WEB_CONCURRENCY.
        environ = os.environ if environ is None else environ
        try:
            return int(environ.get("WEB_CONCURRENCY", 1))
        except ValueError:
            return 1
    return None


def multi_worker_message(workers):
    return (
        f"RTCIO refuses to start: gunicorn runs {workers} worker processes "
        f"for this app (-w/--workers or WEB_CONCURRENCY), and socket.io keeps "
        f"each session in one process, so polling clients would get "
        f"intermittent HTTP 400 'Invalid session'. Use one of the two set-ups "
        f"that work: (1) one worker per process: gunicorn -w 1 (with "
        f"-k gevent, -k eventlet or -k gthread --threads N for concurrency); "
        f"(2) several processes (or hosts), each with -w 1 on its own port, "
        f"behind a load balancer with sticky sessions (nginx ip_hash or a "
        f"cookie), all sharing a message queue: RTCIO(app, "
        f"message_queue='redis://...') or RTCIO_MESSAGE_QUEUE. If your "
        f"balancer already keeps each client on one worker (or clients use "
        f"the websocket transport only) and a message queue is set, say so "
        f"with {ENV_STICKY}=1 or RTCIO(app, sticky_sessions=True).")


def check_workers(sticky=False, message_queue=None, environ=None):
    """Refuse the multi-worker trap at start-up (ValueError), unless the
    operator said sessions are sticky. Returns the worker count seen."""
    workers = gunicorn_workers(environ)
    if workers is None or workers <= 1:
        return workers
    if not sticky:
        raise ValueError(multi_worker_message(workers))
    if not message_queue:
        logger.warning(
            "rtcio: %d gunicorn workers with sticky sessions but no message "
            "queue: a relay between clients on different workers cannot "
            "arrive. Set RTCIO_MESSAGE_QUEUE=redis://...", workers)
    return workers


# -- settings ---------------------------------------------------------------

#: The options this module takes from ``RTCIO(...)`` / ``init_app(...)``.
OPTIONS = ("message_queue", "sticky_sessions", "health_path",
           "fleet_interval")


@dataclass
class DeploySettings:
    message_queue: object = None
    sticky_sessions: bool = False
    health_path: object = None
    #: gunicorn's worker count, or None when not under gunicorn.
    gunicorn_workers: object = None
    #: Seconds between fleet heartbeats (see fleet.py).
    fleet_interval: object = None


def _pick(name, opts, config, environ, default=None):
    if name in opts:
        return opts.pop(name)
    key = "RTCIO_" + name.upper()
    if key in config:
        return config[key]
    return environ.get(key, default)


def resolve(config, opts, environ=None):
    """Take the deployment options out of ``opts`` (arguments win over
    ``app.config``, which wins over ``RTCIO_*`` environment variables),
    put a message-queue client manager into ``opts`` for the new
    socketio.Server, and refuse the multi-worker trap."""
    environ = os.environ if environ is None else environ
    url = _pick("message_queue", opts, config, environ)
    sticky = parse_flag(_pick("sticky_sessions", opts, config, environ,
                              False))
    health_path = _pick("health_path", opts, config, environ)
    fleet_interval = _pick("fleet_interval", opts, config, environ)
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
        logger.info("rtcio: sharing rooms and emits through the message "
                    "queue at %s", redact(url))
    if health_path in ("", False):
        health_path = None
    workers = check_workers(sticky=sticky, message_queue=url,
                            environ=environ)
    return DeploySettings(message_queue=url, sticky_sessions=sticky,
                          health_path=health_path, gunicorn_workers=workers,
                          fleet_interval=fleet_interval)


def rooms_for_queue(rooms_option, config, deploy):
    """With a message queue, the built-in rooms must keep their state where
    every process sees it: unless the app chose a store, use the Redis room
    store on the queue's Redis. Returns what ``install_rooms`` takes."""
    from .room_policy import resolve_rooms

    if not deploy.message_queue:
        return rooms_option
    rooms = resolve_rooms(rooms_option, config)
    if rooms is None or rooms.store is not None or rooms.store_url:
        return rooms
    scheme = urlparse(deploy.message_queue).scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            "RTCIO: the built-in rooms keep their state in Redis when "
            "several processes share a message queue; the queue "
            f"{redact(deploy.message_queue)!r} is not Redis, so set "
            "rooms={'store_url': 'redis://host:6379/0'} as well.")
    rooms.store_url = deploy.message_queue
    return rooms


def start_fleet(state):
    """Heartbeat and ghost sweep when rooms live in Redis (see fleet.py)."""
    import socketio

    from .fleet import DEFAULT_INTERVAL, Fleet

    rooms = state.rooms
    if rooms is None:
        return None
    if not isinstance(state.server.manager, socketio.PubSubManager):
        return None  # one process: its own disconnects clean up
    try:
        from .redis_room_store import RedisRoomStore
    except ImportError:  # redis-py not installed: no Redis room store
        return None
    if not isinstance(rooms.store, RedisRoomStore):
        return None
    interval = state.deploy.fleet_interval or DEFAULT_INTERVAL
    fleet = Fleet(state.server, rooms, None, interval,
                  client=_fleet_client(rooms.store, interval))
    state.fleet = fleet.start()
    return fleet


def _fleet_client(store, interval):
    """A Redis client on the room store's server with timeouts, so a Redis
    outage makes a heartbeat fail instead of hang."""
    import redis

    kwargs = dict(store.redis.connection_pool.connection_kwargs)
    kwargs["socket_timeout"] = kwargs["socket_connect_timeout"] = max(
        2.0, float(interval))
    kwargs["decode_responses"] = True
    pool = redis.ConnectionPool(
        connection_class=store.redis.connection_pool.connection_class,
        **kwargs)
    return redis.Redis(connection_pool=pool)


def install(state, deploy):
    """Health route and SIGTERM drain for one app (after its server exists).

    The drain is installed by itself only under gunicorn, whose worker
    owns SIGTERM; the standalone server (cli.py) drains on its own."""
    state.deploy = deploy
    state.health = Health()
    if deploy.health_path:
        add_health_route(state.app, state.health, deploy.health_path)
    if deploy.gunicorn_workers is not None:
        install_sigterm_drain(state.server, state.health)


# -- health -----------------------------------------------------------------

class Health:
    """What the load balancer's health check sees: ``ok`` while serving,
    ``draining`` (HTTP 503) once SIGTERM arrived, so no new client is sent
    here. Nothing else (no counts, versions or addresses) is exposed."""

    def __init__(self):
        self.draining = False

    def status(self):
        if self.draining:
            return 503, {"status": "draining"}
        return 200, {"status": "ok"}


def add_health_route(app, health, path="/healthz"):
    """Serve ``health`` at ``path`` on the Flask app, uncached."""
    import flask

    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"RTCIO health_path must start with '/', for "
                         f"example '/healthz', not {path!r}.")

    def rtcio_health():
        code, body = health.status()
        response = flask.jsonify(body)
        response.status_code = code
        response.headers["Cache-Control"] = "no-store"
        return response

    app.add_url_rule(path, "rtcio_health", rtcio_health,
                     methods=["GET", "HEAD"])


# -- graceful shutdown ------------------------------------------------------

def drain(server):
    """Close every engine.io connection of ``server`` at the transport level.

    Without a socket.io ``disconnect`` packet the clients see a transport
    loss ("transport close") and reconnect by themselves, through the load
    balancer, to a process that is still up; our own disconnect handlers
    still run, so peer-left and room clean-up reach the other members now
    instead of after the ping timeout.
    """
    eio = server.eio
    sockets = list(eio.sockets.values())
    for eio_socket in sockets:
        try:
            eio_socket.close(wait=False, abort=True,
                             reason=eio.reason.SERVER_DISCONNECT)
        except Exception:  # one broken socket must not stop the drain
            logger.debug("rtcio: closing %s on shutdown failed",
                         eio_socket.sid, exc_info=True)
    if sockets:
        logger.info("rtcio: shutting down, closed %d connections so their "
                    "clients reconnect elsewhere", len(sockets))
    return len(sockets)


def install_sigterm_drain(server, health, signum=signal.SIGTERM):
    """On SIGTERM, mark the health check draining and close every socket,
    then let the handler that was there before (gunicorn's graceful stop)
    run. Returns False when it could not be installed (no handler to chain
    to, or not called from the main thread)."""
    previous = signal.getsignal(signum)
    if not callable(previous):
        # Nobody handles SIGTERM: the process simply dies and its clients
        # notice the closed connections by themselves.
        return False

    def on_sigterm(sig, frame):
        if not health.draining:
            health.draining = True
            server.start_background_task(drain, server)
        previous(sig, frame)

    try:
        signal.signal(signum, on_sigterm)
    except (ValueError, OSError):
        # Not the main thread (signal handlers can only be set there); under
        # eventlet/gevent the main greenlet counts as the main thread.
        return False
    return True
