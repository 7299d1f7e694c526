"""RFC 6455 frames: unmasking a client's frame and framing a server's (RTCIO's
websocket transport and the eventlet shim share them), which close codes a
client may send, and what the server answers to the close frame it
received.

A close frame's body is empty, or a two-byte code followed by a UTF-8
reason (5.5.1). Some codes exist only inside an endpoint and must never
be on the wire (7.4.1: 1005 "no status", 1006 "abnormal closure", 1015
"TLS handshake failed"); 1004 is reserved, 1016-2999 are kept for future
revisions of the protocol and its extensions, codes below 1000 are not
used at all (7.4.2). A close frame that breaks these rules is a protocol
error (1002), and an invalid UTF-8 reason is an inconsistent message
(1007), exactly as for a text frame; :mod:`wsproto` and the Autobahn test
suite (sections 7.3, 7.5, 7.7, 7.9) read the rules the same way.
"""

import base64
import binascii
import struct
from typing import Union

#: Codes a peer may put in a close frame (RFC 6455 7.4.1, and IANA's
#: "WebSocket Close Code Number Registry": 1012-1014 were registered after
#: the RFC), besides 3000-4999 (libraries, frameworks and applications).
ASSIGNED_CLOSE_CODES = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
     1014))

NORMAL = 1000
PROTOCOL_ERROR = 1002
INVALID_PAYLOAD = 1007


def close_code_allowed(code: int) -> bool:
    """Whether a client may send ``code`` in a close frame."""
    return code in ASSIGNED_CLOSE_CODES or 3000 <= code <= 4999


def close_reply(body: bytes) -> int:
    """The code the server's close frame carries in answer to a client's
    close frame whose (unmasked) body is ``body``: the client's own code
    when the frame is valid (the usual echo; 1000 for an empty body), 1002
    for a 1-byte body or a code not allowed on the wire, 1007 for a reason
    that is not UTF-8."""
    if not body:
        return NORMAL
    if len(body) == 1:
        return PROTOCOL_ERROR
    code = body[0] << 8 | body[1]
    if not close_code_allowed(code):
        return PROTOCOL_ERROR
    try:
        body[2:].decode("utf-8")
    except UnicodeDecodeError:
        return INVALID_PAYLOAD
    return code


def valid_key(key: str) -> bool:
    """Whether ``key`` is a ``Sec-WebSocket-Key`` as RFC 6455 (4.1, 4.2.1)
    says: base64 of 16 bytes. Anything else is not a websocket client's
    handshake and gets 400 (24 characters that are not base64 too)."""
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):  # not base64, or not ASCII
        return False


# -- frames -------------------------------------------------------------------

_TEXT = 0x1

_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack

# XOR tables, one per mask byte: unmasking is then four strided
# ``bytes.translate`` calls, all in C (2-3 times faster than one big-integer
# XOR on an SDP-sized frame, and than eventlet's per-byte loop by far more).
_XOR = [bytes(i ^ k for i in range(256)) for k in range(256)]


def unmask(data: bytes, mask: bytes) -> bytes:
    """``data`` XOR the 4-byte ``mask`` repeated (RFC 6455, 5.3)."""
    return bytes(unmask_in_place(bytearray(data), mask))


def unmask_in_place(data: bytearray,
                    mask: Union[bytes, bytearray]) -> bytearray:
    """:func:`unmask` on a buffer of one's own, changed and returned: a
    websocket reader unmasks the slice it cut from its read buffer with
    no copy in and none out."""
    for i in range(4):
        data[i::4] = data[i::4].translate(_XOR[mask[i]])
    return data


def frame(payload: bytes, opcode: int = _TEXT) -> bytes:
    """One unmasked, unfragmented server frame (servers never mask)."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return _pack_short(first, 126, length) + payload
    return _pack_long(first, 127, length) + payload
