"""The one hook on python-socketio's raw Engine.IO messages.

Every message a client sends passes here before python-socketio decodes its
JSON or spawns a handler, in this order:

1. the event limits (:mod:`rtcio_flask.core.limits`): size caps, the rate
   limit (relay envelopes budgeted by the connection's peer count, which
   this hook counts), disconnecting a connection that keeps abusing;
2. JSON that would crash the decoder (nested deeper than
   ``limits.max_depth``, :func:`rtcio_flask.core.decoding.json_hazard`)
   closes the connection as a malformed packet, before anything decodes it;
3. registered fast paths: a feature that can serve a packet straight from
   its raw text (the relay, :mod:`rtcio_flask.protocol.relay`) registers a
   prefix with :meth:`PacketHook.add_fast_path`;
4. the checked dispatch
   (:func:`rtcio_flask.transport.compat.socketio.dispatch_packet`):
   a malformed packet closes its connection with one WARNING, as the Node
   server does, instead of a traceback per packet.

Junk therefore costs as little as possible, and unknown events (which never
reach a handler) are limited too.
"""

import logging
from typing import Any, Callable, Dict, Optional, Set, Tuple

from ..core.decoding import json_hazard
from ..core.limits import DISCONNECT, PASS, REASONS, EventLimiter, Limits
from . import compat
from .compat.engineio import (SERVER_DISCONNECT, close_reason,
                              close_session, track_close_reasons)
from .compat.socketio import (MalformedPacket, binary_pending,
                              dispatch_packet, eio_disconnect,
                              eio_disconnect_handler)

logger = logging.getLogger("rtcio_flask")

#: ``handler(eio_sid, text) -> bool``: True when it served the packet.
FastPath = Callable[[str, str], bool]
#: ``counter(sid) -> int``: how many peers a socket has on one namespace.
PeerCounter = Callable[[str], int]


class PacketHook:
    """Installed on one ``socketio.Server`` as its Engine.IO ``message`` and
    ``disconnect`` handler; owns the :class:`EventLimiter` of that server."""

    def __init__(self, server: Any, limits: Limits) -> None:
        self.server = server
        self.limits = limits
        self.limiter = EventLimiter(limits, peers=self.count_peers)
        # prefix -> handler, tried in registration order.
        self._fast_paths: Dict[str, FastPath] = {}
        # (namespace, event) -> whether it may run inline now.
        self._inline: Dict[Tuple[str, str], Callable[[], bool]] = {}
        #: Serves CONNECT packets instead of python-socketio, and hears of
        #: a closing connection before python-socketio does (connection
        #: state recovery, :mod:`rtcio_flask.transport.recovery`).
        self.connect_handler: Optional[Callable[[str, str, Any], None]] = \
            None
        self.before_disconnect: Optional[Callable[[str, Any], None]] = None
        # namespace -> PeerCounter; other namespaces count room mates in
        # python-socketio's own rooms (this process only).
        self._peer_counters: Dict[str, PeerCounter] = {}
        self._binary_pending = binary_pending(server)
        # Connections already being closed by disconnect_later (or gone):
        # what they still send is dropped unread. A websocket transport
        # that reads a burst of frames at once keeps handing them in until
        # the close task has run, and each would otherwise count as one
        # more disconnect, or reach handlers after the disconnect.
        self._closing_sids: Set[str] = set()
        # The Admin UI's, when it is on (it instruments the server first).
        self._eio_disconnect = server.eio.handlers.get(
            "disconnect", eio_disconnect_handler(server))
        #: python-socketio's own dispatch, used when the checked one is
        #: off (a python-socketio release it was not verified with).
        self._checked = compat.enabled("dispatch")
        self._eio_message = server.eio.handlers.get("message")
        track_close_reasons()
        server.eio.on("message", self.on_message)
        server.eio.on("disconnect", self.on_disconnect)

    def add_fast_path(self, prefix: str, handler: FastPath) -> None:
        """Let ``handler`` take raw text packets that start with ``prefix``
        (after the limits, before python-socketio). It returns False to
        hand a packet back to the normal path."""
        self._fast_paths[prefix] = handler

    def add_inline_event(self, namespace: str, event: str,
                         allowed: Callable[[], bool]) -> None:
        """Run ``event``'s handler in the greenlet (or thread) that read
        its packet, not one python-socketio spawns, whenever ``allowed()``
        says so: for built-in events whose handlers never wait on their
        own socket (the rooms' events without join hooks or app handlers).
        Events of one socket then also run in the order they came."""
        self._inline[(namespace, event)] = allowed

    def _runs_inline(self, namespace: str, event: str) -> bool:
        allowed = self._inline.get((namespace, event))
        return allowed is not None and allowed()

    def add_peer_counter(self, namespace: str, counter: PeerCounter) -> None:
        """Let ``counter`` say how many peers a socket has on ``namespace``
        (the built-in rooms ask their store, which spans processes)."""
        self._peer_counters[namespace] = counter

    def peers_changed(self) -> None:
        """Someone joined or left a room: relay budgets are recounted the
        next time one runs dry."""
        self.limiter.peers_changed()

    def count_peers(self, eio_sid: str) -> int:
        """Peers of one connection over all its namespaces: the room mates
        it may legitimately send relay envelopes to."""
        manager = self.server.manager
        total = 0
        for namespace in list(manager.rooms):
            sid = manager.sid_from_eio_sid(eio_sid, namespace)
            if sid is None:
                continue
            counter = self._peer_counters.get(namespace)
            try:
                if counter is not None:
                    total += counter(sid)
                    continue
            except Exception as exc:  # the store unreachable: count locally
                logger.debug("rtcio: peer count for %s failed (%s)", sid,
                             exc)
            rooms = manager.rooms.get(namespace, {})
            total += sum(len(rooms.get(room, ())) - 1
                         for room in manager.get_rooms(sid, namespace)
                         if room != sid)
        return total

    # -- Engine.IO handlers ---------------------------------------------------

    def on_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._closing_sids or \
                eio_sid not in self.server.eio.sockets:
            return
        if data.__class__ is not str and \
                not isinstance(data, bytes):
            # python-engineio decodes a message's text as JSON when it can:
            # up to 4.11 "41.5" arrives as the float 1.5, on every release
            # "4[1]" as a list. No socket.io packet looks like that.
            self._malformed(eio_sid, "a message that is JSON, not a "
                            "socket.io packet")
            return
        limiter = self.limiter
        pending = eio_sid in self._binary_pending
        if self.limits.enabled:
            verdict = limiter.check(eio_sid, data, pending)
            if verdict != PASS:
                self._refuse(eio_sid, verdict)
                return
        if data.__class__ is str and not pending:
            problem = json_hazard(data, self.limits.max_depth)
            if problem is not None:
                self._malformed(eio_sid, problem)
                return
            for prefix, handle in self._fast_paths.items():
                if data.startswith(prefix) and handle(eio_sid, data):
                    return
        try:
            if not self._checked:
                # python-socketio's own; its packet class still decodes
                # with strict JSON (StrictPacket), which raises
                # MalformedPacket.
                self._eio_message(eio_sid, data)
                return
            dispatch_packet(self.server, eio_sid, data, self.connect_handler,
                            self._runs_inline if self._inline else None)
        except MalformedPacket as exc:
            self._malformed(eio_sid, str(exc))

    def on_disconnect(self, eio_sid: str, *args: Any) -> Optional[Any]:
        # python-engineio passes the reason from 4.11 on.
        reason = args[0] if args else close_reason(self.server.eio, eio_sid)
        try:
            if self.before_disconnect is not None:
                try:
                    self.before_disconnect(eio_sid, reason)
                except Exception:
                    logger.exception("rtcio: recovery hold failed for %s",
                                     eio_sid)
            return eio_disconnect(self._eio_disconnect, eio_sid, reason)
        finally:
            # _closing_sids is left to _disconnect: python-engineio calls this
            # while its close still waits for the writer, and the reader
            # may hand in more buffered packets meanwhile.
            self.limiter.forget(eio_sid)

    # -- helpers --------------------------------------------------------------

    def _closing(self, eio_sid: str) -> bool:
        """The connection is already closing: its limiter state may be gone
        (forgotten on disconnect), so logging again would repeat a line."""
        socket = self.server.eio.sockets.get(eio_sid)
        return socket is None or socket.closing or socket.closed

    def _malformed(self, eio_sid: str, problem: str) -> None:
        """One WARNING per connection, then the connection is closed."""
        self.limiter.counters["malformed"] += 1
        self._binary_pending.pop(eio_sid, None)
        if self._closing(eio_sid):
            return  # packets still queued behind the first: already said
        if self.limiter.first_time(eio_sid, "malformed"):
            logger.warning("rtcio: closing %s: malformed socket.io packet "
                           "(%s)", eio_sid, problem[:200])
            self.disconnect_later(eio_sid)

    def _refuse(self, eio_sid: str, verdict: str) -> None:
        if self._closing(eio_sid):
            return
        if verdict == DISCONNECT:
            self._log_once(eio_sid, DISCONNECT,
                           "rtcio: disconnecting %s: it kept exceeding the "
                           "event limits", eio_sid)
            self.disconnect_later(eio_sid)
        else:
            self._log_once(eio_sid, verdict, "rtcio: connection %s %s",
                           eio_sid,
                           REASONS[verdict].format(**self.limits.__dict__))

    def _log_once(self, eio_sid: str, what: str, message: str,
                  *args: Any) -> None:
        if self.limiter.first_time(eio_sid, what):
            logger.warning(message, *args)

    def disconnect_later(self, eio_sid: str) -> None:
        """Close a connection from a fresh task: the caller is still inside
        that connection's read loop."""
        self._closing_sids.add(eio_sid)
        self.server.start_background_task(self._disconnect, eio_sid)

    def _disconnect(self, eio_sid: str) -> None:
        try:
            if not close_session(self.server.eio, eio_sid, SERVER_DISCONNECT,
                                 tell_client=True):
                logger.debug("rtcio: %s was already closed", eio_sid)
        finally:
            # Gone from server.eio.sockets now, which on_message checks.
            self._closing_sids.discard(eio_sid)
