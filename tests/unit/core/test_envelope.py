"""Envelope checks for the relay, without any server."""

import json

import pytest
from hypothesis import given, strategies as st

from rtcio_flask.core.envelope import (EnvelopeError, check_envelope,
                                      check_envelope_text)

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


# -- the raw-packet path: the envelope's own text, stamped only if needed ----

def _text(env):
    return json.dumps(env, separators=(",", ":"))


def test_text_with_the_senders_own_source_is_sent_as_is():
    env = {"source": SID, "target": TARGET, "data": {"sdp": "v=0 é"}}
    raw = json.dumps(env, indent=1, ensure_ascii=False)  # not our encoding
    target, encoded = check_envelope_text(env, SID, raw)
    assert target == TARGET
    assert encoded is raw


@pytest.mark.parametrize("source", [None, "forged", 7])
def test_text_without_the_senders_source_is_stamped(source):
    env = {"target": TARGET, "data": 1}
    if source is not None:
        env["source"] = source
    target, encoded = check_envelope_text(env, SID, _text(env))
    assert json.loads(encoded) == {"target": TARGET, "data": 1,
                                   "source": SID}


def test_duplicate_keys_mean_the_same_to_the_check_and_the_target():
    # JSON.parse and json.loads both keep the last of duplicate keys.
    honest_last = '{"source":"forged","target":"%s","source":"%s"}' % (
        TARGET, SID)
    env = json.loads(honest_last)
    _, encoded = check_envelope_text(env, SID, honest_last)
    assert json.loads(encoded)["source"] == SID
    forged_last = '{"source":"%s","target":"%s","source":"forged"}' % (
        SID, TARGET)
    _, encoded = check_envelope_text(json.loads(forged_last), SID,
                                     forged_last)
    assert json.loads(encoded)["source"] == SID


def test_size_cap_applies_to_the_text_sent():
    env = {"source": SID, "target": TARGET, "data": "x" * 100}
    raw = _text(env)
    check_envelope_text(env, SID, raw, max_bytes=len(raw))
    with pytest.raises(EnvelopeError) as exc:
        check_envelope_text(env, SID, raw, max_bytes=len(raw) - 1)
    assert exc.value.code == "envelope-too-large"


def test_text_path_refuses_what_check_envelope_refuses():
    for env in ({"source": SID}, {"source": SID, "target": SID},
                {"source": SID, "target": 5}):
        with pytest.raises(EnvelopeError):
            check_envelope_text(env, SID, _text(env))


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       st.booleans())
def test_text_path_sends_what_check_envelope_would(extra, stamped):
    env = dict(extra, target=TARGET)
    if stamped:
        env["source"] = SID
    _, outgoing, _ = check_envelope(env, SID)
    _, encoded = check_envelope_text(env, SID, _text(env))
    assert json.loads(encoded) == outgoing
