"""The rtc.io server side: the ``#rtcio:message`` relay and the
``#rtcio:peer-left`` hint, attached to one namespace of a socketio.Server.

The envelope rules themselves live in :mod:`rtcio_flask.core.envelope`;
this module only wires them to python-socketio and decides who receives
what. Departures are announced by :mod:`.departure`.
"""

import logging
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import socketio

from ..core.decoding import strict_loads
from ..core.envelope import (EnvelopeError, check_envelope,
                             check_envelope_text)
from ..core.events import RtcioEvents
from ..core.ports import Builtins, FastPaths
from .departure import Departures

logger = logging.getLogger("rtcio_flask")

#: ``check(sender, target, namespace)``: raises EnvelopeError to refuse.
RelayCheck = Callable[[str, str, str], Any]


class RtcioProtocol:
    """Relay and peer-left for one namespace.

    ``relay_checks`` are extra callables ``(sender, target, namespace)``
    that may raise :class:`EnvelopeError` to refuse a relay (the rooms
    feature uses one to keep envelopes inside shared rooms).
    """

    def __init__(self, server: Any, namespace: str = "/",
                 max_envelope_bytes: Optional[int] = None) -> None:
        self.server = server
        self.namespace = namespace
        self.max_envelope_bytes = max_envelope_bytes
        self.relay_checks: List[RelayCheck] = []
        #: Who announces a departure (the built-in rooms plug in here).
        self.departures = Departures(server, namespace)
        # sid -> drop codes already logged at WARNING for that socket.
        self._logged: Dict[str, Set[str]] = {}
        #: Totals since start, read by the metrics at scrape time
        #: (rtcio_flask.deploy.metrics): envelopes relayed, drops by code.
        self.relayed = 0
        self.drops: Dict[str, int] = {}
        # With a message queue the target may live in another process, so
        # "not connected here" does not mean "unknown".
        self._local_only = not isinstance(server.manager,
                                          socketio.PubSubManager)
        #: Connection state recovery (rtcio_flask.transport.recovery), or
        #: None: a held socket is a valid target, and the fast path logs
        #: what it relays.
        self.recovery = None
        #: ``send(eio_sid, text)``: one pre-encoded packet to one socket
        #: (the extension gives it the websocket transport's shorter way).
        self.send: Callable[[str, str], None] = server.eio.send
        #: With a message queue, the batched path that reaches targets in
        #: any process (rtcio_flask.transport.queue_relay.QueueRelay), or
        #: None: the fast path is then off when a queue is.
        self.queue: Any = None

    def attach(self, dispatcher: Builtins,
               packet_hook: Optional[FastPaths] = None) -> None:
        """Serve the relay and the disconnect step through ``dispatcher``;
        with a ``packet_hook`` (:class:`~rtcio_flask.transport.packet_hook.PacketHook`),
        also take relay packets straight from their raw text."""
        dispatcher.add_builtin(RtcioEvents.MESSAGE, self.relay,
                               self.namespace)
        dispatcher.add_builtin("disconnect", self.peer_left, self.namespace)
        self._dispatcher = dispatcher
        if packet_hook is not None:
            ns = "" if self.namespace == "/" else self.namespace + ","
            # Engine.IO has stripped its own "4" (message) by now.
            self._packet_prefix = f'2{ns}["{RtcioEvents.MESSAGE}",'
            self._args_at = len("2" + ns)
            packet_hook.add_fast_path(self._packet_prefix, self.relay_packet)

    def relay_packet(self, eio_sid: str, text: str) -> bool:
        """The relay straight from a raw ``2["#rtcio:message",...]`` packet.

        Profiling showed a relay spending most of its time around the
        envelope, not in it: a greenlet or thread spawned per event, a
        second JSON encoding and a binary scan inside ``server.emit``. Here
        the packet is decoded once, checked exactly as :meth:`relay` does,
        and the compact JSON from :func:`check_envelope` goes out as one
        pre-encoded packet, in arrival order; with a message queue it goes
        to :attr:`queue`, which sends it here or publishes it once for the
        process that holds the target. Returns False (python-socketio then
        handles the packet as usual) whenever that could behave
        differently: an app handler on the event, a message queue without
        :attr:`queue`, a sender not connected here.
        """
        if (not self._local_only and self.queue is None) or \
                not self._dispatcher.only_builtin(RtcioEvents.MESSAGE,
                                                  self.namespace):
            return False
        manager = self.server.manager
        sid = manager.sid_from_eio_sid(eio_sid, self.namespace)
        if sid is None or not manager.is_connected(sid, self.namespace):
            return False
        try:
            # The packet hook already refused nesting that would recurse.
            args = strict_loads(text[self._args_at:])
        except ValueError:
            return False
        envelope = args[1] if len(args) > 1 else None
        # The envelope's own text, when it is all the packet carries
        # after the event name: what the target gets if source is right.
        raw = text[len(self._packet_prefix):-1] \
            if len(args) == 2 and text.endswith("]") else None
        try:
            target, encoded = self._checked_text(sid, envelope, raw)
        except EnvelopeError as exc:
            self._log_drop(sid, exc)  # no ack id on this path: nobody asked
            return True
        target_eio = manager.eio_sid_from_sid(target, self.namespace)
        if self.queue is not None:
            self.queue.relay(self.namespace, target, target_eio,
                             self._packet_prefix + encoded + "]")
            self.relayed += 1
        elif self.recovery is not None:
            self.recovery.relay(self.namespace, target, target_eio,
                                self._packet_prefix + encoded + "]")
            self.relayed += 1
        elif target_eio is not None:
            self.send(target_eio, self._packet_prefix + encoded + "]")
            self.relayed += 1
        return True

    def relay(self, sid: str, envelope: Any = None,
              *extra: Any) -> Optional[Dict[str, Any]]:
        """Forward an envelope to its target only, with ``source`` stamped.

        Returns None when relayed; otherwise an error dict, which
        python-socketio sends back when the client asked for an
        acknowledgement (and drops when it did not).
        """
        try:
            target, outgoing, _ = self._checked(sid, envelope)
        except EnvelopeError as exc:
            self._log_drop(sid, exc)
            return exc.ack()
        self.server.emit(RtcioEvents.MESSAGE, outgoing, to=target,
                         namespace=self.namespace)
        self.relayed += 1
        return None

    def _checked(self, sid: str,
                 envelope: Any) -> Tuple[str, Dict[str, Any], str]:
        """The checks both relay paths share; raises EnvelopeError.

        Returns ``check_envelope``'s ``(target, outgoing, encoded)`` once
        the target is known here (when no message queue could put it in
        another process) and every relay check (rooms' scope) agreed.
        """
        target, outgoing, encoded = check_envelope(envelope, sid,
                                                   self.max_envelope_bytes)
        self._check_target(sid, target)
        return target, outgoing, encoded

    def _checked_text(self, sid: str, envelope: Any,
                      raw: Optional[str]) -> Tuple[str, str]:
        """:meth:`_checked` for the raw-packet path: ``(target, encoded)``,
        where ``encoded`` is ``raw`` itself when the sender already stamped
        its own id (:func:`check_envelope_text`)."""
        if raw is None:
            target, _, encoded = self._checked(sid, envelope)
            return target, encoded
        target, encoded = check_envelope_text(envelope, sid, raw,
                                              self.max_envelope_bytes)
        self._check_target(sid, target)
        return target, encoded

    def _check_target(self, sid: str, target: str) -> None:
        """The target is known here (when no message queue could put it in
        another process) and every relay check (rooms' scope) agrees."""
        if self._local_only and not self.server.manager.is_connected(
                target, self.namespace) and not (
                    self.recovery is not None and
                    self.recovery.is_held(target, self.namespace)):
            raise EnvelopeError("unknown-target",
                                "no connected socket has that id")
        for check in self.relay_checks:
            check(sid, target, self.namespace)

    def peer_left(self, sid: str, reason: Any = None) -> None:
        """The socket is disconnecting: its rooms hear it is gone (see
        :class:`.departure.Departures`)."""
        self._logged.pop(sid, None)
        self.departures.disconnected(sid)

    def _log_drop(self, sid: str, exc: EnvelopeError) -> None:
        self.drops[exc.code] = self.drops.get(exc.code, 0) + 1
        seen = self._logged.setdefault(sid, set())
        if exc.code in seen:
            logger.debug("rtcio: dropped envelope from %s: %s", sid,
                         exc.reason)
            return
        seen.add(exc.code)
        logger.warning("rtcio: dropped envelope from %s [%s]: %s", sid,
                       self.namespace, exc.reason)
