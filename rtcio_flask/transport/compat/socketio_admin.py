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
  and ``sio`` are read.

Outside the verified range (:func:`admin_extras` false, one WARNING)
:mod:`rtcio_flask.deploy.admin` uses python-socketio's public
``server.instrument()`` alone: the UI works, without the names, the held
sessions, the login throttle, the after-login socket list and the
admins-only room.
"""

import logging
import time
from typing import Any, Dict, List, Mapping

from ...core.throttle import AttemptThrottle, guesser_key
from . import enabled

logger = logging.getLogger("rtcio_flask")

#: The python-socketio room of the admin sockets that logged in: the UI's
#: reports go there instead of to the whole admin namespace.
ADMITTED_ROOM = "rtcio:admin:admitted"

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
