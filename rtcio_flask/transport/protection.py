"""Connection-level protection on one app's Engine.IO server: the
per-address session cap (a WSGI layer in front of Engine.IO) and the
outgoing queue caps (backpressure). The numbers and their reasons are in
:mod:`rtcio_flask.core.protection`; the accept-loop caps and header
timeouts of the servers the project starts are in
:mod:`rtcio_flask.transport.serving`.
"""

import logging
import os
import threading
from typing import Any, Callable, Dict, Iterable, Mapping, Optional
from urllib.parse import parse_qs

from ..config import UNSET, pick
from ..core.protection import (ADDRESS_KEY, AddressCounter,
                               ProtectionSettings, build_settings,
                               request_address)
from . import compat
from .compat import engineio as eio_compat

logger = logging.getLogger("rtcio_flask")

#: The options this module takes from ``RTCIO(...)`` / ``init_app(...)``,
#: each also ``app.config["RTCIO_<NAME>"]`` and the ``RTCIO_<NAME>``
#: environment variable.
OPTIONS = ("max_connections_per_address", "trusted_proxy_hops",
           "header_timeout", "keepalive_timeout", "max_queue_bytes",
           "max_queue_packets", "max_connections")


def resolve_protection(config: Mapping[str, Any], opts: Dict[str, Any],
                       environ: Optional[Mapping[str, str]] = None
                       ) -> ProtectionSettings:
    """Take this module's options out of ``opts`` (what is left there goes
    to ``socketio.Server``) and resolve them with
    :func:`rtcio_flask.config.pick`; a bad value is a ValueError naming
    where it came from."""
    environ = os.environ if environ is None else environ
    values: Dict[str, Any] = {}
    where: Dict[str, str] = {}
    for name in OPTIONS:
        given = opts.pop(name) if name in opts else UNSET
        found = pick(name, given, config, environ)
        if found.value is not UNSET:
            values[name] = found.value
            where[name] = str(found.where)
    return build_settings(values, where)


StartResponse = Callable[..., Any]


class SessionCap:
    """WSGI layer in front of Engine.IO: at most
    ``max_connections_per_address`` open Engine.IO sessions (socket.io
    connections) per client address. A new session over the cap gets
    ``429 Too Many Requests`` before Engine.IO does any work, with one
    WARNING per address per episode; requests of existing sessions always
    pass. The count follows Engine.IO's own connect and disconnect events,
    so it holds under any server (gunicorn included)."""

    def __init__(self, app: Callable[..., Any], server: Any,
                 settings: ProtectionSettings) -> None:
        self.app = app
        self.settings = settings
        self.counter = AddressCounter(settings.max_connections_per_address)
        self._lock = threading.Lock()
        self._address_of: Dict[str, str] = {}
        eio = server.eio
        # Read by the queue-overflow warning, to name the client.
        eio._rtcio_addresses = self._address_of
        on_connect = eio.handlers.get("connect")
        on_disconnect = eio.handlers.get("disconnect")

        def connect(eio_sid: str, environ: Dict[str, Any],
                    *args: Any) -> Any:
            address = self.address(environ)
            with self._lock:
                if not self.counter.admit(address):
                    # Several handshakes raced past the WSGI check.
                    self._refused(address)
                    return False
                self._address_of[eio_sid] = address
            if on_connect is None:
                return None
            result = on_connect(eio_sid, environ, *args)
            if result is False:
                self._release(eio_sid)
            return result

        def disconnect(eio_sid: str, *args: Any) -> Any:
            self._release(eio_sid)
            if on_disconnect is not None:
                return on_disconnect(eio_sid, *args)
            return None

        eio.on("connect", connect)
        eio.on("disconnect", disconnect)

    def address(self, environ: Mapping[str, Any]) -> str:
        return request_address(environ, self.settings.trusted_proxy_hops)

    def _release(self, eio_sid: str) -> None:
        with self._lock:
            address = self._address_of.pop(eio_sid, None)
            if address is None:
                return
            ended = self.counter.release(address)
        if ended:
            logger.info("rtcio: %s is under its connection cap again; %d "
                        "new connection(s) were refused", address, ended)

    def _refused(self, address: str) -> None:
        if self.counter.first_refusal(address):
            logger.warning(
                "rtcio: refusing new connections from %s: it already has %d "
                "open (max_connections_per_address=%d; raise it with "
                "RTCIO_MAX_CONNECTIONS_PER_ADDRESS, and behind a proxy set "
                "RTCIO_TRUSTED_PROXY_HOPS)", address,
                self.counter.open.get(address, 0),
                self.settings.max_connections_per_address)

    def __call__(self, environ: Dict[str, Any],
                 start_response: StartResponse) -> Iterable[bytes]:
        # Every layer behind this one (and the socket's handshake environ,
        # which rooms and logins read later) finds the address here.
        environ[ADDRESS_KEY] = self.address(environ)
        if self.counter.cap is not None and \
                "sid" not in parse_qs(environ.get("QUERY_STRING", "")):
            address = self.address(environ)
            with self._lock:
                full = self.counter.open.get(address, 0) >= self.counter.cap
                if full:
                    self.counter.refused[address] = \
                        self.counter.refused.get(address, 0) + 1
            if full:
                self._refused(address)
                body = b"too many connections from this address"
                start_response("429 Too Many Requests", [
                    ("Content-Type", "text/plain"),
                    ("Content-Length", str(len(body))),
                    ("Retry-After", "10"), ("Connection", "close")])
                return [body]
        return self.app(environ, start_response)


def _log_overflow(eio_socket: Any, queued_bytes: int,
                  queued_packets: int) -> None:
    caps = eio_socket.server._rtcio_queue_caps
    addresses = getattr(eio_socket.server, "_rtcio_addresses", {})
    logger.warning(
        "rtcio: closing connection %s from %s: %d packets (%d bytes) wait "
        "to be sent and the client is not reading them (caps: "
        "max_queue_packets=%s, max_queue_bytes=%s)", eio_socket.sid,
        addresses.get(eio_socket.sid, "?"), queued_packets, queued_bytes,
        caps[1], caps[0])
    eio_socket.server.start_background_task(eio_compat.close_overflowed,
                                            eio_socket)


def install_protection(server: Any, settings: ProtectionSettings) -> None:
    """Turn the outgoing queue caps on for ``server``'s Engine.IO sockets."""
    if settings.max_queue_bytes is None and \
            settings.max_queue_packets is None:
        return
    if not compat.enabled("queue_caps"):
        return
    eio_compat.cap_outgoing_queues(_log_overflow)
    server.eio._rtcio_queue_caps = (settings.max_queue_bytes,
                                    settings.max_queue_packets)

