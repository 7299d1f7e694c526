"""The fast unmasking gives exactly eventlet's own bytes, for every offset,
length and mask, including the empty frame and lengths not a multiple of 4."""

import warnings

from hypothesis import given
from hypothesis import strategies as st

from rtcio_flask.transport.patches import apply_mask

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from eventlet.websocket import RFC6455WebSocket

ORIGINAL = RFC6455WebSocket.__dict__["_apply_mask"].__func__ \
    if RFC6455WebSocket._apply_mask is not apply_mask else None


def _reference(data, mask, length=None, offset=0):
    # eventlet's algorithm, restated (the class may already be patched).
    if length is None:
        length = len(data)
    return b"".join(bytes((data[i] ^ mask[(offset + i) % 4],))
                    for i in range(length))


@given(data=st.binary(max_size=3000),
       mask=st.tuples(*[st.integers(0, 255)] * 4),
       offset=st.integers(0, 10_000), cut=st.booleans())
def test_same_bytes_as_eventlet(data, mask, offset, cut):
    length = len(data) // 2 if cut else None
    expected = _reference(data, mask, length, offset)
    assert apply_mask(data, mask, length, offset) == expected
    if ORIGINAL is not None:
        assert ORIGINAL(data, mask, length, offset) == expected
