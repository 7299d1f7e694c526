"""Run a test app for real: ``python -m tests.support.serve MOD:FACTORY
--mode eventlet --port N``.

The serving mode is chosen before anything else is imported, because eventlet
and gevent must monkey-patch the process first, exactly as their gunicorn
workers do. Prints ``READY <port>`` once the socket is listening.
"""

import argparse
import sys


def _args():
    parser = argparse.ArgumentParser()
    parser.add_argument("target", help="module:factory returning a Flask app")
    parser.add_argument("--mode", default="eventlet",
                        choices=["eventlet", "gevent", "threading"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    return parser.parse_args()


def main():
    args = _args()
    if args.mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    elif args.mode == "gevent":
        from gevent import monkey
        monkey.patch_all()

    import importlib
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    module_name, _, factory_name = args.target.partition(":")
    factory = getattr(importlib.import_module(module_name),
                      factory_name or "create_app")
    app = factory()

    if args.mode == "eventlet":
        import eventlet
        import eventlet.wsgi
        # A deep backlog and no 1024-connection cap (eventlet's default
        # max_size): the soak tests open thousands of sockets at once.
        listener = eventlet.listen((args.host, args.port), backlog=4096)
        print(f"READY {args.port}", flush=True)
        eventlet.wsgi.server(listener, app, log_output=False,
                             max_size=100_000)
    elif args.mode == "gevent":
        from gevent import pywsgi
        server = pywsgi.WSGIServer((args.host, args.port), app, log=None,
                                   backlog=4096)
        server.start()
        print(f"READY {args.port}", flush=True)
        server.serve_forever()
    else:
        from werkzeug.serving import make_server
        server = make_server(args.host, args.port, app, threaded=True)
        print(f"READY {args.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
