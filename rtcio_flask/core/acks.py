"""The acknowledgement a refused event gets, in one shape everywhere.

A client that asked for an acknowledgement (``socket.emit(event, data,
ack)``) learns why its event was refused: ``{"ok": false, "error": <stable
code>, "reason": <text for people>}`` plus event-specific fields such as
``roomId``. Success is acknowledged with no value (None).

:class:`AccessDenied`, which an app's hook raises to refuse with such a
reason, lives here too, so the rooms layer catches it without importing up
(its public name is ``rtcio_flask.AccessDenied``).
"""

from typing import Any, Callable, Dict

#: ``hook(room_id, name)``: None/True allows, False or :class:`AccessDenied`
#: refuses, a string replaces the name (see RTCIO.authorize_join). Here, in
#: core, so the access and rooms layers share the one definition.
JoinHook = Callable[[str, str], Any]


def ack_error(code: str, reason: str, **extra: Any) -> Dict[str, Any]:
    """``{"ok": False, "error": code, "reason": reason, **extra}``."""
    out: Dict[str, Any] = {"ok": False, "error": code, "reason": reason}
    out.update(extra)
    return out


class AccessDenied(Exception):
    """Raised by a hook to refuse. ``message`` reaches the client (as
    ``connect_error`` at connect; in ``join-error`` at join), ``reason`` is
    the ``join-error`` reason code (default ``forbidden``)."""

    def __init__(self, message: str = "not allowed",
                 reason: str = "forbidden") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
