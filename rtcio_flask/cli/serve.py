"""The three serve loops of ``rtcio-flask`` (eventlet, gevent, threads),
each stopping through the one drain path on SIGTERM or Ctrl-C."""

import logging
import signal
import threading

from ..deploy.health import begin_drain
from ..transport import serving
from .app import describe

logger = logging.getLogger("rtcio_flask")


def _on_sigterm(state, stop):
    """SIGTERM (and Ctrl-C): report draining, close every connection so the
    clients reconnect elsewhere (:func:`~rtcio_flask.deploy.health.begin_drain`),
    then stop the server. ``stop(drain)`` runs ``drain`` outside the signal
    handler, then stops the serve loop."""

    def handler(signum, frame):
        if state.health.draining:
            return
        logger.info("rtcio: %s received, shutting down",
                    signal.Signals(signum).name)
        begin_drain(state.health, state.server, spawn=stop)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve_eventlet(app, state, args):
    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen((args.host, args.port), backlog=2048)
    logger.info(describe(args, "eventlet"))
    requested = []

    # A Python signal handler cannot wake eventlet's hub (the interrupted
    # wait is simply resumed), so the handler only records the request and
    # the main greenlet looks every quarter second.
    _on_sigterm(state, requested.append)
    # The per-address cap, header deadline and a pool far above eventlet's
    # 1,024 (see rtcio_flask.transport.serving).
    running = eventlet.spawn(serving.serve_eventlet, listener, app,
                             state.protection, log_output=args.access_log,
                             debug=False)
    while not requested and not running.dead:
        eventlet.sleep(0.25)
    if requested:
        requested[0]()                 # drain: close every connection
        eventlet.sleep(0.1)            # let their greenthreads finish
    running.kill()
    return 0


def serve_gevent(app, state, args):
    server = serving.gevent_server(
        (args.host, args.port), app, state.protection,
        log="default" if args.access_log else None, backlog=2048)
    server.start()
    logger.info(describe(args, "gevent"))

    def stop(drain_all):
        import gevent
        gevent.spawn(lambda: (drain_all(), server.stop(timeout=2)))

    _on_sigterm(state, stop)
    server.serve_forever()
    return 0


def serve_threading(app, state, args):
    from werkzeug.serving import WSGIRequestHandler

    handler = WSGIRequestHandler
    if not args.access_log:
        class handler(WSGIRequestHandler):  # noqa: N801
            def log_request(self, *a, **kw):
                pass

    server = serving.threading_server(args.host, args.port, app,
                                      state.protection,
                                      request_handler=handler)
    logger.info(describe(args, "threading"))

    def stop(drain_all):
        def run():
            drain_all()
            server.shutdown()
        threading.Thread(target=run, daemon=True).start()

    _on_sigterm(state, stop)
    server.serve_forever()
    return 0
