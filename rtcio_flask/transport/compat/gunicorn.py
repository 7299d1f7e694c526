"""gunicorn's private internals RTCIO uses, in one place.

Verified against gunicorn 23.0 to 27.0 (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`): ``gunicorn.workers.base.Worker.
init_signals``, where every worker class but the ASGI one sets its signal
handlers with ``signal.signal``.

gunicorn's documented server hooks (``post_worker_init``) belong to the
gunicorn configuration, which an app loaded with ``--preload`` cannot
reach: the app only runs in the arbiter, before any worker exists.

:class:`GunicornSocket` wraps gunicorn's client socket
(``environ["gunicorn.socket"]``) for eventlet's websocket, relying on when
gunicorn's eventlet worker closes it (after the request handler returns).
"""

import errno
import socket
from typing import Any, Callable, List

_worker_signal_hooks: List[Callable[[], Any]] = []


def after_gunicorn_worker_signals(hook: Callable[[], Any]) -> None:
    """Call ``hook()`` in every gunicorn worker right after gunicorn's
    ``Worker.init_signals``. Used when the app is loaded before the fork
    (``--preload``), so a SIGTERM handler reaches the workers."""
    from gunicorn.workers import base

    _worker_signal_hooks.append(hook)
    if getattr(base.Worker.init_signals, "_rtcio_wrapped", False):
        return
    original = base.Worker.init_signals

    def init_signals(self: Any) -> None:
        original(self)
        for each in list(_worker_signal_hooks):
            each()

    init_signals._rtcio_wrapped = True  # type: ignore[attr-defined]
    base.Worker.init_signals = init_signals  # type: ignore[method-assign]


class GunicornSocket:
    """gunicorn's client socket as eventlet's websocket gets to use it.

    When a client closes a websocket, eventlet's websocket closes the
    socket as it answers the close frame, then python-engineio closes the
    websocket once more; the second ``shutdown()`` hits a closed descriptor
    and eventlet writes ``socket shutdown error: [Errno 9] Bad file
    descriptor`` to gunicorn's error log for every websocket that ends.
    Shutting down an already closed socket has nothing left to do, so that
    one case is a no-op here, and ``close()`` only shuts the connection
    down (see below); every other call goes to the real socket.
    """

    __slots__ = ("_sock",)

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def shutdown(self, how: int) -> None:
        try:
            self._sock.shutdown(how)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise

    def close(self) -> None:
        """Shut the connection down, and leave closing the descriptor to
        gunicorn, which always does it when the request handler returns.

        Closing it here, while the websocket's reader greenthread waits on
        it, would leave that reader asleep (eventlet's hub is not told about
        closed descriptors) until the socket timeout, 45 s by default, and a
        SIGTERM'd worker would wait that long. A shutdown wakes the reader
        with end-of-file instead."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down or reset by the peer
