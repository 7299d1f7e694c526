"""The pure rules of rtcio_flask.peer.wire, and the extra staying optional."""

import json
import subprocess
import sys

import pytest

from rtcio_flask.peer.wire import (MAX_MESSAGE_BYTES, channel_id,
                                   decode_message, encode_message,
                                   fnv1a_utf16, split_candidates)
from tests.support.servers import ROOT


def test_fnv1a_matches_the_javascript_loop():
    # Known FNV-1a 32-bit values; for ASCII the UTF-16 units are the bytes.
    assert fnv1a_utf16("") == 0x811C9DC5
    assert fnv1a_utf16("a") == 0xE40C292C
    assert fnv1a_utf16("foobar") == 0xBF9CF968
    # A non-BMP character is two UTF-16 code units, as charCodeAt sees it.
    value = 0x811C9DC5
    for unit in (0xD83D, 0xDE00):  # U+1F600
        value = ((value ^ unit) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a_utf16("\U0001F600") == value
    assert fnv1a_utf16("\ud83d") == ((0x811C9DC5 ^ 0xD83D) * 0x01000193) \
        & 0xFFFFFFFF


def test_channel_ids_stay_off_the_control_channel():
    ids = {channel_id(f"ch{i}") for i in range(5000)}
    assert min(ids) >= 1 and max(ids) <= 1023


def test_reserved_and_oversized_messages_are_refused_and_dropped():
    for name in ("#rtcio:message", "peer-connect", "peer-disconnect",
                 "track-added", "track-removed"):
        with pytest.raises(ValueError):
            encode_message(name, [])
        assert decode_message(json.dumps({"e": name, "d": []})) is None
    big = "x" * MAX_MESSAGE_BYTES
    with pytest.raises(ValueError):
        encode_message("big", [big])
    assert decode_message(json.dumps({"e": "big", "d": [big]})) is None
    for junk in ("not json", "[1]", '{"e": 1, "d": []}', '{"e": "x", "d": 2}',
                 b'{"e": "x", "d": []}'):
        assert decode_message(junk) is None
    assert decode_message(encode_message("ok", (1, "two"))) == \
        ("ok", [1, "two"])


def test_split_candidates_keeps_mid_index_and_ufrag():
    sdp = ("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
           "a=mid:0\r\na=candidate:1 1 udp 2130706431 192.0.2.2 5000 typ "
           "host\r\na=end-of-candidates\r\na=ice-ufrag:abcd\r\n")
    stripped, candidates = split_candidates(sdp)
    assert "a=candidate" not in stripped and "end-of-candidates" not in \
        stripped
    assert candidates == [{
        "candidate": "candidate:1 1 udp 2130706431 192.0.2.2 5000 typ host",
        "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"}]


def test_import_rtcio_flask_does_not_load_aiortc():
    code = ("import sys, rtcio_flask; "
            "print('aiortc' in sys.modules, 'rtcio_flask.peer' in "
            "sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                         capture_output=True, check=True).stdout
    assert out.split() == ["False", "False"]
