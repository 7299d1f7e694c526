"""Units of the aiortc test peer's pure parts: the named-channel id that
must agree with the browser client, control-message filtering, and the
SDP/candidate split that makes trickle signaling real."""

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.support.rtc_peer import (CONTROL_LABEL, _set_local_description,
                                    channel_id, decode_control,
                                    encode_control, fnv1a_utf16,
                                    split_candidates)

# Computed independently in Node.js with the client's own arithmetic:
#   h = 0x811c9dc5; for each i: h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193)
#   h >>> 0, then h % 1023 + 1
# ("a" and "foobar" are also the published FNV-1a 32-bit test vectors.)
NODE_VALUES = [
    ("", 2166136261, 257),
    ("a", 3826002220, 635),
    ("foobar", 3214735720, 164),
    ("chat", 2722888107, 721),
    ("file-transfer", 2775240353, 942),
    ("game", 1112135431, 419),
    ("über", 1398899320, 17),
    ("日本語", 1409693518, 542),
    ("emoji😀", 3169325312, 726),     # a surrogate pair: two code units
    ("x" * 100, 2888067797, 693),
]


@pytest.mark.parametrize("name,hashed,stream_id", NODE_VALUES)
def test_channel_id_matches_the_javascript_client(name, hashed, stream_id):
    assert fnv1a_utf16(name) == hashed
    assert channel_id(name) == stream_id


def test_channel_ids_never_take_the_control_channel_id():
    ids = {channel_id(f"room-{i}") for i in range(5000)}
    assert min(ids) >= 1 and max(ids) <= 1023
    assert 0 not in ids


def test_control_messages_round_trip():
    assert decode_control(encode_control("hello", 1, {"x": [2]})) == (
        "hello", [1, {"x": [2]}])
    assert decode_control('{"e": "no-args"}') == ("no-args", [])


@pytest.mark.parametrize("message", [
    "not json", "[1, 2]", '{"d": []}', '{"e": 5, "d": []}',
    '{"e": "x", "d": "not a list"}',
    encode_control("#rtcio:message", {}), encode_control("peer-connect"),
    encode_control("peer-disconnect"), encode_control("track-added"),
    encode_control("track-removed"),
    encode_control("big", "x" * (1024 * 1024)),
])
def test_control_messages_a_client_drops(message):
    assert decode_control(message) is None


def test_candidates_leave_the_sdp_as_trickle_candidates():
    async def offer_sdp():
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel(CONTROL_LABEL, negotiated=True, id=0)
        try:
            await asyncio.wait_for(_set_local_description(pc), 10)
            return pc.localDescription.sdp
        finally:
            await pc.close()

    sdp = asyncio.run(offer_sdp())
    stripped, candidates = split_candidates(sdp)
    assert "a=candidate:" in sdp
    assert "a=candidate:" not in stripped
    assert "a=end-of-candidates" not in stripped
    assert "a=ice-ufrag:" in stripped and "a=fingerprint:" in stripped
    assert candidates
    ufrag = next(line.split(":", 1)[1] for line in sdp.splitlines()
                 if line.startswith("a=ice-ufrag:"))
    for cand in candidates:
        assert cand["candidate"].startswith("candidate:")
        assert cand["sdpMid"] == "0" and cand["sdpMLineIndex"] == 0
        assert cand["usernameFragment"] == ufrag
        # Loopback only: the host candidate is 127.0.0.1, never a real NIC.
        assert cand["candidate"].split()[4] == "127.0.0.1"
