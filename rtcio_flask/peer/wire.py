"""What travels between peers, as pure functions: the control message
format, the named channels' negotiated ids, and the SDP surgery that turns
aiortc's gathered-up-front candidates into trickled ones.

No aiortc or socket.io here, so every rule of PROTOCOL.md "Peer side" is
unit-testable on its own and the browser-facing details live in one place.
"""

import json
from typing import Any, Dict, List, Optional, Tuple, Union

MESSAGE = "#rtcio:message"
INIT_OFFER = "#rtcio:init-offer"
PEER_LEFT = "#rtcio:peer-left"
RESERVED_PREFIX = "#rtcio:"

CONTROL_LABEL = "rtcio:ctrl"
CONTROL_ID = 0
CHANNEL_PREFIX = "rtcio:ch:"

#: Local events a remote peer may never inject over a channel.
LOCAL_EVENTS = frozenset(
    ["peer-connect", "peer-disconnect", "track-added", "track-removed"])

#: Envelopes above this size are dropped, in both directions.
MAX_MESSAGE_BYTES = 1024 * 1024

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv1a_utf16(text: str) -> int:
    """FNV-1a 32-bit over the UTF-16 code units of ``text``, as the browser
    client's ``charCodeAt`` loop computes it (a non-BMP character is two
    units), so both sides derive the same number."""
    value = FNV_OFFSET
    # surrogatepass: a lone surrogate (possible in JSON) hashes as the
    # code unit it is, as in JavaScript, instead of raising.
    units = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        value ^= units[i] | (units[i + 1] << 8)
        value = (value * FNV_PRIME) & 0xFFFFFFFF
    return value


def channel_id(name: str) -> int:
    """The negotiated DataChannel id of the named channel ``name``: 1..1023,
    never the control channel's 0."""
    return fnv1a_utf16(name) % 1023 + 1


def channel_label(name: str) -> str:
    return CHANNEL_PREFIX + name


def is_reserved(event: str) -> bool:
    """Names no peer may send: the protocol's and the local events."""
    return event.startswith(RESERVED_PREFIX) or event in LOCAL_EVENTS


def encode_message(event: str, args: Union[List[Any], Tuple[Any, ...]]
                   ) -> str:
    """One ``{"e", "d"}`` JSON message; ValueError when it may not be sent
    (reserved name, too big), so the sender learns it at once rather than
    the receiver dropping it silently."""
    if not isinstance(event, str) or not event:
        raise ValueError("an event name is a non-empty string")
    if is_reserved(event):
        raise ValueError(f"{event!r} is reserved by rtc.io and would be "
                         f"dropped by every peer")
    text = json.dumps({"e": event, "d": list(args)}, separators=(",", ":"))
    if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise ValueError(f"{event!r} is over rtc.io's 1 MiB message limit")
    return text


def check_binary(data: Union[bytes, bytearray, memoryview]) -> bytes:
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError("binary data over rtc.io's 1 MiB message limit")
    return data


def decode_message(raw: Union[str, bytes]
                   ) -> Optional[Tuple[str, List[Any]]]:
    """``(event, args)`` for an acceptable text message, else None: what an
    rtc.io client drops (oversized, malformed, reserved names) is dropped
    here too."""
    if not isinstance(raw, str) or len(raw.encode("utf-8")) > \
            MAX_MESSAGE_BYTES:
        return None
    try:
        decoded = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    event, args = decoded.get("e"), decoded.get("d", [])
    if not isinstance(event, str) or not isinstance(args, list):
        return None
    if is_reserved(event):
        return None
    return event, args


def split_candidates(sdp: str) -> Tuple[str, List[Dict[str, Any]]]:
    """Take the candidates out of an SDP, as a trickling browser sends them.

    aiortc gathers before ``setLocalDescription`` returns and writes the
    candidates into the SDP; rtc.io peers expect them as separate
    ``{candidate}`` envelopes. Returns ``(sdp_without_candidates,
    candidates)``, each candidate a browser ``RTCIceCandidateInit`` dict.
    """
    lines = sdp.splitlines()
    mids: Dict[int, str] = {}
    ufrags: Dict[int, str] = {}
    mline = -1
    for line in lines:  # aiortc writes the ufrag after the candidates
        if line.startswith("m="):
            mline += 1
        elif line.startswith("a=mid:"):
            mids[mline] = line[len("a=mid:"):]
        elif line.startswith("a=ice-ufrag:"):
            ufrags[mline] = line[len("a=ice-ufrag:"):]
    kept: List[str] = []
    candidates: List[Dict[str, Any]] = []
    mline = -1
    for line in lines:
        if line.startswith("m="):
            mline += 1
        if line.startswith("a=candidate:"):
            candidates.append({
                "candidate": line[len("a="):], "sdpMid": mids.get(mline),
                "sdpMLineIndex": mline,
                "usernameFragment": ufrags.get(mline, ufrags.get(-1))})
        elif line != "a=end-of-candidates":
            kept.append(line)
    return "\r\n".join(kept) + "\r\n", candidates


def ice_ufrag(sdp: str) -> Optional[str]:
    """The first ICE username fragment of an SDP (a bundled connection has
    one), to tell a current candidate from a stale one."""
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line[len("a=ice-ufrag:"):]
    return None
