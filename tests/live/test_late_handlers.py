"""A client that sends an event and closes at once: python-socketio starts
the event's handler in a greenlet of its own, after the disconnect has been
handled. The event was received, so the app's handler still runs, in the
socket's own request context, with no traceback in the log."""

import pytest
import websocket

from tests.support.raw_eio import RawSocket
from tests.support.servers import serve_app

APP = "tests.apps.network_app:create_app"


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_an_event_sent_just_before_a_close_is_handled_in_context(mode):
    with serve_app(APP, mode) as server:
        raw = RawSocket(server.url)
        event = websocket.ABNF.create_frame(
            '42["note","last words"]', websocket.ABNF.OPCODE_TEXT).format()
        close = websocket.ABNF.create_frame(
            b"\x03\xe8", websocket.ABNF.OPCODE_CLOSE).format()
        raw.ws.sock.sendall(event + close)  # one write: read together
        server.log_with("NOTE")
        raw.close()
        log = server.log_with(f"DISCONNECT {raw.sid}")
        assert f"NOTE {raw.sid} request.sid={raw.sid} path=/socket.io/ " \
               "data=last words" in log, log[-3000:]
        assert f"DISCONNECT {raw.sid}" in log
        assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_an_event_sent_just_before_a_hang_up_is_handled_in_context(mode):
    """With connection state recovery on (the default), a client that
    hangs up without a close frame is held, not disconnected: its handler
    runs in the context kept for the held socket."""
    with serve_app(APP, mode, env={"TEST_RECOVERY_WINDOW": "30"},
                   watch=True) as server:
        raw = RawSocket(server.url)
        event = websocket.ABNF.create_frame(
            '42["note","last words"]', websocket.ABNF.OPCODE_TEXT).format()
        raw.ws.sock.sendall(event)
        raw.ws.sock.close()  # no close frame
        log = server.log_with("NOTE")
        assert f"NOTE {raw.sid} request.sid={raw.sid} path=/socket.io/ " \
               "data=last words" in log, log[-3000:]
