"""Per-connection event limits: size caps, a rate limit, and disconnecting
sockets that keep abusing, plus malformed packets answered without a
traceback.

A signaling server is on the open internet: one client flooding events or
sending junk must not slow or break anyone else. The checks sit on the raw
Engine.IO message, before python-socketio decodes any JSON or spawns a
handler, so junk costs as little as possible and unknown events (which never
reach a handler) are limited too. The pure parts (:class:`TokenBucket`,
:class:`Limits`, :class:`EventLimiter`) know nothing of socket.io; the glue
is :func:`install`.

Rooms-per-socket and members-per-room caps belong to the rooms feature
(:mod:`rtcio_flask.rooms`); this module owns only event-level limits.
"""

import base64
import io
import logging
import time
from dataclasses import dataclass, fields, replace

logger = logging.getLogger("rtcio_flask")

#: The Node docs call 50 events/s per socket comfortable for signaling.
DEFAULT_RATE = 50.0
#: A join plus a full ICE trickle arrives as one burst of 20-60 events.
DEFAULT_BURST = 100
#: Twice the envelope cap, so an oversized envelope is still refused by the
#: relay with its clear ``envelope-too-large`` acknowledgement.
DEFAULT_MAX_EVENT_BYTES = 128 * 1024
#: Dropped events (forgiven at ``rate`` per second) before the socket is
#: disconnected: a client sending at twice the rate lasts about 5 s.
DEFAULT_DISCONNECT_AFTER = 250
#: Binary attachments one event may announce.
DEFAULT_MAX_ATTACHMENTS = 10

#: Verdicts of :meth:`EventLimiter.check`.
PASS, DROP_RATE, DROP_SIZE, DISCONNECT = "pass", "rate", "size", "disconnect"


class TokenBucket:
    """``rate`` tokens a second up to ``capacity``; one token per event.

    Refilled lazily from the clock on each take, so an idle socket costs
    nothing but its four numbers.
    """

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate, capacity, now):
        self.rate = rate
        self.capacity = capacity
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now, amount=1.0):
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        if tokens >= amount:
            self.tokens = tokens - amount
            return True
        self.tokens = tokens
        return False


@dataclass(frozen=True)
class Limits:
    """What one connection may send. ``None`` for a field switches that
    limit off; ``Limits(enabled=False)`` switches all of them off."""

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    disconnect_after: int = DEFAULT_DISCONNECT_AFTER
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS
    enabled: bool = True


_FIELDS = tuple(f.name for f in fields(Limits))

# app.config keys for single limits, as Flask users expect them.
CONFIG_KEYS = {
    "RTCIO_RATE_LIMIT": "rate",
    "RTCIO_RATE_BURST": "burst",
    "RTCIO_MAX_EVENT_BYTES": "max_event_bytes",
    "RTCIO_ABUSE_DISCONNECT_AFTER": "disconnect_after",
    "RTCIO_MAX_ATTACHMENTS": "max_attachments",
}


def _number(value, name, where, whole):
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            pass
    ok_types = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types) \
            or value <= 0:
        kind = "whole number" if whole else "number"
        raise ValueError(f"{where}: {name} must be a positive {kind} (or "
                         f"None to switch it off), not {value!r}.")
    return value


def build_limits(value=None, where="RTCIO(limits=...)", **overrides):
    """Turn the ``limits`` option into a :class:`Limits`.

    Accepts None (defaults), False (all off), True, a :class:`Limits`, or a
    dict with the field names. ``overrides`` (from ``app.config`` keys) fill
    in what the dict leaves out.
    """
    if value is False:
        return Limits(enabled=False)
    if value is None or value is True:
        base = Limits()
        given = {}
    elif isinstance(value, Limits):
        base, given = value, {}
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known keys "
                             f"are {', '.join(_FIELDS)}.")
        base, given = Limits(), dict(value)
    else:
        raise ValueError(f"{where} takes a dict such as {{'rate': 50, "
                         f"'burst': 100}}, a Limits object, or False to "
                         f"switch limits off; not {value!r}.")
    merged = dict(overrides)
    merged.update(given)
    if "enabled" in merged and not isinstance(merged["enabled"], bool):
        raise ValueError(f"{where}: enabled must be True or False.")
    for name in ("burst", "max_event_bytes", "disconnect_after",
                 "max_attachments"):
        if name in merged:
            merged[name] = _number(merged[name], name, where, whole=True)
    if "rate" in merged:
        merged["rate"] = _number(merged["rate"], "rate", where, whole=False)
    limits = replace(base, **merged)
    if limits.rate is not None and limits.burst is None:
        raise ValueError(f"{where}: a rate needs a burst (the bucket size), "
                         f"for example {{'rate': 50, 'burst': 100}}.")
    return limits


def resolve_limits(config, given=None):
    """``RTCIO(limits=...)`` wins over ``app.config['RTCIO_LIMITS']``, which
    wins over the single keys such as ``RTCIO_RATE_LIMIT``."""
    overrides = {field: config[key] for key, field in CONFIG_KEYS.items()
                 if key in config}
    if given is not None:
        return build_limits(given, "RTCIO(limits=...)", **overrides)
    if "RTCIO_LIMITS" in config:
        return build_limits(config["RTCIO_LIMITS"],
                            "app.config['RTCIO_LIMITS']", **overrides)
    return build_limits(None, "app.config", **overrides)


class _Meter:
    """What the limiter remembers about one connection."""

    __slots__ = ("bucket", "strikes", "logged", "skip", "closing")

    def __init__(self, bucket):
        self.bucket = bucket
        # Dropped events, forgiven at ``rate`` per second.
        self.strikes = None
        self.logged = set()
        # Binary attachments still to swallow after a dropped header.
        self.skip = 0
        self.closing = False


def _attachment_count(text):
    """Attachments announced by a binary packet header ``5<n>-...``."""
    dash = text.find("-", 1, 12)
    digits = text[1:dash] if dash > 1 else ""
    return int(digits) if digits.isdigit() else 0


class EventLimiter:
    """Decides, per raw message of one connection, whether it may pass.

    Keyed by the Engine.IO session id, so all namespaces of one connection
    share one budget. ``counters`` are totals since start, for metrics.
    """

    def __init__(self, limits, clock=time.monotonic):
        self.limits = limits
        self.clock = clock
        self._meters = {}
        self.counters = {"passed": 0, "dropped_rate": 0, "dropped_size": 0,
                         "malformed": 0, "disconnected": 0}

    def _meter(self, key, now):
        meter = self._meters.get(key)
        if meter is None:
            limits = self.limits
            bucket = (TokenBucket(limits.rate, limits.burst, now)
                      if limits.rate is not None else None)
            meter = self._meters[key] = _Meter(bucket)
        return meter

    def forget(self, key):
        """The connection is gone: free its state."""
        self._meters.pop(key, None)

    def check(self, key, data, in_attachment=False):
        """The verdict for one raw message ``data`` (str or bytes).

        ``in_attachment`` says the message is a binary attachment of an
        event already let through: it cannot be dropped without corrupting
        the packet stream, so an oversized one disconnects instead.
        """
        limits = self.limits
        now = self.clock()
        meter = self._meter(key, now)
        if meter.closing:
            return DISCONNECT
        size_cap = limits.max_event_bytes
        if meter.skip:
            # The rest of a binary event whose header was dropped.
            meter.skip -= 1
            return self._strike(meter, now, DROP_SIZE if size_cap is not None
                                and len(data) > size_cap else DROP_RATE)
        if in_attachment:
            if size_cap is not None and len(data) > size_cap:
                return self._close(meter)
            self.counters["passed"] += 1
            return PASS
        verdict = PASS
        if size_cap is not None and len(data) > size_cap:
            verdict = DROP_SIZE
        elif meter.bucket is not None and not meter.bucket.take(now):
            verdict = DROP_RATE
        is_binary_header = isinstance(data, str) and data[:1] in ("5", "6")
        if is_binary_header:
            count = _attachment_count(data)
            if limits.max_attachments is not None and \
                    count > limits.max_attachments:
                return self._close(meter)
            if verdict != PASS:
                meter.skip = count
        if verdict == PASS:
            self.counters["passed"] += 1
            return PASS
        return self._strike(meter, now, verdict)

    def _strike(self, meter, now, verdict):
        self.counters["dropped_" + verdict] += 1
        threshold = self.limits.disconnect_after
        if threshold is None:
            return verdict
        if meter.strikes is None:
            rate = self.limits.rate or 1.0
            # ``threshold`` strikes in a row are tolerated; the next one
            # finds the bucket empty.
            meter.strikes = TokenBucket(rate, threshold, now)
        if not meter.strikes.take(now):
            return self._close(meter)
        return verdict

    def _close(self, meter):
        if not meter.closing:
            meter.closing = True
            self.counters["disconnected"] += 1
        return DISCONNECT

    def first_time(self, key, what):
        """True the first time ``what`` happens to this connection, so each
        kind of trouble is logged once per socket, not once per event."""
        meter = self._meters.get(key)
        if meter is None:
            return True
        if what in meter.logged:
            return False
        meter.logged.add(what)
        return True

    def stats(self):
        """A copy of the counters plus the number of tracked connections."""
        out = dict(self.counters)
        out["connections"] = len(self._meters)
        return out


# -- glue: python-socketio ----------------------------------------------------

_REASONS = {
    DROP_RATE: "sends events faster than the rate limit of {rate}/s "
               "(burst {burst}); excess events are dropped "
               "(RTCIO limits: rate, burst)",
    DROP_SIZE: "sent an event over {max_event_bytes} bytes; it was dropped "
               "(RTCIO limits: max_event_bytes)",
}


class MalformedPacket(ValueError):
    """A socket.io packet that decodes but breaks the protocol's shape."""


def _check_shapes(server):
    """Check decoded packets the way socket.io's own parser does before
    python-socketio acts on them: an event is a non-empty list starting
    with its name (a string), an ack a list, a connect payload an object.
    Otherwise python-socketio fails later, in a spawned task, with a
    traceback per packet."""
    handle_event = server._handle_event
    handle_ack = server._handle_ack
    handle_connect = server._handle_connect

    def checked_event(eio_sid, namespace, id, data):
        if data.__class__ is not list or not data or \
                data[0].__class__ is not str:
            raise MalformedPacket("an event must be a list starting with "
                                  "its name")
        return handle_event(eio_sid, namespace, id, data)

    def checked_ack(eio_sid, namespace, id, data):
        if not isinstance(data, list):
            raise MalformedPacket("an acknowledgement must be a list")
        return handle_ack(eio_sid, namespace, id, data)

    def checked_connect(eio_sid, namespace, data):
        if data is not None and not isinstance(data, dict):
            raise MalformedPacket("a connect payload must be an object")
        return handle_connect(eio_sid, namespace, data)

    server._handle_event = checked_event
    server._handle_ack = checked_ack
    server._handle_connect = checked_connect


def _is_packet_error(exc):
    """Whether an exception came from decoding a malformed socket.io packet
    (rather than from a handler, whose bugs keep their traceback)."""
    if isinstance(exc, MalformedPacket):
        return True
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return False
    filename = last.tb_frame.f_code.co_filename.replace("\\", "/")
    if filename.endswith("/socketio/packet.py") or \
            "/json/" in filename or filename.endswith("/engineio/json.py"):
        return True
    # python-socketio's own dispatch of a structurally wrong packet:
    # data[0] on a non-list, an unknown packet type, a stray attachment.
    return filename.endswith("/socketio/server.py") and isinstance(
        exc, (ValueError, TypeError, KeyError, IndexError, AttributeError))


def install(server, limits):
    """Put an :class:`EventLimiter` in front of python-socketio's Engine.IO
    message handler on ``server`` and return it.

    Malformed packets (which python-socketio would log with a traceback per
    packet) are logged once per connection and close that connection, as
    the Node server does.
    """
    limiter = EventLimiter(limits)
    _check_shapes(server)
    original = server.eio.handlers.get("message", server._handle_eio_message)
    binary_pending = server._binary_packet
    enabled = limits.enabled

    def disconnect_later(eio_sid):
        server.start_background_task(_safe_disconnect, server, eio_sid)

    def log_once(eio_sid, what, message, *args):
        if limiter.first_time(eio_sid, what):
            logger.warning(message, *args)

    # prefix -> callable(eio_sid, text) -> bool: packets a feature handles
    # itself, straight from the raw text (the relay, see protocol.py).
    fast_paths = {}

    def on_message(eio_sid, data):
        if enabled:
            verdict = limiter.check(eio_sid, data, eio_sid in binary_pending)
            if verdict != PASS:
                if verdict == DISCONNECT:
                    log_once(eio_sid, DISCONNECT,
                             "rtcio: disconnecting %s: it kept exceeding the "
                             "event limits", eio_sid)
                    disconnect_later(eio_sid)
                else:
                    log_once(eio_sid, verdict, "rtcio: connection %s %s",
                             eio_sid, _REASONS[verdict].format(
                                 **limits.__dict__))
                return None
        if fast_paths and data.__class__ is str and \
                eio_sid not in binary_pending:
            for prefix, handle in fast_paths.items():
                if data.startswith(prefix) and handle(eio_sid, data):
                    return None
        try:
            return original(eio_sid, data)
        except Exception as exc:
            if not _is_packet_error(exc):
                raise
            limiter.counters["malformed"] += 1
            binary_pending.pop(eio_sid, None)
            log_once(eio_sid, "malformed",
                     "rtcio: closing %s: malformed socket.io packet (%s: %s)",
                     eio_sid, type(exc).__name__, str(exc)[:200])
            disconnect_later(eio_sid)
            return None

    original_disconnect = server.eio.handlers.get(
        "disconnect", server._handle_eio_disconnect)

    def on_disconnect(eio_sid, *args):
        try:
            return original_disconnect(eio_sid, *args)
        finally:
            limiter.forget(eio_sid)

    on_message.fast_paths = fast_paths
    server.eio.on("message", on_message)
    server.eio.on("disconnect", on_disconnect)
    return limiter


def _safe_disconnect(server, eio_sid):
    try:
        server.eio.disconnect(eio_sid)
    except Exception:  # already gone: nothing left to close
        logger.debug("rtcio: %s was already closed", eio_sid)


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
    """

    def __init__(self, app, server):
        self.app = app
        self.eio = server.eio

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST":
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = self.eio.max_http_buffer_size
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
