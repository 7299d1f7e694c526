"""Envelope checks for the relay, without any server."""

import json

import pytest
from hypothesis import given, strategies as st

from rtcio_flask.core.envelope import EnvelopeError, check_envelope

SID = "sender0000000000000A"
TARGET = "target0000000000000B"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


def test_stamps_source_and_keeps_everything_else():
    env = {"source": "spoofed", "target": TARGET,
           "data": {"description": {"type": "offer", "sdp": "v=0"}}}
    target, out, encoded = check_envelope(env, SID)
    assert target == TARGET
    assert out["source"] == SID
    assert out["data"] == env["data"]
    assert env["source"] == "spoofed"  # the caller's dict is not modified
    assert json.loads(encoded) == out


@given(json_values)
def test_unknown_data_variants_pass_through_untouched(data):
    _, out, _ = check_envelope({"target": TARGET, "data": data}, SID,
                               max_bytes=None)
    assert out["data"] == data


@pytest.mark.parametrize("envelope, code", [
    ("not an object", "invalid-envelope"),
    ([TARGET], "invalid-envelope"),
    (None, "invalid-envelope"),
    ({"data": {}}, "invalid-target"),
    ({"target": 5, "data": {}}, "invalid-target"),
    ({"target": "", "data": {}}, "invalid-target"),
    ({"target": "x" * 500, "data": {}}, "invalid-target"),
    ({"target": SID, "data": {}}, "invalid-target"),
    ({"target": TARGET, "data": b"\x00binary"}, "invalid-envelope"),
    ({"target": TARGET, "data": float("nan")}, "invalid-envelope"),
])
def test_bad_envelopes_get_a_code(envelope, code):
    with pytest.raises(EnvelopeError) as err:
        check_envelope(envelope, SID)
    assert err.value.code == code
    ack = err.value.ack()
    assert ack["ok"] is False and ack["error"] == code and ack["reason"]


def test_size_cap_counts_the_serialized_envelope():
    env = {"target": TARGET, "data": {"description": {"sdp": "a" * 1000}}}
    _, _, encoded = check_envelope(env, SID, max_bytes=10_000)
    with pytest.raises(EnvelopeError) as err:
        check_envelope(env, SID, max_bytes=len(encoded) - 1)
    assert err.value.code == "envelope-too-large"
    assert str(len(encoded)) in err.value.reason
    check_envelope(env, SID, max_bytes=len(encoded))
