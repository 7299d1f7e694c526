"""What an Engine.IO HTTP request is, decided from its method and query
string alone, the way socket.io's own server decides it.

Pure (no I/O): :mod:`rtcio_flask.transport.guard` asks these questions of
every request under the socket.io path before python-engineio sees it, so
the answers match the socket.io protocol test suite
(socketio/socket.io-protocol, test-suite/) where python-engineio differs:

- a request without a ``transport`` (python-engineio assumes polling) or with
  one the server does not offer gets 400;
- a method other than GET, POST and OPTIONS gets 400 (python-engineio
  answers 405).
"""

import base64
import binascii
from typing import Dict, Iterable, List, Optional
from urllib.parse import parse_qs

#: The methods Engine.IO uses: GET (handshake, long-poll, websocket),
#: POST (polling data) and OPTIONS (CORS preflights, answered in front).
ENGINEIO_METHODS = frozenset(["GET", "POST", "OPTIONS"])

Query = Dict[str, List[str]]


def parse_query(query_string: str) -> Query:
    """The query string as python-engineio parses it."""
    return parse_qs(query_string or "")


def first(query: Query, name: str) -> Optional[str]:
    """The first value of ``name`` in the query, or None."""
    values = query.get(name)
    return values[0] if values else None


def request_problem(method: str, query: Query,
                    transports: Iterable[str]) -> Optional[str]:
    """Why socket.io's server would answer this request with 400, when
    python-engineio would not; None when the request may go on.

    OPTIONS is left alone: a CORS preflight is answered by the gate before
    this, and a bare OPTIONS is harmless.
    """
    if method not in ENGINEIO_METHODS:
        return f"method {method} is not used by Engine.IO"
    if method == "OPTIONS":
        return None
    transport = first(query, "transport")
    if transport is None:
        return "the transport query parameter is missing"
    if transport not in transports:
        return f"unknown transport {transport[:40]!r}"
    return None


def long_poll_sid(method: str, query: Query,
                  upgrade: Optional[str]) -> Optional[str]:
    """The Engine.IO session id of a long-polling GET (one that may wait
    for packets), or None for every other request (handshakes, POSTs,
    websocket upgrades)."""
    if method != "GET" or upgrade:
        return None
    if first(query, "transport") != "polling":
        return None
    return first(query, "sid")


def is_websocket_request(query: Query, upgrade: Optional[str]) -> bool:
    """A websocket handshake (``transport=websocket`` with an ``Upgrade:
    websocket`` header)."""
    return (first(query, "transport") == "websocket"
            and (upgrade or "").lower() == "websocket")


def advertised_ping_interval_ms(interval: float, grace: float = 0) -> int:
    """The handshake's ``pingInterval`` in milliseconds for an interval in
    seconds (plus python-engineio's grace period), rounded, never truncated:
    python-engineio writes ``int(interval + grace) * 1000``, which is 0 for
    0.3 s, and a client told 0 gives up on the server after pingTimeout."""
    return int(round((interval + grace) * 1000))


def packet_problem(packet: str, types: Iterable[str], not_a_packet: str
                   ) -> Optional[str]:
    """Why python-engineio could not decode one Engine.IO text packet (it
    would log a traceback, or close the session and hold a request), or
    None: empty, a type outside ``types`` (``not_a_packet`` says so in the
    caller's terms), or a ``b`` packet that is not base64."""
    if not packet or packet[0] not in types:
        return not_a_packet
    if packet[0] == "b":
        try:
            base64.b64decode(packet[1:], validate=True)
        except (binascii.Error, ValueError):
            return "invalid base64 binary packet"
    return None
