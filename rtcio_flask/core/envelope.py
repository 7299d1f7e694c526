"""Checks on the ``#rtcio:message`` envelope, apart from any socket code.

The relay must forward every envelope a real client sends, untouched, while
refusing the ones that would harm others: a missing or bogus target, a
payload too large to be signaling. ``data`` is never inspected, so variants
that later client versions add pass through.
"""

import json
from typing import Any, Dict, Optional, Tuple

from .acks import ack_error

#: SDP is 2-10 KB; even a many-track simulcast offer stays far below this.
DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024

#: socket.io sids are 20 characters; anything far longer is not a sid.
MAX_TARGET_LENGTH = 128

# allow_nan=False: NaN is not JSON, and a browser receiving it would fail to
# parse the whole packet.
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class EnvelopeError(ValueError):
    """A refused envelope: ``code`` is stable for clients, ``reason`` is for
    people reading the log or the acknowledgement."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def ack(self) -> Dict[str, Any]:
        """What a client that asked for an acknowledgement gets back."""
        return ack_error(self.code, self.reason)


def check_envelope(envelope: Any, sender: str,
                   max_bytes: Optional[int] = DEFAULT_MAX_ENVELOPE_BYTES
                   ) -> Tuple[str, Dict[str, Any], str]:
    """Validate an envelope and return ``(target, outgoing, encoded)``.

    ``outgoing`` is a copy with ``source`` stamped to the sender's real sid,
    so no client can speak in another's name. ``encoded`` is its compact
    JSON, measured for the size cap and reusable by callers that send raw
    packets, so the envelope is serialized only once.
    """
    target = envelope_target(envelope, sender)
    outgoing = dict(envelope)
    outgoing["source"] = sender
    try:
        encoded = _dumps(outgoing)
    except (TypeError, ValueError) as exc:  # binary attachments, NaN...
        raise EnvelopeError("invalid-envelope",
                            f"envelope is not plain JSON: {exc}") from None
    _check_size(encoded, max_bytes)
    return target, outgoing, encoded


def check_envelope_text(envelope: Any, sender: str, text: str,
                        max_bytes: Optional[int] = DEFAULT_MAX_ENVELOPE_BYTES
                        ) -> Tuple[str, str]:
    """:func:`check_envelope` for an envelope that arrived as the JSON
    ``text`` (its decoding is ``envelope``): ``(target, encoded)``.

    rtc.io clients stamp ``source`` with their own id already, so for them
    ``text`` is what the target must get, as it is: no copy and no second
    encoding (which was 12% of the relay's CPU). Only an envelope whose
    ``source`` is missing or not the sender's is re-encoded with it
    stamped. Duplicate keys resolve the same way here and in the target's
    ``JSON.parse`` (the last one wins), so what was checked is what the
    target reads. The size cap applies to what is sent.
    """
    if isinstance(envelope, dict) and envelope.get("source") == sender:
        target = envelope_target(envelope, sender)
        _check_size(text, max_bytes)
        return target, text
    target, _, encoded = check_envelope(envelope, sender, max_bytes)
    return target, encoded


def _check_size(encoded: str, max_bytes: Optional[int]) -> None:
    if max_bytes is not None and len(encoded) > max_bytes:
        raise EnvelopeError(
            "envelope-too-large",
            f"envelope is {len(encoded)} bytes, over the {max_bytes} byte "
            f"limit (RTCIO_MAX_ENVELOPE_BYTES)")


def envelope_target(envelope: Any, sender: str) -> str:
    """The envelope's target, once the envelope's shape and target are
    valid for ``sender``; raises EnvelopeError."""
    if not isinstance(envelope, dict):
        raise EnvelopeError(
            "invalid-envelope",
            f"envelope must be an object, not {type(envelope).__name__}")
    target = envelope.get("target")
    if target is None:
        raise EnvelopeError("invalid-target", "envelope has no target")
    if not isinstance(target, str) or not target:
        raise EnvelopeError(
            "invalid-target", "target must be a non-empty socket id string")
    if len(target) > MAX_TARGET_LENGTH:
        raise EnvelopeError("invalid-target", "target is too long to be a "
                                              "socket id")
    if not target.isascii():
        # socket.io ids are ASCII; a lone surrogate here would also break a
        # Redis room store's encoder.
        raise EnvelopeError("invalid-target", "target is not a socket id "
                                              "(socket ids are ASCII)")
    if target == sender:
        raise EnvelopeError("invalid-target",
                            "target is the sender itself; the relay never "
                            "echoes")
    return target
