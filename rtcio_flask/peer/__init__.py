"""A Python rtc.io peer (``pip install rtcio-flask[peer]``): bots,
recorders and services that join an rtc.io room next to browsers and talk
to them peer-to-peer over WebRTC (aiortc).

Not imported by ``import rtcio_flask``: aiortc is an optional extra.
"""

from .command import run_bot
from .errors import ConnectError, IceError, JoinError, PeerError, PeerTimeout
from .media import Recording, play, record
from .peer import Channel, Message, Peer, RemotePeer
from .wire import channel_id, decode_message, encode_message, fnv1a_utf16

__all__ = [
    "Peer",
    "RemotePeer",
    "Channel",
    "Message",
    "Recording",
    "record",
    "play",
    "run_bot",
    "PeerError",
    "ConnectError",
    "JoinError",
    "IceError",
    "PeerTimeout",
    "channel_id",
    "fnv1a_utf16",
    "encode_message",
    "decode_message",
]
