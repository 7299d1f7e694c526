"""The one place a departure is announced to the ones who stay.

A socket leaves in four ways: it leaves a room (``leave-room``), it is
kicked (``rtcio.rooms.kick``), it disconnects, or the process it was on
dies (the fleet sweep). Each ends here, so the two announcements stay
consistent:

- ``#rtcio:peer-left {id}``: the rtc.io client's hint to check that peer's
  WebRTC state now rather than after its ~12 s watchdog. Sent when the
  socket is gone (disconnect, dead process), once to all the rooms it was
  in, so a member sharing two rooms gets it once. Not sent for leave or
  kick: the socket is still connected and may share another room.
- ``user-disconnected {id, roomId}``: the rooms flow's presence update, one
  per built-in room the socket left.
"""

from typing import (AbstractSet, Any, Callable, Iterable, List, Optional,
                    Sequence)

from ..core.events import USER_DISCONNECTED, RtcioEvents, sio_room

#: ``leave_rooms(sid) -> [room_id]``: take a disconnecting socket out of the
#: built-in rooms (the rooms feature provides it).
RoomLeaver = Callable[[str], Sequence[str]]


class Departures:
    """Departure announcements for one namespace of one server."""

    def __init__(self, server: Any, namespace: str = "/") -> None:
        self.server = server
        self.namespace = namespace
        #: Set by the built-in rooms, when they are on for this namespace.
        self.leave_rooms: Optional[RoomLeaver] = None
        #: ``rooms_of(sid, namespace)``: the rooms of a socket python-socketio
        #: no longer knows because connection state recovery held it, while
        #: its departure runs at the end of the window (else None).
        self.rooms_of: Optional[
            Callable[[str, str], Optional[AbstractSet[str]]]] = None

    def announce(self, sid: str, room_ids: Iterable[str] = (),
                 peer_left_to: Sequence[str] = ()) -> None:
        """``#rtcio:peer-left`` once to the python-socketio rooms
        ``peer_left_to``, then ``user-disconnected`` to each built-in room
        in ``room_ids``."""
        if peer_left_to:
            self.server.emit(RtcioEvents.PEER_LEFT, {"id": sid},
                             to=list(peer_left_to), skip_sid=sid,
                             namespace=self.namespace)
        for room_id in room_ids:
            self.server.emit(USER_DISCONNECTED,
                             {"id": sid, "roomId": room_id},
                             to=sio_room(room_id), skip_sid=sid,
                             namespace=self.namespace)

    def disconnected(self, sid: str, with_peer_left: bool = True) -> None:
        """``sid`` is disconnecting: python-socketio still knows its rooms
        (it calls disconnect handlers first), and the built-in rooms take it
        out of theirs."""
        peer_left_to: List[str] = []
        if with_peer_left:
            rooms = None
            if self.rooms_of is not None:
                rooms = self.rooms_of(sid, self.namespace)
            if rooms is None:
                rooms = self.server.rooms(sid, self.namespace)
            peer_left_to = [room for room in rooms if room != sid]
        left = self.leave_rooms(sid) if self.leave_rooms is not None else ()
        self.announce(sid, left, peer_left_to)

    def process_died(self, removed: Iterable[Any]) -> None:
        """Members ``[(room_id, sid)]`` that a dead process left behind, now
        removed from the store: the rooms hear they are gone for good."""
        for room_id, sid in removed:
            self.announce(sid, [room_id], [sio_room(room_id)])
