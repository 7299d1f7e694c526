"""Run one benchmark server: ``python -m bench.serve rtcio|naive --mode
eventlet|gevent|threading --port N``.

The serving mode is chosen before anything else is imported, because
eventlet and gevent must monkey-patch the process first, as their gunicorn
workers do. Prints ``READY <port>`` once listening.
"""

import argparse
import sys


def rtcio_app(mode, queue=None):
    """RTCIO as a user would deploy it for rtc.io: protocol, built-in
    rooms and connection state recovery on (``RTCIO_RECOVERY_WINDOW=0`` in
    the environment measures it off), limits on (raised so the load
    generator's bursts, far above a browser's, are measured rather than
    dropped), and no per-address connection cap: every load-generator
    client comes from 127.0.0.1, as a deployment behind one proxy would
    see them. ``queue`` (or ``RTCIO_MESSAGE_QUEUE``): a Redis URL, as a
    scaled-out deployment runs (rooms and recovery then live in Redis)."""
    import os

    import flask

    from rtcio_flask import RTCIO

    app = flask.Flask("bench")
    queue = queue or os.environ.get("RTCIO_MESSAGE_QUEUE")
    extra = {"message_queue": queue} if queue else {}
    RTCIO(app, cors="*", async_mode=mode, rooms=True,
          limits={"rate": 1_000_000, "burst": 1_000_000},
          max_connections_per_address=0, **extra)
    if os.environ.get("BENCH_MEMORY"):
        memory_probe(app, int(os.environ["BENCH_MEMORY"]))
    return app


def memory_probe(app, frames):
    """A debugging aid for the idle-memory figure (``BENCH_MEMORY=N`` in
    the server's environment): ``tracemalloc`` on from here, keeping ``N``
    frames per allocation, and ``GET /_bench/memory`` answering with the
    process's RSS, what tracemalloc traces, the greenlets alive and the C
    stack they have saved (greenlet's own count), after a full garbage
    collection; ``?dump=PATH`` also writes a tracemalloc snapshot there, to
    diff two of them (before and after N idle sockets) by line or by
    traceback. Never on in a measured run: tracing slows every
    allocation."""
    import gc
    import tracemalloc

    import flask

    tracemalloc.start(frames)

    @app.route("/_bench/memory")
    def bench_memory():
        import greenlet
        gc.collect()
        greenlets = [g for g in gc.get_objects()
                     if isinstance(g, greenlet.greenlet) and not g.dead]
        with open("/proc/self/status") as status:
            rss = next(int(line.split()[1]) for line in status
                       if line.startswith("VmRSS:"))
        dump = flask.request.args.get("dump")
        if dump:
            tracemalloc.take_snapshot().dump(dump)
        return {"rss_kib": rss,
                "traced": tracemalloc.get_traced_memory()[0],
                "greenlets": len(greenlets),
                "stack_saved": sum(g._stack_saved for g in greenlets),
                "objects": len(gc.get_objects())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["rtcio", "naive"])
    parser.add_argument("--mode", default="eventlet",
                        choices=["eventlet", "gevent", "threading"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue", help="message queue URL (redis://...)")
    args = parser.parse_args()
    if args.mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    elif args.mode == "gevent":
        from gevent import monkey
        monkey.patch_all()

    import logging
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.kind == "rtcio":
        app = rtcio_app(args.mode, args.queue)
    else:
        from bench.naive import create_app
        app = create_app(args.mode)

    host = "127.0.0.1"
    if args.mode == "eventlet":
        import eventlet.wsgi
        listener = eventlet.listen((host, args.port), backlog=2048)
        print(f"READY {args.port}", flush=True)
        eventlet.wsgi.server(listener, app, log_output=False,
                             max_size=100_000)
    elif args.mode == "gevent":
        from gevent import pywsgi
        server = pywsgi.WSGIServer((host, args.port), app, log=None,
                                   backlog=2048)
        print(f"READY {args.port}", flush=True)
        server.serve_forever()
    else:
        from werkzeug.serving import make_server
        server = make_server(host, args.port, app, threaded=True)
        server.socket.listen(2048)
        print(f"READY {args.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
