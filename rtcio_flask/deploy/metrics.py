"""Opt-in Prometheus metrics at ``/metrics`` (``RTCIO(app, metrics=True)``,
``app.config["RTCIO_METRICS"]``, ``RTCIO_METRICS=1``, ``rtcio-flask
--metrics``), with ``prometheus_client`` (extra ``metrics``).

Why it is built this way:

- One registry per app, never prometheus_client's global default registry,
  so two apps in one process (a factory, the test suite) do not clash.
- Most values are read at scrape time from counters that exist anyway (the
  event limiter's, the relay's, the gate's, the rooms store), so the relay's
  hot path pays at most one integer increment whether metrics are on or off.
- Features report through ``state.metrics`` (:class:`NoMetrics` when metrics
  are off: every hook is a no-op), e.g. ``state.metrics.refused("auth")``
  and ``state.metrics.recovered()`` for connection-state recovery.

Metrics are per process: under gunicorn each ``-w 1`` process on its own
port is its own scrape target (see docs/metrics.rst).
"""

import time
from typing import Any, Callable, Dict, Iterator, Optional

from ..config import UNSET, pick
from ..core.values import strict_flag
from .redis_client import pool_counts

#: Where the exposition is served unless ``metrics="/path"`` says otherwise.
DEFAULT_PATH = "/metrics"

#: Join latency buckets (seconds): a join is 1-3 ms unloaded, tens of ms
#: under load, and anything near a second is trouble.
JOIN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5)

#: Limiter counters -> the ``reason`` label of rtcio_dropped_events_total.
_LIMITER_REASONS = {"dropped_rate": "rate-limit",
                    "dropped_size": "event-too-large",
                    "malformed": "malformed"}


class NoMetrics:
    """The hooks features call; all no-ops while metrics are off."""

    enabled = False
    path: Optional[str] = None

    def refused(self, reason: str) -> None:
        """A connection was refused (``origin``, ``auth``...)."""

    def recovered(self) -> None:
        """A client's session was recovered after a reconnect."""

    def joined(self, seconds: float) -> None:
        """A ``join-room`` took ``seconds`` to handle."""


NO_METRICS = NoMetrics()


def resolve_metrics(given: Any, config: Any, environ: Any) -> Optional[str]:
    """The path to serve metrics at, or None when they are off.

    ``metrics`` may be True/False, an on/off word, or a path such as
    ``"/internal/metrics"``."""
    found = pick("metrics", given, config, environ, default=False)
    value = found.value
    if isinstance(value, str) and value.startswith("/"):
        path: Optional[str] = value
    elif isinstance(value, str):
        path = DEFAULT_PATH if strict_flag(value, str(found.where)) else None
    elif value in (True, False, None):
        path = DEFAULT_PATH if value else None
    else:
        raise ValueError(f"{found.where}: metrics takes True, False or a "
                         f"path such as '/metrics', not {value!r}.")
    if path is None:
        return None
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ValueError(
            f"{found.where}: metrics need prometheus_client, which is not "
            f"installed: pip install 'rtcio-flask[metrics]'") from None
    return path


class Metrics(NoMetrics):
    """The metrics of one app: a private registry, a collector reading the
    app's counters at scrape time, and the few instruments features feed."""

    enabled = True

    def __init__(self, state: Any, path: str = DEFAULT_PATH) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.state = state
        self.path = path
        self.registry = CollectorRegistry(auto_describe=True)
        self.refusals: Dict[str, int] = {}
        self.recoveries = 0
        self._join = Histogram(
            "rtcio_join_seconds",
            "Time the server took to handle a join-room (hooks, store, "
            "presence and init-offer emits), in seconds.",
            buckets=JOIN_BUCKETS, registry=self.registry)
        self.registry.register(_Collector(self))

    def refused(self, reason: str) -> None:
        self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def recovered(self) -> None:
        self.recoveries += 1

    def joined(self, seconds: float) -> None:
        self._join.observe(seconds)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest
        return bytes(generate_latest(self.registry))


class _Collector:
    """Reads the app's own counters when Prometheus scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterator[Any]:
        return iter(())  # values are produced at collect time only

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (CounterMetricFamily,
                                            GaugeMetricFamily)

        metrics = self.metrics
        state = metrics.state
        yield GaugeMetricFamily(
            "rtcio_connected_sockets",
            "Engine.IO connections open in this process.",
            value=len(state.server.eio.sockets))

        relayed = sum(getattr(p, "relayed", 0)
                      for p in state.protocols.values())
        yield CounterMetricFamily(
            "rtcio_relayed_envelopes",
            "#rtcio:message envelopes relayed to their target.",
            value=relayed)

        rooms, members = _room_counts(state.rooms)
        yield GaugeMetricFamily(
            "rtcio_rooms", "Built-in rooms with at least one member.",
            value=rooms)
        yield GaugeMetricFamily(
            "rtcio_room_members",
            "Memberships of built-in rooms (a socket in two rooms counts "
            "twice).", value=members)

        dropped = CounterMetricFamily(
            "rtcio_dropped_events",
            "Events dropped without reaching a handler or a peer, by reason "
            "(event limits, malformed packets, refused relays).",
            labels=["reason"])
        counts: Dict[str, int] = {}
        if state.limits is not None:
            for key, reason in _LIMITER_REASONS.items():
                counts[reason] = state.limits.counters.get(key, 0)
        for protocol in state.protocols.values():
            for code, n in getattr(protocol, "drops", {}).items():
                counts[code] = counts.get(code, 0) + n
        for reason in sorted(counts):
            dropped.add_metric([reason], counts[reason])
        yield dropped

        refused = CounterMetricFamily(
            "rtcio_refused_connections",
            "Connections refused: origin (CORS), auth (a connect hook), "
            "limits (disconnected for abuse).", labels=["reason"])
        counts = dict(metrics.refusals)
        counts["origin"] = getattr(state.gate, "refused", 0)
        counts.setdefault("auth", 0)
        if state.limits is not None:
            counts["limits"] = state.limits.counters.get("disconnected", 0)
        for reason in sorted(counts):
            refused.add_metric([reason], counts[reason])
        yield refused

        yield CounterMetricFamily(
            "rtcio_recovered_sessions",
            "Sessions restored by connection-state recovery after a "
            "reconnect.", value=metrics.recoveries)

        waits = CounterMetricFamily(
            "rtcio_redis_pool_waits",
            "Redis calls that found every pooled connection busy and waited "
            "for one, by client (rooms, recovery, fleet, queue); a steady "
            "rise means the pool is smaller than the load "
            "(?max_connections= in the Redis URL).", labels=["client"])
        timeouts = CounterMetricFamily(
            "rtcio_redis_pool_timeouts",
            "Redis calls that waited pool_timeout seconds for a pooled "
            "connection and failed, by client.", labels=["client"])
        for name, waited, gave_up in pool_counts(state):
            waits.add_metric([name], waited)
            timeouts.add_metric([name], gave_up)
        yield waits
        yield timeouts


def _room_counts(rooms: Any) -> "tuple[int, int]":
    if rooms is None:
        return 0, 0
    store = rooms.store
    names = list(store.rooms())
    return len(names), sum(len(store.members(room)) for room in names)


def timed(metrics: NoMetrics, step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` (a built-in event handler), reporting its duration to
    ``metrics.joined``."""

    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            metrics.joined(time.perf_counter() - started)

    return run


def install(state: Any, given: Any = UNSET, environ: Any = None) -> None:
    """Turn metrics on for one app when asked: the ``/metrics`` route and
    the join timing. ``state.metrics`` stays :data:`NO_METRICS` otherwise."""
    import os

    environ = os.environ if environ is None else environ
    path = resolve_metrics(given, state.app.config, environ)
    if path is None:
        return
    metrics = Metrics(state, path)
    state.metrics = metrics
    if state.rooms is not None:
        state.dispatcher.wrap_builtin(
            "join-room", lambda step: timed(metrics, step),
            state.rooms.namespace)

    def serve_metrics() -> Any:
        from prometheus_client import CONTENT_TYPE_LATEST
        return metrics.exposition(), 200, {
            "Content-Type": CONTENT_TYPE_LATEST,
            "Cache-Control": "no-store"}

    state.app.add_url_rule(path, "rtcio_metrics", serve_metrics,
                           methods=["GET"])
