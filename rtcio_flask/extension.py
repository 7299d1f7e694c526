"""The Flask extension: ``RTCIO(app)`` or ``RTCIO()`` + ``init_app(app)``.

Per-app state (the socketio.Server, the resolved settings, the dispatcher)
lives in ``app.extensions["rtcio"]``, so one RTCIO object can serve several
apps built by a factory. The extension object only remembers what the
application asked for (handlers, protocol namespaces) so it can replay it on
every app it is initialised with.
"""

import functools
import inspect
import logging
import os
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator,
                    List, Mapping, Optional, Set, Tuple, TypeVar, overload)

import engineio
import flask
import socketio

from . import config as config_mod
from .access import AccessHooks
from .core.events import RtcioEvents
from .core.limits import CONFIG_KEYS as LIMITS_CONFIG_KEYS, resolve_limits
from .core.options import (UnknownOptionError, check_known,
                           config_only_env_warnings, unknown_config_keys,
                           unknown_env_warnings, unknown_message)
from .core.origins import build_policy
from .core.protection import request_address
from .core.values import UNSET, config_key
from .core.turn import CONFIG_KEYS as TURN_CONFIG_KEYS, resolve_turn
from .deploy import admin as admin_mod
from .deploy import metrics as metrics_mod
from .deploy import settings as deploy_mod
from .deploy.fleet import start_fleet
from .deploy.gunicorn import preloaded_worker_mode, refused_in_one_line
from .deploy.health import refuse_while_draining
from .dispatch import Dispatcher
from .protocol import ice as ice_mod
from .protocol.relay import RtcioProtocol
from .rooms.handlers import install_rooms
from .transport.gate import SocketIOGate, resolve_gc_freeze
from .transport.guard import TransportGuard
from .transport import websocket as websocket_mod
from .transport.packet_hook import PacketHook
from .transport import compat
from .transport.compat.socketio import (RtcioManager, StrictPacket,
                                        adopt_manager, index_rooms,
                                        new_manager, order_events)
from .transport.compat.flask_socketio import (is_flask_socketio,
                                              with_flask_app)
from .transport.compat.engineio import (advertise_exact_ping_interval,
                                        check_websocket_frames, send_text)

if TYPE_CHECKING:
    from .config import Settings
    from .core.limits import EventLimiter
    from .core.turn import TurnConfig
    from .deploy.fleet import Fleet
    from .deploy.health import Health
    from .deploy.settings import DeploySettings
    from .core.protection import ProtectionSettings
    from .rooms.handlers import Rooms
    from .transport.recovery import Recovery
from .rooms.config import FIELDS as ROOMS_FIELDS, resolve_rooms, \
    rooms_for_queue
from .transport.protection import OPTIONS as PROTECTION_OPTIONS
from .transport.protection import (SessionCap, install_protection,
                                   resolve_protection)
from .transport.queue_relay import install_queue_relay
from .transport.recovery import OPTIONS as RECOVERY_KEYS
from .transport.recovery import (install_recovery, resolve_recovery,
                                 wire_protocol)

logger = logging.getLogger("rtcio_flask")

EXTENSION_KEY = "rtcio"

F = TypeVar("F", bound=Callable[..., Any])

# Options RTCIO owns; passing them to python-socketio too would create a
# second CORS layer or a second path.
_OWNED_SERVER_OPTIONS = {
    "cors_allowed_origins": "cors=",
    "socketio_path": "path=",
}

#: RTCIO's own options, besides those a feature module lists in its
#: ``OPTIONS`` (deploy.settings, transport.protection). An option missing
#: from both is refused by ``RTCIO(...)`` as unknown: add a new one here.
_CORE_OPTIONS = ("cors", "cors_credentials", "path", "async_mode",
                 "max_envelope_bytes", "protocol_namespaces", "rooms", "turn",
                 "limits", "server", "metrics", "admin", "recovery",
                 "websocket", "gc_freeze")


def rtcio_options() -> Tuple[str, ...]:
    """Every option RTCIO itself takes (each also ``RTCIO_<NAME>``)."""
    return _CORE_OPTIONS + tuple(deploy_mod.OPTIONS) + \
        tuple(PROTECTION_OPTIONS)


def socketio_options() -> Tuple[str, ...]:
    """The keyword arguments ``socketio.Server`` reads (its own, those it
    hands to ``engineio.Server``, and ``engineio_logger``), from their
    public signatures; RTCIO passes these through."""
    names = {"engineio_logger"}
    for cls in (socketio.Server, engineio.Server):
        params = inspect.signature(cls.__init__).parameters.values()
        names.update(p.name for p in params
                     if p.kind is p.POSITIONAL_OR_KEYWORD
                     and p.name != "self")
    return tuple(sorted(names))


def known_config_keys() -> Tuple[str, ...]:
    """Every ``RTCIO_*`` key of ``app.config`` some setting reads."""
    keys = {config_key(name) for name in rtcio_options()
            if name != "server"}
    keys.update(config_key("rooms_" + name) for name in ROOMS_FIELDS)
    keys.update(config_key("recovery_" + name) for name in RECOVERY_KEYS)
    keys.update(LIMITS_CONFIG_KEYS)
    keys.update(TURN_CONFIG_KEYS)
    return tuple(sorted(keys))


def check_options(given: Dict[str, Any], where: str) -> None:
    """Refuse an option that neither RTCIO nor socketio.Server reads
    (``cros="*"`` used to start a server that refused browsers later)."""
    check_known(given, rtcio_options() + socketio_options(), where)


_ADMIN_DICT = "RTCIO_ADMIN = {'username': ..., 'password': ...}"

#: Environment variables that ``app.config`` does not read, and what to
#: write there instead.
ENV_ONLY = {
    "RTCIO_ALLOWED_ORIGINS": "RTCIO_CORS = ['https://app.example.com']",
    "RTCIO_ADMIN_USERNAME": _ADMIN_DICT,
    "RTCIO_ADMIN_PASSWORD": _ADMIN_DICT,
    "RTCIO_ADMIN_UI_PATH": "RTCIO_ADMIN = {..., 'ui_path': '/admin'}",
}


def check_config_keys(config: Mapping[str, Any]) -> None:
    """Refuse an ``RTCIO_*`` key of ``app.config`` that no setting reads:
    the prefix is RTCIO's, so such a key is a typo (``RTCIO_CROS``) or an
    environment variable's name (``RTCIO_ALLOWED_ORIGINS``)."""
    for key, instead in ENV_ONLY.items():
        if key in config:
            raise UnknownOptionError(
                f"app.config[{key!r}]: {key} is an environment variable, "
                f"which app.config does not read; in app.config write "
                f"{instead}.")
    known = known_config_keys()
    unknown = unknown_config_keys(config, known)
    if unknown:
        raise UnknownOptionError(unknown_message(
            unknown, known, "app.config", what="RTCIO_* key"))


#: The unknown environment variables already warned about in this process
#: (one warning each, however many apps RTCIO is initialised on).
_WARNED_ENV: Set[str] = set()


#: ``RTCIO_*`` environment variables the ``rtcio-flask`` command reads
#: itself and hands to ``RTCIO(...)`` as options (cli/args.py; a test
#: checks the two agree).
CLI_ENV = ("RTCIO_CORS_CREDENTIALS", "RTCIO_ROOMS_MAX_MEMBERS",
           "RTCIO_MESSAGE_QUEUE", "RTCIO_RECOVERY_WINDOW",
           "RTCIO_TURN_SECRET", "RTCIO_TURN_URLS", "RTCIO_STUN_URLS",
           "RTCIO_TURN_TTL", "RTCIO_METRICS", "RTCIO_START_WITHOUT_QUEUE")

#: The environment's own variable for a config key it does not read.
ENV_TWINS = {"RTCIO_CORS": "RTCIO_ALLOWED_ORIGINS",
             "RTCIO_ADMIN": "RTCIO_ADMIN_USERNAME and RTCIO_ADMIN_PASSWORD"}


def env_keys() -> Tuple[str, ...]:
    """Every ``RTCIO_*`` environment variable the package reads:
    ``RTCIO(app)``'s deployment, protection and recovery options, metrics,
    the websocket choice, the environment-only names, and those of the
    ``rtcio-flask`` command."""
    names = {config_key(name) for name in tuple(deploy_mod.OPTIONS) +
             tuple(PROTECTION_OPTIONS) + ("metrics", "websocket",
                                                     "gc_freeze")}
    names.update(config_key("recovery_" + name) for name in RECOVERY_KEYS)
    names.update(ENV_ONLY)
    names.update(CLI_ENV)
    return tuple(sorted(names))


def keys_of_options(given: Iterable[str]) -> Set[str]:
    """The ``RTCIO_*`` keys that options passed to ``RTCIO(...)`` settle
    (``cors=`` settles ``RTCIO_CORS`` and ``RTCIO_CORS_CREDENTIALS``;
    ``limits=`` the limit keys; ``turn=`` the TURN keys)."""
    keys: Set[str] = set()
    for name in given:
        key = config_key(name)
        keys.update(k for k in known_config_keys()
                    if k == key or k.startswith(key + "_"))
        if name == "limits":
            keys.update(LIMITS_CONFIG_KEYS)
        if name == "turn":
            keys.update(TURN_CONFIG_KEYS)
    return keys


def warn_unknown_env(environ: Mapping[str, str], config: Mapping[str, Any],
                     given: Iterable[str] = ()) -> None:
    """Log a WARNING for each ``RTCIO_*`` environment variable that no
    setting reads, naming the closest known one (``RTCIO_MESAGE_QUEUE``
    would otherwise start one process with rooms in memory, silently),
    and for each that only ``app.config`` reads (``RTCIO_CORS``), unless
    the app used it itself: copied into its config, or (as far as can be
    told) passed as the option it sets (``given``: the options passed to
    ``RTCIO(...)``, such as ``cors=os.environ["RTCIO_CORS"]``)."""
    known = known_config_keys() + tuple(ENV_ONLY)
    config_only = set(known_config_keys()) - set(env_keys()) - \
        set(config) - keys_of_options(given)
    lines = unknown_env_warnings(environ, known)
    lines.update(config_only_env_warnings(environ, config_only, ENV_TWINS))
    for name, line in sorted(lines.items()):
        if name not in _WARNED_ENV:
            _WARNED_ENV.add(name)
            logger.warning("rtcio: %s", line)


def _rooms_in_redis(rooms: Optional["Rooms"]) -> Optional["Rooms"]:
    """``rooms`` when their store is the Redis room store (the fleet's
    heartbeat and sweep are for that store only), else None."""
    if rooms is None:
        return None
    try:
        from .rooms.redis_store import RedisRoomStore
    except ImportError:  # redis-py not installed: no Redis room store
        return None
    return rooms if isinstance(rooms.store, RedisRoomStore) else None


class AppState:
    """Everything RTCIO keeps for one Flask app."""

    def __init__(self, app: flask.Flask, server: Any, settings: "Settings",
                 dispatcher: Dispatcher, gate: SocketIOGate) -> None:
        self.app = app
        self.server = server
        self.settings = settings
        self.dispatcher = dispatcher
        self.gate = gate
        self.protocols: Dict[str, RtcioProtocol] = {}
        #: TurnConfig for ask-ice, or None (see rtcio_flask.core.turn).
        self.turn: Optional["TurnConfig"] = None
        #: The built-in rooms (rtcio_flask.rooms.handlers.Rooms), or None.
        self.rooms: Optional["Rooms"] = None
        #: The raw-packet hook (rtcio_flask.transport.packet_hook) and its
        #: event limiter with the counters (rtcio_flask.core.limits).
        self.packet_hook: Optional[PacketHook] = None
        self.limits: Optional["EventLimiter"] = None
        #: Deployment settings, health state and the Redis heartbeat
        #: (rtcio_flask.deploy).
        self.deploy: Optional["DeploySettings"] = None
        self.health: Optional["Health"] = None
        self.fleet: Optional["Fleet"] = None
        #: Connection caps, header timeouts and outgoing queue caps
        #: (rtcio_flask.core.protection.ProtectionSettings).
        self.protection: Optional["ProtectionSettings"] = None
        #: Prometheus metrics (rtcio_flask.deploy.metrics): hooks features
        #: call, no-ops unless metrics are on.
        self.metrics: Any = metrics_mod.NO_METRICS
        #: python-socketio's InstrumentedServer when the Admin UI is on.
        self.admin: Any = None
        #: Connection state recovery (rtcio_flask.transport.recovery), or
        #: None when it is off.
        self.recovery: Optional["Recovery"] = None
        #: The relay's batched path on a message queue
        #: (rtcio_flask.transport.queue_relay), or None without a queue.
        self.queue_relay: Any = None

    def __repr__(self) -> str:
        return (f"<rtcio AppState {self.app.name!r} "
                f"async_mode={self.server.async_mode!r}>")

    def client_address(self, environ: Mapping[str, Any]) -> str:
        """The client address of a WSGI request or a socket's handshake
        environ (``server.get_environ(sid)``), by the one rule every
        feature uses: ``trusted_proxy_hops`` entries of X-Forwarded-For,
        else the TCP peer (:func:`rtcio_flask.core.protection.
        request_address`)."""
        hops = self.protection.trusted_proxy_hops if self.protection else 0
        return request_address(environ, hops)

    def socket_address(self, sid: str, namespace: str = "/") -> str:
        """The client address of a connected socket (see
        :meth:`client_address`)."""
        return self.client_address(
            self.server.get_environ(sid, namespace) or {})


def _mounted_socketio_apps(wsgi_app: Any) -> Iterator[Any]:
    """Walk a chain of WSGI middlewares and yield the engineio apps in it."""
    seen: set = set()
    node = wsgi_app
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, engineio.WSGIApp):
            yield node
        node = getattr(node, "wsgi_app", None) or getattr(node, "wrapped",
                                                             None)


class RTCIO(AccessHooks):
    """rtc.io signaling for a Flask app: ``RTCIO(app, **options)``, or
    ``RTCIO(**options)`` then ``init_app(app, **more_options)``.

    ``cors`` takes the Node server's origin forms (see docs/cors.rst); any other
    keyword argument goes to ``socketio.Server`` unchanged. Pass ``server=``
    to attach to a python-socketio server (or Flask-SocketIO object) the app
    already has instead of starting a second one on the same path.

    Options (each also ``app.config["RTCIO_<NAME>"]``; ``init_app``'s win
    over the constructor's):

    - ``cors``: who may connect: None (the server's own origin), ``"*"``,
      an origin, a list of origins/regexes, a callable, a dict, or False.
    - ``cors_credentials``: allow cookies (``withCredentials``); not with
      ``"*"``.
    - ``path``: the socket.io path (``"socket.io"``).
    - ``async_mode``: eventlet, gevent, gevent_uwsgi or threading (default:
      what the running server monkey patched).
    - ``max_envelope_bytes``: largest ``#rtcio:message`` envelope (64 KiB).
    - ``protocol_namespaces``: namespaces that speak rtc.io (``("/",)``).
    - ``rooms``: the built-in rooms: True, a dict of :class:`RoomsConfig`
      fields, a RoomsConfig, or None/False (off).
    - ``turn``: a :class:`TurnConfig` or a dict of its arguments, so
      ``ask-ice`` hands out TURN credentials.
    - ``limits``: a :class:`Limits`, a dict of its fields, or False (off).
    - ``server``: a ``socketio.Server`` or Flask-SocketIO object to attach
      to instead of creating one.
    - ``message_queue``: a queue URL (``redis://...``) shared by several
      processes.
    - ``sticky_sessions``: True to say the balancer keeps each client on one
      gunicorn worker (allows ``-w`` > 1).
    - ``health_path``: serve the health check there (``/healthz``).
    - ``fleet_interval``: seconds between Redis fleet heartbeats (5).
    - ``websocket``: "rtcio" (RTCIO's websocket transport under eventlet
      and gevent, the default) or "stack" (python-engineio's choice).
    - ``gc_freeze``: False to leave Python's garbage collector alone; by
      default the heap is collected and frozen (``gc.freeze``) once per
      process, at the first socket.io request, so full collections walk
      only what came after (docs/performance.rst).
    - any other keyword goes to ``socketio.Server``.
    """

    def __init__(self, app: Optional[flask.Flask] = None,
                 **options: Any) -> None:
        # A typo fails here, at the line that made it, even before init_app.
        with refused_in_one_line():
            check_options(options, "RTCIO(...)")
        self._options = options
        self._handlers: List[Tuple[str, str, Callable[..., Any]]] = []
        self._protocol_namespaces: List[str] = []
        self._states: "weakref.WeakSet[AppState]" = weakref.WeakSet()
        self.app = app
        if app is not None:
            self.init_app(app)

    # -- set-up -------------------------------------------------------------

    def init_app(self, app: flask.Flask, **options: Any) -> AppState:
        """Serve rtc.io on ``app``; returns its :class:`AppState`.

        ``options`` add to (and win over) the constructor's; the same ones:

        - ``cors``: who may connect (None: the server's own origin).
        - ``cors_credentials``: allow cookies (``withCredentials``).
        - ``path``: the socket.io path (``"socket.io"``).
        - ``async_mode``: eventlet, gevent, gevent_uwsgi or threading.
        - ``max_envelope_bytes``: largest ``#rtcio:message`` envelope.
        - ``protocol_namespaces``: namespaces that speak rtc.io.
        - ``rooms``: the built-in rooms (True, dict, RoomsConfig, None).
        - ``turn``: TURN credentials for ``ask-ice`` (TurnConfig or dict).
        - ``limits``: event limits (Limits, dict, or False for off).
        - ``server``: an existing ``socketio.Server`` to attach to.
        - ``message_queue``: a queue URL shared by several processes.
        - ``sticky_sessions``: the balancer keeps clients on one worker.
        - ``health_path``: where the health check is served.
        - ``fleet_interval``: seconds between Redis fleet heartbeats.
        - any other keyword goes to ``socketio.Server``.

        Raises RuntimeError when ``app`` already has RTCIO, ValueError for
        a bad option (naming where it came from).
        """
        with refused_in_one_line():
            return self._init_app(app, **options)

    def _init_app(self, app: flask.Flask, **options: Any) -> AppState:
        """:meth:`init_app`, whose start-up refusals gunicorn says in one
        line (:func:`~rtcio_flask.deploy.gunicorn.refused_in_one_line`)."""
        compat.check_floor()
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"RTCIO is already initialised on app {app.name!r}; call "
                f"init_app once per app.")
        # Checked first, so a typo changes nothing and says what to write.
        check_options(self._options, "RTCIO(...)")
        check_options(options, "init_app(...)")
        check_config_keys(app.config)
        warn_unknown_env(os.environ, app.config,
                         list(self._options) + list(options))
        opts = dict(self._options)
        opts.update(options)
        turn = resolve_turn(opts.pop("turn", None), app.config)
        rooms_option = resolve_rooms(opts.pop("rooms", None), app.config)
        metrics_option = opts.pop("metrics", config_mod.UNSET)
        admin_option = opts.pop("admin", config_mod.UNSET)
        # Checked before anything is built, so a mistake changes nothing.
        admin_mod.resolve_admin(admin_option, app.config, os.environ)
        metrics_mod.resolve_metrics(metrics_option, app.config, os.environ)
        recovery_option = opts.pop("recovery", config_mod.UNSET)
        resolve_recovery(recovery_option, app.config, os.environ)
        deploy = deploy_mod.resolve(app.config, opts)
        rooms_option = rooms_for_queue(rooms_option, app.config,
                                       deploy.message_queue,
                                       deploy.state_redis)
        state = self._build_state(app, opts, admin_option)
        state.turn = turn
        state.deploy = deploy
        state.health = deploy_mod.install(app, state.server, deploy)
        state.gate.socketio_app = refuse_while_draining(
            state.gate.socketio_app, state.health)
        app.extensions[EXTENSION_KEY] = state
        self._states.add(state)
        for namespace in state.settings.protocol_namespaces:
            self._attach_protocol(state, namespace)
        for namespace in self._protocol_namespaces:
            self._attach_protocol(state, namespace)
        for event, namespace, func in self._handlers:
            state.dispatcher.add_user(event, func, namespace)
        state.rooms = install_rooms(
            rooms_option, app.config, state.server, state.dispatcher,
            self.join_hooks, state.socket_address, state.packet_hook,
            state.protocols)
        state.recovery = install_recovery(
            recovery_option, app.config, state.server, state.packet_hook,
            state.dispatcher, state.protocols.values(), state.rooms,
            deploy.state_redis,
            # state.metrics is installed after us: look it up each time.
            lambda: state.metrics.recovered())
        state.queue_relay = install_queue_relay(
            state.server, state.recovery, state.rooms,
            state.protocols.values())
        metrics_mod.install(state, metrics_option)
        state.admin = admin_mod.install(state, state.admin, admin_option)
        state.fleet = start_fleet(state.server, _rooms_in_redis(state.rooms),
                                  deploy.fleet_interval)
        return state

    def _build_state(self, app: flask.Flask, opts: Dict[str, Any],
                     admin_option: Any = UNSET) -> AppState:
        server = opts.pop("server", None)
        # Resolved before anything is built, so a mistake changes nothing.
        limits = resolve_limits(app.config, opts.pop("limits", None))
        protection = resolve_protection(app.config, opts)
        websocket = websocket_mod.resolve(opts.pop("websocket", UNSET),
                                          app.config)
        gc_freeze = resolve_gc_freeze(opts.pop("gc_freeze", UNSET),
                                      app.config)
        setting_args = {
            name: opts.pop(name)
            for name in ("cors", "cors_credentials", "path", "async_mode",
                         "max_envelope_bytes", "protocol_namespaces")
            if name in opts
        }
        for name, instead in _OWNED_SERVER_OPTIONS.items():
            if name in opts:
                raise ValueError(
                    f"RTCIO: do not pass {name} to python-socketio through "
                    f"RTCIO; write {instead} so CORS and the path are "
                    f"handled by one layer.")
        flask_socketio = is_flask_socketio(server)
        if server is not None:
            server = getattr(server, "server", server)  # Flask-SocketIO
            if not isinstance(server, socketio.Server):
                raise ValueError(
                    "RTCIO(server=...) takes a socketio.Server or a "
                    "Flask-SocketIO SocketIO object; an asyncio server "
                    "(socketio.AsyncServer) cannot run inside a WSGI app.")
            if opts:
                raise ValueError(
                    f"RTCIO: options {sorted(opts)} configure a new "
                    f"socketio.Server, but server= hands one in; set them "
                    f"on that server instead.")
            if "async_mode" in setting_args:
                raise ValueError("RTCIO: the handed-in server already has "
                                 "an async mode; drop async_mode=.")
            setting_args["async_mode"] = server.async_mode

        if "async_mode" not in setting_args and \
                app.config.get("RTCIO_ASYNC_MODE") is None:
            # Preloaded in gunicorn's arbiter for gevent (or eventlet)
            # workers: their patching comes after the fork.
            preloaded = preloaded_worker_mode()
            if preloaded is not None:
                setting_args["async_mode"] = preloaded
        cfg = config_mod.resolve(app.config, **setting_args)
        # A handed-in server with no CORS asked of RTCIO keeps its own
        # setting: that server stays the one layer in charge.
        keep_server_cors = server is not None and not cfg.cors_configured
        if keep_server_cors:
            cfg.policy = build_policy(False, setting="the handed-in server")
        mounted = list(_mounted_socketio_apps(app.wsgi_app))
        prefix = "/" + cfg.path + "/"
        for mount in mounted:
            mount_path = "/" + mount.engineio_path.strip("/") + "/"
            if mount_path == prefix and mount.engineio_app is not server:
                raise ValueError(
                    f"app {app.name!r} already serves socket.io at {prefix}; "
                    f"hand that server to RTCIO instead of starting a second "
                    f"one: RTCIO(app, server=<your socketio.Server or "
                    f"Flask-SocketIO object>).")

        if server is None:
            if opts.get("client_manager") is None:
                # python-socketio's own in-memory manager, with RTCIO's
                # hooks mixed in (a message queue's manager has them).
                opts["client_manager"] = new_manager()
            if opts.get("serializer", "default") == "default" and \
                    opts.get("json") is None and \
                    isinstance(opts["client_manager"], RtcioManager):
                # Strict JSON for what clients send (encoding unchanged).
                opts["serializer"] = StrictPacket
            server = socketio.Server(async_mode=cfg.async_mode,
                                     cors_allowed_origins=[], **opts)
        elif not keep_server_cors:
            if server.eio.cors_allowed_origins != []:
                logger.info("rtcio: taking over CORS for %s from the "
                            "handed-in server", prefix)
            server.eio.cors_allowed_origins = []

        gate = SocketIOGate(server.handle_request, app.wsgi_app, cfg.path,
                            cfg.policy)
        gate.freeze_gc = gc_freeze
        if flask_socketio:
            gate.socketio_app = with_flask_app(gate.socketio_app, app)
        app.wsgi_app = gate  # type: ignore[method-assign]
        dispatcher = Dispatcher(server, app)
        state = AppState(app, server, cfg, dispatcher, gate)
        # A handed-in server's manager (or an app's client_manager=) gets
        # RTCIO's hooks now, before anything wraps its methods.
        adopt_manager(server.manager)
        if compat.enabled("room_index"):
            index_rooms(server.manager)
        # Before RTCIO's own Engine.IO handlers, which wrap the ones the
        # Admin UI's instrumentation sets (see deploy/admin.instrument).
        state.admin = admin_mod.instrument(state, admin_option)
        # Event limits, shape checks and fast paths sit on the raw packets.
        state.packet_hook = PacketHook(server, limits)
        state.limits = state.packet_hook.limiter
        gate.socketio_app = TransportGuard(gate.socketio_app, server)
        if compat.enabled("ping_interval"):
            advertise_exact_ping_interval(server)
        # Outermost: an address over its cap is refused before any parsing.
        gate.socketio_app = SessionCap(gate.socketio_app, server, protection)
        install_protection(server, protection)
        state.protection = protection
        if server.async_mode == "eventlet" and \
                compat.enabled("eventlet_unmask"):
            from .transport.compat.eventlet import speed_up_eventlet
            speed_up_eventlet()
        websocket_mod.install(server, websocket)
        # After the websocket class is chosen: the check wraps that class.
        if compat.enabled("frame_checks"):
            check_websocket_frames(server.eio)
        return state

    def _attach_protocol(self, state: AppState,
                         namespace: str) -> RtcioProtocol:
        if namespace in state.protocols:
            return state.protocols[namespace]
        protocol = RtcioProtocol(state.server, namespace,
                                 state.settings.max_envelope_bytes)
        protocol.send = functools.partial(send_text, state.server.eio)
        protocol.attach(state.dispatcher, state.packet_hook)
        # Envelopes that leave the raw-packet path (an app handler on the
        # relay event) still reach each target in the order sent.
        order_events(state.server, RtcioEvents.MESSAGE)
        ice_mod.attach(state.dispatcher, lambda: state.turn, namespace)
        state.protocols[namespace] = protocol
        if state.recovery is not None:
            wire_protocol(state.recovery, protocol)
        protocol.queue = state.queue_relay
        return protocol

    # -- public API ---------------------------------------------------------

    def attach_protocol(self, namespace: str) -> None:
        """Speak the rtc.io protocol (relay, peer-left) on another namespace,
        on every app this extension serves, now and later."""
        if not isinstance(namespace, str) or not namespace.startswith("/"):
            raise ValueError(f"namespaces start with '/', not {namespace!r}")
        if namespace not in self._protocol_namespaces:
            self._protocol_namespaces.append(namespace)
        for state in list(self._states):
            self._attach_protocol(state, namespace)

    @overload
    def on(self, event: str, handler: None = None,
           namespace: str = "/") -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, namespace: str = "/") -> F: ...

    def on(self, event: str, handler: Optional[F] = None,
           namespace: str = "/") -> Any:
        """Register a socket.io event handler, python-socketio style.

        The handler is called as ``handler(sid, *args)`` (``connect`` as
        ``(sid, environ, auth)``) inside a Flask request context rebuilt
        from the handshake, so ``flask.request`` and ``flask.session`` are
        what they were when the socket connected.
        """
        def register(func: F) -> F:
            self._handlers.append((event, namespace, func))
            for state in list(self._states):
                state.dispatcher.add_user(event, func, namespace)
            return func

        if handler is not None:
            return register(handler)
        return register

    @overload
    def event(self, func: None = None,
              namespace: str = "/") -> Callable[[F], F]: ...

    @overload
    def event(self, func: F, namespace: str = "/") -> F: ...

    def event(self, func: Optional[F] = None, namespace: str = "/") -> Any:
        """``@rtcio.event`` registers a handler named after the event."""
        if func is None:
            return lambda f: self.on(f.__name__, f, namespace)
        return self.on(func.__name__, func, namespace)

    def state_for(self, app: Optional[flask.Flask] = None) -> AppState:
        """The AppState of ``app``, of the current app, or of the app given to
        the constructor, in that order."""
        if app is None:
            if flask.has_app_context():
                current: Any = flask.current_app   # a proxy: ask for the app
                app = current._get_current_object()
            elif self.app is not None:
                app = self.app
            else:
                raise RuntimeError(
                    "RTCIO was set up with init_app(); use it inside an app "
                    "context (with app.app_context():) or call "
                    "rtcio.state_for(app).")
        try:
            state: AppState = app.extensions[EXTENSION_KEY]
            return state
        except KeyError:
            raise RuntimeError(f"RTCIO is not initialised on app "
                               f"{app.name!r}; call rtcio.init_app(app).") \
                from None

    @property
    def server(self) -> Any:
        """The python-socketio ``socketio.Server`` behind the current app."""
        return self.state_for().server

    def emit(self, event: str, data: Any = None, **kwargs: Any) -> Any:
        """Shortcut for ``rtcio.server.emit``."""
        return self.state_for().server.emit(event, data, **kwargs)

    @property
    def rooms(self) -> "Rooms":
        """The built-in rooms' API (``rtcio.rooms.members(room_id)``...)."""
        rooms = self.state_for().rooms
        if rooms is None:
            raise RuntimeError("the built-in rooms are off; turn them on "
                               "with RTCIO(app, rooms=True).")
        return rooms

    def run(self, app: Optional[flask.Flask] = None,
            host: Optional[str] = None, port: Optional[int] = None,
            log_output: bool = False) -> None:
        """Serve the app, like Flask-SocketIO's ``socketio.run(app)``.

        Picks the server the app's async mode needs: eventlet or gevent when
        their monkey patching is in effect (patch at the very top of the
        script), a threaded Werkzeug server otherwise. TCP_NODELAY is set on
        every socket.io connection, websocket closes leave no ``Bad request
        syntax`` lines, SIGTERM and Ctrl-C drain the connections, and a port
        in use is one ``rtcio: error: ...`` line and exit status 2. Defaults:
        127.0.0.1, port 5000 (or the port of ``SERVER_NAME``);
        ``log_output=True`` logs every HTTP request.
        """
        from .deploy.serve import run as serve_run

        if app is None:
            app = self.app
        if app is None:
            raise RuntimeError("RTCIO was set up with init_app(); say which "
                               "app to serve: rtcio.run(app)")
        serve_run(app, self.state_for(app), host=host, port=port,
                  log_output=log_output)

    def protocol(self, namespace: str = "/",
                 app: Optional[flask.Flask] = None) -> RtcioProtocol:
        """The RtcioProtocol attached to ``namespace``."""
        return self.state_for(app).protocols[namespace]
