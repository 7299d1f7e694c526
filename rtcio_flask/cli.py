"""``rtcio-flask``: a complete rtc.io signaling server in one command, for
teams without a Flask app (the Node quickstart's ``server.listen(3001)``).

It is an ordinary Flask app with ``RTCIO(app, rooms=True)``, served by
eventlet when it is installed (monkey patched before anything else is
imported, as eventlet requires) and by a threaded server otherwise.
In memory and one process by default; ``--message-queue`` (or ``REDIS_URL``)
lets several copies behind a sticky balancer act as one server.
"""

import argparse
import dataclasses
import logging
import os
import re
import signal
import sys
import threading
import warnings

logger = logging.getLogger("rtcio_flask")

#: What the CLI allows when no origin is configured: the server's own origin
#: and pages on this machine (any port), so local development works at once
#: while nothing on another host can connect.
LOCAL_ORIGIN = re.compile(
    r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")

_SERVERS = ("auto", "eventlet", "gevent", "threading")

_PATCHED_ENV = "_RTCIO_FLASK_PATCHED"

_DESCRIPTION = """\
Run an rtc.io signaling server: the #rtcio:message relay, #rtcio:peer-left,
and built-in rooms (join-room, presence, init-offer, media-state, room
passwords, member caps), with a /healthz endpoint for load balancers.

Flags win over environment variables; both are optional.
"""

_EPILOG = """\
examples:
  rtcio-flask --port 3001
      local development: pages on http://localhost:<any port> may connect
  rtcio-flask --host 0.0.0.0 --port 3001 \\
      --allowed-origins https://app.example.com --credentials
      production behind your proxy, cookies allowed (withCredentials: true)
  REDIS_URL=redis://127.0.0.1:6379/0 rtcio-flask --port 3001
      one of several processes sharing rooms and relays through Redis
      (put them behind a load balancer with sticky sessions)
  RTCIO_TURN_SECRET=... rtcio-flask --turn-urls turn:turn.example.com:3478
      hand out time-limited TURN credentials on 'ask-ice'

environment:
  PORT, HOST                 like --port, --host
  ALLOWED_ORIGINS            like --allowed-origins (comma-separated, or *)
  RTCIO_CORS_CREDENTIALS=1   like --credentials
  REDIS_URL                  like --message-queue (also RTCIO_MESSAGE_QUEUE)
  RTCIO_TURN_SECRET          like --turn-secret (keeps it out of `ps`)
  RTCIO_TURN_URLS, RTCIO_STUN_URLS, RTCIO_TURN_TTL
"""


def build_parser():
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="rtcio-flask", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default=env.get("HOST", "127.0.0.1"),
                     help="address to listen on; 0.0.0.0 for every "
                          "interface (default: $HOST or 127.0.0.1)")
    net.add_argument("--port", type=int, default=_env_int("PORT", 3001),
                     help="TCP port (default: $PORT or 3001)")
    net.add_argument("--server", choices=_SERVERS, default="auto",
                     help="how to serve: eventlet, gevent or threading; "
                          "auto picks eventlet when installed (default: "
                          "auto)")
    web = parser.add_argument_group("who may connect")
    web.add_argument(
        "--allowed-origins", metavar="ORIGINS",
        default=env.get("ALLOWED_ORIGINS"),
        help="comma-separated browser origins allowed to connect, such as "
             "https://app.example.com,https://admin.example.com, or * for any "
             "(development). Default: $ALLOWED_ORIGINS, else this server's "
             "own origin and http(s)://localhost or 127.0.0.1 on any port")
    web.add_argument(
        "--credentials", action="store_true",
        default=_env_flag("RTCIO_CORS_CREDENTIALS"),
        help="allow cookies (socket.io-client withCredentials: true); "
             "needs explicit origins, not *")
    rooms = parser.add_argument_group("rooms")
    rooms.add_argument("--max-members", type=int, metavar="N",
                       default=_env_int("RTCIO_ROOMS_MAX_MEMBERS", None),
                       help="members per room before 'room-full' (default "
                            "50)")
    scale = parser.add_argument_group("several processes")
    scale.add_argument(
        "--message-queue", metavar="URL",
        default=env.get("RTCIO_MESSAGE_QUEUE") or env.get("REDIS_URL"),
        help="Redis URL shared by every process, such as "
             "redis://127.0.0.1:6379/0: relays, presence and rooms then "
             "work across processes (default: $REDIS_URL; none: one "
             "in-memory process)")
    turn = parser.add_argument_group("TURN credentials (ask-ice)")
    turn.add_argument("--turn-secret", default=env.get("RTCIO_TURN_SECRET"),
                      help="coturn's static-auth-secret (prefer "
                           "$RTCIO_TURN_SECRET: flags show in `ps`)")
    turn.add_argument("--turn-urls", metavar="URLS",
                      default=env.get("RTCIO_TURN_URLS"),
                      help="comma-separated turn:/turns: URLs")
    turn.add_argument("--stun-urls", metavar="URLS",
                      default=env.get("RTCIO_STUN_URLS"),
                      help="comma-separated stun: URLs handed out too")
    turn.add_argument("--turn-ttl", type=int, metavar="SECONDS",
                      default=_env_int("RTCIO_TURN_TTL", None),
                      help="credential lifetime (default 86400)")
    ops = parser.add_argument_group("operations")
    ops.add_argument("--health-path", default="/healthz",
                     help="health check path; answers {\"status\": \"ok\"}, "
                          "or 503 while shutting down (default: /healthz)")
    ops.add_argument("--log-level", default=env.get("LOG_LEVEL", "info"),
                     choices=["debug", "info", "warning", "error"],
                     help="(default: info)")
    ops.add_argument("--access-log", action="store_true",
                     help="log every HTTP request")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {_version()}")
    return parser


def _version():
    from . import __version__
    return __version__


def _env_int(name, default):
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"rtcio-flask: error: ${name} must be a whole "
                         f"number, not {value!r}") from None


def _env_flag(name):
    from .settings import parse_flag
    return parse_flag(os.environ.get(name, ""))


def pick_server(choice):
    """``auto`` means eventlet when it can be imported, else threads."""
    if choice != "auto":
        return choice
    try:
        import eventlet  # noqa: F401
    except ImportError:
        return "threading"
    return "eventlet"


def _patched(server_kind):
    if server_kind == "eventlet" and "eventlet" in sys.modules:
        from eventlet import patcher
        return patcher.is_monkey_patched("socket")
    if server_kind == "gevent" and "gevent" in sys.modules:
        from gevent import monkey
        return monkey.is_module_patched("socket")
    return server_kind == "threading"


_BOOT = {
    "eventlet": ("import warnings; warnings.filterwarnings('ignore', "
                 "message=r'\\s*Eventlet is deprecated'); "
                 "import eventlet; eventlet.monkey_patch()"),
    "gevent": "from gevent import monkey; monkey.patch_all()",
}


def _reexec_patched(server_kind, argv):
    """Start again with the monkey patching done before any other import.

    By the time this module runs, ``import rtcio_flask`` has already loaded
    Flask, python-socketio and the standard library's socket and threading;
    eventlet and gevent must patch those first, so the server re-executes
    itself with the patch as its very first statement.
    """
    if os.environ.get(_PATCHED_ENV):
        raise SystemExit(f"rtcio-flask: error: could not monkey patch "
                         f"{server_kind}")
    code = (_BOOT[server_kind] + "; import sys; "
            "from rtcio_flask.cli import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, **{_PATCHED_ENV: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-c", code] + list(argv), env)


def make_app(args, async_mode=None):
    """The signaling server's Flask app, configured from parsed arguments."""
    import flask

    from . import RTCIO
    from .cors import parse_origins_env

    app = flask.Flask("rtcio_flask.server")
    options = {"rooms": True if args.max_members is None else
               {"max_members": args.max_members},
               "health_path": args.health_path}
    origins = parse_origins_env(args.allowed_origins)
    if origins is None:
        own = _own_origin_or_local
        options["cors"] = {"origin": own, "credentials": args.credentials}
    else:
        options["cors"] = {"origin": origins,
                           "credentials": args.credentials}
    if args.message_queue:
        options["message_queue"] = args.message_queue
    if args.turn_secret or args.turn_urls:
        turn = {"secret": args.turn_secret, "urls": args.turn_urls}
        if args.stun_urls:
            turn["stun_urls"] = args.stun_urls
        if args.turn_ttl:
            turn["ttl"] = args.turn_ttl
        options["turn"] = turn
    if async_mode:
        options["async_mode"] = async_mode
    rtcio = RTCIO(app, **options)
    state = rtcio.state_for(app)
    # Refusals name the flag a CLI user changes, not RTCIO(cors=...).
    state.gate.policy = dataclasses.replace(
        state.gate.policy,
        setting="--allowed-origins (or $ALLOWED_ORIGINS)")

    @app.get("/")
    def index():
        return ("rtcio-flask signaling server: point an rtc.io (socket.io) "
                "client at this URL.\n", 200,
                {"Content-Type": "text/plain; charset=utf-8"})

    return app, state


def _own_origin_or_local(origin, environ):
    if LOCAL_ORIGIN.match(origin or ""):
        return True
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST", "")
    return bool(host) and origin == f"{scheme}://{host}"


def _describe(args, server_kind):
    origins = args.allowed_origins or ("this server and localhost pages "
                                       "(set --allowed-origins for others)")
    from .message_queue import redact
    queue = (f"rooms and relays shared through {redact(args.message_queue)}"
             if args.message_queue else "one process, rooms in memory")
    return (f"rtcio-flask {_version()} listening on "
            f"http://{args.host}:{args.port} ({server_kind}; {queue}); "
            f"allowed origins: {origins}; health: {args.health_path}")


def _check_queue(url):
    """Fail at start-up, clearly, when the message queue is unreachable."""
    from .message_queue import check_url, redact
    scheme = check_url(url, "--message-queue")
    if scheme not in ("redis", "rediss", "unix"):
        return
    import redis
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5,
                             socket_timeout=5).ping()
    except redis.RedisError as exc:
        raise ValueError(f"cannot reach the message queue at "
                         f"{redact(url)}: {exc}") from None


def _quiet_eventlet_notice():
    # eventlet prints a multi-line deprecation notice on import; the README
    # covers it, and operators' logs should start with our own line.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "peer":
        from .peer.command import main as peer_main
        return peer_main(argv[1:])
    _quiet_eventlet_notice()
    args = build_parser().parse_args(argv)
    server_kind = pick_server(args.server)
    if not _patched(server_kind):
        _reexec_patched(server_kind, argv)

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.message_queue:
            _check_queue(args.message_queue)
        app, state = make_app(args, async_mode=server_kind)
    except ValueError as exc:
        print(f"rtcio-flask: error: {exc}", file=sys.stderr)
        return 2
    serve = {"eventlet": _serve_eventlet, "gevent": _serve_gevent,
             "threading": _serve_threading}[server_kind]
    return serve(app, state, args)


def _on_sigterm(state, stop):
    """SIGTERM (and Ctrl-C): report draining, close every connection so the
    clients reconnect elsewhere, then stop the server."""
    from .deployment import drain

    def handler(signum, frame):
        if state.health.draining:
            return
        state.health.draining = True
        logger.info("rtcio: %s received, shutting down",
                    signal.Signals(signum).name)
        stop(lambda: drain(state.server))

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _serve_eventlet(app, state, args):
    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen((args.host, args.port))
    logger.info(_describe(args, "eventlet"))
    requested = []

    # A Python signal handler cannot wake eventlet's hub (the interrupted
    # wait is simply resumed), so the handler only records the request and
    # the main greenlet looks every quarter second.
    _on_sigterm(state, requested.append)
    serving = eventlet.spawn(eventlet.wsgi.server, listener, app,
                             log_output=args.access_log, debug=False)
    while not requested and not serving.dead:
        eventlet.sleep(0.25)
    if requested:
        requested[0]()                 # drain: close every connection
        eventlet.sleep(0.1)            # let their greenthreads finish
    serving.kill()
    return 0


def _serve_gevent(app, state, args):
    from gevent import pywsgi

    server = pywsgi.WSGIServer((args.host, args.port), app,
                               log="default" if args.access_log else None)
    server.start()
    logger.info(_describe(args, "gevent"))

    def stop(drain_all):
        import gevent
        gevent.spawn(lambda: (drain_all(), server.stop(timeout=2)))

    _on_sigterm(state, stop)
    server.serve_forever()
    return 0


def _serve_threading(app, state, args):
    from werkzeug.serving import WSGIRequestHandler, make_server

    handler = WSGIRequestHandler
    if not args.access_log:
        class handler(WSGIRequestHandler):  # noqa: N801
            def log_request(self, *a, **kw):
                pass

    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=handler)
    logger.info(_describe(args, "threading"))

    def stop(drain_all):
        def run():
            drain_all()
            server.shutdown()
        threading.Thread(target=run, daemon=True).start()

    _on_sigterm(state, stop)
    server.serve_forever()
    return 0

