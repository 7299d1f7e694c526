"""rtc.io signaling for Flask apps, on python-socketio.

Public names only; each lives in the module named for its concern.
"""

from .cors import OriginPolicy, build_policy
from .envelope import EnvelopeError, check_envelope
from .events import RtcioEvents
from .extension import RTCIO
from .limits import Limits
from .protocol import RtcioProtocol
from .settings import detect_async_mode
from .turn import TurnConfig, TurnCredentials, make_credentials
from .access import AccessDenied
from .room_policy import RoomsConfig
from .room_store import MemoryRoomStore, RoomStore
from .rooms import Rooms, sio_room

__version__ = "0.1.0"

__all__ = [
    "RTCIO",
    "RtcioEvents",
    "RtcioProtocol",
    "OriginPolicy",
    "build_policy",
    "EnvelopeError",
    "check_envelope",
    "detect_async_mode",
    "TurnConfig",
    "TurnCredentials",
    "make_credentials",
    "AccessDenied",
    "RoomsConfig",
    "RoomStore",
    "MemoryRoomStore",
    "RedisRoomStore",
    "Rooms",
    "sio_room",
    "Limits",
    "__version__",
]


def __getattr__(name):
    # redis-py is an extra (rtcio-flask[redis]): import it only when asked.
    if name == "RedisRoomStore":
        from .redis_room_store import RedisRoomStore
        return RedisRoomStore
    raise AttributeError(f"module 'rtcio_flask' has no attribute {name!r}")
