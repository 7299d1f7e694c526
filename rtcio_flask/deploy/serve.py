"""The serve loops the project starts itself (``rtcio-flask`` and
``rtcio.run(app)``): eventlet, gevent or a threaded Werkzeug server, each
listening on a socket opened here and stopping through the one drain path
(:func:`~rtcio_flask.deploy.health.begin_drain`) on SIGTERM or Ctrl-C.

The listening socket is opened here, not by the server library, for one
reason: ``eventlet.listen`` sets ``SO_REUSEPORT``, so a second server on a
port already in use started silently and the kernel shared the requests
between the two processes (half of all polling requests then failed with
``Invalid session``). Here only ``SO_REUSEADDR`` is set (a restart does not
wait for TIME_WAIT), and a port in use is a start-up error.
"""

import errno
import logging
import signal
import socket
import sys
import threading
from typing import Any, Callable, List, NoReturn, Optional

from ..transport import serving
from .health import begin_drain

logger = logging.getLogger("rtcio_flask")

SERVERS = ("eventlet", "gevent", "threading")

#: Pending connections the kernel queues before accept (eventlet's default
#: of 50 is small for a reconnect storm after a restart).
BACKLOG = 1024


class PortInUse(ValueError):
    """Another process already listens on the address."""


def open_listener(host: str, port: int, instead: str) -> socket.socket:
    """A listening TCP socket on ``host:port`` without ``SO_REUSEPORT``.

    ``instead`` finishes the error message in the terms of the interface the
    user typed (``choose another --port``, ``pass another port:
    rtcio.run(app, port=...)``). Raises :class:`PortInUse` or ValueError.
    Under eventlet or gevent monkey patching the socket is cooperative.
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is not a TCP port (0 to 65535); "
                         f"{instead}")
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValueError(f"cannot listen on {host!r}: {exc.strerror}; give "
                         f"an address such as 127.0.0.1 or 0.0.0.0") from None
    # IPv4 first, as eventlet.listen and Werkzeug do for "localhost".
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use (another server, "
                f"perhaps a second copy of this one, listens there); stop "
                f"it or {instead}") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            # Another port would not help: the host is the mistake.
            raise ValueError(f"cannot listen on {host}: it is not an "
                             f"address of this machine; give one of its "
                             f"own, such as 127.0.0.1 (this machine only) "
                             f"or 0.0.0.0 (every interface)") from None
        if exc.errno == errno.EACCES:
            raise ValueError(f"no permission to listen on port {port} (ports "
                             f"below 1024 need root); {instead}") from None
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror}; "
                         f"{instead}") from None
    return sock


def set_process_title(title: str) -> bool:
    """Show ``title`` in ``ps`` and ``pgrep`` (the CLI re-executes itself as
    ``python -c ...``), when setproctitle is installed."""
    try:
        from setproctitle import setproctitle
    except ImportError:
        return False
    setproctitle(title)
    return True


def _protection(state: Any) -> Any:
    """The app's connection caps and timeouts (every init_app sets them)."""
    assert state.protection is not None
    return state.protection


def _on_signals(state: Any, stop: Callable[[Callable[[], None]], None]) \
        -> None:
    """SIGTERM and Ctrl-C: report draining, close every connection so the
    clients reconnect elsewhere, then stop the server. ``stop(drain)`` runs
    ``drain`` outside the signal handler, then stops the serve loop."""

    def handler(signum: int, frame: Any) -> None:
        if state.health.draining:
            return
        logger.info("rtcio: %s received, shutting down",
                    signal.Signals(signum).name)
        begin_drain(state.health, state.server, spawn=stop)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(app: Any, state: Any, kind: str, listener: socket.socket,
          banner: str, access_log: bool = False) -> int:
    """Serve ``app`` on ``listener`` with ``kind`` until SIGTERM/Ctrl-C;
    logs ``banner`` once the server accepts. Returns the exit code."""
    loops = {"eventlet": serve_eventlet, "gevent": serve_gevent,
             "threading": serve_threading}
    return loops[kind](app, state, listener, banner, access_log)


def serve_eventlet(app: Any, state: Any, listener: socket.socket,
                   banner: str, access_log: bool = False) -> int:
    import eventlet
    import eventlet.wsgi

    logger.info(banner)
    requested: List[Callable[[], None]] = []
    # A Python signal handler cannot wake eventlet's hub (the interrupted
    # wait is simply resumed), so the handler only records the request and
    # the main greenlet looks every quarter second.
    _on_signals(state, requested.append)
    # The per-address cap, header deadline and a pool far above eventlet's
    # 1,024 (see rtcio_flask.transport.serving).
    running = eventlet.spawn(serving.serve_eventlet, listener, app,
                             _protection(state), log_output=access_log,
                             debug=False)
    while not requested and not running.dead:
        eventlet.sleep(0.25)
    if requested:
        requested[0]()                 # drain: close every connection
        eventlet.sleep(0.1)            # let their greenthreads finish
    running.kill()
    return 0


def serve_gevent(app: Any, state: Any, listener: socket.socket,
                 banner: str, access_log: bool = False) -> int:
    import gevent

    server = serving.gevent_server(listener, app, _protection(state),
                                   log="default" if access_log else None)
    server.start()
    logger.info(banner)

    def stop(drain_all: Callable[[], None]) -> None:
        def run() -> None:
            drain_all()
            server.stop(timeout=2)
        gevent.spawn(run)

    _on_signals(state, stop)
    server.serve_forever()
    return 0


def werkzeug_handler(access_log: bool = False) -> Any:
    """Werkzeug's request handler, with two changes: no access log unless
    asked, and a connection that carried a websocket is closed when the
    websocket ends. Werkzeug otherwise reads on after the websocket and
    parses its last frame as a new request, logging ``code 400, message
    Bad request syntax ('\\x81\\x82...')`` for every closed websocket."""
    from werkzeug.serving import WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        def handle_one_request(self) -> None:
            super().handle_one_request()
            headers = getattr(self, "headers", None)
            if headers is not None and \
                    headers.get("Upgrade", "").lower() == "websocket":
                self.close_connection = True

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            if access_log:
                super().log_request(*args, **kwargs)

    return Handler


def serve_threading(app: Any, state: Any, listener: socket.socket,
                    banner: str, access_log: bool = False) -> int:
    host, port = listener.getsockname()[:2]
    server = serving.threading_server(
        host, port, app, _protection(state),
        request_handler=werkzeug_handler(access_log), fd=listener.fileno())
    logger.info(banner)

    def stop(drain_all: Callable[[], None]) -> None:
        def run() -> None:
            drain_all()
            server.shutdown()
        threading.Thread(target=run, daemon=True).start()

    _on_signals(state, stop)
    server.serve_forever()
    return 0


def run(app: Any, state: Any, host: Optional[str] = None,
        port: Optional[int] = None, log_output: bool = False) -> None:
    """``rtcio.run(app)``: serve ``app`` with the server its async mode
    needs (eventlet or gevent when their monkey patching is in effect,
    otherwise a threaded Werkzeug server), until SIGTERM or Ctrl-C.

    A start-up mistake (a port in use, an unknown host) is one line on
    stderr and exit status 2, as ``flask run`` and Werkzeug do, rather than
    a traceback.
    """
    from ..config import monkey_patched

    if not logger.hasHandlers():
        # A script that configured no logging still sees where it listens
        # and why a browser was refused, as Werkzeug's own log does.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    host = "127.0.0.1" if host is None else host
    if port is None:
        server_name = app.config.get("SERVER_NAME") or ""
        port = int(server_name.rsplit(":", 1)[1]) if ":" in server_name \
            else 5000
    kind = state.server.async_mode
    if kind not in SERVERS:
        _fail(f"rtcio.run serves eventlet, gevent or threading, not the "
              f"async mode {kind!r}; serve this app with its own server")
    if kind != "threading" and not monkey_patched(kind):
        _fail(f"async_mode={kind!r} needs {kind}'s monkey patching before "
              f"anything else is imported: put 'import {kind}; "
              + ("eventlet.monkey_patch()" if kind == "eventlet" else
                 "from gevent import monkey; monkey.patch_all()")
              + "' at the very top of your script, or leave async_mode "
              "unset to serve with threads")
    if kind == "threading":
        for other in ("eventlet", "gevent"):
            if other in sys.modules and not monkey_patched(other):
                logger.info("rtcio: %s is imported but not monkey patched, "
                            "so rtcio.run serves with threads; monkey patch "
                            "at the top of the script to serve with %s",
                            other, other)
                break
    try:
        listener = open_listener(host, int(port), "pass another port: "
                                 "rtcio.run(app, port=...)")
    except ValueError as exc:
        _fail(str(exc))
    bound = listener.getsockname()[1]
    banner = (f"rtcio: serving {app.name!r} on http://{host}:{bound} "
              f"({kind}); Ctrl-C to stop")
    serve(app, state, kind, listener, banner, access_log=log_output)


def _fail(message: str) -> NoReturn:
    print(f"rtcio: error: {message}", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(2)
