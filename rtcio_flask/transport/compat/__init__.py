"""The version-gated compatibility layer: every reach-in to a private part
of python-socketio, python-engineio, eventlet, gevent or gunicorn lives in
one module per library here, and nowhere else in RTCIO.

- :mod:`.socketio`: the checked packet dispatch, recovery's CONNECT (a
  given sid, ``pid`` in the reply), the client manager class RTCIO hands
  to ``socketio.Server(client_manager=...)`` (recording emits, the relay's
  own messages on a message queue).
- :mod:`.socketio_admin`: the Admin UI's additions on python-socketio's
  InstrumentedServer (names, held sessions, login throttle, reports to
  logged-in admins only).
- :mod:`.engineio`: Engine.IO sessions (gone, upgrade, and
  ``close_session``, the one way RTCIO closes one), the exact
  ping interval, websocket frame checks, the outgoing queue caps, direct
  websocket sessions.
- :mod:`.eventlet`: the fast websocket unmasking, eventlet.wsgi's
  "response already written" flag, the OS socket under a GreenSocket, the
  hub's read listeners (an idle websocket's readiness watch).
- :mod:`.gevent`: the OS socket under gevent's socket and under pywsgi's
  reader, the loop's io watcher (an idle websocket's readiness watch).
- :mod:`.gunicorn`: a hook in each worker after gunicorn set its signal
  handlers (its ``post_worker_init`` server hook, chained); gunicorn's
  client socket as eventlet's websocket uses it.
- :mod:`.flask_socketio`: ``environ["flask.app"]`` for the handlers of a
  handed-in Flask-SocketIO server.

Each module states the releases it was verified against
(:data:`VERIFIED`). The installed versions are read once per process
(:func:`installed`). A feature whose shim was not verified with what is
installed (a release newer than the range, typically) is turned off with
one WARNING naming the feature and the versions it needs
(:func:`enabled`); the server keeps working without it. A library older
than RTCIO's floor stops start-up with one line saying what to install
(:func:`check_floor`).
"""

import functools
import logging
from importlib import metadata
from typing import Dict, Optional, Set, Tuple

from ...core.versions import Verified, Version, at_least, parse_version, show

logger = logging.getLogger("rtcio_flask")

#: The releases each library's shims were verified against (CI's matrix
#: runs the floor and the newest, docs/compatibility.rst).
VERIFIED: Dict[str, Verified] = {
    "python-socketio": Verified("python-socketio", (5, 11), (5, 19)),
    "python-engineio": Verified("python-engineio", (4, 9), (4, 16)),
    "eventlet": Verified("eventlet", (0, 36), (0, 42)),
    "gevent": Verified("gevent", (23, 9), (27,)),
    "gunicorn": Verified("gunicorn", (23,), (28,)),
}

#: What RTCIO cannot start without (setup.cfg's floor).
FLOOR: Dict[str, Version] = {
    "python-socketio": (5, 11),
    "python-engineio": (4, 9),
}

#: feature -> (what users read, the libraries whose shims it needs).
FEATURES: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "room_index": ("each socket's rooms indexed (disconnects and room "
                   "lookups without a scan of every room)",
                   ("python-socketio",)),
    "dispatch": ("the checked packet dispatch (strict JSON; a malformed "
                 "packet closes its connection with one warning)",
                 ("python-socketio",)),
    "recovery": ("connection state recovery",
                 ("python-socketio", "python-engineio")),
    "websocket": ("RTCIO's websocket transport and its direct sessions "
                  "(no writer or ping greenlet per socket)",
                  ("python-engineio",)),
    "queue_relay": ("the relay's batched path on a message queue (it "
                    "falls back to python-socketio's emit)",
                    ("python-socketio",)),
    "frame_checks": ("the websocket frame checks", ("python-engineio",)),
    "queue_caps": ("the outgoing queue caps", ("python-engineio",)),
    "ping_interval": ("the exact pingInterval in the handshake",
                      ("python-engineio",)),
    "eventlet_unmask": ("the fast websocket unmasking under eventlet",
                        ("eventlet",)),
    "idle_reader_eventlet": ("idle websockets read from readiness events "
                             "under gunicorn -k eventlet (no greenlet per "
                             "idle socket)", ("eventlet", "gunicorn")),
    "idle_reader_gevent": ("idle websockets read from readiness events "
                           "under gunicorn -k gevent (no greenlet per idle "
                           "socket)", ("gevent", "gunicorn")),
    "preload_drain": ("the SIGTERM drain under gunicorn --preload",
                      ("gunicorn",)),
    "admin_extras": ("the Admin UI's additions (names, held sessions, the "
                     "login throttle, the socket list after login, reports "
                     "to logged-in admins only)", ("python-socketio",)),
}


@functools.lru_cache(maxsize=None)
def installed(distribution: str) -> Optional[Version]:
    """The installed release of ``distribution`` (read once), or None."""
    try:
        return parse_version(metadata.version(distribution))
    except metadata.PackageNotFoundError:
        return None


def _shown(distribution: str) -> str:
    version = installed(distribution)
    return "not installed" if version is None else show(version)


def check_floor() -> None:
    """Stop start-up, with one line saying what to install, when
    python-socketio or python-engineio is older than RTCIO's floor (pip
    keeps the floor; a ``--no-deps`` install or a distro package may not)."""
    for distribution, floor in FLOOR.items():
        version = installed(distribution)
        if version is not None and not at_least(version, floor):
            raise RuntimeError(
                f"rtcio-flask needs {distribution}>={show(floor)} "
                f"({show(version)} is installed): pip install "
                f"'{distribution}>={show(floor)}'")


_warned: Set[str] = set()


def enabled(feature: str) -> bool:
    """Whether ``feature``'s shims were verified with the installed
    libraries. When not, one WARNING per process names the feature and the
    versions it needs, and the caller leaves the feature off."""
    text, needs = FEATURES[feature]
    missing = [VERIFIED[name] for name in needs
               if not VERIFIED[name].contains(installed(name))]
    if not missing:
        return True
    if feature not in _warned:
        _warned.add(feature)
        logger.warning(
            "rtcio: %s is off: it was verified with %s (installed: %s); "
            "install a verified release, or an rtcio-flask verified with "
            "yours", text, " and ".join(v.describe() for v in missing),
            ", ".join(f"{v.distribution} {_shown(v.distribution)}"
                      for v in missing))
    return False


def socketio_at_least(*version: int) -> bool:
    """Whether the installed python-socketio is at least ``version``."""
    return at_least(installed("python-socketio"), version)


def engineio_at_least(*version: int) -> bool:
    """Whether the installed python-engineio is at least ``version``."""
    return at_least(installed("python-engineio"), version)
