"""eventlet's private internals RTCIO uses, in one place.

Verified against eventlet 0.36.0 to 0.41.x (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`):

- ``eventlet.websocket.RFC6455WebSocket._apply_mask``: swapped for
  :func:`apply_mask` (:func:`speed_up_eventlet`).
- ``eventlet.wsgi.WSGI_LOCAL.already_handled``: the flag eventlet's own
  websocket sets to say it wrote the response itself
  (:func:`response_written`).
- ``eventlet.greenio.base.GreenSocket.fd``: the OS socket a GreenSocket
  wraps (:func:`os_socket`), written to directly when the kernel buffer
  has room.
- The hub's ``add(READ, fileno, cb, tb, mark_as_closed)`` and
  ``remove(listener)``: a detached websocket's read watch
  (:class:`ReadWatch`), one listener per idle socket instead of a
  greenlet parked in ``recv``.
"""

import logging
import sys
from typing import Any, Callable, Optional

from ...core.rfc6455 import unmask

logger = logging.getLogger("rtcio_flask")

_eventlet_patched = False


def apply_mask(data: bytes, mask: bytes, length: Optional[int] = None,
               offset: int = 0) -> bytes:
    """``data`` XOR the 4-byte ``mask`` repeated, starting at mask byte
    ``offset``; the signature and result of eventlet's own version.

    Browsers mask every frame they send (RFC 6455, 5.3). eventlet's
    ``RFC6455WebSocket._apply_mask`` unmasks one byte at a time in a Python
    generator: measured at about 0.7 ms for one 2.6 KB SDP envelope, the
    largest cost of relaying under eventlet once compression is off. This
    is RTCIO's own websocket unmasking (:func:`rtcio_flask.core.rfc6455.
    unmask`, C-level ``bytes.translate``) with the mask rotated to
    ``offset``: same bytes, far faster, one implementation for both
    websocket transports.
    """
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    start = offset % 4
    key = bytes(mask[start:]) + bytes(mask[:start])
    return unmask(bytes(data[:length]), key)


def speed_up_eventlet() -> None:
    """Swap eventlet's per-byte unmasking for :func:`apply_mask` (once).
    Where eventlet has no ``_apply_mask`` (a release that changed it), its
    own unmasking stays, and one WARNING says so."""
    global _eventlet_patched
    if _eventlet_patched:
        return
    _eventlet_patched = True
    from eventlet import websocket
    if hasattr(websocket.RFC6455WebSocket, "_apply_mask"):
        websocket.RFC6455WebSocket._apply_mask = staticmethod(apply_mask)
    else:
        logger.warning("rtcio: this eventlet has no "
                       "RFC6455WebSocket._apply_mask; its own (slower) "
                       "websocket unmasking stays")


def response_written() -> None:
    """Tell eventlet.wsgi the app wrote the response itself (a websocket),
    as eventlet's own websocket does."""
    import eventlet.wsgi
    eventlet.wsgi.WSGI_LOCAL.already_handled = True


def is_green_socket(sock: Any) -> bool:
    """Whether ``sock`` is exactly eventlet's GreenSocket (not a subclass,
    such as its TLS socket)."""
    module = sys.modules.get("eventlet.greenio.base")
    return module is not None and type(sock) is module.GreenSocket


def os_socket(sock: Any) -> Optional[Any]:
    """The OS socket under an eventlet GreenSocket, or None."""
    return getattr(sock, "fd", None)


class ReadWatch:
    """Call ``callback()`` from the hub once ``sock`` is readable, each
    time :meth:`arm` was called before (one shot: the callback runs with
    the watch disarmed, so the greenlet it starts may read the socket
    through eventlet, which allows one reader listener per descriptor)."""

    __slots__ = ("_fileno", "_callback", "_listener")

    def __init__(self, sock: Any, callback: Callable[[], Any]) -> None:
        self._fileno = sock.fileno()
        self._callback = callback
        self._listener: Any = None

    def arm(self) -> None:
        from eventlet import hubs
        if self._listener is None:
            hub = hubs.get_hub()
            self._listener = hub.add(hub.READ, self._fileno, self._fired,
                                     self._thrown, None)

    def disarm(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            from eventlet import hubs
            hubs.get_hub().remove(listener)

    def _fired(self, fileno: int) -> None:
        self.disarm()
        self._callback()

    def close(self) -> None:
        self.disarm()

    def _thrown(self, *exc: Any) -> None:
        # The hub found the descriptor reused (closed under the watch):
        # the reader sees the closed socket.
        self._listener = None
        self._callback()


def spawn_raw(func: Callable[..., Any], *args: Any) -> None:
    """Run ``func(*args)`` in a new greenlet, without a GreenThread."""
    import eventlet
    eventlet.spawn_n(func, *args)


def run_now(func: Callable[[], Any]) -> None:
    """Called from the hub: run ``func()`` in a new greenlet at once, until
    it first waits, instead of on the hub's next turn (``spawn_n`` sets a
    timer). Anywhere else, :func:`spawn_raw`."""
    import greenlet
    from eventlet import hubs
    hub = hubs.get_hub().greenlet
    if greenlet.getcurrent() is not hub:
        spawn_raw(func)
        return
    greenlet.greenlet(func, parent=hub).switch()


def call_later(seconds: float, func: Callable[[], Any]) -> None:
    """Run ``func()`` from the hub in ``seconds``, without a greenlet."""
    from eventlet import hubs
    hubs.get_hub().schedule_call_global(seconds, func)
