"""Access control in Flask terms: who may connect, who may join which room.

Both hooks run inside the Flask request context rebuilt from the socket's
handshake (see :mod:`rtcio_flask.dispatch`), so ``flask.request`` (headers,
cookies, query string), ``flask.session`` (an existing Flask login works when
the browser connects with ``withCredentials``) and ``flask.request.sid`` are
there, as in a view.

A hook allows by returning None or True, and refuses by returning False or
raising :class:`AccessDenied` with a message for the client.
"""

import logging
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Optional,
                    TypeVar)

import flask
from socketio import exceptions as sio_exceptions

# Defined in core so the rooms layer can catch it without importing up;
# this is its public home (rtcio_flask.AccessDenied).
from .core.acks import AccessDenied as AccessDenied
from .core.acks import JoinHook

logger = logging.getLogger("rtcio_flask")

F = TypeVar("F", bound=Callable[..., Any])


def _count_refusal() -> None:
    """Report a connect-hook refusal to the app's metrics (a no-op while
    they are off); hooks run in the app's request context."""
    state = flask.current_app.extensions.get("rtcio")
    if state is not None:
        state.metrics.refused("auth")


class AccessHooks:
    """The hook decorators of :class:`rtcio_flask.RTCIO` (a mixin)."""

    if TYPE_CHECKING:
        # Provided by RTCIO.
        def on(self, event: str, handler: Any = None,
               namespace: str = "/") -> Any: ...

    @property
    def join_hooks(self) -> List[JoinHook]:
        hooks: Optional[List[JoinHook]] = self.__dict__.get("_join_hooks")
        if hooks is None:
            hooks = self.__dict__["_join_hooks"] = []
        return hooks

    def authorize(self, func: F) -> F:
        """Decorate ``func(auth)``, called for every connecting socket with
        the handshake's ``auth`` payload (None when the client sent none)::

            @rtcio.authorize
            def only_logged_in(auth):
                if "user_id" not in flask.session:
                    raise AccessDenied("log in first")

        The browser gets ``connect_error`` with the message (``"not
        authorized"`` when the hook returns False). Hooks run before the
        app's own ``connect`` handlers registered after them.
        """
        def on_connect(sid: str, environ: Dict[str, Any],
                       auth: Any = None) -> bool:
            try:
                allowed = func(auth)
            except AccessDenied as exc:
                _count_refusal()
                logger.info("rtcio: refused connection %s: %s", sid,
                            exc.message)
                raise sio_exceptions.ConnectionRefusedError(exc.message) \
                    from None
            if allowed is False:
                _count_refusal()
                logger.info("rtcio: refused connection %s: %s said no", sid,
                            getattr(func, "__name__", func))
                raise sio_exceptions.ConnectionRefusedError("not authorized")
            return True

        # (No __wrapped__: inspect.signature would follow it and the
        # dispatcher would then call on_connect without auth.)
        on_connect.hook = func  # type: ignore[attr-defined]
        self.on("connect", on_connect)
        return func

    def authorize_join(self, func: F) -> F:
        """Decorate ``func(room_id, name)``, called before a socket joins a
        built-in room (``rooms=True``); ``flask.request.sid`` is the socket::

            @rtcio.authorize_join
            def members_only(room_id, name):
                if room_id.startswith("staff-") and not flask.session.get("staff"):
                    raise AccessDenied("staff only")
                return flask.session.get("user_name")   # the shown name

        Refusing sends ``join-error {reason: "forbidden", roomId, message}``
        (``reason`` is AccessDenied's). ``check-room`` runs the hooks too,
        with ``name=""``, so a refused room is not probed for a password.
        Returning a string replaces the name the client asked for, so names
        can come from the login instead of the client.
        """
        self.join_hooks.append(func)
        return func
