"""Is this app served by gunicorn, and by how many worker processes?

socket.io keeps a session in the memory of the process that opened it.
``gunicorn -w 4`` (or a platform setting ``WEB_CONCURRENCY``) spreads one
client's polling requests over four processes that do not know each other's
sessions, and clients get intermittent ``400 Invalid session``. That is the
most common socket.io deployment failure, so RTCIO refuses to start in it
unless the operator says the balancer keeps each client on one worker.
"""

import contextlib
import logging
import os
import sys
import tempfile
import time
from types import FrameType
from typing import Any, Iterator, Mapping, NoReturn, Optional

#: gunicorn's exit status for "the app failed to load": the arbiter stops
#: instead of booting the worker again (gunicorn.arbiter.Arbiter).
APP_LOAD_ERROR = 4

logger = logging.getLogger("rtcio_flask")

#: Environment variable an operator sets to say sessions are sticky.
ENV_STICKY = "RTCIO_STICKY_SESSIONS"


def find_gunicorn_cfg(max_frames: int = 200) -> Any:
    """gunicorn's resolved ``Config`` when the app is being loaded by gunicorn.

    gunicorn imports the app from ``Worker.load_wsgi`` (or, with
    ``--preload``, from the arbiter), so the loading object, which holds the
    configuration after command line, config file, ``GUNICORN_CMD_ARGS``
    and ``WEB_CONCURRENCY`` were applied, is on the call stack. Returns None
    outside gunicorn.
    """
    if "gunicorn" not in sys.modules:
        return None
    try:
        from gunicorn.config import Config
    except ImportError:  # pragma: no cover - a module merely named gunicorn
        return None
    frame: Any = sys._getframe(1)
    for _ in range(max_frames):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        cfg = getattr(owner, "cfg", None)
        if isinstance(cfg, Config):
            return cfg
        frame = frame.f_back
    return None


def gunicorn_workers(environ: Optional[Mapping[str, str]] = None
                     ) -> Optional[int]:
    """How many gunicorn worker processes serve this app, or None when the
    app is not served by gunicorn."""
    cfg = find_gunicorn_cfg()
    if cfg is not None:
        return int(cfg.workers)
    if "gunicorn" in sys.modules and "gunicorn" in (
            sys.argv[0] if sys.argv else ""):  # gunicorn or -m gunicorn
        # Loaded by gunicorn in a way we could not see: gunicorn's own
        # default for --workers is WEB_CONCURRENCY.
        environ = os.environ if environ is None else environ
        try:
            return int(environ.get("WEB_CONCURRENCY", 1))
        except ValueError:
            return 1
    return None


def gunicorn_preloading() -> Any:
    """gunicorn's Config when gunicorn is loading the app in its arbiter
    (``--preload``), before forking the workers (a signal handler installed
    now would be the arbiter's, and each worker resets its own in
    ``init_signals``), else None."""
    cfg = find_gunicorn_cfg()
    if cfg is not None and getattr(cfg, "preload_app", False):
        return cfg
    return None


#: gunicorn's green worker classes (by their documented modules) and the
#: async mode each needs.
_GREEN_WORKERS = {"gunicorn.workers.ggevent": "gevent",
                  "gunicorn.workers.geventlet": "eventlet"}


def preloaded_worker_mode() -> Optional[str]:
    """``"gevent"`` or ``"eventlet"`` when gunicorn is loading the app in
    its arbiter (``--preload``) for workers of that class (or a subclass),
    else None.

    Why: the async mode follows the monkey patching in effect
    (:func:`rtcio_flask.config.detect_async_mode`), and gevent's worker
    patches only after the fork, so a preloaded app under ``-k gevent``
    ran python-socketio in threading mode, and the worker hung at its
    first socket.io request (polling or websocket), whatever came
    after."""
    cfg = gunicorn_preloading()
    if cfg is None:
        return None
    try:
        worker_class = cfg.worker_class
    except Exception:  # a worker class gunicorn itself will refuse
        return None
    for klass in getattr(worker_class, "__mro__", ()):
        mode = _GREEN_WORKERS.get(getattr(klass, "__module__", ""))
        if mode is not None:
            return mode
    return None


#: The arbiter's stop signals: graceful (TERM), quick (INT, QUIT).
_STOP_SIGNALS = (15, 2, 3)


def arbiter_stopping(status_path: Optional[str] = None) -> bool:
    """Whether this worker's arbiter has a stop signal pending: sent, but
    not yet handled and passed on to the workers.

    gunicorn's arbiter takes a SIGTERM in its main loop and then sends
    SIGTERM to each worker; until the worker has it, its health check
    would still answer 200 to a balancer that probes right after the
    operator's ``kill``. The kernel marks the signal pending on the
    arbiter at once, and Linux shows it in ``/proc/<pid>/status``
    (``ShdPnd``, ``SigPnd``: a hex mask, bit n-1 for signal n). False
    where that cannot be read (not Linux, not a worker)."""
    path = status_path or f"/proc/{os.getppid()}/status"
    try:
        with open(path) as status:
            lines = status.read().splitlines()
    except OSError:
        return False
    pending = 0
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("ShdPnd", "SigPnd"):
            try:
                pending |= int(value.strip(), 16)
            except ValueError:
                continue
    return any(pending >> (signum - 1) & 1 for signum in _STOP_SIGNALS)


def multi_worker_message(workers: int) -> str:
    return (
        f"RTCIO refuses to start: gunicorn runs {workers} worker processes "
        f"for this app (-w/--workers or WEB_CONCURRENCY), and socket.io keeps "
        f"each session in one process, so polling clients would get "
        f"intermittent HTTP 400 'Invalid session'. Use one of the two set-ups "
        f"that work: (1) one worker per process: gunicorn -w 1 (with "
        f"-k gevent, -k eventlet or -k gthread --threads N for concurrency); "
        f"(2) several processes (or hosts), each with -w 1 on its own port, "
        f"behind a load balancer with sticky sessions (nginx ip_hash or a "
        f"cookie), all sharing a message queue: RTCIO(app, "
        f"message_queue='redis://...') or RTCIO_MESSAGE_QUEUE. If your "
        f"balancer already keeps each client on one worker (or clients use "
        f"the websocket transport only) and a message queue is set, say so "
        f"with {ENV_STICKY}=1 or RTCIO(app, sticky_sessions=True).")


def check_workers(sticky: bool = False, message_queue: Optional[str] = None,
                  environ: Optional[Mapping[str, str]] = None
                  ) -> Optional[int]:
    """Refuse the multi-worker trap at start-up (ValueError), unless the
    operator said sessions are sticky. Returns the worker count seen."""
    workers = gunicorn_workers(environ)
    if workers is None or workers <= 1:
        return workers
    if not sticky:
        # Said once, in one line, under gunicorn: refused_in_one_line.
        raise ValueError(multi_worker_message(workers))
    if not message_queue:
        logger.warning(
            "rtcio: %d gunicorn workers with sticky sessions but no message "
            "queue: a relay between clients on different workers cannot "
            "arrive. Set RTCIO_MESSAGE_QUEUE=redis://...", workers)
    return workers


@contextlib.contextmanager
def refused_in_one_line() -> Iterator[None]:
    """A start-up mistake (a ValueError naming what to write: a misspelled
    option, an unreachable message queue) raised while a gunicorn worker
    loads the app stops gunicorn with the message said once, in one line,
    as ``rtcio-flask`` says it, instead of a 30-line traceback followed
    by the same message. Anywhere else the error propagates unchanged
    (the app's own ``try``/``except ValueError`` still sees it)."""
    try:
        yield
    except ValueError as exc:
        if _in_gunicorn_worker():
            refuse_worker(str(exc))
        raise


def _in_gunicorn_worker(max_frames: int = 200) -> bool:
    """Whether a gunicorn worker process is loading the app right now."""
    try:
        from gunicorn.workers.base import Worker
    except ImportError:  # pragma: no cover
        return False
    frame: Optional[FrameType] = sys._getframe(1)
    for _ in range(max_frames):
        if frame is None:
            return False
        if isinstance(frame.f_locals.get("self"), Worker):
            return True
        frame = frame.f_back
    return False


def refuse_worker(message: str) -> NoReturn:
    """Stop gunicorn, saying ``message`` once.

    A ValueError from the app would be printed with its traceback by every
    worker (130-195 lines for ``-w 2``), and the arbiter would keep booting
    new ones. gunicorn's AppImportError is printed as one line, and the
    worker's exit status 4 (APP_LOAD_ERROR) makes the arbiter halt. Only
    the first worker of this arbiter says it and exits with 4; the others
    wait for the arbiter's SIGTERM and exit 0, because a second status 4
    arriving while the arbiter halts makes gunicorn 25 print a traceback
    of its own (HaltServer raised inside halt()).
    """
    import signal

    from gunicorn.errors import AppImportError

    if _first_to_report(f"rtcio-flask-refused-{os.getppid()}"):
        raise AppImportError(message)
    signal.signal(signal.SIGTERM, lambda *args: os._exit(0))
    signal.signal(signal.SIGINT, lambda *args: os._exit(0))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.1)
    raise SystemExit(APP_LOAD_ERROR)  # the arbiter never stopped us


def _first_to_report(name: str, stale_after: float = 120.0) -> bool:
    """True for the first process to claim ``name`` (a marker file, so
    sibling workers forked by one arbiter can agree without talking); a
    marker older than ``stale_after`` seconds is left from an earlier
    arbiter with the same pid and is claimed again."""
    path = os.path.join(tempfile.gettempdir(), name)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        try:
            if time.time() - os.path.getmtime(path) > stale_after:
                os.utime(path)
                return True
        except OSError:
            return True
        return False
    except OSError:
        return True
