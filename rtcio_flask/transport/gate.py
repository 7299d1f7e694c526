"""The WSGI layer in front of the Flask app: requests under the socket.io
path go to python-socketio through the origin check; everything else goes to
the app untouched.

This is the one place CORS headers are written for ``/socket.io/``.
python-engineio's own CORS handling is switched off for servers RTCIO
manages, and any ``Access-Control-*`` header from below is dropped, so a
response can never carry two ``Access-Control-Allow-Origin`` headers. The
app's own routes never pass through here, so flask-cors (or nothing) stays
in charge of them.
"""

import gc
import json
import logging
import os
import socket
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List,
                    Mapping, Optional, Set, Tuple)
from urllib.parse import parse_qs

from ..core.origins import Decision, same_origins
from ..core.values import pick, strict_flag
from .sockets import adapt_environ, client_socket

if TYPE_CHECKING:
    from ..core.origins import OriginPolicy

logger = logging.getLogger("rtcio_flask")

#: The WSGI shapes, spelled out here (wsgiref.types is Python 3.11+).
Environ = Dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Headers = List[Tuple[str, str]]

#: The WSGI environ key of a request let through only because it comes
#: from the server's own origin (see ``SocketIOGate.own_origin_namespace``).
OWN_ORIGIN_ONLY = "rtcio.own_origin_only"

# How many distinct refused origins get a WARNING line before later ones are
# logged at DEBUG; bounds log volume when someone sprays random origins.
_MAX_LOGGED_ORIGINS = 1000


def _set_nodelay(environ: Environ) -> None:
    """Turn off Nagle's algorithm on the client's TCP connection.

    Signaling sends bursts of small packets (user-connected followed by
    init-offer); with Nagle on, the second waits for the peer's delayed ACK,
    about 40 ms. Node sets TCP_NODELAY on every socket; WSGI servers differ.
    """
    sock = client_socket(environ)
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not TCP (unix socket), or already closed


#: Whether this process's heap has been frozen (``gc.freeze`` is per
#: process, however many apps or gates it serves).
_heap_frozen = False


def freeze_heap_once() -> bool:
    """Collect once, then move every object alive to the collector's
    permanent generation (``gc.freeze``), the first time this process is
    asked; returns whether it froze now.

    Why: a server's heap at its first socket.io request is mostly what lives
    as long as the process (modules, the app, python-socketio's and
    RTCIO's state: about 100,000 tracked objects under ``gunicorn -k
    eventlet``), and every full collection walks all of it. Under a connect
    storm each connection leaves objects that outlive the young
    generations, so a full collection ran every storm or two (40-160 ms of
    the 330-450 ms of CPU a 200-pair storm takes). Frozen, full collections
    walk only what came later. Objects frozen here are never collected by
    the cyclic collector, even if they become unreachable later; what was
    garbage is collected first. ``gc_freeze=False`` leaves the collector
    alone."""
    global _heap_frozen
    if _heap_frozen:
        return False
    _heap_frozen = True
    gc.collect()
    gc.freeze()
    return True


def resolve_gc_freeze(given: Any, config: Mapping[str, Any],
                      environ: Optional[Mapping[str, str]] = None) -> bool:
    """The ``gc_freeze`` setting: argument, ``app.config["RTCIO_GC_FREEZE"]``
    or environment variable ``RTCIO_GC_FREEZE``; on by default."""
    found = pick("gc_freeze", given, config,
                 os.environ if environ is None else environ, default=True)
    return strict_flag(found.value, found.where or "gc_freeze")


def _drop_cors_headers(headers: Headers) -> Headers:
    return [(k, v) for k, v in headers
            if not k.lower().startswith("access-control-")]


class SocketIOGate:
    """WSGI middleware routing ``/<path>/`` to socket.io behind the origin
    policy, and every other request to ``wrapped`` (the Flask app)."""

    def __init__(self, socketio_app: WSGIApp, wrapped: WSGIApp, path: str,
                 policy: "OriginPolicy") -> None:
        self.socketio_app = socketio_app
        self.wrapped = wrapped
        self.prefix = "/" + path.strip("/")
        self.policy = policy
        self._logged_origins: Set[Tuple[Optional[str], str]] = set()
        #: Refused requests since start (read by the metrics).
        self.refused = 0
        #: The one namespace the server's own origin may still open when
        #: the policy leaves that origin out (the Admin UI's page, served
        #: by the app itself: :mod:`rtcio_flask.deploy.admin`); None: no
        #: exception. Such a request is let through with
        #: ``environ[OWN_ORIGIN_ONLY]`` set to its origin, and its CONNECT
        #: to any other namespace is refused there.
        self.own_origin_namespace: Optional[str] = None
        #: ``mark(eio_sid, origin) -> bool``: the same for the Engine.IO
        #: session a later request names (its ``sid``): a same-origin
        #: page's polling handshake (a GET) carries no Origin at all, its
        #: CONNECT (a POST, or the websocket) does. False: the session is
        #: on another namespace already, and the request is refused.
        self.mark_session: Optional[Callable[[str, str], bool]] = None
        #: Freeze the process's heap at the first socket.io request
        #: (:func:`freeze_heap_once`; the ``gc_freeze`` option).
        self.freeze_gc = False

    def handles(self, path_info: str) -> bool:
        return path_info == self.prefix or path_info.startswith(
            self.prefix + "/")

    def __call__(self, environ: Environ,
                 start_response: StartResponse) -> Iterable[bytes]:
        if not self.handles(environ.get("PATH_INFO", "")):
            return self.wrapped(environ, start_response)
        adapt_environ(environ)
        _set_nodelay(environ)
        if self.freeze_gc:
            self.freeze_gc = False
            freeze_heap_once()
        policy = self.policy
        if not policy.enabled:
            return self.socketio_app(environ, start_response)

        origin = environ.get("HTTP_ORIGIN")
        decision = policy.check(origin, environ)
        credentials = policy.drops_credentials(origin, environ)
        if not decision.allowed and self.own_origin_namespace is not None \
                and origin is not None \
                and origin.lower() in same_origins(environ) \
                and self._own_origin_only(environ, origin):
            # Never with credentials: cookies from the own origin are
            # same-origin ones (drops_credentials is False for them).
            decision = Decision(True)
        if not decision.allowed or credentials:
            reason = None if decision.allowed else decision.reason
            return self._refuse(origin, reason, credentials, start_response)

        if (environ.get("REQUEST_METHOD") == "OPTIONS"
                and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ):
            headers = policy.preflight_headers(
                origin, environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"))
            start_response("204 No Content", headers)
            return [b""]

        cors_headers = policy.headers(origin)
        if not cors_headers:
            return self.socketio_app(environ, start_response)

        def start_with_cors(status: str, headers: Headers,
                            exc_info: Any = None) -> Any:
            return start_response(
                status, _drop_cors_headers(headers) + cors_headers, exc_info)

        return self.socketio_app(environ, start_with_cors)

    def _own_origin_only(self, environ: Environ, origin: str) -> bool:
        """Let a request of the server's own origin through for the admin
        namespace only; False when it names a session that is on another
        namespace already (opened without an Origin, by a non-browser
        client or an allowed page): that origin must not drive it."""
        environ[OWN_ORIGIN_ONLY] = origin
        sid = parse_qs(environ.get("QUERY_STRING", "")).get("sid")
        if sid and self.mark_session is not None:
            return self.mark_session(sid[0], origin)
        return True

    def _refuse(self, origin: Optional[str], reason: Optional[str],
                credentials: bool,
                start_response: StartResponse) -> List[bytes]:
        """400 with a JSON body naming the cause (origin, credentials or
        both), logged once per origin and cause."""
        self.refused += 1
        error, message = self.policy.refusal(origin, reason, credentials)
        self.log_refusal(origin, error, message)
        body = json.dumps({"error": error, "message": message}).encode()
        start_response("400 Bad Request", [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Vary", "Origin"),
        ])
        return [body]

    def log_refusal(self, origin: Optional[str], error: str,
                    message: str) -> None:
        """A refusal's line: WARNING once per origin and cause, DEBUG for
        repeats and past :data:`_MAX_LOGGED_ORIGINS` origins."""
        if (origin, error) in self._logged_origins or \
                len(self._logged_origins) > _MAX_LOGGED_ORIGINS:
            logger.debug(message)
        elif len(self._logged_origins) == _MAX_LOGGED_ORIGINS:
            # One line says where the rest go (they were all WARNINGs: an
            # origin sprayer wrote one line per request once the set was
            # full).
            self._logged_origins.add((None, "further"))
            logger.warning(
                "rtcio: %d refused origins logged; further refused origins "
                "are logged at DEBUG (logger rtcio_flask)",
                _MAX_LOGGED_ORIGINS)
            logger.debug(message)
        else:
            self._logged_origins.add((origin, error))
            logger.warning(message)
