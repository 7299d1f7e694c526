"""Per-connection event limits: size caps, a rate limit, and disconnecting
sockets that keep abusing.

A signaling server is on the open internet: one client flooding events or
sending junk must not slow or break anyone else. The checks sit on the raw
Engine.IO message, before python-socketio decodes any JSON or spawns a
handler, so junk costs as little as possible and unknown events (which never
reach a handler) are limited too. This module is the pure part (it knows
nothing of socket.io); the glue that feeds it raw messages is
:class:`rtcio_flask.transport.packet_hook.PacketHook`.

Rooms-per-socket and members-per-room caps belong to the rooms feature
(:mod:`rtcio_flask.rooms`); this module owns only event-level limits.
"""

import time
from dataclasses import dataclass, fields, replace
from typing import (Any, Callable, Dict, Hashable, Mapping, Optional, Set,
                    Union, cast)

from .values import UNSET, Number, pick, positive_number

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

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now: float, amount: float = 1.0) -> bool:
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
    limit off; ``Limits(enabled=False)`` switches all of them off.

    Fields:

    - ``rate``: events a second one connection may send on average (50).
    - ``burst``: events it may send at once above the rate, the bucket
      size (100); required whenever ``rate`` is set.
    - ``max_event_bytes``: largest raw event, in bytes (128 KiB).
    - ``disconnect_after``: dropped events (forgiven at ``rate`` a second)
      before the connection is closed (250).
    - ``max_attachments``: binary attachments one event may announce (10).
    - ``enabled``: False switches every limit off.
    """

    rate: Optional[float] = DEFAULT_RATE
    burst: Optional[int] = DEFAULT_BURST
    max_event_bytes: Optional[int] = DEFAULT_MAX_EVENT_BYTES
    disconnect_after: Optional[int] = DEFAULT_DISCONNECT_AFTER
    max_attachments: Optional[int] = DEFAULT_MAX_ATTACHMENTS
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


def _number(value: Any, name: str, where: str,
            whole: bool) -> Optional[Number]:
    if value is None:
        return None
    return positive_number(value, f"{where}: {name}", whole=whole,
                           hint=" (or None to switch it off)")


def build_limits(value: Union[None, bool, Limits, Dict[str, Any]] = None,
                 where: str = "RTCIO(limits=...)",
                 **overrides: Any) -> Limits:
    """Turn the ``limits`` option into a :class:`Limits`.

    Accepts None (defaults), False (all off), True, a :class:`Limits`, or a
    dict with the field names. ``overrides`` (from ``app.config`` keys) fill
    in what the dict leaves out.
    """
    if value is False:
        return Limits(enabled=False)
    if value is None or value is True:
        base = Limits()
        given: Dict[str, Any] = {}
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


def resolve_limits(config: Mapping[str, Any],
                   given: Union[None, bool, Limits, Dict[str, Any]] = None
                   ) -> Limits:
    """``RTCIO(limits=...)`` wins over ``app.config['RTCIO_LIMITS']``, which
    wins over the single keys such as ``RTCIO_RATE_LIMIT``."""
    overrides = {field: config[key] for key, field in CONFIG_KEYS.items()
                 if key in config}
    found = pick("limits", UNSET if given is None else given, config,
                 default=None)
    return build_limits(found.value, found.where or "app.config",
                        **overrides)


class _Meter:
    """What the limiter remembers about one connection."""

    __slots__ = ("bucket", "strikes", "logged", "skip", "closing")

    def __init__(self, bucket: Optional[TokenBucket]) -> None:
        self.bucket = bucket
        # Dropped events, forgiven at ``rate`` per second.
        self.strikes: Optional[TokenBucket] = None
        self.logged: Set[str] = set()
        # Binary attachments still to swallow after a dropped header.
        self.skip = 0
        self.closing = False


def _attachment_count(text: str) -> int:
    """Attachments announced by a binary packet header ``5<n>-...``."""
    dash = text.find("-", 1, 12)
    digits = text[1:dash] if dash > 1 else ""
    return int(digits) if digits.isdigit() else 0


class EventLimiter:
    """Decides, per raw message of one connection, whether it may pass.

    Keyed by the Engine.IO session id, so all namespaces of one connection
    share one budget. ``counters`` are totals since start, for metrics.
    """

    def __init__(self, limits: Limits,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._meters: Dict[Hashable, _Meter] = {}
        self.counters = {"passed": 0, "dropped_rate": 0, "dropped_size": 0,
                         "malformed": 0, "disconnected": 0}

    def _meter(self, key: Hashable, now: float) -> _Meter:
        meter = self._meters.get(key)
        if meter is None:
            limits = self.limits
            # build_limits refuses a rate without a burst.
            bucket = (TokenBucket(limits.rate, cast(int, limits.burst), now)
                      if limits.rate is not None else None)
            meter = self._meters[key] = _Meter(bucket)
        return meter

    def forget(self, key: Hashable) -> None:
        """The connection is gone: free its state."""
        self._meters.pop(key, None)

    def check(self, key: Hashable, data: Union[str, bytes],
              in_attachment: bool = False) -> str:
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
        if isinstance(data, str) and data[:1] in ("5", "6"):  # binary header
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

    def _strike(self, meter: _Meter, now: float, verdict: str) -> str:
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

    def _close(self, meter: _Meter) -> str:
        if not meter.closing:
            meter.closing = True
            self.counters["disconnected"] += 1
        return DISCONNECT

    def first_time(self, key: Hashable, what: str) -> bool:
        """True the first time ``what`` happens to this connection, so each
        kind of trouble is logged once per socket, not once per event."""
        meter = self._meters.get(key)
        if meter is None:
            return True
        if what in meter.logged:
            return False
        meter.logged.add(what)
        return True

    def stats(self) -> Dict[str, int]:
        """A copy of the counters plus the number of tracked connections."""
        out = dict(self.counters)
        out["connections"] = len(self._meters)
        return out


#: What each drop verdict means, for the one log line per connection.
REASONS = {
    DROP_RATE: "sends events faster than the rate limit of {rate}/s "
               "(burst {burst}); excess events are dropped "
               "(RTCIO limits: rate, burst)",
    DROP_SIZE: "sent an event over {max_event_bytes} bytes; it was dropped "
               "(RTCIO limits: max_event_bytes)",
}
