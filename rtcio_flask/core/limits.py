"""Per-connection event limits: size caps, a rate limit, and disconnecting
sockets that keep abusing.

A signaling server is on the open internet: one client flooding events or
sending junk must not slow or break anyone else. The checks sit on the raw
Engine.IO message, before python-socketio decodes any JSON or spawns a
handler, so junk costs as little as possible and unknown events (which never
reach a handler) are limited too. This module is the pure part (it knows
nothing of socket.io); the glue that feeds it raw messages is
:class:`rtcio_flask.transport.packet_hook.PacketHook`.

The model (docs/limits.rst has the numbers): a member of a WebRTC mesh
sends about 9 ``#rtcio:message`` envelopes per peer when it joins (one SDP,
~8 ICE candidates), so what a legitimate client sends grows with the number
of peers it has, while everything else it sends does not. Each connection
therefore has two buckets: one for relay envelopes whose size and refill
grow with its peer count (``burst + peer_burst * peers`` at ``rate +
peer_rate * peers`` a second), told by the glue through a ``peers``
callable, and one flat bucket for every other event. Each relay reaches one
target, so the bigger relay budget amplifies nothing.

Rooms-per-socket and members-per-room caps belong to the rooms feature
(:mod:`rtcio_flask.rooms`); this module owns only event-level limits.
"""

import time
from dataclasses import dataclass, fields, replace
from typing import (Any, Callable, Dict, Hashable, Mapping, Optional, Set,
                    Union)

from .decoding import DEFAULT_MAX_DEPTH
from .events import RtcioEvents
from .options import check_known
from .values import UNSET, Number, pick, positive_number

#: The Node docs call 50 events/s per socket comfortable for signaling.
DEFAULT_RATE = 50.0
#: Events a connection with no peers may send at once (a join plus a whole
#: ICE trickle to one peer is 10-20).
DEFAULT_BURST = 100
#: Extra relay envelopes one peer adds to the burst: 1 SDP + ~8 candidates
#: at join, twice over for an ICE restart or renegotiation.
DEFAULT_PEER_BURST = 20
#: Extra relay envelopes per second one peer adds to the sustained rate.
DEFAULT_PEER_RATE = 2.0
#: Twice the envelope cap, so an oversized envelope is still refused by the
#: relay with its clear ``envelope-too-large`` acknowledgement.
DEFAULT_MAX_EVENT_BYTES = 128 * 1024
#: Dropped events (forgiven at ``rate / 2`` per second) before the socket is
#: disconnected: a peerless client sending at twice the rate lasts ~12 s.
DEFAULT_DISCONNECT_AFTER = 250
#: A connection's peer count is asked again at most this often (seconds)
#: unless the glue says rooms changed (:meth:`EventLimiter.peers_changed`).
PEER_RECOUNT_SECONDS = 1.0
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

    def resize(self, rate: float, capacity: float, now: float) -> None:
        """New rate and capacity from ``now`` on; a bigger capacity comes
        with its extra tokens (each new peer brings its own budget)."""
        tokens = min(self.capacity,
                     self.tokens + (now - self.stamp) * self.rate)
        if capacity > self.capacity:
            tokens += capacity - self.capacity
        self.tokens = min(tokens, capacity)
        self.rate, self.capacity, self.stamp = rate, capacity, now


@dataclass(frozen=True)
class Limits:
    """What one connection may send. ``None`` for a field switches that
    limit off; ``Limits(enabled=False)`` switches all of them off.

    Fields:

    - ``rate``: events a second one connection may send on average (50).
    - ``burst``: events it may send at once above the rate, the bucket
      size (100); required whenever ``rate`` is set.
    - ``peer_burst``: relay envelopes (``#rtcio:message``) each room mate
      adds to the relay bucket's size (20), and ``peer_rate`` to its rate
      a second (2): a member of a full room may signal to every peer.
    - ``max_event_bytes``: largest raw event, in bytes (128 KiB).
    - ``disconnect_after``: dropped events (forgiven at ``rate / 2`` a
      second) before the connection is closed (250).
    - ``max_attachments``: binary attachments one event may announce (10).
    - ``max_depth``: deepest JSON nesting accepted (32); cannot be off.
    - ``enabled``: False switches every limit off.
    """

    rate: Optional[float] = DEFAULT_RATE
    burst: Optional[int] = DEFAULT_BURST
    #: Relay envelopes (``#rtcio:message``) each peer adds to the burst...
    peer_burst: Optional[int] = DEFAULT_PEER_BURST
    #: ... and to the rate (per second).
    peer_rate: Optional[float] = DEFAULT_PEER_RATE
    max_event_bytes: Optional[int] = DEFAULT_MAX_EVENT_BYTES
    disconnect_after: Optional[int] = DEFAULT_DISCONNECT_AFTER
    max_attachments: Optional[int] = DEFAULT_MAX_ATTACHMENTS
    #: Deepest JSON nesting accepted; deeper packets close the connection
    #: as malformed (see :mod:`.decoding`). Cannot be switched off.
    max_depth: int = DEFAULT_MAX_DEPTH
    enabled: bool = True


_FIELDS = tuple(f.name for f in fields(Limits))

# app.config keys for single limits, as Flask users expect them.
CONFIG_KEYS = {
    "RTCIO_RATE_LIMIT": "rate",
    "RTCIO_RATE_BURST": "burst",
    "RTCIO_MAX_EVENT_BYTES": "max_event_bytes",
    "RTCIO_ABUSE_DISCONNECT_AFTER": "disconnect_after",
    "RTCIO_MAX_ATTACHMENTS": "max_attachments",
    "RTCIO_PEER_BURST": "peer_burst",
    "RTCIO_PEER_RATE": "peer_rate",
    "RTCIO_MAX_DEPTH": "max_depth",
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
    given: Dict[str, Any]
    if value is None or value is True:
        base = Limits()
        given = {}
    elif isinstance(value, Limits):
        base, given = value, {}
    elif isinstance(value, dict):
        check_known(value, _FIELDS, where, what="key")
        base, given = Limits(), dict(value)
    else:
        raise ValueError(f"{where} takes a dict such as {{'rate': 50, "
                         f"'burst': 100}}, a Limits object, or False to "
                         f"switch limits off; not {value!r}.")
    merged = dict(overrides)
    merged.update(given)
    if "enabled" in merged and not isinstance(merged["enabled"], bool):
        raise ValueError(f"{where}: enabled must be True or False.")
    for name in ("burst", "peer_burst", "max_event_bytes",
                 "disconnect_after", "max_attachments"):
        if name in merged:
            merged[name] = _number(merged[name], name, where, whole=True)
    for name in ("rate", "peer_rate"):
        if name in merged:
            merged[name] = _number(merged[name], name, where, whole=False)
    if "max_depth" in merged:
        if merged["max_depth"] is None:
            raise ValueError(f"{where}: max_depth cannot be switched off "
                             f"(deeper JSON crashes the decoder); give a "
                             f"number such as {DEFAULT_MAX_DEPTH}.")
        merged["max_depth"] = positive_number(
            merged["max_depth"], f"{where}: max_depth", whole=True)
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

    __slots__ = ("bucket", "relays", "peers", "generation", "counted_at",
                 "strikes", "logged", "skip", "closing")

    def __init__(self, bucket: Optional[TokenBucket],
                 relays: Optional[TokenBucket], now: float) -> None:
        self.bucket = bucket
        # Relay envelopes: sized by the peer count last asked.
        self.relays = relays
        self.peers = 0
        self.generation = -1
        self.counted_at = now
        # Dropped events, forgiven at ``rate / 2`` per second.
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
    share one budget. ``peers(key)`` says how many peers a connection has
    (the glue counts its room mates); it is asked only when the relay
    bucket runs dry, at most once per :data:`PEER_RECOUNT_SECONDS` unless
    :meth:`peers_changed` was called since. ``counters`` are totals since
    start, for metrics.
    """

    def __init__(self, limits: Limits,
                 clock: Callable[[], float] = time.monotonic,
                 peers: Optional[Callable[[Any], int]] = None) -> None:
        self.limits = limits
        self.clock = clock
        self.peers = peers
        self.generation = 0
        self._meters: Dict[Hashable, _Meter] = {}
        self.counters = {"passed": 0, "dropped_rate": 0, "dropped_size": 0,
                         "malformed": 0, "disconnected": 0}

    def _meter(self, key: Hashable, now: float) -> _Meter:
        meter = self._meters.get(key)
        if meter is None:
            limits = self.limits
            bucket = relays = None
            if limits.rate is not None and limits.burst is not None:
                bucket = TokenBucket(limits.rate, limits.burst, now)
                relays = TokenBucket(limits.rate, limits.burst, now)
            meter = self._meters[key] = _Meter(bucket, relays, now)
        return meter

    def peers_changed(self) -> None:
        """Some connection's peers changed (a join or a leave): dry relay
        buckets ask their peer count again at once."""
        self.generation += 1

    def _take_relay(self, key: Hashable, meter: _Meter, now: float) -> bool:
        bucket = meter.relays
        assert bucket is not None
        if bucket.take(now):
            return True
        if self.peers is None or (
                meter.generation == self.generation and
                now - meter.counted_at < PEER_RECOUNT_SECONDS):
            return False
        meter.generation = self.generation
        meter.counted_at = now
        peers = self.peers(key)
        if peers != meter.peers:
            meter.peers = peers
            limits = self.limits
            assert limits.rate is not None and limits.burst is not None
            bucket.resize(limits.rate + (limits.peer_rate or 0.0) * peers,
                          limits.burst + (limits.peer_burst or 0) * peers,
                          now)
        return bucket.take(now)

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
        elif meter.bucket is not None:
            if _is_relay(data):
                if not self._take_relay(key, meter, now):
                    verdict = DROP_RATE
            elif not meter.bucket.take(now):
                verdict = DROP_RATE
        if isinstance(data, str) and data[:1] in ("5", "6"):
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
            # Forgiven at half the base rate, so a client sending at twice
            # its allowance (dropping as much as passes) is still cut off.
            rate = (self.limits.rate or 2.0) / 2
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
        meter = self._meter(key, self.clock())
        if what in meter.logged:
            return False
        meter.logged.add(what)
        return True

    def stats(self) -> Dict[str, int]:
        """A copy of the counters plus the number of tracked connections."""
        out = dict(self.counters)
        out["connections"] = len(self._meters)
        return out


_RELAY_PREFIX = f'2["{RtcioEvents.MESSAGE}",'
_RELAY_NAME = f'["{RtcioEvents.MESSAGE}",'


def _is_relay(data: Union[str, bytes]) -> bool:
    """A raw ``#rtcio:message`` event packet (on any namespace)."""
    if data.__class__ is not str:
        return False
    assert isinstance(data, str)
    if data.startswith(_RELAY_PREFIX):
        return True
    if data[:2] != "2/":
        return False
    comma = data.find(",", 2, 200)
    return comma > 0 and data.startswith(_RELAY_NAME, comma + 1)


#: What each drop verdict means, for the one log line per connection.
REASONS = {
    DROP_RATE: "sends events faster than the rate limit of {rate}/s "
               "(burst {burst}; relay envelopes: plus {peer_rate}/s and "
               "{peer_burst} per peer); excess events are dropped "
               "(RTCIO limits: rate, burst, peer_rate, peer_burst)",
    DROP_SIZE: "sent an event over {max_event_bytes} bytes; it was dropped "
               "(RTCIO limits: max_event_bytes)",
}
