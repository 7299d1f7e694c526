"""The naive python-socketio relay the benchmark compares against: what a
team writes in an afternoon, the same events as the Node anchor
(shared/bench/node_ref_server.mjs), no RTCIO. ``create_app(mode)`` returns
a WSGI app."""

import socketio


def create_app(mode):
    sio = socketio.Server(async_mode=mode, cors_allowed_origins="*")
    names = {}

    @sio.on("#rtcio:message")
    def relay(sid, envelope):
        sio.emit("#rtcio:message", envelope, to=envelope["target"])

    @sio.on("join-room")
    def join_room(sid, data):
        room, names[sid] = data["roomId"], data.get("name")
        existing = [s for s, _ in sio.manager.get_participants("/", room)]
        sio.enter_room(sid, room)
        for other in existing:
            sio.emit("user-connected", {"id": other, "name": names.get(other)},
                     to=sid)
        sio.emit("user-connected", {"id": sid, "name": names[sid]}, to=room,
                 skip_sid=sid)
        sio.emit("#rtcio:init-offer", {"source": sid}, to=room, skip_sid=sid)

    @sio.on("disconnect")
    def disconnect(sid, reason=None):
        for room in sio.rooms(sid):
            if room != sid:
                sio.emit("#rtcio:peer-left", {"id": sid}, to=room, skip_sid=sid)
                sio.emit("user-disconnected", {"id": sid}, to=room,
                         skip_sid=sid)
        names.pop(sid, None)

    return socketio.WSGIApp(sio)
