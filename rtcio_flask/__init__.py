"""rtc.io signaling for Flask apps, on python-socketio.

The stable public names, re-exported explicitly; everything else is an
internal module that may change between releases. Where things live is in
docs/development.rst, "Architecture".
"""

from typing import Any

from .access import AccessDenied as AccessDenied
from .core.events import RtcioEvents as RtcioEvents
from .core.events import sio_room as sio_room
from .core.limits import Limits as Limits
from .core.origins import OriginPolicy as OriginPolicy
from .core.turn import TurnConfig as TurnConfig
from .core.turn import TurnCredentials as TurnCredentials
from .core.turn import make_credentials as make_credentials
from .extension import RTCIO as RTCIO
from .rooms.config import RoomsConfig as RoomsConfig
from .rooms.handlers import Rooms as Rooms
from .rooms.store import MemoryRoomStore as MemoryRoomStore
from .rooms.store import RoomStore as RoomStore

__version__ = "0.2.0"

__all__ = [
    "RTCIO",
    "RtcioEvents",
    "sio_room",
    "AccessDenied",
    "RoomsConfig",
    "Rooms",
    "RoomStore",
    "MemoryRoomStore",
    "RedisRoomStore",
    "Limits",
    "OriginPolicy",
    "TurnConfig",
    "TurnCredentials",
    "make_credentials",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # redis-py is an extra (rtcio-flask[redis]): import it only when asked.
    if name == "RedisRoomStore":
        from .rooms.redis_store import RedisRoomStore
        return RedisRoomStore
    raise AttributeError(f"module 'rtcio_flask' has no attribute {name!r}")
