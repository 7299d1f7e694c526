"""``rtcio-flask``: a complete rtc.io signaling server in one command, for
teams without a Flask app (the Node quickstart's ``server.listen(3001)``).

It is an ordinary Flask app with ``RTCIO(app, rooms=True)``, served by
eventlet when it is installed (monkey patched before anything else is
imported, as eventlet requires) and by a threaded server otherwise.
In memory and one process by default; ``--message-queue`` (or ``REDIS_URL``)
lets several copies behind a sticky balancer act as one server.

Every start-up mistake ends in one line, ``rtcio-flask: error: ...``, and
exit status 2 (:func:`.args.cli_error`), in the command line's terms.

Layout: :mod:`.args` (flags), :mod:`.boot` (monkey patching before any
import), :mod:`.app` (the Flask app from the flags), :mod:`.serve` (the
listening socket; the loops are :mod:`rtcio_flask.deploy.serve`).
"""

import argparse
import logging
import re
import sys
from typing import List, Optional

from ..config import monkey_patched
from ..deploy.serve import set_process_title
from .app import check_queue, make_app
from .args import build_parser, cli_error
from .boot import pick_server, quiet_eventlet_notice, reexec_patched
from .serve import listen, serve_cli

__all__ = ["main", "build_parser", "make_app"]


def main(argv: Optional[List[str]] = None) -> int:
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
    # After the re-exec, ps shows "python -c import warnings; ...":
    # name the process so `pgrep rtcio-flask` finds it.
    set_process_title(" ".join(["rtcio-flask"] + argv))

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # The port first: a second copy on a used port stops before it
        # builds (and logs) anything.
        listener = listen(args)
        if args.message_queue:
            check_queue(args.message_queue)
        app, state = make_app(args, async_mode=server_kind)
    except ValueError as exc:
        cli_error(in_flags(str(exc), build_parser()))
    return serve_cli(app, state, args, server_kind, listener)


#: How RTCIO(...) names a bad value: ``RTCIO(trusted_proxy_hops=...)``,
#: ``RoomsConfig.max_members``.
_OPTION_NAMED = re.compile(r"RTCIO\((\w+)=\.\.\.\)|RoomsConfig\.(\w+)")


def in_flags(message: str, parser: argparse.ArgumentParser) -> str:
    """``message`` with each option RTCIO(...) names written as the flag
    that set it (``--trusted-proxy-hops``): the command passes a flag's
    value to RTCIO(...) under the option's name, and its user typed the
    flag. Options without a flag keep their name."""
    help_text = parser.format_help()

    def flag(match: "re.Match[str]") -> str:
        name = "--" + (match.group(1) or match.group(2)).replace("_", "-")
        # the whole flag: --turn is not --turn-ttl
        return name if re.search(re.escape(name) + r"(?![\w-])",
                                 help_text) else match.group(0)

    return _OPTION_NAMED.sub(flag, message)
