"""Accept loops that one client cannot lock up: a cap on the TCP
connections each client address holds, a deadline for a new connection's
request headers (slowloris, idle connections that never send a request),
an idle limit between the requests of a kept-alive connection, and a pool
far larger than any one address may use.

eventlet's ``wsgi.server`` keeps at most 1,024 connections (``max_size``)
and waits for headers forever: 1,030 half-sent requests or idle TCP
connections from one client kept every new client and the health check
out for as long as they were held. The three servers the ``rtcio-flask``
command runs are built here, and an app's own start-up script can use them
the same way::

    import eventlet; eventlet.monkey_patch()
    from rtcio_flask.transport.serving import serve_eventlet
    serve_eventlet(eventlet.listen(("0.0.0.0", 3001)), app,
                   app.extensions["rtcio"].protection)

The numbers (``max_connections_per_address`` x 2 TCP connections, 10 s for
headers, 30 s idle) are :mod:`rtcio_flask.core.protection`'s.
"""

import contextlib
import logging
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, \
    Set, Tuple

from ..core.protection import AddressCounter, ProtectionSettings
from .compat import gevent as gevent_compat

logger = logging.getLogger("rtcio_flask")

_REFUSAL = (b"HTTP/1.1 429 Too Many Requests\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 39\r\n"
            b"Retry-After: 10\r\nConnection: close\r\n\r\n"
            b"too many connections from this address\n")

#: How often expired connections are looked for (seconds).
SWEEP_INTERVAL = 0.5


class ConnectionWatch:
    """Per-address TCP counts and request deadlines for one accept loop.

    ``key()`` names the greenlet or thread serving the current connection
    (each connection is served by one, request after request), so the WSGI
    wrapper (:meth:`wrap`) can say "this connection's headers are in" and
    "this connection is idle again" without knowing its socket.
    """

    def __init__(self, settings: ProtectionSettings,
                 key: Callable[[], Any], sleep: Callable[[float], Any]
                 ) -> None:
        self.settings = settings
        self.key = key
        self.sleep = sleep
        self.counter = AddressCounter(settings.max_tcp_per_address)
        self._deadlines: Dict[Any, Tuple[float, Any, str]] = {}
        self._lock = threading.Lock()
        self._timed_out: Dict[str, float] = {}
        #: Connections shut down at their deadline whose server may still
        #: parse what had arrived (see :meth:`wrap`).
        self._expired: Set[Any] = set()
        self._running = True

    # -- the accept loop's side --------------------------------------------

    def admit(self, address: str) -> bool:
        """Count a new TCP connection from ``address``; False: refuse it
        (:meth:`refuse` answers it)."""
        if self.settings.max_tcp_per_address is None:
            return True
        with self._lock:
            if self.counter.admit(address):
                return True
            first = self.counter.first_refusal(address)
        if first:
            logger.warning(
                "rtcio: refusing TCP connections from %s: it already holds "
                "%d (2 x max_connections_per_address=%d; raise it with "
                "RTCIO_MAX_CONNECTIONS_PER_ADDRESS, or behind a proxy set "
                "RTCIO_TRUSTED_PROXY_HOPS)", address,
                self.counter.open.get(address, 0),
                self.settings.max_connections_per_address)
        return False

    def release(self, address: str) -> None:
        if self.settings.max_tcp_per_address is None:
            return
        with self._lock:
            ended = self.counter.release(address)
        if ended:
            logger.info("rtcio: %s is under its TCP connection cap again; "
                        "%d connection(s) were refused", address, ended)

    @staticmethod
    def refuse(sock: Any) -> None:
        """Answer a refused connection with 429 (without reading it)."""
        try:
            sock.settimeout(1.0)
            sock.sendall(_REFUSAL)
        except OSError:
            pass

    def opened(self, sock: Any, address: str) -> None:
        """The current greenlet/thread now serves ``sock``: its headers are
        due within ``header_timeout``."""
        self._arm(self.settings.header_timeout, sock, address)

    def closed(self) -> None:
        key = self.key()
        with self._lock:
            self._deadlines.pop(key, None)
            self._expired.discard(key)

    @contextlib.contextmanager
    def serving(self, sock: Any, address: str) -> Iterator[None]:
        """Around serving one admitted connection: its header deadline
        armed, then cleared and its per-address count released, however
        the serving ends."""
        self.opened(sock, address)
        try:
            yield
        finally:
            self.closed()
            self.release(address)

    def _arm(self, timeout: Optional[float], sock: Any,
             address: str) -> None:
        if timeout is None:
            return
        with self._lock:
            self._deadlines[self.key()] = (time.monotonic() + timeout, sock,
                                           address)

    # -- the WSGI side ------------------------------------------------------

    def wrap(self, app: Callable[..., Iterable[bytes]]
             ) -> Callable[..., Iterable[bytes]]:
        """``app`` with the deadline lifted while a request runs (its
        headers are in), and the idle limit armed when its response ends.

        A connection shut down at its deadline never reaches ``app``: the
        shutdown wakes the server's reader with end-of-file, and eventlet,
        gevent and werkzeug all take end-of-file as the end of the headers
        and serve whatever part had arrived (20 half-sent polling
        handshakes became 20 Engine.IO sessions, counted against their
        address). Such a request gets an empty 408 on a socket that is
        already shut, and nothing else."""
        def watched(environ: Dict[str, Any],
                    start_response: Callable[..., Any]) -> Iterable[bytes]:
            key = self.key()
            with self._lock:
                entry = self._deadlines.pop(key, None)
                expired = key in self._expired
            if expired:
                start_response("408 Request Timeout", [
                    ("Content-Length", "0"), ("Connection", "close")])
                return []
            result = app(environ, start_response)
            if entry is None or self.settings.keepalive_timeout is None:
                return result
            return _AfterResponse(result, lambda: self._arm(
                self.settings.keepalive_timeout, entry[1], entry[2]))

        return watched

    # -- the sweeper --------------------------------------------------------

    def sweep(self) -> int:
        """Shut down every connection past its deadline; one WARNING per
        address per sweep, and not again for a minute."""
        now = time.monotonic()
        expired: List[Tuple[Any, str]] = []
        with self._lock:
            for key, (deadline, sock, address) in list(
                    self._deadlines.items()):
                if deadline <= now:
                    del self._deadlines[key]
                    self._expired.add(key)
                    expired.append((sock, address))
        per_address: Dict[str, int] = {}
        for sock, address in expired:
            # The OS socket itself: gevent's wrapper would also cancel the
            # reader's wait with an error pywsgi logs as a traceback; a
            # plain shutdown wakes it with end-of-file, and the server
            # closes the connection as if the client had left.
            raw = gevent_compat.os_socket(sock) or sock
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
            per_address[address] = per_address.get(address, 0) + 1
        for address, count in per_address.items():
            last = self._timed_out.get(address)
            if last is None or now - last >= 60:
                self._timed_out[address] = now
                logger.warning(
                    "rtcio: closed %d connection(s) from %s that sent no "
                    "complete request within %s s (header_timeout; idle "
                    "kept-alive connections: keepalive_timeout %s s)",
                    count, address, self.settings.header_timeout,
                    self.settings.keepalive_timeout)
        return len(expired)

    def sweep_forever(self) -> None:
        while self._running:
            self.sleep(SWEEP_INTERVAL)
            try:
                self.sweep()
            except Exception:  # never let the sweeper die
                logger.exception("rtcio: connection sweep failed")

    def stop(self) -> None:
        self._running = False


class _AfterResponse:
    """A WSGI response iterable that calls ``then()`` when the server
    closes it (the response is sent)."""

    def __init__(self, result: Iterable[bytes],
                 then: Callable[[], None]) -> None:
        self.result = result
        self.then = then

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.then()


def _greenlet_key() -> Any:
    import greenlet
    return greenlet.getcurrent()


# -- eventlet -----------------------------------------------------------------

class _EventletPool:
    """The GreenPool eventlet's accept loop spawns into, with the
    per-address count and the header deadline around each connection."""

    def __init__(self, size: int, watch: ConnectionWatch) -> None:
        import eventlet
        self.pool = eventlet.GreenPool(size)
        self.watch = watch

    def spawn(self, func: Callable[..., Any], connection: List[Any]) -> Any:
        # connection is eventlet's [client_addr, client_socket, state]
        address = str(connection[0][0])
        sock = connection[1]
        if not self.watch.admit(address):
            return self.pool.spawn(self.watch.refuse, sock)
        return self.pool.spawn(self._serve, func, connection, address, sock)

    def _serve(self, func: Callable[..., Any], connection: List[Any],
               address: str, sock: Any) -> None:
        with self.watch.serving(sock, address):
            func(connection)

    def waitall(self) -> None:
        self.pool.waitall()


def serve_eventlet(listener: Any, app: Callable[..., Any],
                   settings: ProtectionSettings, **options: Any) -> None:
    """``eventlet.wsgi.server(listener, app, **options)`` with the caps and
    timeouts of ``settings``; blocks like it."""
    import eventlet
    import eventlet.wsgi

    watch = ConnectionWatch(settings, _greenlet_key, eventlet.sleep)
    sweeper = eventlet.spawn(watch.sweep_forever)
    pool = _EventletPool(settings.max_connections, watch)
    try:
        eventlet.wsgi.server(listener, watch.wrap(app), custom_pool=pool,
                             **options)
    finally:
        watch.stop()
        sweeper.kill()


# -- gevent -------------------------------------------------------------------

def gevent_server(address: Any, app: Callable[..., Any],
                  settings: ProtectionSettings, **options: Any) -> Any:
    """A ``gevent.pywsgi.WSGIServer`` on ``address`` (a ``(host, port)``
    or a listening socket) with the caps and timeouts of ``settings``
    (``start()``/``serve_forever()``/``stop()`` as usual)."""
    import gevent
    from gevent import pywsgi
    from gevent.pool import Pool

    watch = ConnectionWatch(settings, _greenlet_key, gevent.sleep)

    class WatchedWSGIServer(pywsgi.WSGIServer):  # type: ignore[misc]
        def handle(self, sock: Any, client: Tuple[str, int]) -> None:
            host = str(client[0])
            if not watch.admit(host):
                watch.refuse(sock)
                return
            with watch.serving(sock, host):
                super().handle(sock, client)

        def start(self) -> None:
            super().start()
            self._rtcio_sweeper = gevent.spawn(watch.sweep_forever)

        def stop(self, timeout: Optional[float] = None) -> None:
            watch.stop()
            super().stop(timeout=timeout)

    options.setdefault("spawn", Pool(settings.max_connections))
    return WatchedWSGIServer(address, watch.wrap(app), **options)


# -- threads (werkzeug) -------------------------------------------------------

def threading_server(host: str, port: int, app: Callable[..., Any],
                     settings: ProtectionSettings,
                     request_handler: Any = None,
                     fd: Optional[int] = None) -> Any:
    """werkzeug's threaded server with the caps and timeouts of
    ``settings`` (``serve_forever()``/``shutdown()`` as usual)."""
    from werkzeug.serving import ThreadedWSGIServer

    watch = ConnectionWatch(settings, threading.get_ident, time.sleep)

    class WatchedServer(ThreadedWSGIServer):  # type: ignore[misc]
        def process_request(self, request: Any, client: Any) -> None:
            host = str(client[0])
            if not watch.admit(host):
                watch.refuse(request)
                self.shutdown_request(request)
                return
            super().process_request(request, client)

        def process_request_thread(self, request: Any, client: Any) -> None:
            with watch.serving(request, str(client[0])):
                super().process_request_thread(request, client)

    server = WatchedServer(host, port, watch.wrap(app),
                           handler=request_handler, fd=fd)
    threading.Thread(target=watch.sweep_forever, daemon=True,
                     name="rtcio-connection-sweep").start()
    return server
