"""What a load balancer sees of this process (the health route), and the
one shutdown path: on SIGTERM, report draining, then close every connection
so clients reconnect to a process that stays up.

gunicorn's workers and the standalone server (:mod:`rtcio_flask.cli`) both
go through :func:`begin_drain`; only who catches the signal differs.
"""

import logging
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple
from urllib.parse import parse_qs

from ..transport.compat.engineio import close_session
from ..transport.recovery import drain_reason, stop_shared

if TYPE_CHECKING:
    import flask

logger = logging.getLogger("rtcio_flask")


class Health:
    """What the load balancer's health check sees: ``ok`` while serving,
    ``draining`` (HTTP 503) once SIGTERM arrived, so no new client is sent
    here. Nothing else (no counts, versions or addresses) is exposed.

    ``stopping()``, when given, is asked too: under gunicorn it says
    whether the arbiter has a stop signal waiting to be handled
    (:func:`rtcio_flask.deploy.gunicorn.arbiter_stopping`), which covers
    the moments between a SIGTERM to the arbiter and the arbiter passing
    it on to this worker. Once it said yes, the answer stays 503: the
    signal stops being pending as soon as the kernel hands it to the
    arbiter, which passes it on only after its main loop woke up (tens of
    milliseconds on a busy machine), and a probe in between got 200 again
    after a 503."""

    def __init__(self, stopping: Optional[Callable[[], bool]] = None
                 ) -> None:
        self.draining = False
        self.stopping = stopping
        #: ``stopping()`` said yes once: the arbiter is on its way out.
        self.stop_seen = False

    def status(self) -> Tuple[int, Dict[str, str]]:
        if not (self.draining or self.stop_seen) and \
                self.stopping is not None and self.stopping():
            self.stop_seen = True
        if self.draining or self.stop_seen:
            return 503, {"status": "draining"}
        return 200, {"status": "ok"}


def add_health_route(app: "flask.Flask", health: Health,
                     path: Any = "/healthz") -> None:
    """Serve ``health`` at ``path`` on the Flask app, uncached."""
    import flask

    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"RTCIO health_path must start with '/', for "
                         f"example '/healthz', not {path!r}.")

    def rtcio_health() -> Any:
        code, body = health.status()
        response = flask.jsonify(body)
        response.status_code = code
        response.headers["Cache-Control"] = "no-store"
        return response

    app.add_url_rule(path, "rtcio_health", rtcio_health,
                     methods=["GET", "HEAD"])


def refuse_while_draining(socketio_app: Any, health: Health) -> Any:
    """Wrap the socket.io WSGI app so that, once draining, a new Engine.IO
    session (a request without ``sid``) gets ``503`` instead of a
    handshake. A client the drain just closed reconnects within about a
    second, and the process may still accept then (gunicorn's worker
    closes its listener up to a second after SIGTERM; a sticky balancer
    sends the client back to it): served here it would recover, then be
    cut again, undrained, when the process exits. Refused, it tries again
    after its backoff and reaches a process that stays up. Sessions that
    exist go on until the drain closes them."""

    def app(environ: Dict[str, Any], start_response: Any) -> Any:
        if health.draining and "sid" not in parse_qs(
                str(environ.get("QUERY_STRING", ""))):
            body = b'{"code":503,"message":"server shutting down"}'
            start_response("503 Service Unavailable", [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store")])
            return [body]
        return socketio_app(environ, start_response)

    return app


def begin_drain(health: Health, server: Any,
                spawn: Optional[Callable[[Callable[[], Any]], Any]] = None,
                then: Optional[Callable[[], Any]] = None) -> bool:
    """Mark the process draining and close every connection, once.

    ``spawn(func)`` runs the closing somewhere other than a signal handler
    (default: a python-socketio background task); ``then()`` runs after
    it, even if it failed. Returns False when a drain had already begun
    (``then`` is not called)."""
    if health.draining:
        return False
    health.draining = True

    def run() -> None:
        try:
            drain(server)
            # Done ending windows here: the sockets it holds go to the
            # processes that stay up, from their window's end.
            stop_shared(server)
        finally:
            if then is not None:
                then()

    if spawn is None:
        spawn = _spawn_from_signal_handler()
    if spawn is None:
        server.start_background_task(run)
    else:
        spawn(run)
    return True


def _spawn_from_signal_handler() -> Optional[Callable[[Callable[[], Any]],
                                                      Any]]:
    """A spawn that never blocks, for a signal handler in a monkey-patched
    process whose server may run in ``threading`` mode (an app loaded by
    gunicorn's arbiter with ``--preload``, before the worker patched):
    there ``Thread.start()`` waits for the new greenlet, and gevent runs
    signal handlers in its event loop, where waiting raised
    BlockingSwitchOutError and killed the worker (exit 255, a traceback,
    no drain). None: the server's own background task is fine."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and \
            gevent_monkey.is_module_patched("threading"):
        import gevent
        return gevent.spawn
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        import eventlet
        return eventlet.spawn
    return None


def drain(server: Any) -> int:
    """Close every engine.io connection of ``server`` at the transport level.

    Without a socket.io ``disconnect`` packet the clients see a transport
    loss ("transport close") and reconnect by themselves, through the load
    balancer, to a process that is still up; our own disconnect handlers
    still run, so peer-left and room clean-up reach the other members now
    instead of after the ping timeout.

    With connection state recovery sharing its log through Redis (a
    message queue), the sockets are held instead, as after a network drop
    (reason ``server shutting down``): their clients recover on the
    process they reach next, with the same id, rooms and every packet they
    missed; one that does not come back departs when the window ends, on
    whichever process is still up. In one process they depart now.
    """
    eio = server.eio
    reason = drain_reason(server)
    sockets = list(eio.sockets.values())
    for eio_socket in sockets:
        try:
            close_session(eio, eio_socket, reason)
        except Exception:  # one broken socket must not stop the drain
            logger.debug("rtcio: closing %s on shutdown failed",
                         eio_socket.sid, exc_info=True)
    if sockets:
        logger.info("rtcio: shutting down, closed %d connection%s so their "
                    "clients reconnect elsewhere", len(sockets),
                    "" if len(sockets) == 1 else "s")
    return len(sockets)


def install_sigterm_drain(server: Any, health: Health,
                          signum: int = signal.SIGTERM,
                          preload: Any = None) -> bool:
    """On SIGTERM, mark the health check draining and close every socket,
    then let the handler that was there before (gunicorn's graceful stop)
    run. Returns False when it could not be installed (no handler to chain
    to, or not called from the main thread).

    ``preload``: gunicorn's Config when it is loading the app in its
    arbiter (``--preload``), else None. A handler installed now would be the arbiter's, and
    every worker forked later resets SIGTERM to its own ``handle_exit`` in
    ``Worker.init_signals``: the health check then kept answering 200 until
    the worker exited (about 1-2 s after SIGTERM). So the chain is
    installed in each worker, from gunicorn's ``post_worker_init`` server
    hook, after gunicorn set its own handlers
    (:func:`rtcio_flask.transport.compat.gunicorn.after_gunicorn_worker_signals`).
    """
    if preload is not None:
        from ..transport import compat
        from ..transport.compat.gunicorn import \
            after_gunicorn_worker_signals
        if not compat.enabled("preload_drain"):
            return False
        after_gunicorn_worker_signals(
            preload, lambda: _chain_sigterm(server, health, signum))
        return True
    return _chain_sigterm(server, health, signum)


def _chain_sigterm(server: Any, health: Health, signum: int) -> bool:
    previous = signal.getsignal(signum)
    if not callable(previous):
        # Nobody handles SIGTERM: the process simply dies and its clients
        # notice the closed connections by themselves.
        return False

    def on_sigterm(sig: int, frame: Any) -> None:
        # The flag first, synchronously: the very next health request
        # answers 503, whatever the drain's background task is doing.
        # gunicorn's own handler (the worker's stop) only once the drain is
        # done: its worker exits as soon as no request is in progress, and
        # websockets read from readiness events have none, so it used to
        # exit mid-drain (after the first socket that waited on Redis; the
        # others were neither held nor departed).
        if not begin_drain(health, server,
                           then=lambda: previous(sig, frame)):
            previous(sig, frame)

    try:
        signal.signal(signum, on_sigterm)
    except (ValueError, OSError):
        # Not the main thread (signal handlers can only be set there); under
        # eventlet/gevent the main greenlet counts as the main thread.
        return False
    return True
