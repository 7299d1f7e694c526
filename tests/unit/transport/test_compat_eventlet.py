"""The fast unmasking gives exactly eventlet's own bytes, for every offset,
length and mask, including the empty frame and lengths not a multiple of 4.

eventlet's original ``_apply_mask`` comes from a copy of
``eventlet.websocket`` loaded afresh from its source file, never from the
module other tests may have patched (``speed_up_eventlet`` replaces the
method on the shared class), so the comparison holds in any order.
"""

import importlib.util
import warnings

from hypothesis import given
from hypothesis import strategies as st

from rtcio_flask.transport.compat.eventlet import apply_mask


def _pristine_eventlet_websocket():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's deprecation notice
        spec = importlib.util.find_spec("eventlet.websocket")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # not put in sys.modules
    return module


ORIGINAL = _pristine_eventlet_websocket().RFC6455WebSocket._apply_mask


def test_the_original_is_eventlets_own():
    assert ORIGINAL is not apply_mask
    assert ORIGINAL.__module__ == "eventlet.websocket"
    assert ORIGINAL(b"\x01\x02", b"\x01\x01\x01\x01") == b"\x00\x03"


@given(data=st.binary(max_size=3000),
       mask=st.tuples(*[st.integers(0, 255)] * 4),
       offset=st.integers(0, 10_000), cut=st.booleans())
def test_same_bytes_as_eventlet(data, mask, offset, cut):
    length = len(data) // 2 if cut else None
    assert apply_mask(data, mask, length, offset) == \
        ORIGINAL(data, mask, length, offset)
