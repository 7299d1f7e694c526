"""Run one benchmark server: ``python -m bench.serve rtcio|naive --mode
eventlet|gevent|threading --port N``.

The serving mode is chosen before anything else is imported, because
eventlet and gevent must monkey-patch the process first, as their gunicorn
workers do. Prints ``READY <port>`` once listening.
"""

import argparse
import sys


def rtcio_app(mode):
    """RTCIO as a user would deploy it for rtc.io: protocol and built-in
    rooms on, limits on (raised so the load generator's bursts, far above
    a browser's, are measured rather than dropped)."""
    import flask

    from rtcio_flask import RTCIO

    app = flask.Flask("bench")
    options = dict(cors="*", async_mode=mode,
                   limits={"rate": 1_000_000, "burst": 1_000_000})
    try:
        import rtcio_flask.rooms  # noqa: F401  (built-in rooms landed)
        options["rooms"] = True
    except ImportError:
        pass
    rtcio = RTCIO(app, **options)
    if "rooms" not in options:
        _app_level_rooms(rtcio)
    return app


def _app_level_rooms(rtcio):
    """The Node reference's join-room flow, for builds without rooms=."""
    names = {}

    @rtcio.on("join-room")
    def join_room(sid, data):
        server = rtcio.server
        room, names[sid] = data["roomId"], data.get("name")
        existing = [s for s, _ in server.manager.get_participants("/", room)]
        server.enter_room(sid, room)
        for other in existing:
            server.emit("user-connected", {"id": other,
                                           "name": names.get(other)}, to=sid)
        server.emit("user-connected", {"id": sid, "name": names[sid]},
                    to=room, skip_sid=sid)
        server.emit("#rtcio:init-offer", {"source": sid}, to=room,
                    skip_sid=sid)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["rtcio", "naive"])
    parser.add_argument("--mode", default="eventlet",
                        choices=["eventlet", "gevent", "threading"])
    parser.add_argument("--port", type=int, required=True)
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
        app = rtcio_app(args.mode)
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
