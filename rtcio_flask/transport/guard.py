"""HTTP-level checks in front of Engine.IO, before python-engineio parses a
request: websocket upgrades without compression, and long-polling POSTs
that would hold a greenlet or log a traceback refused at once.
"""

import base64
import io
import logging
from typing import Any, Callable, Dict, Iterable, List, Optional

logger = logging.getLogger("rtcio_flask")


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
    """

    def __init__(self, app, server):
        self.app = app
        self.eio = server.eio

    def __call__(self, environ: Dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
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
                           environ.get("REMOTE_ADDR"), problem)
            return _refuse(start_response, "400 Bad Request",
                           problem.encode())
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


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


def polling_payload_problem(body, max_packets=16):
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
        if not packet or packet[0] not in _CLIENT_PACKET_TYPES:
            return "not an Engine.IO packet a client may send"
        if packet[0] == "b":
            try:
                base64.b64decode(packet[1:], validate=True)
            except ValueError:
                return "invalid base64 binary packet"
    return None


def _refuse(start_response, status, body):
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body))),
                            ("Connection", "close")])
    return [body]
