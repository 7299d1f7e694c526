"""What each WSGI server needs so python-engineio's websocket works on it.

python-engineio's ``engineio.WSGIApp`` copies gunicorn's socket to where
eventlet's websocket looks for it; RTCIO's gate calls the server directly
(to own CORS), so it must do the same, or ``gunicorn -k eventlet`` answers
every websocket upgrade with a 500.
"""

from typing import (Any, Callable, Mapping, MutableMapping, NamedTuple,
                    Optional)

from . import compat
from .compat import eventlet as eventlet_compat
from .compat import gevent as gevent_compat
from .compat import gunicorn as gunicorn_compat


class _SocketInput:
    """The ``eventlet.input`` shape eventlet's WebSocketWSGI reads."""

    __slots__ = ("socket",)

    def __init__(self, sock: Any) -> None:
        self.socket = sock

    def get_socket(self) -> Any:
        return self.socket


def client_socket(environ: Mapping[str, Any]) -> Optional[Any]:
    """The client's socket object in any supported WSGI server, or None
    (tests read socket options through it)."""
    for key in ("gunicorn.socket", "werkzeug.socket"):
        if environ.get(key) is not None:
            return environ[key]
    eventlet_input = environ.get("eventlet.input")
    if eventlet_input is not None:
        return eventlet_input.get_socket()
    return gevent_compat.pywsgi_socket(environ)


def raw_sender(sock: Any) -> Optional[Callable[[bytes], int]]:
    """The ``send`` of the OS socket under a green client socket, when
    calling it is the same as writing through the green socket; else None.

    eventlet's GreenSocket (``.fd``) and gevent's socket (``._sock``) keep
    the OS socket non-blocking and only add waiting around it in Python, so
    a write that fits the kernel's buffer can skip that layer (gevent's
    ``sendall`` alone is three Python calls). Only those exact classes
    qualify: a TLS socket's bytes must go through the TLS layer, and any
    other socket keeps its own ``sendall``.
    """
    inner = None
    if eventlet_compat.is_green_socket(sock):
        inner = eventlet_compat.os_socket(sock)
    elif gevent_compat.is_gevent_socket(sock):
        inner = gevent_compat.os_socket(sock)
    if inner is None or hasattr(inner, "cipher"):
        return None
    try:
        if inner.gettimeout() != 0.0:  # not non-blocking after all
            return None
    except OSError:
        return None
    send: Callable[[bytes], int] = inner.send
    return send


class Detach(NamedTuple):
    """What a websocket needs to be read without a greenlet parked in
    ``recv`` (:meth:`rtcio_flask.transport.websocket.WebSocket.watch`):
    a one-shot readiness watch on the socket, a way to start a greenlet
    and a timer, all from the event loop of the socket's library."""

    watch: Callable[[Any, Callable[[], Any]], Any]
    spawn: Callable[..., Any]
    later: Callable[[float, Callable[[], Any]], Any]
    recv: Callable[[int], bytes]
    #: From the event loop: a greenlet started and switched to at once.
    run_now: Callable[[Callable[[], Any]], Any]


def detach_for(sock: Any) -> Optional[Detach]:
    """How to read ``sock`` from readiness events (see :class:`Detach`),
    or None: only for eventlet's and gevent's own plain socket classes,
    whose OS socket stays non-blocking (the raw ``recv`` then answers at
    once, with data or ``BlockingIOError``), never for TLS."""
    send = raw_sender(sock)
    if send is None:
        return None
    inner = getattr(send, "__self__")  # the OS socket raw_sender found
    if eventlet_compat.is_green_socket(sock):
        if not compat.enabled("idle_reader_eventlet"):
            return None
        return Detach(eventlet_compat.ReadWatch, eventlet_compat.spawn_raw,
                      eventlet_compat.call_later, inner.recv,
                      eventlet_compat.run_now)
    if not compat.enabled("idle_reader_gevent"):
        return None
    return Detach(gevent_compat.ReadWatch, gevent_compat.spawn_raw,
                  gevent_compat.call_later, inner.recv,
                  gevent_compat.run_now)


def release_http_buffers(environ: Mapping[str, Any]) -> None:
    """Close the WSGI server's buffered reader (and writer, where the
    environ reaches it) of a connection that became a websocket.

    They are never used again once the websocket reads and writes the
    socket itself, yet live as long as the connection: eventlet.wsgi's
    reader is 8 KiB and its writer 16 KiB (reachable here only for an
    ``Expect: 100-continue`` request), gevent pywsgi's reader 8 KiB. Only
    the pages a buffer touched count in memory (the request's headers), so
    this saves a little per idle socket, not the buffers' whole size
    (docs/performance.rst). Closing a socket file frees its buffer, not the
    socket, and both servers check ``closed`` before touching them again
    when the request ends. Nothing is lost: a client sends no frame before
    it has read the 101.
    """
    wsgi_input = environ.get("wsgi.input")
    if wsgi_input is None:
        return
    # eventlet.wsgi.Input keeps the connection's rfile and wfile; pywsgi
    # hands an upgrade request the reader itself, or an Input around it.
    files = [getattr(wsgi_input, name, None) for name in ("rfile", "wfile")]
    if hasattr(wsgi_input, "raw"):
        files.append(wsgi_input)
    for stream in files:
        if stream is None or not hasattr(stream, "raw"):
            continue  # not a buffered socket file (gunicorn's own reader)
        try:
            stream.close()
        except (OSError, ValueError):
            pass  # already closed, or a flush to a gone peer


def adapt_environ(environ: MutableMapping[str, Any]) -> None:
    """Expose gunicorn's client socket the way eventlet's server does."""
    sock = environ.get("gunicorn.socket")
    if sock is not None and "eventlet.input" not in environ:
        environ["eventlet.input"] = _SocketInput(
            gunicorn_compat.GunicornSocket(sock))
