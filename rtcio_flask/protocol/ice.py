"""The ``ask-ice`` event: a client asks (with an acknowledgement) and gets
``{"iceServers": [...], "ttl": seconds}`` with fresh TURN credentials.

Credentials are made per request rather than put in the page, so each one
names its user and expires on its own (see :mod:`rtcio_flask.core.turn`).
"""

import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

from ..core.acks import ack_error
from ..core.turn import check_user_id

if TYPE_CHECKING:
    from ..extension import AppState

logger = logging.getLogger("rtcio_flask")

ASK_ICE = "ask-ice"

NOT_CONFIGURED_REASON = (
    "this server has no TURN credentials to give: set "
    "app.config['RTCIO_TURN_SECRET'] and ['RTCIO_TURN_URLS'], or "
    "RTCIO(app, turn=TurnConfig(secret=..., urls=[...]))")


class AskIce:
    """The built-in ``ask-ice`` step for one namespace of one app."""

    def __init__(self, state: "AppState", namespace: str) -> None:
        self.state = state
        self.namespace = namespace

    def __call__(self, sid: str, *args: Any) -> Optional[Dict[str, Any]]:
        turn = getattr(self.state, "turn", None)
        if turn is None:
            # An app that answers ask-ice itself keeps doing so.
            if self.state.dispatcher.has_user_handler(ASK_ICE,
                                                      self.namespace):
                return None
            return ack_error("turn-not-configured", NOT_CONFIGURED_REASON)
        user = sid
        if turn.user_id is not None:
            try:
                with self.state.dispatcher.request_context(sid,
                                                           self.namespace):
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


def attach(state: "AppState", namespace: str) -> None:
    """Answer ``ask-ice`` on ``namespace`` of this app."""
    state.dispatcher.add_builtin(ASK_ICE, AskIce(state, namespace), namespace)
