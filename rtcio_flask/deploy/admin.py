"""The socket.io Admin UI (https://admin.socket.io), through
python-socketio's ``server.instrument()``, always behind a login.

``RTCIO(app, admin={"username": "admin", "password": "..."})``,
``app.config["RTCIO_ADMIN"]`` (the same dict), or the environment variables
``RTCIO_ADMIN_USERNAME`` and ``RTCIO_ADMIN_PASSWORD``. The admin UI can
disconnect sockets and move them between rooms, so it is refused without a
login: ``admin=True`` or an empty password is a start-up error.

The hosted UI runs in the browser at ``https://admin.socket.io`` and
connects to the ``/admin`` namespace through the socket.io path, so that
origin must be allowed by ``cors=`` (a log line says so when it is not).
"""

import logging
import os
from typing import Any, Dict, Mapping, Optional

from ..config import UNSET, pick

logger = logging.getLogger("rtcio_flask")

#: Where the hosted Admin UI runs (its browser origin).
ADMIN_UI_ORIGIN = "https://admin.socket.io"

_KEYS = {"username", "password", "auth", "mode", "read_only", "namespace",
         "server_id", "server_stats_interval"}

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
    unknown = set(value) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; "
                         f"write {_EXAMPLE}, optionally with 'mode', "
                         f"'read_only' or 'namespace'.")
    options = {k: v for k, v in value.items()
               if k not in ("username", "password", "auth")}
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


def install(state: Any, given: Any = UNSET,
            environ: Optional[Mapping[str, str]] = None) -> Any:
    """Instrument the app's server for the Admin UI when configured; returns
    python-socketio's InstrumentedServer, or None."""
    environ = os.environ if environ is None else environ
    options = resolve_admin(given, state.app.config, environ)
    if options is None:
        return None
    hook = state.packet_hook
    admin = state.server.instrument(**options)
    if hook is not None:
        # instrument() registers its own Engine.IO disconnect handler, which
        # would bypass the packet hook (and leak the limiter's per-connection
        # state): chain it behind the hook instead.
        hook._eio_disconnect = admin._handle_eio_disconnect
        state.server.eio.on("disconnect", hook.on_disconnect)
    namespace = options.get("namespace", "/admin")
    if state.gate.policy.enabled and not state.gate.policy.check(
            ADMIN_UI_ORIGIN, {}).allowed:
        logger.info("rtcio: the socket.io Admin UI is on (namespace %s); "
                    "to use the hosted UI, allow its origin %r in %s",
                    namespace, ADMIN_UI_ORIGIN, state.gate.policy.setting)
    else:
        logger.info("rtcio: the socket.io Admin UI is on (namespace %s)",
                    namespace)
    return admin
