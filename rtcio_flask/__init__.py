"""rtc.io signaling for Flask apps, on python-socketio.

Public names only; each lives in the module named for its concern.
"""

from .cors import OriginPolicy, build_policy
from .envelope import EnvelopeError, check_envelope
from .events import RtcioEvents
from .extension import RTCIO
from .protocol import RtcioProtocol
from .settings import detect_async_mode
from .turn import TurnConfig, TurnCredentials, make_credentials

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
    "__version__",
]
