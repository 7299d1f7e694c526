"""The standalone server's Flask app, built from the parsed flags."""

import logging
import re

from ..config import REDIS_SCHEMES
from ..core.origins import build_policy, parse_origins_env
from ..deploy.message_queue import check_url, redact
from .args import _version

logger = logging.getLogger("rtcio_flask")

#: What the CLI allows when no origin is configured: the server's own origin
#: and pages on this machine (any port), so local development works at once
#: while nothing on another host can connect.
LOCAL_ORIGIN = re.compile(
    r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")

#: How refusals and errors name the origin setting to a CLI user.
ORIGINS_SETTING = "--allowed-origins (or $ALLOWED_ORIGINS)"


def make_app(args, async_mode=None):
    """The signaling server's Flask app, configured from parsed arguments."""
    import flask

    from .. import RTCIO

    app = flask.Flask("rtcio_flask.server")
    options = {"rooms": True if args.max_members is None else
               {"max_members": args.max_members},
               "health_path": args.health_path}
    origins = parse_origins_env(args.allowed_origins)
    # Built here so that refusals name the flag a CLI user changes, not
    # RTCIO(cors=...).
    options["cors"] = build_policy(
        _own_origin_or_local if origins is None else origins,
        credentials=args.credentials, setting=ORIGINS_SETTING)
    if args.message_queue:
        options["message_queue"] = args.message_queue
    if args.turn_secret or args.turn_urls:
        turn = {"secret": args.turn_secret, "urls": args.turn_urls}
        if args.stun_urls:
            turn["stun_urls"] = args.stun_urls
        if args.turn_ttl:
            turn["ttl"] = args.turn_ttl
        options["turn"] = turn
    if getattr(args, "recovery_window", None) is not None:
        options["recovery"] = args.recovery_window
    if async_mode:
        options["async_mode"] = async_mode
    rtcio = RTCIO(app, **options)
    state = rtcio.state_for(app)

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


def describe(args, server_kind):
    origins = args.allowed_origins or ("this server and localhost pages "
                                       "(set --allowed-origins for others)")
    queue = (f"rooms and relays shared through {redact(args.message_queue)}"
             if args.message_queue else "one process, rooms in memory")
    return (f"rtcio-flask {_version()} listening on "
            f"http://{args.host}:{args.port} ({server_kind}; {queue}); "
            f"allowed origins: {origins}; health: {args.health_path}")


def check_queue(url):
    """Fail at start-up, clearly, when the message queue is unreachable."""
    scheme = check_url(url, "--message-queue")
    if scheme not in REDIS_SCHEMES:
        return
    import redis
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5,
                             socket_timeout=5).ping()
    except redis.RedisError as exc:
        raise ValueError(f"cannot reach the message queue at "
                         f"{redact(url)}: {exc}") from None
