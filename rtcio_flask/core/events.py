"""The rtc.io event names, exactly as the browser client spells them.

Kept in one place so the relay, the rooms flow and application code agree on
the wire names without retyping ``"#rtcio:..."`` strings.
"""

from typing import Iterable, List


class RtcioEvents:
    """Constants mirroring the client's ``RtcioEvents`` object."""

    OFFER = "#rtcio:offer"
    ANSWER = "#rtcio:answer"
    CANDIDATE = "#rtcio:candidate"
    MESSAGE = "#rtcio:message"
    STREAM_META = "#rtcio:stream-meta"
    INIT_OFFER = "#rtcio:init-offer"
    PEER_LEFT = "#rtcio:peer-left"

    #: Every name above; the reserved ones are never sent by this server.
    ALL = (OFFER, ANSWER, CANDIDATE, MESSAGE, STREAM_META, INIT_OFFER, PEER_LEFT)

    #: The prefix the client reserves for the protocol's own events.
    PREFIX = "#rtcio:"


#: The rooms flow's presence events (PROTOCOL.md, "Rooms").
USER_CONNECTED = "user-connected"
USER_DISCONNECTED = "user-disconnected"
#: A member's connection dropped and connection state recovery holds it
#: (it may come back within the window), and it came back.
USER_RECONNECTING = "user-reconnecting"
USER_RECONNECTED = "user-reconnected"

#: Prefix of the python-socketio room that mirrors a built-in room, so a
#: room id can never name another socket's private sid-room.
SIO_ROOM_PREFIX = "room:"


def sio_room(room_id: str) -> str:
    """The python-socketio room name of built-in room ``room_id``."""
    return SIO_ROOM_PREFIX + room_id


def room_ids(sio_rooms: Iterable[str]) -> List[str]:
    """The built-in room ids among python-socketio room names."""
    n = len(SIO_ROOM_PREFIX)
    return sorted(r[n:] for r in sio_rooms if r.startswith(SIO_ROOM_PREFIX))
