"""The three serve loops of ``rtcio-flask`` (eventlet, gevent, threads),
each stopping through the one drain path on SIGTERM or Ctrl-C."""

import logging
import signal
import argparse
import threading
from typing import TYPE_CHECKING, Any, Callable, List

from ..deploy.health import begin_drain
from ..transport import serving
from .app import describe

if TYPE_CHECKING:
    from ..core.protection import ProtectionSettings
    from ..extension import AppState

logger = logging.getLogger("rtcio_flask")

#: ``stop(drain)``: run ``drain`` outside the signal handler, then stop.
Stop = Callable[[Callable[[], Any]], Any]


def _protection(state: "AppState") -> "ProtectionSettings":
    """The app's connection caps and timeouts (set by every init_app)."""
    assert state.protection is not None
    return state.protection


def _on_sigterm(state: "AppState", stop: Stop) -> None:
    """SIGTERM (and Ctrl-C): report draining, close every connection so the
    clients reconnect elsewhere (:func:`~rtcio_flask.deploy.health.begin_drain`),
    then stop the server. ``stop(drain)`` runs ``drain`` outside the signal
    handler, then stops the serve loop."""

    health = state.health
    assert health is not None  # init_app set it

    def handler(signum: int, frame: Any) -> None:
        if health.draining:
            return
        logger.info("rtcio: %s received, shutting down",
                    signal.Signals(signum).name)
        begin_drain(health, state.server, spawn=stop)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve_eventlet(app: Any, state: "AppState",
                   args: argparse.Namespace) -> int:
    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen((args.host, args.port), backlog=2048)
    logger.info(describe(args, "eventlet"))
    requested: List[Callable[[], Any]] = []

    # A Python signal handler cannot wake eventlet's hub (the interrupted
    # wait is simply resumed), so the handler only records the request and
    # the main greenlet looks every quarter second.
    _on_sigterm(state, requested.append)
    # The per-address cap, header deadline and a pool far above eventlet's
    # 1,024 (see rtcio_flask.transport.serving).
    running = eventlet.spawn(serving.serve_eventlet, listener, app,
                             _protection(state), log_output=args.access_log,
                             debug=False)
    while not requested and not running.dead:
        eventlet.sleep(0.25)
    if requested:
        requested[0]()                 # drain: close every connection
        eventlet.sleep(0.1)            # let their greenthreads finish
    running.kill()
    return 0


def serve_gevent(app: Any, state: "AppState",
                 args: argparse.Namespace) -> int:
    server = serving.gevent_server(
        (args.host, args.port), app, _protection(state),
        log="default" if args.access_log else None, backlog=2048)
    server.start()
    logger.info(describe(args, "gevent"))

    def stop(drain_all: Callable[[], Any]) -> None:
        import gevent
        gevent.spawn(lambda: (drain_all(), server.stop(timeout=2)))

    _on_sigterm(state, stop)
    server.serve_forever()
    return 0


def serve_threading(app: Any, state: "AppState",
                    args: argparse.Namespace) -> int:
    from werkzeug.serving import WSGIRequestHandler

    handler = WSGIRequestHandler
    if not args.access_log:
        class _Quiet(WSGIRequestHandler):
            def log_request(self, *a: Any, **kw: Any) -> None:
                pass
        handler = _Quiet

    server = serving.threading_server(args.host, args.port, app,
                                      _protection(state),
                                      request_handler=handler)
    logger.info(describe(args, "threading"))

    def stop(drain_all: Callable[[], Any]) -> None:
        def run() -> None:
            drain_all()
            server.shutdown()
        threading.Thread(target=run, daemon=True).start()

    _on_sigterm(state, stop)
    server.serve_forever()
    return 0
