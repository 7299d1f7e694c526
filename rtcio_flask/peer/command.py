"""``rtcio-flask peer URL --room ROOM``: a Python peer for operators and
tests. It joins the room, prints one JSON line per event on stdout, and
with ``--echo`` sends every event back to its sender on the same channel.

Failures are one line ``rtcio-flask peer: error: ...`` on stderr and a
non-zero exit code, never a traceback: 1 for a runtime failure (server
unreachable, connection or join refused, a peer that never connects), 2
for bad usage. :func:`run_bot` gives a bot script the same ending.
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import sys
from typing import (Any, Coroutine, Dict, List, NoReturn, Optional,
                    Tuple, TypeVar)

from .errors import PeerError, PeerTimeout

PROG = "rtcio-flask peer"

T = TypeVar("T")

_DESCRIPTION = """\
Join an rtc.io room as a peer (aiortc), next to browsers, and print one JSON
line per event: joined, peer-connect, peer-disconnect, track, message
(with its channel: null for the control channel), binary, left.
"""

_EPILOG = """\
examples:
  rtcio-flask peer http://127.0.0.1:3001 --room lobby --name bot --echo
  rtcio-flask peer https://rtc.example.com --room call --name recorder \\
      --password s3cret --record call.ogg --ice ask
  rtcio-flask peer http://127.0.0.1:3001 --room lobby \\
      --header "Cookie: session=$(cat cookie.txt)"   # an app that needs a login

The peer sends no Origin header (it is not a browser), so a server that
lists only browser origins accepts it; --origin sends one on purpose.
SIGTERM or Ctrl-C leaves cleanly: the others get peer-disconnect.
"""


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line and exit status 2, like the server's
    own command line (no usage block above it)."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message} ({PROG} --help lists every flag)",
              file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the signaling server, e.g. "
                                    "http://127.0.0.1:3001")
    parser.add_argument("--room", required=True, help="room to join")
    parser.add_argument("--name", default="python-peer",
                        help="name the others see (default: python-peer)")
    parser.add_argument("--password", help="room password")
    parser.add_argument("--channel", action="append", default=[],
                        metavar="NAME",
                        help="open the named channel NAME to every peer "
                             "(repeatable)")
    parser.add_argument("--echo", action="store_true",
                        help="send every event back to its sender, on the "
                             "same channel, with the same name and "
                             "arguments")
    parser.add_argument("--record", metavar="FILE",
                        help="record the first audio track a peer sends "
                             "(.wav, .ogg...; {peer} in FILE: one file per "
                             "peer)")
    parser.add_argument("--play", metavar="FILE",
                        help="send the audio of a media file to every peer")
    parser.add_argument("--ice", metavar="ask|JSON",
                        help="'ask': fetch ICE servers (TURN credentials) "
                             "with ask-ice; or a JSON list of {urls, "
                             "username, credential}; default: host "
                             "candidates only")
    parser.add_argument("--relay-only", action="store_true",
                        help="use TURN relays only (iceTransportPolicy "
                             "relay)")
    parser.add_argument("--origin",
                        help="send this Origin header (default: none)")
    parser.add_argument("--header", action="append", default=[],
                        type=_header, metavar="'NAME: VALUE'",
                        help="send this HTTP header with the handshake, "
                             "for example a login cookie: --header "
                             "'Cookie: session=...' (repeatable)")
    parser.add_argument("--auth", type=_auth, metavar="JSON",
                        help="the socket.io auth object, as JSON: --auth "
                             "'{\"token\": \"...\"}' (the app's connect "
                             "handler gets it)")
    parser.add_argument("--path", default="socket.io",
                        help="socket.io path (default: socket.io)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        metavar="SECONDS",
                        help="for connecting and joining (default: 10)")
    parser.add_argument("--peer-timeout", type=float, default=30.0,
                        metavar="SECONDS",
                        help="a room member that has not connected "
                             "peer-to-peer after this long is an error "
                             "(exit 1); 0: wait forever (default: 30)")
    parser.add_argument("--no-reconnect", action="store_true",
                        help="exit when the signaling connection drops "
                             "instead of reconnecting")
    parser.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"],
                        help="log to stderr from this level (default: "
                             "warning)")
    return parser


def _header(text: str) -> Tuple[str, str]:
    """``'Name: value'`` -> ``("Name", "value")``, for ``--header``."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a header; write 'Name: value', such as "
            f"--header 'Cookie: session=...'")
    return name, value.strip()


def _auth(text: str) -> Dict[str, Any]:
    """``--auth``: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a JSON object; write --auth "
            f"'{{\"token\": \"...\"}}'")
    return value


def header_dict(pairs: List[Tuple[str, str]]) -> Dict[str, str]:
    """The ``--header`` pairs as one dict: a name given twice keeps both
    values (cookies joined with ``; ``, other headers with ``, ``)."""
    headers: Dict[str, str] = {}
    for name, value in pairs:
        key = next((k for k in headers if k.lower() == name.lower()), name)
        if key in headers:
            glue = "; " if name.lower() == "cookie" else ", "
            headers[key] = headers[key] + glue + value
        else:
            headers[key] = value
    return headers


def run_bot(main: Coroutine[Any, Any, T], prog: Optional[str] = None) -> T:
    """``asyncio.run(main)`` for a bot script: a :class:`PeerError` (the
    server refused the connection or the join, a peer never connected...)
    ends the program with one line on stderr, ``<prog>: error: <why>``, and
    exit status 1 instead of a traceback; Ctrl-C exits with 130."""
    prog = prog or os.path.basename(sys.argv[0] or "") or "bot"
    try:
        return asyncio.run(main)
    except PeerError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _print(record: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _ice_option(value: Optional[str]) -> Any:
    if value is None or value == "ask":
        return value
    try:
        servers = json.loads(value)
    except ValueError:
        raise PeerError("--ice is 'ask' or a JSON list of ICE servers")
    if not isinstance(servers, list) or not all(
            isinstance(s, dict) and "urls" in s for s in servers):
        raise PeerError("--ice is a JSON list of {\"urls\": ...} objects")
    return servers


async def run(args: argparse.Namespace) -> int:
    """The command's life: connect, join, report, echo, leave."""
    from .media import play, record
    from .peer import Message, Peer, RemotePeer

    peer = Peer(args.url, ice_servers=_ice_option(args.ice),
                relay_only=args.relay_only, origin=args.origin,
                headers=header_dict(args.header), auth=args.auth,
                path=args.path, reconnect=not args.no_reconnect,
                peer_timeout=args.peer_timeout or None)
    for name in args.channel:
        peer.create_channel(name)
    recording = record(peer, args.record) if args.record else None
    if args.play:
        play(peer, args.play)
    stop = asyncio.Event()
    failure: List[PeerError] = []

    @peer.on("peer-connect")
    def connected(remote: RemotePeer) -> None:
        _print({"type": "peer-connect", "peer": remote.id,
                "name": remote.name})

    @peer.on("peer-disconnect")
    def disconnected(remote: RemotePeer) -> None:
        _print({"type": "peer-disconnect", "peer": remote.id,
                "name": remote.name})

    @peer.on("peer-failed")
    def failed(remote: RemotePeer, reason: str) -> None:
        failure.append(PeerTimeout(remote.id, reason))
        stop.set()

    @peer.on("track-added")
    def track(remote: RemotePeer, media: Any) -> None:
        _print({"type": "track", "peer": remote.id, "kind": media.kind})

    @peer.on("disconnect")
    def signaling_lost() -> None:
        if args.no_reconnect:
            failure.append(PeerError("the signaling server closed the "
                                     "connection"))
            stop.set()

    @peer.on_message
    def message(msg: Message) -> None:
        where = {"peer": msg.remote.id, "channel": msg.channel}
        if msg.data is not None:
            _print(dict(type="binary", size=len(msg.data),
                        base64=base64.b64encode(msg.data).decode("ascii"),
                        **where))
        else:
            _print(dict(type="message", event=msg.event,
                        args=list(msg.args), **where))
        if args.echo:
            _echo(msg)

    def _echo(msg: Message) -> None:
        if msg.channel is None:
            msg.remote.emit(str(msg.event), *msg.args)
            return
        target = msg.remote.create_channel(msg.channel)
        if msg.data is not None:
            target.send(msg.data)
        else:
            target.emit(str(msg.event), *msg.args)

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await peer.connect(timeout=args.timeout)
        await peer.join(args.room, name=args.name, password=args.password,
                        timeout=args.timeout)
        _print({"type": "joined", "room": args.room, "id": peer.id,
                "name": args.name})
        gone = asyncio.ensure_future(peer.wait())
        halt = asyncio.ensure_future(stop.wait())
        await asyncio.wait([gone, halt],
                           return_when=asyncio.FIRST_COMPLETED)
        halt.cancel()
        if gone.done() and not stop.is_set():
            failure.append(PeerError("lost the signaling server and could "
                                     "not reconnect"))
        gone.cancel()
    finally:
        if recording is not None:
            await recording.stop()
        await peer.close()
    if failure:
        raise failure[0]
    _print({"type": "left", "room": args.room})
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``rtcio-flask peer`` (and ``python -m
    rtcio_flask peer``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _ice_option(args.ice)
    except PeerError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import aiortc  # noqa: F401
    except ImportError:
        print(f"{PROG}: error: the Python peer needs aiortc: pip install "
              f"'rtcio-flask[peer]'", file=sys.stderr)
        return 2
    try:
        return run_bot(run(args), PROG)
    except SystemExit as exc:
        return int(exc.code or 0)
