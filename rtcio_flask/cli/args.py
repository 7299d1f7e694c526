"""The command line of ``rtcio-flask``: flags, their environment
variables, and the help text."""

import argparse
import os
import sys
from typing import Callable, NoReturn, Optional, TypeVar

from ..core.values import strict_flag

N = TypeVar("N", int, float)

_SERVERS = ("auto", "eventlet", "gevent", "threading")

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
  rtcio-flask peer http://127.0.0.1:3001 --room lobby
      not a server: a Python WebRTC peer that joins a room and echoes
      what it receives (rtcio-flask peer --help; pip install
      "rtcio-flask[peer]")

environment:
  PORT, HOST                 like --port, --host
  ALLOWED_ORIGINS            like --allowed-origins (comma-separated, or *;
                             also RTCIO_ALLOWED_ORIGINS)
  RTCIO_CORS_CREDENTIALS=1   like --credentials
  REDIS_URL                  like --message-queue (also RTCIO_MESSAGE_QUEUE):
                             redis://, rediss://, unix://, valkey://,
                             redis+sentinel://h1:26379,h2:26379/0/mymaster
  RTCIO_ROOMS_REDIS          a Redis URL for rooms and recovery beside an
                             amqp:// queue
  RTCIO_TURN_SECRET          like --turn-secret (keeps it out of `ps`)
  RTCIO_TURN_URLS, RTCIO_STUN_URLS, RTCIO_TURN_TTL
  RTCIO_METRICS=1            like --metrics
  RTCIO_ADMIN_USERNAME, RTCIO_ADMIN_PASSWORD
                             turn on the socket.io Admin UI (its page at /admin/,
                             RTCIO_ADMIN_UI_PATH to move it)
  RTCIO_RECOVERY_WINDOW      like --recovery-window
"""


def cli_error(message: str) -> NoReturn:
    """The one way the command line reports a start-up mistake: one line,
    exit status 2 (as argparse does for a bad flag)."""
    sys.stdout.flush()
    print(f"rtcio-flask: error: {message}", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (no usage block above it)."""

    def error(self, message: str) -> NoReturn:
        cli_error(f"{message} (rtcio-flask --help lists every flag)")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number; write a number from 1 to "
            f"65535, such as --port 3001") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"{value} is not a TCP port; write a number from 1 to 65535, "
            f"such as --port 3001")
    return value


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = _Parser(
        prog="rtcio-flask", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default=env.get("HOST", "127.0.0.1"),
                     help="address to listen on; 0.0.0.0 for every "
                          "interface (default: $HOST or 127.0.0.1)")
    net.add_argument("--port", type=_port, default=_env_port(),
                     help="TCP port (default: $PORT or 3001)")
    net.add_argument("--server", choices=_SERVERS, default="auto",
                     help="how to serve: eventlet, gevent or threading; "
                          "auto picks eventlet when installed (default: "
                          "auto)")
    web = parser.add_argument_group("who may connect")
    web.add_argument(
        "--allowed-origins", metavar="ORIGINS",
        # An empty $ALLOWED_ORIGINS (compose's ${ALLOWED_ORIGINS}) is unset;
        # an empty --allowed-origins '' is a mistake (cli/app.py says so).
        # RTCIO_ALLOWED_ORIGINS is RTCIO(app)'s name for it: read too (the
        # command passes cors= itself, so RTCIO(app) never would).
        default=env.get("ALLOWED_ORIGINS") or
        env.get("RTCIO_ALLOWED_ORIGINS") or None,
        help="comma-separated browser origins allowed to connect, such as "
             "https://app.example.com,https://admin.example.com, or * for any "
             "(development). Default: $ALLOWED_ORIGINS (or "
             "$RTCIO_ALLOWED_ORIGINS), else this server's "
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
    scale.add_argument(
        "--recovery-window", type=float, metavar="SECONDS",
        default=_env_float("RTCIO_RECOVERY_WINDOW", None),
        help="how long a dropped client may come back with its socket id, "
             "rooms and missed packets (socket.io connection state "
             "recovery); 0 turns it off (default: $RTCIO_RECOVERY_WINDOW "
             "or 120)")
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
    guard = parser.add_argument_group("protection")
    guard.add_argument(
        "--max-connections-per-address", type=int, metavar="N",
        default=None,
        help="socket.io connections one client address may hold (twice as "
             "many TCP connections); 0 turns the cap off (default: "
             "$RTCIO_MAX_CONNECTIONS_PER_ADDRESS or 200)")
    guard.add_argument(
        "--trusted-proxy-hops", type=int, metavar="N", default=None,
        help="proxies in front whose X-Forwarded-For is trusted for the "
             "client address (default: $RTCIO_TRUSTED_PROXY_HOPS or 0)")
    guard.add_argument(
        "--header-timeout", type=float, metavar="SECONDS", default=None,
        help="time a new connection has to send its request headers "
             "(default: $RTCIO_HEADER_TIMEOUT or 10)")
    ops = parser.add_argument_group("operations")
    ops.add_argument("--health-path", default="/healthz",
                     help="health check path; answers {\"status\": \"ok\"}, "
                          "or 503 while shutting down (default: /healthz)")
    ops.add_argument("--metrics", action="store_true",
                     default=_env_flag("RTCIO_METRICS"),
                     help="serve Prometheus metrics at /metrics (needs "
                          "prometheus_client: pip install "
                          "'rtcio-flask[metrics]')")
    ops.add_argument("--log-level", default=env.get("LOG_LEVEL", "info"),
                     choices=["debug", "info", "warning", "error"],
                     help="(default: info)")
    ops.add_argument("--access-log", action="store_true",
                     help="log every HTTP request")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {_version()}")
    return parser


def _version() -> str:
    from .. import __version__
    return str(__version__)


def _env_number(name: str, default: Optional[N], parse: Callable[[str], N],
                what: str) -> Optional[N]:
    """A flag's default from environment variable ``name``: unset or blank
    gives ``default``, text ``parse`` refuses is a one-line error."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return parse(value)
    except ValueError:
        cli_error(f"${name} must be {what}, not {value!r}")


def _env_int(name: str, default: Optional[int]) -> Optional[int]:
    return _env_number(name, default, int, "a whole number")


def _env_port() -> int:
    port: Optional[int] = _env_int("PORT", 3001)
    if port is None or not 1 <= port <= 65535:
        cli_error(f"$PORT must be a TCP port from 1 to 65535, not {port}")
    return port


def _env_float(name: str, default: Optional[float]) -> Optional[float]:
    return _env_number(name, default, float, "a number of seconds")


def _env_flag(name: str) -> bool:
    """An on/off variable; a word that is neither (``ture``) is a one-line
    error, not a quiet off."""
    try:
        return strict_flag(os.environ.get(name, ""), f"${name}")
    except ValueError as exc:
        cli_error(str(exc))
