"""HTTP-level checks in front of Engine.IO, before python-engineio parses a
request: websocket upgrades without compression, long-polling POSTs that
would hold a greenlet or log a traceback refused at once, and the answers
socket.io's own server gives where python-engineio's differ (see
docs/protocol-fidelity.rst).
"""

import io
import logging
from typing import Any, Callable, Iterable, List, Optional, Tuple

from ..core.eio_requests import (first, is_websocket_request, long_poll_sid,
                                 packet_problem, parse_query,
                                 request_problem)
from ..core.protection import request_address
from .hangup import watcher_for
from .compat.engineio import (TRANSPORT_CLOSE, close_session,
                              ignore_websocket, session_gone, upgrade_taken)
from .sockets import client_socket

logger = logging.getLogger("rtcio_flask")

StartResponse = Callable[..., Any]
Headers = List[Tuple[str, str]]


class TransportGuard:
    """WSGI guard in front of Engine.IO: websocket upgrades without
    compression, and long-polling POSTs checked before python-engineio.

    - Websocket upgrades lose their ``Sec-WebSocket-Extensions`` offer, so
      no permessage-deflate is negotiated, as on the Node server (whose
      ``perMessageDeflate`` is off by default). eventlet and
      simple-websocket would accept it, and then every message is
      compressed (measured: zlib was the largest single cost of a
      connect-and-join storm) and each connection keeps zlib state of its
      own (most of the memory of an idle socket, and growth under traffic).

    - A body declared over ``max_http_buffer_size`` gets ``413`` at once:
      python-engineio refuses it by closing the session and waiting for a
      poll to carry the close packet, so with no poll pending the request
      (a greenlet or thread) is held forever.
    - A body that is not UTF-8 (Engine.IO v4 payloads are text) gets
      ``400``: python-engineio would log a traceback for each one.
    - A chunked body (``Transfer-Encoding: chunked``, no Content-Length) is
      read here, up to the same cap, and handed on with its length:
      python-engineio reads ``CONTENT_LENGTH`` bytes, so it used to see an
      empty body and answer ``200 ok`` with the packets silently lost.

    Protocol fidelity (socket.io's answers, see
    :mod:`rtcio_flask.core.eio_requests`): no or an unknown ``transport``
    and methods other than GET/POST/OPTIONS get ``400``; a request for a
    session that is closed or past its ping timeout gets ``400`` (and the
    timeout is applied now); a second websocket for a session that upgraded
    or is upgrading is accepted and closed at once (1000), as Node does.

    Long-polling GETs: the client socket is watched while the GET waits
    (:mod:`.hangup`), and a client that hangs up ends its session at once;
    a GET ended by the session closing answers a noop packet (``6``) as
    socket.io's does, not an empty body.
    """

    def __init__(self, app: Any, server: Any) -> None:
        self.app = app
        self.eio = server.eio
        self.hangups = watcher_for(server.async_mode)

    def __call__(self, environ: dict,
                 start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD") or ""
        query = parse_query(environ.get("QUERY_STRING", ""))
        problem = request_problem(method, query, self.eio.transports)
        if problem:
            logger.info("rtcio: refused a %s request from %s: %s", method,
                        request_address(environ), problem)
            return _refuse(start_response, "400 Bad Request",
                           problem.encode())
        sid = first(query, "sid")
        if sid is not None and method != "OPTIONS":
            if session_gone(self.eio, sid):
                return _refuse(start_response, "400 Bad Request",
                               b"session closed")
            upgrade = environ.get("HTTP_UPGRADE")
            if is_websocket_request(query, upgrade) and \
                    upgrade_taken(self.eio, sid):
                # As Node does: the handshake succeeds and the websocket
                # closes at once; the session and its websocket go on.
                logger.info("rtcio: ignored a second websocket for "
                            "session %s (closed at once)", sid)
                return ignore_websocket(self.eio, environ, start_response)
            if long_poll_sid(method, query, upgrade) is not None:
                return self._long_poll(environ, start_response, sid)
        if method != "POST":
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            return self.app(environ, start_response)
        limit = self.eio.max_http_buffer_size
        if not environ.get("CONTENT_LENGTH") and "chunked" in environ.get(
                "HTTP_TRANSFER_ENCODING", "").lower():
            body = read_chunked(environ["wsgi.input"], limit)
            if body is None:
                logger.warning("rtcio: refused a chunked polling POST over "
                               "%s bytes (max_http_buffer_size)", limit)
                return _refuse(start_response, "413 Payload Too Large",
                               b"payload too large")
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or (limit is not None and length > limit):
                logger.warning("rtcio: refused a polling POST of %s bytes "
                               "(max_http_buffer_size is %s)",
                               environ.get("CONTENT_LENGTH"), limit)
                return _refuse(start_response, "413 Payload Too Large",
                               b"payload too large")
            body = environ["wsgi.input"].read(length) if length else b""
        problem = polling_payload_problem(body)
        if problem:
            logger.warning("rtcio: refused a polling POST from %s: %s",
                           request_address(environ), problem)
            return _refuse(start_response, "400 Bad Request",
                           problem.encode())
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def _long_poll(self, environ: dict, start_response: StartResponse,
                   sid: str) -> Iterable[bytes]:
        """Serve a long-polling GET with the client's socket watched for a
        hang-up until python-engineio returns."""
        cancel = None
        sock = client_socket(environ) if self.hangups is not None else None
        if sock is not None:
            try:
                cancel = self.hangups.watch(  # type: ignore[union-attr]
                    sock, lambda: self._hung_up(sid))
            except (OSError, ValueError):
                cancel = None  # no descriptor (closed, or not a socket)
        captured: List[Any] = []

        def capture(status: str, headers: Headers,
                    exc_info: Any = None) -> Callable[[bytes], None]:
            captured[:] = [status, headers, exc_info]
            return _no_write

        try:
            body = self.app(environ, capture)
        finally:
            if cancel is not None:
                cancel()
        status, headers, exc_info = captured
        if status.startswith("200") and _is_empty(body):
            # The session closed while the GET waited: socket.io answers
            # a noop, and an empty payload is a parse error to its client.
            body = [b"6"]
            headers = [(k, v) for k, v in headers
                       if k.lower() != "content-length"]
        start_response(status, headers, exc_info)
        return body

    def _hung_up(self, sid: str) -> None:
        """The client of a waiting poll hung up (called from the event
        loop or the watcher thread: hand the work to a task)."""
        self.eio.start_background_task(self._end_session, sid)

    def _end_session(self, sid: str) -> None:
        if close_session(self.eio, sid, TRANSPORT_CLOSE):
            logger.debug("rtcio: polling client %s hung up; session "
                         "closed", sid)


def _no_write(data: bytes) -> None:
    raise RuntimeError("python-engineio does not use write()")


def _is_empty(body: Any) -> bool:
    return isinstance(body, list) and all(not chunk for chunk in body)


def read_chunked(stream: Any, limit: Optional[int]) -> Optional[bytes]:
    """A chunked request body, de-chunked by the WSGI server (eventlet,
    gevent and gunicorn all do), read to its end; None once it grows past
    ``limit`` bytes (the rest is left unread: the connection is closed)."""
    parts: List[bytes] = []
    size = 0
    step = 65536 if limit is None else min(65536, limit + 1)
    while True:
        part = stream.read(step)
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if limit is not None and size > limit:
            return None


#: Engine.IO v4 packet types a client may POST that python-engineio
#: handles (close, pong, message, upgrade) plus "b" (base64 binary message).
_CLIENT_PACKET_TYPES = frozenset("1345b")


def polling_payload_problem(body: bytes,
                            max_packets: int = 16) -> Optional[str]:
    """Why python-engineio would choke on this polling payload (it logs a
    traceback, or for unknown packet types closes the session and holds the
    request), or None when it is well-formed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "payload is not UTF-8 text"
    if not text:
        return None
    if text.startswith("d="):
        return "JSONP payloads are not accepted"
    packets = text.split("\x1e")
    if len(packets) > max_packets:
        return f"more than {max_packets} packets in one payload"
    for packet in packets:
        problem = packet_problem(packet, _CLIENT_PACKET_TYPES,
                                 "not an Engine.IO packet a client may send")
        if problem:
            return problem
    return None


def _refuse(start_response: StartResponse, status: str,
            body: bytes) -> List[bytes]:
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body))),
                            ("Connection", "close")])
    return [body]
