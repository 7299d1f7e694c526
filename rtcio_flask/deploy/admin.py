"""The socket.io Admin UI (https://socket.io/docs/v4/admin-ui/), through
python-socketio's instrumentation, always behind a login, and served by
the extension itself.

``RTCIO(app, admin={"username": "admin", "password": "..."})``,
``app.config["RTCIO_ADMIN"]`` (the same dict), or the environment variables
``RTCIO_ADMIN_USERNAME`` and ``RTCIO_ADMIN_PASSWORD``. The admin UI can
disconnect sockets and move them between rooms, so it is refused without a
login: ``admin=True`` or an empty password is a start-up error.

On top of python-socketio's ``InstrumentedServer``:

- the UI's built files (the ``@socket.io/admin-ui`` npm package, vendored
  into ``rtcio_flask/admin_ui`` by scripts/vendor_admin_ui.py) are served
  at ``ui_path`` (``/admin``), with a small script that points the login
  form at this server: no outside host, no CORS;
- failed logins are logged (client address through the trusted-proxy rule)
  and throttled per address: after ``login_attempts`` failures within
  ``login_window`` seconds every login from that address is refused, the
  right password too, until its bucket refills;
- a socket that has not logged in hears nothing: python-socketio reports
  every socket to the whole admin namespace, the pending one included, so
  reports go to a room only admitted sockets are in;
- a socket's ``data`` shows its names in the built-in rooms, and sockets
  held for connection state recovery are listed as held.

These additions depend on how InstrumentedServer works inside, so they
live in :mod:`rtcio_flask.transport.compat.socketio_admin` with the
python-socketio releases they were verified with; outside that range they
are off (one WARNING at start-up) and python-socketio's own instrumentation
serves the UI, behind the same login.
"""

import functools
import json
import logging
import os
import pathlib
from typing import Any, Dict, List, Mapping, Optional

from ..config import UNSET, pick
from ..core.decoding import connect_namespace
from ..core.options import check_known
from ..transport import compat
from ..transport.compat.socketio import refuse_connect, session_environ
from ..transport.gate import OWN_ORIGIN_ONLY
from ..transport.compat.socketio_admin import (REPORTS_FROM_MANAGER,
                                               admin_extras,
                                               engineio_instrumented,
                                               instrumented_server_class)

logger = logging.getLogger("rtcio_flask")

#: Where the hosted Admin UI runs (its browser origin).
ADMIN_UI_ORIGIN = "https://admin.socket.io"

#: The vendored UI (scripts/vendor_admin_ui.py writes it).
UI_FILES = pathlib.Path(__file__).resolve().parent.parent / "admin_ui"

#: The script the vendored index.html loads before the UI's own.
CONFIG_SCRIPT = "rtcio-admin-config.js"

#: Failed logins allowed per client address within LOGIN_WINDOW seconds.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW = 60.0

#: Options of ours, taken out before the rest go to python-socketio.
_OWN_KEYS = {"ui_path", "login_attempts", "login_window"}

_KEYS = {"username", "password", "auth", "mode", "read_only", "namespace",
         "server_id", "server_stats_interval"} | _OWN_KEYS

_EXAMPLE = "admin={'username': 'admin', 'password': '<a long secret>'}"


def resolve_admin(given: Any, config: Mapping[str, Any],
                  environ: Mapping[str, str]) -> Optional[Dict[str, Any]]:
    """The keyword arguments for ``server.instrument()``, or None when the
    admin UI is off. Raises ValueError for an admin UI without a login."""
    found = pick("admin", given, config)
    value, where = found.value, found.where
    if value is UNSET:
        user = environ.get("RTCIO_ADMIN_USERNAME", "")
        password = environ.get("RTCIO_ADMIN_PASSWORD", "")
        if not user and not password:
            return None
        where = "RTCIO_ADMIN_USERNAME/RTCIO_ADMIN_PASSWORD"
        value = {"username": user, "password": password}
    if value in (None, False):
        return None
    if value is True or not isinstance(value, dict):
        raise ValueError(
            f"{where}: the socket.io Admin UI can disconnect sockets and "
            f"move them between rooms, so it needs a login: {_EXAMPLE} "
            f"(or RTCIO_ADMIN_USERNAME and RTCIO_ADMIN_PASSWORD).")
    check_known(value, _KEYS, str(where), what="key")
    options = {k: v for k, v in value.items()
               if k not in ("username", "password", "auth")}
    ui_default = environ.get("RTCIO_ADMIN_UI_PATH", "/admin")
    options["ui_path"] = _ui_path(value.get("ui_path", ui_default), where)
    for key, default in (("login_attempts", LOGIN_ATTEMPTS),
                         ("login_window", LOGIN_WINDOW)):
        number = value.get(key, default)
        if isinstance(number, bool) or not isinstance(number, (int, float)) \
                or number <= 0 or (key == "login_attempts"
                                   and number != int(number)):
            raise ValueError(f"{where}: {key!r} takes a positive number "
                             f"(default {default}), not {number!r}.")
        options[key] = number
    if "auth" in value:
        auth = value["auth"]
        if auth is False or auth is None or not (
                callable(auth) or isinstance(auth, (dict, list))) or \
                ("username" in value or "password" in value):
            raise ValueError(
                f"{where}: 'auth' takes a callable auth -> bool or a list of "
                f"{{'username', 'password'}} dicts, and replaces "
                f"username/password; an admin UI without a login is refused.")
    else:
        name, secret = value.get("username"), value.get("password")
        if not isinstance(name, str) or not name or \
                not isinstance(secret, str) or not secret:
            raise ValueError(
                f"{where}: the socket.io Admin UI needs a non-empty username "
                f"and password: {_EXAMPLE}.")
        auth = {"username": name, "password": secret}
    options["auth"] = auth
    return options


def _ui_path(value: Any, where: Any) -> Optional[str]:
    """The URL path the UI is served at, or None for not served."""
    if value in (None, False, ""):
        return None
    if not isinstance(value, str) or not value.startswith("/") or \
            value.strip("/") == "" or any(c in value for c in "?#<>\"' "):
        raise ValueError(f"{where}: 'ui_path' takes a URL path such as "
                         f"'/admin' (or None to not serve the UI), not "
                         f"{value!r}.")
    return "/" + value.strip("/")


def instrument(state: Any, given: Any = UNSET,
               environ: Optional[Mapping[str, str]] = None) -> Any:
    """Instrument the app's server for the Admin UI when configured;
    returns the instrumented server, or None (then :func:`install`).

    Called before RTCIO chains its own Engine.IO handlers (the packet
    hook, the per-address connection cap, the exact ``pingInterval``):
    the instrumentation sets its own ``connect`` and ``disconnect``
    handlers, which RTCIO's then wrap. Installed after them, it replaced
    them: with ``admin=`` on, the per-address cap and the exact
    ``pingInterval`` were silently off."""
    environ = os.environ if environ is None else environ
    options = resolve_admin(given, state.app.config, environ)
    if options is None:
        return None
    ui_path = options.pop("ui_path")
    if ui_path is not None:
        _check_ui_path_free(state.app, ui_path)
    extras = admin_extras()
    if extras:
        admin = instrumented_server_class()(state.server, state, **options)
    else:
        if engineio_instrumented():
            raise RuntimeError(
                "RTCIO admin: python-socketio's own Admin UI "
                "instrumentation (RTCIO's additions are off with this "
                "python-socketio, see the WARNING above) works for one "
                "server per process, and another app of this process has "
                "it: turn admin= on for one app only, or install a "
                "python-socketio RTCIO was verified with.")
        # python-socketio's own instrumentation, through its public API.
        admin = state.server.instrument(**{
            k: v for k, v in options.items()
            if k not in ("login_attempts", "login_window")})
    return admin


def install(state: Any, admin: Any, given: Any = UNSET,
            environ: Optional[Mapping[str, str]] = None) -> Any:
    """Wire the instrumented server ``admin`` (:func:`instrument`, or
    None: the Admin UI is off) to the app's rooms and recovery, and serve
    the UI; returns ``admin``."""
    if admin is None:
        return None
    environ = os.environ if environ is None else environ
    options = resolve_admin(given, state.app.config, environ)
    assert options is not None  # as when admin was instrumented
    ui_path = options.pop("ui_path")
    if admin_extras() and \
            options.get("mode", "development") == "development":
        if state.rooms is not None:
            state.rooms.on_member_changed = admin.member_changed
        if state.recovery is not None:
            for held_ns in state.settings.protocol_namespaces:
                state.recovery.on_held.append((held_ns, functools.partial(
                    admin.held, namespace=held_ns)))
                if REPORTS_FROM_MANAGER:
                    state.recovery.on_back.append((held_ns, functools.partial(
                        admin.restored, namespace=held_ns)))
    namespace = options.get("namespace", "/admin")
    if ui_path is not None and _serve_ui(state, ui_path, namespace):
        # Only behind the checked packet dispatch, which refuses a binary
        # message no packet announced (python-socketio's own would take
        # one as a CONNECT to "/", unseen by the check below).
        if state.gate.policy.mode in ("list", "callable") and \
                compat.enabled("dispatch"):
            _let_own_page_in(state, namespace)
            logger.info("rtcio: the socket.io Admin UI is on: %s/ (namespace "
                        "%s; the server's own origin, where the page is, "
                        "may open that namespace only, as %s does not "
                        "name it)", ui_path, namespace,
                        state.gate.policy.setting)
        else:
            logger.info("rtcio: the socket.io Admin UI is on: %s/ (namespace "
                        "%s)", ui_path, namespace)
    elif state.gate.policy.enabled and not state.gate.policy.check(
            ADMIN_UI_ORIGIN, {}).allowed:
        logger.info("rtcio: the socket.io Admin UI is on (namespace %s); "
                    "to use the hosted UI, allow its origin %r in %s",
                    namespace, ADMIN_UI_ORIGIN, state.gate.policy.setting)
    else:
        logger.info("rtcio: the socket.io Admin UI is on (namespace %s)",
                    namespace)
    return admin


def _let_own_page_in(state: Any, namespace: str) -> None:
    """The page at ``ui_path`` is the app's own, so it connects from the
    server's own origin, which a list of allowed origins (or a callable)
    usually leaves out: every login would be refused as ``origin-not-
    allowed``. That origin is let through the gate for the admin namespace
    alone (which needs the admin login anyway); a CONNECT it sends to any
    other namespace is refused here, with the same words as the gate's
    refusal, so ``cors=`` still decides who may use the app's sockets."""
    gate, server = state.gate, state.server
    gate.own_origin_namespace = namespace

    def mark(eio_sid: str, origin: str) -> bool:
        # A session on another namespace already (its CONNECT came without
        # an Origin, or from an allowed one) is not that origin's to drive:
        # its events on that namespace are not checked below.
        manager = server.manager
        if any(ns != namespace and manager.sid_from_eio_sid(eio_sid, ns)
               for ns in list(manager.get_namespaces())):
            return False
        # The session's handshake environ, which the check below reads
        # (a new dict when there is no such session: nothing to mark).
        session_environ(server, eio_sid)[OWN_ORIGIN_ONLY] = origin
        return True

    gate.mark_session = mark

    def connect(eio_sid: str, text: str) -> bool:
        environ = session_environ(server, eio_sid)
        origin = environ.get(OWN_ORIGIN_ONLY)
        if origin is None:
            return False
        wanted = connect_namespace(text)
        if wanted == namespace:
            return False
        error, message = gate.policy.refusal(
            origin, gate.policy.check(origin, environ).reason, False)
        message += (f" (The server's own origin may open only the Admin "
                    f"UI's namespace {namespace}.)")
        gate.log_refusal(origin, error, message)
        refuse_connect(server, eio_sid, wanted,
                       {"message": message, "data": {"error": error}})
        return True

    state.packet_hook.add_fast_path("0", connect)


def config_script(server_path: str, namespace: str) -> str:
    """The script that points the UI's login form at this server (the UI
    keeps its settings in localStorage and connects to ``server_url`` +
    ``namespace`` with ``path``)."""
    values = json.dumps({"path": server_path, "namespace": namespace})
    return ("(function (v) {\n"
            "  try {\n"
            "    localStorage.setItem('server_url', location.origin);\n"
            "    localStorage.setItem('path', v.path);\n"
            "    localStorage.setItem('namespace', v.namespace);\n"
            "  } catch (e) { /* storage off: the form starts empty */ }\n"
            f"}})({values});\n")


def _check_ui_path_free(app: Any, ui_path: str) -> None:
    """Refuse a ``ui_path`` the app already serves (Flask-Admin's
    ``/admin/``, say): the first route would win, silently."""
    rule = _app_route_under(app, ui_path)
    if rule is not None:
        raise ValueError(_taken_message(ui_path, rule))


def _app_route_under(app: Any, ui_path: str, exact: bool = False) -> Any:
    """A route of the app's own (not the UI's) at or under ``ui_path``
    (``exact``: at ``ui_path`` itself, with or without the slash)."""
    for rule in app.url_map.iter_rules():
        at = rule.rule.rstrip("/") == ui_path
        if (at or (not exact and rule.rule.startswith(ui_path + "/"))) \
                and not rule.endpoint.startswith("rtcio_admin_ui"):
            return rule
    return None


def _taken_message(ui_path: str, rule: Any, later: bool = False) -> str:
    clash = (f"the app added the route {rule.rule} ({rule.endpoint}) "
             f"after RTCIO(app), and the Admin UI's page at {ui_path}/ "
             f"hides it" if later else
             f"the Admin UI's page would be served at {ui_path}/, but the "
             f"app already has the route {rule.rule} ({rule.endpoint})")
    return (f"RTCIO admin: {clash}; choose another path: admin={{..., "
            f"'ui_path': '/rtcio-admin'}} (or RTCIO_ADMIN_UI_PATH), or "
            f"'ui_path': None for no page.")


def _serve_ui(state: Any, ui_path: str, namespace: str) -> bool:
    """Add the UI's routes to the app; False (logged) when the vendored
    files are missing."""
    import flask

    if not (UI_FILES / "index.html").is_file():
        logger.warning("rtcio: the Admin UI's files are missing from %s "
                       "(run scripts/vendor_admin_ui.py after npm ci); "
                       "%s is not served", UI_FILES, ui_path)
        return False
    app = state.app

    checked: List[bool] = []

    def index() -> Any:
        if not checked:
            # A route the app added after RTCIO(app) (Flask-Admin set up
            # later, say) is hidden by this page: said at its first visit,
            # the first moment it is known.
            checked.append(True)
            rule = _app_route_under(app, ui_path, exact=True)
            if rule is not None:
                logger.error("rtcio: %s", _taken_message(ui_path, rule,
                                                         later=True))
        return flask.send_from_directory(UI_FILES, "index.html",
                                         max_age=0)

    def config() -> Any:
        path = flask.request.script_root + "/" + state.settings.path
        return flask.Response(config_script(path, namespace),
                              mimetype="text/javascript",
                              headers={"Cache-Control": "no-store"})

    def asset(name: str) -> Any:
        return flask.send_from_directory(UI_FILES, name)

    # ``ui_path`` without the slash redirects here (the UI's files are
    # named relative to the page).
    app.add_url_rule(ui_path + "/", "rtcio_admin_ui", index)
    app.add_url_rule(f"{ui_path}/{CONFIG_SCRIPT}", "rtcio_admin_ui_config",
                     config)
    app.add_url_rule(ui_path + "/<path:name>", "rtcio_admin_ui_asset", asset)
    return True
