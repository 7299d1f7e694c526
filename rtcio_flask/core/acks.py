"""The acknowledgement a refused event gets, in one shape everywhere.

A client that asked for an acknowledgement (``socket.emit(event, data,
ack)``) learns why its event was refused: ``{"ok": false, "error": <stable
code>, "reason": <text for people>}`` plus event-specific fields such as
``roomId``. Success is acknowledged with no value (None).
"""

from typing import Any, Dict


def ack_error(code: str, reason: str, **extra: Any) -> Dict[str, Any]:
    """``{"ok": False, "error": code, "reason": reason, **extra}``."""
    out: Dict[str, Any] = {"ok": False, "error": code, "reason": reason}
    out.update(extra)
    return out
