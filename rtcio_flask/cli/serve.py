"""How ``rtcio-flask`` serves: the listening socket and the serve loops of
:mod:`rtcio_flask.deploy.serve` (shared with ``rtcio.run(app)``), with
errors and the start-up line in the command line's terms."""

import socket
from typing import Any

from ..deploy.serve import open_listener, serve
from .app import describe


def listen(args: Any) -> socket.socket:
    """The listening socket; a port in use is a ValueError naming
    ``--port``."""
    return open_listener(args.host, args.port,
                         "choose another --port (or $PORT)")



def serve_cli(app: Any, state: Any, args: Any, server_kind: str,
              listener: socket.socket) -> int:
    """Serve until SIGTERM or Ctrl-C; returns the exit code."""
    return serve(app, state, server_kind, listener,
                 describe(args, server_kind), access_log=args.access_log)
