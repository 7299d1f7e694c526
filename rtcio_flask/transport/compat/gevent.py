"""gevent's private internals RTCIO uses, in one place.

Verified against gevent 23.9 to 26.x (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`): gevent's socket
(``gevent._socket3.socket``) keeps the OS socket it wraps as ``_sock``,
which :mod:`..sockets` writes to directly when the kernel buffer has room,
and which :mod:`..serving` shuts down so a reader wakes with end-of-file
instead of a cancelled wait pywsgi logs as a traceback. pywsgi's request
reader keeps the connection's socket file as ``raw``
(:func:`pywsgi_socket`).
"""

import sys
from typing import Any, Callable, Mapping, Optional


def os_socket(sock: Any) -> Optional[Any]:
    """The OS socket under a gevent socket (or under what gevent's pywsgi
    hands as the raw reader), or None when ``sock`` has none."""
    return getattr(sock, "_sock", None)


def is_gevent_socket(sock: Any) -> bool:
    """Whether ``sock`` is exactly gevent's socket class."""
    module = sys.modules.get("gevent._socket3")
    return module is not None and type(sock) is module.socket


def pywsgi_socket(environ: Mapping[str, Any]) -> Optional[Any]:
    """The client socket under gevent's pywsgi, found where simple-websocket
    finds it (pywsgi puts it in the environ only for ``Expect:
    100-continue``), or None."""
    wsgi_input = environ.get("wsgi.input")
    # An upgrade request gets the connection's reader itself; others get a
    # pywsgi.Input around it.
    if not hasattr(wsgi_input, "raw"):
        wsgi_input = getattr(wsgi_input, "rfile", None)
    return os_socket(getattr(wsgi_input, "raw", None))


class ReadWatch:
    """Call ``callback()`` from the event loop once ``sock`` is readable,
    each time :meth:`arm` was called before (one shot, as
    :class:`rtcio_flask.transport.compat.eventlet.ReadWatch`): gevent's
    ``loop.io`` watcher, stopped while the socket is being read."""

    __slots__ = ("_watcher", "_callback")

    def __init__(self, sock: Any, callback: Callable[[], Any]) -> None:
        import gevent
        self._watcher = gevent.get_hub().loop.io(sock.fileno(), 1)
        self._callback = callback

    def arm(self) -> None:
        if not self._watcher.active:
            self._watcher.start(self._fired)

    def disarm(self) -> None:
        self._watcher.stop()

    def _fired(self) -> None:
        self._watcher.stop()
        self._callback()

    def close(self) -> None:
        self._watcher.close()


def spawn_raw(func: Callable[..., Any], *args: Any) -> None:
    """Run ``func(*args)`` in a new greenlet, without a Greenlet object."""
    import gevent
    gevent.spawn_raw(func, *args)


def run_now(func: Callable[[], Any]) -> None:
    """Called from the event loop: run ``func()`` in a new greenlet at once,
    until it first waits, instead of on a later turn of the loop
    (``spawn_raw`` queues a callback: 80 us median from a socket readable
    to its reader running, against 20 switching at once). Anywhere else,
    :func:`spawn_raw`."""
    import gevent
    import greenlet
    hub = gevent.get_hub()
    if greenlet.getcurrent() is not hub:
        spawn_raw(func)
        return
    greenlet.greenlet(func, parent=hub).switch()


def call_later(seconds: float, func: Callable[[], Any]) -> None:
    """Run ``func()`` from the event loop in ``seconds``, without a
    greenlet."""
    import gevent
    gevent.get_hub().loop.timer(seconds).start(func)
