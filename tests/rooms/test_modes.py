"""The room flow under the other serving modes (gevent, threads): the same
events in the same order as under eventlet."""

import pytest

from rtcio_flask import RtcioEvents
from tests.support.clients import Recorder
from tests.support.servers import serve_app


@pytest.mark.parametrize("mode", ["gevent", "threading"])
def test_room_flow(mode):
    with serve_app("tests.apps.rooms_app:create_app", mode) as srv:
        a = Recorder().connect(srv.url)
        b = Recorder().connect(srv.url)
        try:
            a.emit("join-room", {"roomId": "modes", "name": "A"})
            a.wait_for("join-ok")
            a.call("media-state", {"roomId": "modes", "mic": False,
                                   "cam": True})
            b.emit("join-room", {"roomId": "modes", "name": "B"})
            b.wait_for("join-ok")
            assert [e for e, _ in b.received] == ["user-connected",
                                                  "media-state", "join-ok"]
            assert a.wait_for(RtcioEvents.INIT_OFFER)[0] == {
                "source": b.sid}
            assert a.call(RtcioEvents.MESSAGE, {
                "target": b.sid, "data": {"mid": "0"}}) is None
            assert b.wait_for(RtcioEvents.MESSAGE)[0]["source"] == a.sid
            b_sid = b.sid
            b.disconnect()
            assert a.wait_for("user-disconnected")[0] == {
                "id": b_sid, "roomId": "modes"}
        finally:
            a.disconnect()
            b.disconnect()


def test_rooms_on_another_namespace():
    """RoomsConfig(namespace="/calls"): the room events and the relay scope
    live on that namespace only."""
    with serve_app("tests.apps.rooms_app:create_app", "eventlet",
                   env={"TEST_ROOMS_NAMESPACE": "/calls"}) as srv:
        a = Recorder(namespace="/calls").connect(srv.url)
        b = Recorder(namespace="/calls").connect(srv.url)
        plain = Recorder().connect(srv.url)
        try:
            envelope = {"target": b.sid, "data": {"mid": "0"}}
            refused = a.call(RtcioEvents.MESSAGE, envelope)
            assert refused["error"] == "not-in-room"
            a.emit("join-room", {"roomId": "ns", "name": "A"})
            a.wait_for("join-ok")
            b.emit("join-room", {"roomId": "ns", "name": "B"})
            b.wait_for("join-ok")
            assert a.wait_for(RtcioEvents.INIT_OFFER)[0] == {"source": b.sid}
            assert a.call(RtcioEvents.MESSAGE, envelope) is None
            assert b.wait_for(RtcioEvents.MESSAGE)[0]["source"] == a.sid
            # "/" has no room events: nothing answers there.
            assert plain.call("join-room", {"roomId": "ns"}) is None
            assert plain.events("join-ok") == []
            assert plain.call("api-members", "ns") == [
                {"id": a.sid, "name": "A"}, {"id": b.sid, "name": "B"}]
        finally:
            for rec in (a, b, plain):
                rec.disconnect()
