"""The relay's fast path on a message queue (``message_queue=redis://...``).

python-socketio's generic emit, with a queue, encodes every envelope as a
JSON message, publishes it, and every process decodes it and looks the
target up; with connection state recovery each envelope also waits for its
own ``XADD`` round trip. Under load every greenlet doing that held a pooled
Redis connection, and 5 pairs of clients were enough to run the pool dry.

Here a relayed envelope, already checked and encoded as the packet its
target receives (:class:`rtcio_flask.protocol.relay.RtcioProtocol`), goes:

- to a target connected to this process: straight to its socket, as
  without a queue (with recovery: after its batch is logged, below);
- to a target elsewhere: into one queue message per batch, sent as-is by
  the process that holds the target (no re-encoding on either side).

A batch is whatever arrived while the previous one was being written: one
greenlet (or thread) at a time logs it to the recovery stream in one
pipelined round trip, delivers the local packets and publishes the rest in
one message, in arrival order. So the log keeps each packet once and in
order, offsets ride with the packets as before, and the Redis connections
in use stay at one per process however many clients relay at once.
"""

import logging
import threading
from typing import Any, Iterable, List, Optional, Tuple

from . import compat
from .compat import engineio as eio_compat
from .compat import socketio as sio_compat

logger = logging.getLogger("rtcio_flask")

#: The namespace the relay's queue messages go to; no client can join it,
#: so a process without this module ignores them.
RELAY_NAMESPACE = "/__rtcio_relay__"

#: Where a process says one of its sockets left rooms (``[sid, rooms]``).
ROOMS_NAMESPACE = "/__rtcio_rooms__"

#: ``(namespace, target, target_eio or None, text)``
_Item = Tuple[str, str, Optional[str], str]


class QueueRelay:
    """Relayed packets of one server, batched through its message queue."""

    def __init__(self, server: Any, recovery: Any = None) -> None:
        self.server = server
        self.manager = server.manager
        #: Connection state recovery on Redis, or None (no log to write).
        self.recovery = recovery
        self._pending: List[_Item] = []
        self._flushing = False
        self._lock = threading.Lock()
        #: Totals since start: batches written, packets published to other
        #: processes, packets received from them and delivered here.
        self.batches = 0
        self.published = 0
        self.delivered = 0
        sio_compat.listen_queue(self.manager, RELAY_NAMESPACE, self._received)

    def relay(self, namespace: str, target: str, target_eio: Optional[str],
              text: str) -> None:
        """Send one checked, encoded packet to ``target`` wherever it is."""
        if target_eio is not None and self.recovery is None:
            eio_compat.send_text(self.server.eio, target_eio, text)
            return
        with self._lock:
            self._pending.append((namespace, target, target_eio, text))
            if self._flushing:
                return
            self._flushing = True
        self.server.start_background_task(self._flush)

    def _flush(self) -> None:
        """Write batches until none is left (one flusher at a time)."""
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._flushing = False
                    return
            try:
                self._write(batch)
            except Exception:
                logger.exception("rtcio: %d relayed envelopes could not go "
                                 "through the message queue", len(batch))

    def _write(self, batch: List[_Item]) -> None:
        self.batches += 1
        offsets: List[Optional[str]] = [None] * len(batch)
        if self.recovery is not None:
            logged = self.recovery.backend.record_many(
                [(ns, target, text) for ns, target, _, text in batch])
            if logged is not None:  # None: Redis is down (logged once)
                offsets = logged
        remote = []
        for (namespace, target, target_eio, text), offset in zip(batch,
                                                                 offsets):
            if target_eio is None:
                remote.append([namespace, target, text, offset])
            else:
                self._deliver(namespace, target, target_eio, text, offset)
        if remote:
            sio_compat.publish_queue(self.manager, RELAY_NAMESPACE, remote)
            self.published += len(remote)

    def _received(self, data: Any) -> None:
        """Another process's batch: deliver what is for sockets here."""
        if not isinstance(data, list):
            return
        manager = self.manager
        for item in data:
            if not isinstance(item, list) or len(item) != 4:
                continue
            namespace, target, text, offset = item
            if not isinstance(target, str) or not isinstance(text, str):
                continue
            target_eio = manager.eio_sid_from_sid(target, namespace)
            if target_eio is None:
                continue  # held, gone or unknown: the log has it
            self.delivered += 1
            self._deliver(namespace, target, target_eio, text, offset)

    def _deliver(self, namespace: str, target: str, target_eio: str,
                 text: str, offset: Optional[str]) -> None:
        """One logged packet to a socket here (through recovery, which
        holds it back while that socket is restored)."""
        try:
            if self.recovery is not None:
                self.recovery.deliver_relayed(namespace, target, text,
                                              offset)
            else:
                eio_compat.send_text(self.server.eio, target_eio, text)
        except Exception:
            logger.debug("rtcio: could not send to %s", target)


def install_queue_relay(server: Any, recovery: Any, rooms: Any,
                        protocols: Iterable[Any]) -> Optional[QueueRelay]:
    """With a message queue, give every rtc.io protocol of the app (in
    ``protocols``) the batched path, sharing the app's ``recovery`` and
    keeping its built-in ``rooms`` (either may be None) in step across
    processes; returns it, or None (no queue). The caller keeps it."""
    import socketio

    if not isinstance(server.manager, socketio.PubSubManager) or \
            not compat.enabled("queue_relay"):
        return None
    if recovery is not None and not recovery.backend.shared:
        recovery = None
    relay = QueueRelay(server, recovery)
    if rooms is not None:
        # The rooms' relay check answers from a local view; leaves and
        # disconnects anywhere reach every process's copy through here.
        def left_elsewhere(data: Any) -> None:
            if isinstance(data, list) and len(data) == 2 and \
                    isinstance(data[0], str) and isinstance(data[1], list):
                rooms.forget(data[0], [r for r in data[1]
                                       if isinstance(r, str)])

        sio_compat.listen_queue(server.manager, ROOMS_NAMESPACE,
                             left_elsewhere)
        rooms.on_left = lambda sid, room_ids: sio_compat.publish_queue(
            server.manager, ROOMS_NAMESPACE, [sid, room_ids])
    for protocol in protocols:
        protocol.queue = relay
    return relay
