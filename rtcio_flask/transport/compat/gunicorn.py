"""gunicorn's internals RTCIO relies on, in one place.

Verified against gunicorn 23.0 to 27.0 (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`):

- :func:`after_gunicorn_worker_signals` chains gunicorn's documented
  server hook ``post_worker_init`` (through ``Config.set``, as a gunicorn
  application sets its settings), relying on every worker class but the
  ASGI one calling it after ``Worker.init_signals`` has set the worker's
  signal handlers with ``signal.signal``.
- :class:`GunicornSocket` wraps gunicorn's client socket
  (``environ["gunicorn.socket"]``) for eventlet's websocket, relying on
  when gunicorn's eventlet worker closes it (after the request handler
  returns).
"""

import errno
import socket
from typing import Any, Callable


def after_gunicorn_worker_signals(cfg: Any, hook: Callable[[], Any]) -> None:
    """Call ``hook()`` in every gunicorn worker once gunicorn has set the
    worker's signal handlers: from the ``post_worker_init`` server hook of
    ``cfg`` (gunicorn's Config, loading the app in its arbiter with
    ``--preload``, before the fork), chained after the one the operator
    configured, which still runs first."""
    previous = cfg.post_worker_init

    def post_worker_init(worker: Any) -> None:
        previous(worker)
        hook()

    cfg.set("post_worker_init", post_worker_init)


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
