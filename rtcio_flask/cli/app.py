"""The standalone server's Flask app, built from the parsed flags."""

import logging
import argparse
import os
import re
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from ..config import REDIS_SCHEMES, strict_flag
from ..core.recovery_log import DEFAULT_WINDOW
from ..core.origins import (ANY, OriginError, OriginPolicy, build_policy,
                            parse_origins_env, same_origins)
from ..deploy.message_queue import check_url, redact
from ..deploy.redis_client import check_reachable
from .args import _version

if TYPE_CHECKING:
    import flask

    from ..extension import AppState

logger = logging.getLogger("rtcio_flask")

#: What the CLI allows when no origin is configured: the server's own origin
#: and pages on this machine (any port), so local development works at once
#: while nothing on another host can connect.
LOCAL_ORIGIN = re.compile(
    r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")

#: How refusals and errors name the origin setting to a CLI user.
ORIGINS_SETTING = "--allowed-origins (or $ALLOWED_ORIGINS)"

#: What the default policy allows, in refusals ("it is not ...").
DEFAULT_ORIGINS = ("this server's own origin or a page on localhost, "
                   "127.0.0.1 or [::1] (the default without "
                   "--allowed-origins)")


def make_app(args: argparse.Namespace, async_mode: Optional[str] = None
             ) -> Tuple["flask.Flask", "AppState"]:
    """The signaling server's Flask app, configured from parsed arguments."""
    import flask

    from .. import RTCIO

    app = flask.Flask("rtcio_flask.server")
    options: Dict[str, Any] = {"rooms": True if args.max_members is None else
               {"max_members": args.max_members},
               "health_path": args.health_path}
    # Built here so that refusals name the flag a CLI user changes, not
    # RTCIO(cors=...).
    options["cors"] = origin_policy(args.allowed_origins, args.credentials)
    if args.metrics:
        options["metrics"] = True
    for name in ("max_connections_per_address", "trusted_proxy_hops",
                 "header_timeout"):
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    if args.message_queue:
        options["message_queue"] = args.message_queue
    if args.turn_secret or args.turn_urls:
        turn = {"secret": args.turn_secret, "urls": args.turn_urls}
        if args.stun_urls:
            turn["stun_urls"] = args.stun_urls
        if args.turn_ttl is not None:  # 0 is refused, not the default
            if args.turn_ttl < 1:
                raise ValueError(
                    f"--turn-ttl must be a positive whole number of seconds "
                    f"(such as 86400, one day), not {args.turn_ttl}")
            turn["ttl"] = args.turn_ttl
        options["turn"] = turn
    if getattr(args, "recovery_window", None) is not None:
        options["recovery"] = args.recovery_window
    if async_mode:
        options["async_mode"] = async_mode
    rtcio = RTCIO(app, **options)
    state = rtcio.state_for(app)

    @app.get("/")
    def index() -> Tuple[str, int, Dict[str, str]]:
        return ("rtcio-flask signaling server: point an rtc.io (socket.io) "
                "client at this URL.\n", 200,
                {"Content-Type": "text/plain; charset=utf-8"})

    return app, state


def origin_policy(allowed: Optional[str], credentials: bool) \
        -> OriginPolicy:
    """The CLI's origin policy, every mistake explained in flags (a
    ValueError the caller prints as ``rtcio-flask: error: ...``)."""
    if allowed is None:
        return build_policy(_own_origin_or_local, credentials=credentials,
                            setting=ORIGINS_SETTING,
                            described=DEFAULT_ORIGINS)
    origins = parse_origins_env(allowed)
    if origins is None:
        raise ValueError(
            f"--allowed-origins {allowed!r} lists no origin; write one or "
            f"more, comma-separated (--allowed-origins "
            f"https://app.example.com), * for any origin in development, or "
            f"leave the flag out for this server's own origin and "
            f"localhost pages")
    if origins == ANY and credentials:
        raise ValueError(
            "--allowed-origins '*' cannot be combined with --credentials "
            "(browsers refuse cookies with a wildcard answer); list the "
            "origins instead: --allowed-origins https://app.example.com "
            "--credentials")
    try:
        return build_policy(origins, credentials=credentials,
                            setting=ORIGINS_SETTING)
    except OriginError as exc:
        raise ValueError(
            f"--allowed-origins: {exc.value!r} is not an origin ({exc.why}); "
            f"write scheme://host[:port], such as --allowed-origins "
            f"https://app.example.com") from None


def _own_origin_or_local(origin: Optional[str],
                         environ: Mapping[str, Any]) -> bool:
    """A page on this machine, or on the server's own origin as the
    browser sees it: behind a proxy that ends TLS that is ``https://`` from
    ``X-Forwarded-Proto`` (the rule ``RTCIO(app)`` keeps, in
    :func:`same_origins`), not the ``http://`` the process is served on."""
    if LOCAL_ORIGIN.match(origin or ""):
        return True
    return (origin or "").lower() in same_origins(environ)


def describe(args: argparse.Namespace, server_kind: str) -> str:
    origins = args.allowed_origins or ("this server and localhost pages "
                                       "(set --allowed-origins for others)")
    queue = (f"rooms and relays shared through {redact(args.message_queue)}"
             if args.message_queue else "one process, rooms in memory")
    window = getattr(args, "recovery_window", None)
    recovery = ("recovery off" if window == 0 else
                f"recovery window "
                f"{DEFAULT_WINDOW if window is None else window:g} s")
    return (f"rtcio-flask {_version()} listening on "
            f"http://{args.host}:{args.port} ({server_kind}; {queue}; "
            f"{recovery}); allowed origins: {origins}; health: "
            f"{args.health_path}")


#: What the CLI's refusal of an unreachable Redis offers instead, in the
#: command line's terms (RTCIO(...)'s own names start_without_queue=True).
START_ANYWAY = ("start Redis (or correct --message-queue / $REDIS_URL), or "
                "set RTCIO_START_WITHOUT_QUEUE=1 to start without it")


def check_queue(url: str, environ: Mapping[str, str] = os.environ) -> None:
    """Fail at start-up, clearly, when the message queue is unreachable,
    unless ``RTCIO_START_WITHOUT_QUEUE`` says to start anyway (as it does
    for ``RTCIO(app)``: Redis may come up after this process)."""
    scheme = check_url(url, "--message-queue")
    if scheme not in REDIS_SCHEMES or strict_flag(
            environ.get("RTCIO_START_WITHOUT_QUEUE", ""),
            "environment variable RTCIO_START_WITHOUT_QUEUE"):
        return
    check_reachable(url, "the message queue", hint=START_ANYWAY)
