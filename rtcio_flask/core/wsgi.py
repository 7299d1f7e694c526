"""A WSGI environ that a Flask request can always be built from.

The app's handlers run in a request context rebuilt from a socket's
handshake environ (:mod:`rtcio_flask.dispatch`). Some departures run after
the server forgot that environ, or with one that crossed processes through
Redis as strings (:func:`rtcio_flask.core.recovery_log.portable_environ`),
or from a held session written without one (by an earlier release, during
a rolling upgrade). Werkzeug reads several keys with ``environ[key]``
(``wsgi.url_scheme`` first), so a missing one would make the app's
``disconnect`` handler fail with a ``KeyError`` before it runs: every
request context is built from :func:`complete_environ` instead.
"""

import io
import sys
from typing import Any, Dict, Mapping

#: The CGI keys a request needs, with the values of a socket.io handshake
#: as a default (the client's address stays unknown: ``remote_addr`` None).
_REQUIRED = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/socket.io/",
    "QUERY_STRING": "",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "wsgi.url_scheme": "http",
}


def complete_environ(environ: Mapping[str, Any]) -> Dict[str, Any]:
    """``environ`` itself when it has every key a Flask request reads
    (the common case, once per event: no copy), else a copy with the
    missing ones filled in: the handshake's CGI defaults, a server name
    and port, and the ``wsgi.*`` objects (an empty input stream)."""
    if isinstance(environ, dict) and "wsgi.input" in environ and \
            "wsgi.errors" in environ and \
            ("HTTP_HOST" in environ or "SERVER_NAME" in environ) and \
            all(key in environ for key in _REQUIRED):
        return environ
    full: Dict[str, Any] = dict(_REQUIRED)
    full.update(environ)
    if not isinstance(full.get("wsgi.url_scheme"), str):
        full["wsgi.url_scheme"] = "http"
    if "SERVER_NAME" not in full and "HTTP_HOST" not in full:
        full["SERVER_NAME"] = "localhost"
    if "SERVER_NAME" in full and "SERVER_PORT" not in full:
        full["SERVER_PORT"] = \
            "443" if full["wsgi.url_scheme"] == "https" else "80"
    full.setdefault("wsgi.input", io.BytesIO(b""))
    full.setdefault("wsgi.errors", sys.stderr)
    full.setdefault("wsgi.version", (1, 0))
    full.setdefault("wsgi.multithread", True)
    full.setdefault("wsgi.multiprocess", True)
    full.setdefault("wsgi.run_once", False)
    return full
