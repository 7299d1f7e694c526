"""The rtc.io event names, exactly as the browser client spells them.

Kept in one place so the relay, the rooms flow and application code agree on
the wire names without retyping ``"#rtcio:..."`` strings.
"""


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

#: Prefix of the python-socketio room that mirrors a built-in room, so a
#: room id can never name another socket's private sid-room.
SIO_ROOM_PREFIX = "room:"


def sio_room(room_id: str) -> str:
    """The python-socketio room name of built-in room ``room_id``."""
    return SIO_ROOM_PREFIX + room_id
