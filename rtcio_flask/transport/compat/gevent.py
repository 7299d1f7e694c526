"""gevent's private internals RTCIO uses, in one place.

Verified against gevent 23.9 to 26.x (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`): gevent's socket
(``gevent._socket3.socket``) keeps the OS socket it wraps as ``_sock``,
which :mod:`..sockets` writes to directly when the kernel buffer has room,
and which :mod:`..serving` shuts down so a reader wakes with end-of-file
instead of a cancelled wait pywsgi logs as a traceback.
"""

import sys
from typing import Any, Optional


def os_socket(sock: Any) -> Optional[Any]:
    """The OS socket under a gevent socket (or under what gevent's pywsgi
    hands as the raw reader), or None when ``sock`` has none."""
    return getattr(sock, "_sock", None)


def is_gevent_socket(sock: Any) -> bool:
    """Whether ``sock`` is exactly gevent's socket class."""
    module = sys.modules.get("gevent._socket3")
    return module is not None and type(sock) is module.socket
