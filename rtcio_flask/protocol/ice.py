"""The ``ask-ice`` event: a client asks (with an acknowledgement) and gets
``{"iceServers": [...], "ttl": seconds}`` with fresh TURN credentials.

Credentials are made per request rather than put in the page, so each one
names its user and expires on its own (see :mod:`rtcio_flask.core.turn`).
"""

import logging
from typing import Any, Callable, Dict, Optional

from ..core.acks import ack_error
from ..core.ports import Builtins
from ..core.turn import TurnConfig, check_user_id

logger = logging.getLogger("rtcio_flask")

ASK_ICE = "ask-ice"

NOT_CONFIGURED_REASON = (
    "this server has no TURN credentials to give: set "
    "app.config['RTCIO_TURN_SECRET'] and ['RTCIO_TURN_URLS'], or "
    "RTCIO(app, turn=TurnConfig(secret=..., urls=[...]))")


class AskIce:
    """The built-in ``ask-ice`` step for one namespace of one app."""

    def __init__(self, dispatcher: Builtins,
                 turn: Callable[[], Optional[TurnConfig]],
                 namespace: str) -> None:
        #: ``turn()`` is the app's TurnConfig (or None) at the time of the
        #: request, so the step never holds a stale copy of it.
        self.dispatcher = dispatcher
        self.turn = turn
        self.namespace = namespace

    def __call__(self, sid: str, *args: Any) -> Optional[Dict[str, Any]]:
        turn = self.turn()
        if turn is None:
            # An app that answers ask-ice itself keeps doing so.
            if self.dispatcher.has_user_handler(ASK_ICE, self.namespace):
                return None
            return ack_error("turn-not-configured", NOT_CONFIGURED_REASON)
        user = sid
        if turn.user_id is not None:
            try:
                with self.dispatcher.request_context(sid, self.namespace):
                    user = turn.user_id(sid)
                if user is not None:
                    user = check_user_id(user)
            except Exception as exc:
                logger.exception("rtcio: TURN user_id hook failed for %s",
                                 sid)
                reason = (str(exc) if isinstance(exc, ValueError)
                          else "the server failed to name the TURN user")
                return ack_error("server-error", reason)
            if user is None:
                return ack_error("turn-refused",
                                 "this socket may not have TURN credentials "
                                 "(the app's user_id hook returned None)")
        return {"iceServers": turn.ice_servers(user), "ttl": turn.ttl}


def attach(dispatcher: Builtins, turn: Callable[[], Optional[TurnConfig]],
           namespace: str) -> None:
    """Answer ``ask-ice`` on ``namespace`` through ``dispatcher``, with the
    credentials of ``turn()`` (see :class:`AskIce`)."""
    dispatcher.add_builtin(ASK_ICE, AskIce(dispatcher, turn, namespace),
                           namespace)
