"""The one hook on python-socketio's raw Engine.IO messages.

Every message a client sends passes here before python-socketio decodes its
JSON or spawns a handler, in this order:

1. the event limits (:mod:`rtcio_flask.core.limits`): size caps, the rate
   limit, disconnecting a connection that keeps abusing;
2. registered fast paths: a feature that can serve a packet straight from
   its raw text (the relay, :mod:`rtcio_flask.protocol.relay`) registers a
   prefix with :meth:`PacketHook.add_fast_path`;
3. the checked dispatch (:func:`rtcio_flask.transport.patches.dispatch_packet`):
   a malformed packet closes its connection with one WARNING, as the Node
   server does, instead of a traceback per packet.

Junk therefore costs as little as possible, and unknown events (which never
reach a handler) are limited too.
"""

import logging
from typing import Any, Callable, Dict, Optional, Set

from ..core.limits import DISCONNECT, PASS, REASONS, EventLimiter, Limits
from .patches import MalformedPacket, dispatch_packet

logger = logging.getLogger("rtcio_flask")

#: ``handler(eio_sid, text) -> bool``: True when it served the packet.
FastPath = Callable[[str, str], bool]


class PacketHook:
    """Installed on one ``socketio.Server`` as its Engine.IO ``message`` and
    ``disconnect`` handler; owns the :class:`EventLimiter` of that server."""

    def __init__(self, server: Any, limits: Limits) -> None:
        self.server = server
        self.limits = limits
        self.limiter = EventLimiter(limits)
        # prefix -> handler, tried in registration order.
        self._fast_paths: Dict[str, FastPath] = {}
        self._binary_pending = server._binary_packet
        # Connections already being closed by disconnect_later (or gone):
        # what they still send is dropped unread. A websocket transport
        # that reads a burst of frames at once keeps handing them in until
        # the close task has run, and each would otherwise count as one
        # more disconnect, or reach handlers after the disconnect.
        self._closing: Set[str] = set()
        self._eio_disconnect = server.eio.handlers.get(
            "disconnect", server._handle_eio_disconnect)
        server.eio.on("message", self.on_message)
        server.eio.on("disconnect", self.on_disconnect)

    def add_fast_path(self, prefix: str, handler: FastPath) -> None:
        """Let ``handler`` take raw text packets that start with ``prefix``
        (after the limits, before python-socketio). It returns False to
        hand a packet back to the normal path."""
        self._fast_paths[prefix] = handler

    # -- Engine.IO handlers ---------------------------------------------------

    def on_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._closing or eio_sid not in self.server.eio.sockets:
            return
        limiter = self.limiter
        pending = eio_sid in self._binary_pending
        if self.limits.enabled:
            verdict = limiter.check(eio_sid, data, pending)
            if verdict != PASS:
                self._refuse(eio_sid, verdict)
                return
        if self._fast_paths and data.__class__ is str and not pending:
            for prefix, handle in self._fast_paths.items():
                if data.startswith(prefix) and handle(eio_sid, data):
                    return
        try:
            dispatch_packet(self.server, eio_sid, data)
        except MalformedPacket as exc:
            limiter.counters["malformed"] += 1
            self._binary_pending.pop(eio_sid, None)
            self._log_once(eio_sid, "malformed",
                           "rtcio: closing %s: malformed socket.io packet "
                           "(%s)", eio_sid, str(exc)[:200])
            self.disconnect_later(eio_sid)

    def on_disconnect(self, eio_sid: str, *args: Any) -> Optional[Any]:
        try:
            return self._eio_disconnect(eio_sid, *args)
        finally:
            # _closing is left to _disconnect: python-engineio calls this
            # while its close still waits for the writer, and the reader
            # may hand in more buffered packets meanwhile.
            self.limiter.forget(eio_sid)

    # -- helpers --------------------------------------------------------------

    def _refuse(self, eio_sid: str, verdict: str) -> None:
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
        self._closing.add(eio_sid)
        self.server.start_background_task(self._disconnect, eio_sid)

    def _disconnect(self, eio_sid: str) -> None:
        try:
            self.server.eio.disconnect(eio_sid)
        except Exception:  # already gone: nothing left to close
            logger.debug("rtcio: %s was already closed", eio_sid)
        finally:
            # Gone from server.eio.sockets now, which on_message checks.
            self._closing.discard(eio_sid)
