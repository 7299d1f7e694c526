"""One python-socketio handler per event that runs RTCIO's built-in steps,
then the application's handlers inside a Flask request context.

python-socketio keeps a single handler per (namespace, event). RTCIO, the
app, and a server the app handed in may all want ``connect`` or
``disconnect``, so each event gets one entry point here that calls them in a
fixed, documented order instead of the last registration silently winning.
"""

import inspect
import logging
from collections import OrderedDict
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Optional,
                    Sequence, Set, Tuple)

from flask.ctx import RequestContext
from socketio import exceptions as sio_exceptions

from .core.acks import AccessDenied, ack_error
from .core.wsgi import complete_environ
from .transport.compat.socketio import disconnect_reason_now

if TYPE_CHECKING:
    import flask

logger = logging.getLogger("rtcio_flask")

#: How many disconnected sockets keep their request context (see
#: :meth:`Dispatcher.request_context`).
GONE_KEPT = 1024

#: A built-in step or an app handler, called with the event's arguments.
Handler = Callable[..., Any]
#: ``(namespace, event)``.
Key = Tuple[str, str]


def _accepts(func: Handler, count: int) -> bool:
    """Whether ``func`` can be called with ``count`` positional arguments."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return True
    try:
        sig.bind(*([None] * count))
        return True
    except TypeError:
        return False


class _Handler:
    """An application handler and how to call it."""

    __slots__ = ("func", "in_context", "connect_args", "disconnect_args")

    def __init__(self, func: Handler, in_context: bool) -> None:
        self.func = func
        self.in_context = in_context
        # connect(sid, environ, auth) or the older connect(sid, environ);
        # disconnect(sid, reason) or the older disconnect(sid).
        self.connect_args = 3 if _accepts(func, 3) else 2
        self.disconnect_args = 2 if _accepts(func, 2) else 1


class Dispatcher:
    """Owns the python-socketio handlers RTCIO registers on one server.

    Order per event: for ``connect``, the app's handlers decide first (they
    may refuse) and the built-in steps run only for accepted sockets; for
    every other event the built-in steps run first, and a built-in that
    returns a value (an error for the acknowledgement) stops the event there.
    """

    def __init__(self, server: Any, app: "flask.Flask") -> None:
        self.server = server
        self.app = app
        self._builtin: Dict[Key, List[Handler]] = {}
        self._user: Dict[Key, List[_Handler]] = {}
        self._registered: Set[Key] = set()
        # Flask session as read from the cookies at connect, per sid.
        self._sessions: Dict[str, Any] = {}
        # sid -> the event its first session read sets when done
        # (_first_session).
        self._opening: Dict[str, Any] = {}
        # (namespace, sid) -> (environ, session) of the last GONE_KEPT
        # sockets that disconnected, oldest first.
        self._gone: "OrderedDict[Key, Tuple[Dict[str, Any], Any]]" = \
            OrderedDict()
        #: ``held_environ(sid, namespace)``: the handshake environ of a
        #: socket connection state recovery holds (its connection dropped,
        #: its departure may run at the window's end), else None.
        self.held_environ: Callable[[str, str], Optional[Dict[str, Any]]] = \
            lambda sid, namespace: None

    # -- registration -------------------------------------------------------

    def add_builtin(self, event: str, func: Handler,
                    namespace: str = "/") -> None:
        self._ensure(namespace, event)
        self._builtin.setdefault((namespace, event), []).append(func)

    def wrap_builtin(self, event: str,
                     wrapper: Callable[[Callable[..., Any]],
                                       Callable[..., Any]],
                     namespace: str = "/") -> None:
        """Replace each built-in step of ``event`` with ``wrapper(step)``
        (the metrics time ``join-room`` this way, without the rooms
        knowing)."""
        key = (namespace, event)
        if key in self._builtin:
            self._builtin[key] = [wrapper(step) for step in self._builtin[key]]

    def add_user(self, event: str, func: Handler,
                 namespace: str = "/") -> None:
        self._ensure(namespace, event)
        self._user.setdefault((namespace, event), []).append(
            _Handler(func, in_context=True))

    def has_user_handler(self, event: str, namespace: str = "/") -> bool:
        """Whether the app handles ``event`` itself (so a built-in that has
        nothing to say can step aside)."""
        return bool(self._user.get((namespace, event)))

    def only_builtin(self, event: str, namespace: str = "/") -> bool:
        """Whether exactly one built-in step and no app handler serve
        ``event``: then a built-in may take the event's raw packet itself,
        since nobody else would see it (the relay's fast path)."""
        key = (namespace, event)
        return not self._user.get(key) and len(self._builtin.get(key, ())) == 1

    def _ensure(self, namespace: str, event: str) -> None:
        key = (namespace, event)
        if key in self._registered:
            return
        self._registered.add(key)
        existing = self.server.handlers.get(namespace, {}).get(event)
        if existing is not None:
            # A handler the app put on its own server before handing it in:
            # keep it, called as python-socketio would call it.
            self._user.setdefault(key, []).append(
                _Handler(existing, in_context=False))
        entry: Handler
        if event == "connect":
            entry = self._connect_entry(namespace)
        elif event == "disconnect":
            entry = self._disconnect_entry(namespace)
            self._ensure(namespace, "connect")
        else:
            entry = self._event_entry(namespace, event)
        self.server.on(event, entry, namespace=namespace)
        if event != "disconnect":
            # The disconnect entry forgets the session a handler of this
            # namespace read (kept per socket, request_context): without
            # one, a namespace with only event (or connect) handlers kept
            # every socket's session for as long as the process ran.
            self._ensure(namespace, "disconnect")

    # -- Flask context ------------------------------------------------------

    def request_context(self, sid: str,
                        namespace: str = "/") -> RequestContext:
        """A Flask request context for ``sid`` as it was at connect time.

        The request is rebuilt from the handshake's WSGI environ (cookies,
        headers, query string), and the session is the one read at connect,
        so ``flask.session`` works like in a view without re-verifying the
        cookie signature on every event.
        """
        environ = self.server.get_environ(sid, namespace)
        session = self._sessions.get(sid)
        if environ is None:
            # Held by connection state recovery: its Flask session stays in
            # _sessions until it departs (on_disconnect forgets it).
            environ = self.held_environ(sid, namespace)
        if environ is not None and session is None:
            # No connect handler of the app's read it at connect (only
            # those run in a request context there): read it now, once.
            session = self._first_session(sid, namespace, environ)
        if environ is None:
            # python-socketio runs each event's handlers in a greenlet or
            # thread of their own, which may start after the socket's
            # disconnect (a client that sends and closes at once): the
            # event was received, so it is handled, in its own context.
            environ, session = self._gone.get((namespace, sid), ({}, None))
        # Whatever the source (the live handshake, one that crossed
        # processes through Redis, none at all), a request can be built.
        ctx = RequestContext(self.app, complete_environ(environ),
                             session=session)
        ctx.request.sid = sid  # type: ignore[attr-defined]
        ctx.request.namespace = namespace  # type: ignore[attr-defined]
        return ctx

    def _first_session(self, sid: str, namespace: str,
                       environ: Dict[str, Any]) -> Any:
        """The session of a socket whose handlers have not read it yet,
        read once and kept while the socket is there.

        Its handlers run in greenlets (or threads) of their own, so two
        first events may both get here; a session interface that waits
        on I/O (server-side sessions) then read it twice, and each handler
        changed a session object of its own, one of them dropped. The
        first reads it; the others wait for that one and share it. Kept
        only while the socket is there: an interface that waits may see
        it leave meanwhile, and nothing would drop it for a gone sid."""
        mine = self.server.eio.create_event()
        reading = self._opening.setdefault(sid, mine)
        if reading is not mine:
            reading.wait()
            kept = self._sessions.get(sid)
            # None: the first reader failed, or the socket left meanwhile.
            return kept if kept is not None else self._open_session(environ)
        try:
            session = self._open_session(environ)
            if self.server.get_environ(sid, namespace) is not None or \
                    self.held_environ(sid, namespace) is not None:
                self._sessions[sid] = session
            return session
        finally:
            del self._opening[sid]
            mine.set()

    def _open_session(self, environ: Dict[str, Any]) -> Any:
        """The Flask session the handshake's cookies carry, opened as
        ``RequestContext.push`` opens it (in an app context)."""
        interface = self.app.session_interface
        request = self.app.request_class(complete_environ(environ))
        with self.app.app_context():
            session = interface.open_session(self.app, request)
            if session is None:
                session = interface.make_null_session(self.app)
        return session

    def _call(self, handler: _Handler, sid: str, namespace: str,
              args: Sequence[Any]) -> Any:
        if not handler.in_context:
            return handler.func(*args)
        with self.request_context(sid, namespace):
            return handler.func(*args)

    # -- entry points -------------------------------------------------------

    def _app_connect(self, sid: str, environ: Dict[str, Any], auth: Any,
                     namespace: str, handlers: Sequence[_Handler]
                     ) -> Optional[bool]:
        """Run the app's connect handlers in the handshake's request
        context, keeping the session it read; False when one refused."""
        # The connection may have closed while the CONNECT waited
        # (python-socketio then passes an empty environ).
        ctx = self.app.request_context(complete_environ(environ))
        ctx.request.sid = sid  # type: ignore[attr-defined]
        ctx.request.namespace = namespace  # type: ignore[attr-defined]
        with ctx:
            self._sessions[sid] = ctx.session
            for handler in handlers:
                args = (sid, environ, auth)[:handler.connect_args]
                try:
                    result = handler.func(*args)
                except (sio_exceptions.ConnectionRefusedError,
                        ConnectionRefusedError):
                    self._sessions.pop(sid, None)
                    raise
                except AccessDenied as exc:
                    # As from an @rtcio.authorize hook: the client gets
                    # connect_error with the message.
                    self._sessions.pop(sid, None)
                    logger.info("rtcio: refused connection %s: %s", sid,
                                exc.message)
                    raise sio_exceptions.ConnectionRefusedError(
                        exc.message) from None
                except Exception:
                    # An app bug: python-socketio would leave the client
                    # waiting for an answer that never comes (and try
                    # again, and fail again); it is refused at once and
                    # the traceback logged.
                    self._sessions.pop(sid, None)
                    logger.exception(
                        "rtcio: connect handler %s failed for %s; the "
                        "socket is refused with 'server error'",
                        getattr(handler.func, "__name__", handler.func),
                        sid)
                    raise sio_exceptions.ConnectionRefusedError(
                        "server error") from None
                if result is False:
                    self._sessions.pop(sid, None)
                    return False
        return None

    def _connect_entry(self, namespace: str) -> Handler:
        key = (namespace, "connect")

        def on_connect(sid: str, environ: Dict[str, Any],
                       auth: Any = None) -> bool:
            handlers = self._user.get(key, ())
            # Only the app's connect handlers run in a request context:
            # without one, no Flask request and session per connection
            # (about 8% of a connect storm's CPU); the session is then read
            # by the first handler that runs in a context (request_context).
            if handlers and self._app_connect(sid, environ, auth, namespace,
                                              handlers) is False:
                return False
            for step in self._builtin.get(key, ()):
                if step(sid, environ, auth) is False:
                    self._sessions.pop(sid, None)
                    return False
            return True

        return on_connect

    def _disconnect_entry(self, namespace: str) -> Handler:
        key = (namespace, "disconnect")

        def on_disconnect(sid: str, reason: Any = None) -> None:
            if reason is None:
                # python-socketio before 5.12 passes none.
                reason = disconnect_reason_now()
            try:
                for step in self._builtin.get(key, ()):
                    try:
                        step(sid, reason)
                    except Exception:
                        logger.exception("rtcio: disconnect step failed for "
                                         "%s", sid)
                for handler in self._user.get(key, ()):
                    args = (sid, reason)[:handler.disconnect_args]
                    try:
                        self._call(handler, sid, namespace, args)
                    except Exception:
                        logger.exception("rtcio: disconnect handler %r "
                                         "failed for %s", handler.func, sid)
            finally:
                self._forget(sid, namespace)

        return on_disconnect

    def _forget(self, sid: str, namespace: str) -> None:
        session = self._sessions.pop(sid, None)
        environ = self.server.get_environ(sid, namespace) or \
            self.held_environ(sid, namespace)
        if environ is None:
            return
        self._gone[(namespace, sid)] = (environ, session)
        if len(self._gone) > GONE_KEPT:
            self._gone.popitem(last=False)

    def forget_held(self, sid: str, namespace: str) -> None:
        """A held socket that recovered on another process: its session
        kept here for a departure that will not run here is dropped."""
        self._sessions.pop(sid, None)

    def _event_entry(self, namespace: str, event: str) -> Handler:
        key = (namespace, event)

        def on_event(sid: str, *args: Any) -> Any:
            for step in self._builtin.get(key, ()):
                result = step(sid, *args)
                if result is not None:
                    return result
            result = None
            for handler in self._user.get(key, ()):
                try:
                    value = self._call(handler, sid, namespace, (sid,) + args)
                except Exception:
                    logger.exception("rtcio: handler %r for %r failed",
                                     handler.func, event)
                    return ack_error("server-error", "the server failed "
                                     f"to handle {event!r}")
                if value is not None:
                    result = value
            return result

        return on_event
