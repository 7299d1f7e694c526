"""``rtcio-flask``: a complete rtc.io signaling server in one command, for
teams without a Flask app (the Node quickstart's ``server.listen(3001)``).

It is an ordinary Flask app with ``RTCIO(app, rooms=True)``, served by
eventlet when it is installed (monkey patched before anything else is
imported, as eventlet requires) and by a threaded server otherwise.
In memory and one process by default; ``--message-queue`` (or ``REDIS_URL``)
lets several copies behind a sticky balancer act as one server.

Layout: :mod:`.args` (flags), :mod:`.boot` (monkey patching before any
import), :mod:`.app` (the Flask app from the flags), :mod:`.serve` (the
serve loops and their shutdown).
"""

import logging
import sys
from typing import Optional, Sequence

from ..config import monkey_patched
from .app import check_queue, make_app
from .args import build_parser
from .boot import pick_server, quiet_eventlet_notice, reexec_patched
from .serve import serve_eventlet, serve_gevent, serve_threading

__all__ = ["main", "build_parser", "make_app"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the standalone server (or ``rtcio-flask peer ...``, the Python
    rtc.io peer); returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "peer":
        from ..peer.command import main as peer_main
        return peer_main(argv[1:])
    quiet_eventlet_notice()
    args = build_parser().parse_args(argv)
    server_kind = pick_server(args.server)
    if not monkey_patched(server_kind):
        reexec_patched(server_kind, argv)

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.message_queue:
            check_queue(args.message_queue)
        app, state = make_app(args, async_mode=server_kind)
    except ValueError as exc:
        print(f"rtcio-flask: error: {exc}", file=sys.stderr)
        return 2
    serve = {"eventlet": serve_eventlet, "gevent": serve_gevent,
             "threading": serve_threading}[server_kind]
    return serve(app, state, args)
