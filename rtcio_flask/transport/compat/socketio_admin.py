"""python-socketio's Admin UI instrumentation, extended where it has no
extension point.

Verified against python-socketio 5.11.0 to 5.18.x (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`, feature ``admin_extras``). It
subclasses ``socketio.admin.InstrumentedServer`` and relies on how that
class works inside, which python-socketio documents nowhere:

- ``admin_connect`` is replaced whole (the login check it makes, plus the
  per-address throttle, and the greeting it schedules);
- ``serialize_socket(sid, namespace, eio_sid)`` is extended (its result's
  ``data``);
- the manager's ``emit`` is wrapped, as InstrumentedServer itself does, so
  reports to the admin namespace go to :data:`ADMITTED_ROOM`;
- the attributes ``auth``, ``mode``, ``read_only``, ``admin_namespace``
  and ``sio`` are read;
- before python-socketio 5.12.1 InstrumentedServer reports sockets from
  the manager's ``connect``/``disconnect``, which it wraps on the object
  and which keep its ``manager._timestamps`` (from 5.12.1 on, from the
  server's ``_trigger_event``). A socket recovery restores under its old
  sid passes neither manager method (it enters its rooms directly, as
  python-socketio's own connect does inside): there :meth:`restored`
  reports it and ``_disconnect`` no longer fails on its missing
  timestamp (a ``KeyError`` traceback, and its Engine.IO close cut short,
  at the next hold or departure of every recovered socket);
- python-socketio 5.12.0's ``_handle_eio_disconnect`` (InstrumentedServer's
  Engine.IO ``disconnect`` handler) takes no reason yet calls the
  server's, which requires one: every closed connection raised
  ``TypeError`` and its sockets never departed. There RTCIO's subclass
  has 5.12.1's version (the reason passed on);
- ``instrument`` keeps python-engineio's ``Socket`` methods it wraps
  class-wide under ``Socket._InstrumentedServer__<name>`` and wraps them
  with ``_eio_handle_post_request``/``_eio_websocket_handler``/
  ``_eio_send_ping(socket, admin, ...)``: these are redirected to the
  socket's own server's Admin UI, so two apps with ``admin=`` in one
  process work (see ``instrument`` below).

Outside the verified range (:func:`admin_extras` false, one WARNING)
:mod:`rtcio_flask.deploy.admin` uses python-socketio's public
``server.instrument()`` alone: the UI works, without the names, the held
sessions, the login throttle, the after-login socket list and the
admins-only room.
"""

import functools
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping

from ...core.throttle import AttemptThrottle, guesser_key
from . import enabled, socketio_at_least

logger = logging.getLogger("rtcio_flask")

#: The python-socketio room of the admin sockets that logged in: the UI's
#: reports go there instead of to the whole admin namespace.
ADMITTED_ROOM = "rtcio:admin:admitted"

#: Before 5.12.1 InstrumentedServer reports connections from the
#: manager's ``connect`` and ``disconnect`` (see the module's docstring).
REPORTS_FROM_MANAGER = not socketio_at_least(5, 12, 1)

#: python-socketio 5.12.0 (only): InstrumentedServer's Engine.IO
#: ``disconnect`` handler takes no reason but calls the server's, which
#: needs one from 5.12 on (a TypeError for every closed connection).
EIO_DISCONNECT_LOSES_REASON = socketio_at_least(5, 12) and \
    REPORTS_FROM_MANAGER

#: Characters of a username or address a log line quotes.
LOG_LIMIT = 200


def admin_extras() -> bool:
    """Whether RTCIO's Admin UI additions may run with the installed
    python-socketio (one WARNING per process when not)."""
    return enabled("admin_extras")


def _bounded(value: Any) -> str:
    """``value`` quoted for a log line: control characters escaped, at most
    LOG_LIMIT characters (a login is attacker-written text)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > LOG_LIMIT:
        text = text[:LOG_LIMIT] + "..."
    return repr(text)


#: python-engineio ``Socket`` methods InstrumentedServer wraps class-wide,
#: the ``Socket`` attribute it keeps the wrapped method in, and its
#: wrapper.
_SOCKET_WRAPS = (
    ("handle_post_request", "_InstrumentedServer__handle_post_request",
     "_eio_handle_post_request"),
    ("_websocket_handler", "_InstrumentedServer__websocket_handler",
     "_eio_websocket_handler"),
    ("_send_ping", "_InstrumentedServer__send_ping", "_eio_send_ping"),
)


def _for_its_own_admin(which: int) -> Callable[..., Any]:
    """InstrumentedServer's class-wide ``Socket`` wrapper
    (``wrapper(socket, admin, *args)``, :data:`_SOCKET_WRAPS`), run for
    the instrumented server of the socket's own Engine.IO server; a
    socket of a server without one goes straight to the method kept."""
    from socketio import admin as sio_admin

    _, keep, name = _SOCKET_WRAPS[which]
    report = getattr(sio_admin.InstrumentedServer, name, None)

    def wrapper(socket: Any, admin: Any, *args: Any) -> Any:
        own = socket.server.__dict__.get("_rtcio_admin")
        if own is None or report is None:
            return getattr(socket, keep)(*args)
        return report(socket, own, *args)

    return wrapper


def engineio_instrumented() -> bool:
    """Whether an InstrumentedServer of this process already wrapped
    python-engineio's ``Socket`` class-wide: python-socketio's own
    ``instrument()`` cannot run a second time then (its wrapper would
    call itself on every polling POST); RTCIO's class can."""
    from engineio.socket import Socket

    return isinstance(Socket.__dict__.get("handle_post_request"),
                      functools.partialmethod)


def instrumented_server_class() -> Any:
    """python-socketio's InstrumentedServer with RTCIO's additions (a class
    made on first use: socketio.admin is imported only when admin is on).

    Call it only when :func:`admin_extras` is true."""
    from socketio import admin as sio_admin
    from socketio.exceptions import ConnectionRefusedError

    class RtcioInstrumentedServer(sio_admin.InstrumentedServer):  # type: ignore[misc]
        def __init__(self, sio: Any, state: Any, login_attempts: int,
                     login_window: float, **options: Any) -> None:
            self.state = state
            self.throttle = AttemptThrottle(int(login_attempts),
                                            float(login_window))
            # Whose counters a socket of this server's feeds (see
            # instrument).
            sio.eio._rtcio_admin = self
            super().__init__(sio, **options)
            inner = sio.manager.emit
            admin_namespace = self.admin_namespace

            def emit(event: str, data: Any, namespace: str,
                     room: Any = None, **kwargs: Any) -> Any:
                if namespace == admin_namespace:
                    if room is None:
                        room = ADMITTED_ROOM
                return inner(event, data, namespace, room=room, **kwargs)

            sio.manager.emit = emit

        # -- one process, several instrumented servers -----------------------

        def instrument(self) -> None:
            """InstrumentedServer's, made safe for a second Admin UI in the
            process (two apps, each with ``admin=``).

            InstrumentedServer wraps python-engineio's ``Socket`` methods
            class-wide and keeps the wrapped one in a class attribute of
            ``Socket`` (``_InstrumentedServer__handle_post_request``...):
            a second instrumentation overwrote that with the first's
            wrapper, which then called itself (every polling POST of
            either app: RecursionError), and each wrapper counted every
            server's packets. Here the kept methods are put back to
            python-engineio's own after each instrumentation, and the
            wrappers (:func:`_for_its_own_admin`) count each socket's
            packets for the Admin UI of its own server."""
            from engineio.socket import Socket

            kept = {}
            for wrapped, keep, _ in _SOCKET_WRAPS:
                current = Socket.__dict__.get(wrapped)
                kept[keep] = Socket.__dict__.get(keep) if isinstance(
                    current, functools.partialmethod) else current
            super().instrument()
            for keep, original in kept.items():
                if original is not None:
                    setattr(Socket, keep, original)

        _eio_handle_post_request = _for_its_own_admin(0)
        _eio_websocket_handler = _for_its_own_admin(1)
        _eio_send_ping = _for_its_own_admin(2)

        # -- login ----------------------------------------------------------

        def admin_connect(self, sid: str, environ: Mapping[str, Any],
                          client_auth: Any) -> None:
            address = self.state.client_address(environ)
            # Per address, per /64 for IPv6 (one subscriber's network).
            key = guesser_key(address)
            wait = self.throttle.blocked_for(key)
            if wait is not None:
                logger.debug("rtcio: admin login from %s refused: throttled "
                             "for %.0f s more", _bounded(address), wait)
                raise ConnectionRefusedError(
                    f"too many failed logins from this address; try again "
                    f"in {int(wait) + 1} s")
            if isinstance(self.auth, (dict, list)) and not (
                    isinstance(client_auth, dict) and
                    ("username" in client_auth or
                     "password" in client_auth)):
                # The UI first tries to resume a session (python-socketio
                # keeps none): not a guess, so not counted.
                raise ConnectionRefusedError("login required")
            if not self.authenticated(client_auth):
                user = client_auth.get("username") \
                    if isinstance(client_auth, dict) else None
                throttled = self.throttle.failed(key)
                logger.warning(
                    "rtcio: admin login refused for user %s from %s%s",
                    _bounded(user), _bounded(address),
                    "; further logins from that address are refused for a "
                    "while" if throttled else "")
                # The UI says "Invalid credentials" for exactly this text.
                raise ConnectionRefusedError("invalid credentials")
            self.sio.enter_room(sid, ADMITTED_ROOM,
                                namespace=self.admin_namespace)
            logger.info("rtcio: admin login from %s", _bounded(address))
            self.sio.start_background_task(self.greet, sid)

        def authenticated(self, client_auth: Any) -> bool:
            """The login check of InstrumentedServer.admin_connect."""
            if isinstance(self.auth, dict):
                return bool(client_auth == self.auth)
            if isinstance(self.auth, list):
                return client_auth in self.auth
            return bool(self.auth(client_auth))

        def greet(self, sid: str) -> None:
            """What the UI needs after its login: the features, then every
            socket (held ones too). InstrumentedServer's own version sends
            ``all_sockets`` to the last socket it listed rather than to
            the admin (python-socketio 5.18), so the UI stayed empty."""
            self.sio.sleep(0.1)
            features = ["AGGREGATED_EVENTS"]
            if not self.read_only:
                features += ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN",
                             "MLEAVE", "MDISCONNECT"]
            if self.mode == "development":
                features.append("ALL_EVENTS")
            self.sio.emit("config", {"supportedFeatures": features}, to=sid,
                          namespace=self.admin_namespace)
            if self.mode != "development":
                return
            listed = []
            manager = self.sio.manager
            for namespace in list(manager.get_namespaces()):
                for other, eio_sid in list(manager.get_participants(
                        namespace, None)):
                    try:
                        listed.append(self.serialize_socket(other, namespace,
                                                            eio_sid))
                    except KeyError:  # gone while being listed
                        continue
            listed += self.held_sockets()
            self.sio.emit("all_sockets", listed, to=sid,
                          namespace=self.admin_namespace)

        # -- what the UI shows ----------------------------------------------

        def socket_data(self, sid: str, namespace: str) -> Dict[str, Any]:
            """The ``data`` the UI shows for a socket: its names in the
            built-in rooms (``{"name", "rooms": {room_id: name}}``)."""
            rooms = self.state.rooms
            if rooms is None or namespace != rooms.namespace:
                return {}
            names = rooms.names_of(sid)
            first = next((n for n in names.values() if n), "")
            return {"name": first, "rooms": names}

        def serialize_socket(self, sid: str, namespace: str,
                             eio_sid: Any = None) -> Dict[str, Any]:
            found: Dict[str, Any] = super().serialize_socket(
                sid, namespace, eio_sid)
            found["data"] = self.socket_data(sid, namespace)
            return found

        def held_socket(self, session: Any) -> Dict[str, Any]:
            """A socket held for recovery, as the UI lists sockets."""
            left = max(0.0, session.expires_at - time.monotonic())
            data = self.socket_data(session.sid, session.namespace)
            data["heldForRecovery"] = {"reason": session.reason,
                                       "secondsLeft": round(left)}
            rooms = sorted(str(room) for room in session.rooms)
            return {"id": session.sid, "clientId": session.sid,
                    "transport": "held for recovery",
                    "nsp": session.namespace, "data": data,
                    "handshake": {"address": "", "headers": {}, "query": {},
                                  "secure": False, "url": "", "issued": 0,
                                  "time": ""},
                    "rooms": rooms}

        def held_sockets(self) -> List[Dict[str, Any]]:
            recovery = self.state.recovery
            if recovery is None:
                return []
            return [self.held_socket(s) for s in recovery.held_here()]

        def restored(self, sid: str, rooms: Any, namespace: str) -> None:
            """Recovery gave ``sid`` back to its client: report it as
            connected, as InstrumentedServer's manager ``connect`` wrapper
            does for a new socket (only needed where that wrapper is the
            report, :data:`REPORTS_FROM_MANAGER`)."""
            manager = self.sio.manager
            eio_sid = manager.eio_sid_from_sid(sid, namespace)
            if eio_sid is None:     # gone again already
                return
            now = time.time()
            manager._timestamps[sid] = now
            self.sio.emit("socket_connected", (
                self.serialize_socket(sid, namespace, eio_sid),
                datetime.fromtimestamp(now, timezone.utc).replace(
                    tzinfo=None).isoformat() + "Z"),
                namespace=self.admin_namespace)

        if REPORTS_FROM_MANAGER:
            def _disconnect(self, sid: str, namespace: str,
                            **kwargs: Any) -> Any:
                # A restored socket that :meth:`restored` did not reach
                # (another namespace, the production mode) has no
                # timestamp: InstrumentedServer's ``del`` would raise.
                self.sio.manager._timestamps.setdefault(sid, 0)
                return super()._disconnect(sid, namespace, **kwargs)

        if EIO_DISCONNECT_LOSES_REASON:
            def _handle_eio_disconnect(self, eio_sid: str,
                                       reason: Any = None) -> Any:
                # InstrumentedServer's, with the reason passed on (5.12.1's).
                self.event_buffer.push("rawDisconnection")
                return self.sio._handle_eio_disconnect(eio_sid, reason)

        def member_changed(self, sid: str) -> None:
            namespace = self.state.rooms.namespace
            self.sio.emit("socket_updated", {
                "id": sid, "nsp": namespace,
                "data": self.socket_data(sid, namespace)},
                namespace=self.admin_namespace)

        def held(self, sid: str, rooms: Any, namespace: str) -> None:
            """Recovery holds ``sid``: tell the admins once it is on hold
            (the callback runs just before; a task runs after it)."""
            self.sio.start_background_task(self._report_held, sid, namespace)

        def _report_held(self, sid: str, namespace: str) -> None:
            session = self.state.recovery.held.holding(sid, namespace)
            if session is None:     # already back, or gone
                return
            update = self.held_socket(session)
            self.sio.emit("socket_updated", {
                key: update[key] for key in ("id", "nsp", "transport",
                                             "data")},
                namespace=self.admin_namespace)

    return RtcioInstrumentedServer
