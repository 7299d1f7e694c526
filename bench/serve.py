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
    return app


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
