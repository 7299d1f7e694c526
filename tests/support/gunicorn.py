"""Start a real gunicorn on 127.0.0.1 for tests.

``serve_gunicorn("tests.apps.deploy_app:create_app()", "eventlet")`` runs
``python -m gunicorn -k eventlet -w 1`` in a subprocess on a free port, with
the control socket off (gunicorn 25 puts one in ~/.gunicorn by default, and
parallel instances would fight over it) and a short graceful timeout so a
test's stop never waits 30 s.
"""

import sys

from .servers import LiveServer


def _has_control_socket():
    """gunicorn 25 added the control socket (and --no-control-socket)."""
    from importlib import metadata
    major = metadata.version("gunicorn").split(".")[0]
    return major.isdigit() and int(major) >= 25


def gunicorn_argv(target, worker="eventlet", workers=1, threads=None,
                  graceful_timeout=5, extra=()):
    argv = [sys.executable, "-m", "gunicorn", "-k", worker,
            "-b", "127.0.0.1:{port}",
            "--graceful-timeout", str(graceful_timeout),
            "--log-level", "info"]
    if _has_control_socket():
        argv.append("--no-control-socket")
    if workers is not None:  # None: gunicorn's default (WEB_CONCURRENCY)
        argv += ["-w", str(workers)]
    if threads:
        argv += ["--threads", str(threads)]
    return argv + list(extra) + [target]


def serve_gunicorn(target, worker="eventlet", workers=1, threads=None,
                   env=None, graceful_timeout=5, extra=(), watch=False):
    """A LiveServer running ``target`` under gunicorn; start it with
    ``with ... as server`` or ``.start()``. ``watch``: as LiveServer's."""
    return LiveServer(gunicorn_argv(target, worker, workers, threads,
                                    graceful_timeout, extra), env=env,
                      watch=watch)
