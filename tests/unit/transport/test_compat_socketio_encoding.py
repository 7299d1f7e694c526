"""The room emits' direct encoding (``compat.socketio.encode_event``) is
byte for byte what python-socketio's own ``Packet.encode`` writes, and the
binary scan (``is_binary``) agrees with python-socketio's: both replace
python-socketio's work on every emit of the join path, so a difference
would reach every client."""

import socketio
from hypothesis import given
from hypothesis import strategies as st
from socketio import packet as sio_packet

from rtcio_flask.transport.compat.socketio import encode_event, is_binary

leaves = (st.none() | st.booleans() | st.integers() |
          st.floats(allow_nan=False) | st.text())
binary_leaves = leaves | st.binary(max_size=8)


def _json(children):
    return st.lists(children, max_size=4) | \
        st.dictionaries(st.text(max_size=8), children, max_size=4)


json_data = st.recursive(leaves, _json, max_leaves=20)
any_data = st.recursive(binary_leaves, _json, max_leaves=20)


@given(event=st.text(min_size=1, max_size=20),
       args=st.lists(json_data, max_size=3),
       namespace=st.sampled_from([None, "/", "/chat", "/a,b"]))
def test_encode_event_writes_what_python_socketio_writes(event, args,
                                                         namespace):
    server = socketio.Server()
    expected = sio_packet.Packet(sio_packet.EVENT, namespace=namespace,
                                 data=[event] + args).encode()
    assert encode_event(server, namespace, [event] + args) == expected


@given(data=any_data)
def test_is_binary_agrees_with_python_socketio(data):
    assert is_binary(data) == bool(sio_packet.Packet.data_is_binary(data))


def test_binary_data_goes_through_the_packet_class():
    """Not JSON: the packet class deconstructs it (callers log and send
    only non-binary emits this way; this one must not raise)."""
    server = socketio.Server()
    text = encode_event(server, "/", ["file", {"blob": b"\x00\x01"}])
    assert '51-["file",{"blob":{"_placeholder":true,"num":0}}]' in text
