"""Starting the process right for the chosen server: eventlet and gevent
must monkey patch the standard library before anything else imports it."""

import os
import sys
import warnings
from typing import NoReturn, Sequence

_PATCHED_ENV = "_RTCIO_FLASK_PATCHED"

def pick_server(choice: str) -> str:
    """``auto`` means eventlet when it can be imported, else threads; a
    server named on the command line that is not installed is a one-line
    error with the install command."""
    if choice == "auto":
        return "eventlet" if _importable("eventlet") else "threading"
    if choice != "threading" and not _importable(choice):
        from .args import cli_error
        cli_error(f"--server {choice} needs {choice}, which is not "
                  f"installed: pip install 'rtcio-flask[{choice}]' (or "
                  f"choose --server threading)")
    return choice


def _importable(module: str) -> bool:
    import importlib
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


_BOOT = {
    "eventlet": ("import warnings; warnings.filterwarnings('ignore', "
                 "message=r'\\s*Eventlet is deprecated'); "
                 "import eventlet; eventlet.monkey_patch()"),
    "gevent": "from gevent import monkey; monkey.patch_all()",
}


def reexec_patched(server_kind: str, argv: Sequence[str]) -> NoReturn:
    """Start again with the monkey patching done before any other import.

    By the time this module runs, ``import rtcio_flask`` has already loaded
    Flask, python-socketio and the standard library's socket and threading;
    eventlet and gevent must patch those first, so the server re-executes
    itself with the patch as its very first statement.
    """
    if os.environ.get(_PATCHED_ENV):
        raise SystemExit(f"rtcio-flask: error: could not monkey patch "
                         f"{server_kind}")
    code = (_BOOT[server_kind] + "; import sys; "
            "from rtcio_flask.cli import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, **{_PATCHED_ENV: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-c", code] + list(argv), env)


def quiet_eventlet_notice() -> None:
    # eventlet prints a multi-line deprecation notice on import; docs/deployment.rst
    # covers it, and operators' logs should start with our own line.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
