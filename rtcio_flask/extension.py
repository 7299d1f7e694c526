"""The Flask extension: ``RTCIO(app)`` or ``RTCIO()`` + ``init_app(app)``.

Per-app state (the socketio.Server, the resolved settings, the dispatcher)
lives in ``app.extensions["rtcio"]``, so one RTCIO object can serve several
apps built by a factory. The extension object only remembers what the
application asked for (handlers, protocol namespaces) so it can replay it on
every app it is initialised with.
"""

import logging
import weakref

import engineio
import flask
import socketio

from . import config as config_mod
from .access import AccessHooks
from .core.limits import resolve_limits
from .core.origins import build_policy
from .core.turn import resolve_turn
from .deploy import settings as deploy_mod
from .deploy.fleet import start_fleet
from .dispatch import Dispatcher
from .protocol import ice as ice_mod
from .protocol.relay import RtcioProtocol
from .rooms.handlers import install_rooms
from .transport.gate import SocketIOGate
from .transport.guard import TransportGuard
from .transport.packet_hook import PacketHook
from .transport.patches import check_websocket_frames

logger = logging.getLogger("rtcio_flask")

EXTENSION_KEY = "rtcio"

# Options RTCIO owns; passing them to python-socketio too would create a
# second CORS layer or a second path.
_OWNED_SERVER_OPTIONS = {
    "cors_allowed_origins": "cors=",
    "socketio_path": "path=",
}


class AppState:
    """Everything RTCIO keeps for one Flask app."""

    def __init__(self, app, server, settings, dispatcher, gate):
        self.app = app
        self.server = server
        self.settings = settings
        self.dispatcher = dispatcher
        self.gate = gate
        self.protocols = {}
        #: TurnConfig for ask-ice, or None (see rtcio_flask.core.turn).
        self.turn = None
        #: The built-in rooms (rtcio_flask.rooms.handlers.Rooms), or None.
        self.rooms = None
        #: The raw-packet hook (rtcio_flask.transport.packet_hook) and its
        #: event limiter with the counters (rtcio_flask.core.limits).
        self.packet_hook = None
        self.limits = None
        #: Deployment settings, health state and the Redis heartbeat
        #: (rtcio_flask.deploy).
        self.deploy = None
        self.health = None
        self.fleet = None

    def __repr__(self):
        return (f"<rtcio AppState {self.app.name!r} "
                f"async_mode={self.server.async_mode!r}>")


def _mounted_socketio_apps(wsgi_app):
    """Walk a chain of WSGI middlewares and yield the engineio apps in it."""
    seen = set()
    node = wsgi_app
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, engineio.WSGIApp):
            yield node
        node = getattr(node, "wsgi_app", None) or getattr(node, "wrapped",
                                                             None)


class RTCIO(AccessHooks):
    """rtc.io signaling for a Flask app.

    ``cors`` takes the Node server's origin forms (see README); any other
    keyword argument goes to ``socketio.Server`` unchanged. Pass ``server=``
    to attach to a python-socketio server (or Flask-SocketIO object) the app
    already has instead of starting a second one on the same path.
    """

    def __init__(self, app=None, **options):
        self._options = options
        self._handlers = []
        self._protocol_namespaces = []
        self._states = weakref.WeakSet()
        self.app = app
        if app is not None:
            self.init_app(app)

    # -- set-up -------------------------------------------------------------

    def init_app(self, app, **options):
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"RTCIO is already initialised on app {app.name!r}; call "
                f"init_app once per app.")
        opts = dict(self._options)
        opts.update(options)
        turn = resolve_turn(opts.pop("turn", None), app.config)
        rooms_option = opts.pop("rooms", None)
        deploy = deploy_mod.resolve(app.config, opts)
        rooms_option = deploy_mod.rooms_for_queue(rooms_option,
                                                      app.config, deploy)
        state = self._build_state(app, opts)
        state.turn = turn
        deploy_mod.install(state, deploy)
        app.extensions[EXTENSION_KEY] = state
        self._states.add(state)
        for namespace in state.settings.protocol_namespaces:
            self._attach_protocol(state, namespace)
        for namespace in self._protocol_namespaces:
            self._attach_protocol(state, namespace)
        for event, namespace, func in self._handlers:
            state.dispatcher.add_user(event, func, namespace)
        state.rooms = install_rooms(state, rooms_option, self.join_hooks)
        start_fleet(state)
        return state

    def _build_state(self, app, opts):
        server = opts.pop("server", None)
        limits = opts.pop("limits", None)
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
            server = socketio.Server(async_mode=cfg.async_mode,
                                     cors_allowed_origins=[], **opts)
        elif not keep_server_cors:
            if server.eio.cors_allowed_origins != []:
                logger.info("rtcio: taking over CORS for %s from the "
                            "handed-in server", prefix)
            server.eio.cors_allowed_origins = []

        gate = SocketIOGate(server.handle_request, app.wsgi_app, cfg.path,
                            cfg.policy)
        app.wsgi_app = gate
        dispatcher = Dispatcher(server, app)
        state = AppState(app, server, cfg, dispatcher, gate)
        # Event limits, shape checks and fast paths sit on the raw packets.
        state.packet_hook = PacketHook(server,
                                       resolve_limits(app.config, limits))
        state.limits = state.packet_hook.limiter
        gate.socketio_app = TransportGuard(gate.socketio_app, server)
        check_websocket_frames(server.eio)
        if server.async_mode == "eventlet":
            from .transport.patches import speed_up_eventlet
            speed_up_eventlet()
        return state

    def _attach_protocol(self, state, namespace):
        if namespace in state.protocols:
            return state.protocols[namespace]
        protocol = RtcioProtocol(state.server, namespace,
                                 state.settings.max_envelope_bytes)
        protocol.attach(state.dispatcher, state.packet_hook)
        ice_mod.attach(state, namespace)
        state.protocols[namespace] = protocol
        return protocol

    # -- public API ---------------------------------------------------------

    def attach_protocol(self, namespace):
        """Speak the rtc.io protocol (relay, peer-left) on another namespace,
        on every app this extension serves, now and later."""
        if not isinstance(namespace, str) or not namespace.startswith("/"):
            raise ValueError(f"namespaces start with '/', not {namespace!r}")
        if namespace not in self._protocol_namespaces:
            self._protocol_namespaces.append(namespace)
        for state in list(self._states):
            self._attach_protocol(state, namespace)

    def on(self, event, handler=None, namespace="/"):
        """Register a socket.io event handler, python-socketio style.

        The handler is called as ``handler(sid, *args)`` (``connect`` as
        ``(sid, environ, auth)``) inside a Flask request context rebuilt
        from the handshake, so ``flask.request`` and ``flask.session`` are
        what they were when the socket connected.
        """
        def register(func):
            self._handlers.append((event, namespace, func))
            for state in list(self._states):
                state.dispatcher.add_user(event, func, namespace)
            return func

        if handler is not None:
            return register(handler)
        return register

    def event(self, func=None, namespace="/"):
        """``@rtcio.event`` registers a handler named after the event."""
        if func is None:
            return lambda f: self.on(f.__name__, f, namespace)
        return self.on(func.__name__, func, namespace)

    def state_for(self, app=None):
        """The AppState of ``app``, of the current app, or of the app given to
        the constructor, in that order."""
        if app is None:
            if flask.has_app_context():
                app = flask.current_app._get_current_object()
            elif self.app is not None:
                app = self.app
            else:
                raise RuntimeError(
                    "RTCIO was set up with init_app(); use it inside an app "
                    "context (with app.app_context():) or call "
                    "rtcio.state_for(app).")
        try:
            return app.extensions[EXTENSION_KEY]
        except KeyError:
            raise RuntimeError(f"RTCIO is not initialised on app "
                               f"{app.name!r}; call rtcio.init_app(app).") \
                from None

    @property
    def server(self):
        """The python-socketio ``socketio.Server`` behind the current app."""
        return self.state_for().server

    def emit(self, event, data=None, **kwargs):
        """Shortcut for ``rtcio.server.emit``."""
        return self.state_for().server.emit(event, data, **kwargs)

    @property
    def rooms(self):
        """The built-in rooms' API (``rtcio.rooms.members(room_id)``...)."""
        rooms = self.state_for().rooms
        if rooms is None:
            raise RuntimeError("the built-in rooms are off; turn them on "
                               "with RTCIO(app, rooms=True).")
        return rooms

    def protocol(self, namespace="/", app=None):
        """The RtcioProtocol attached to ``namespace``."""
        return self.state_for(app).protocols[namespace]
