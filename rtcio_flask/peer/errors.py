"""Why a Python peer could not do what it was asked, as exceptions whose
message is one line an operator can act on (the command prints exactly
``str(exc)``)."""

from typing import Optional


class PeerError(Exception):
    """Base of every failure of :class:`rtcio_flask.peer.Peer`."""


class ConnectError(PeerError):
    """The signaling server could not be reached or refused the socket
    (refused origin, failed authentication)."""


class JoinError(PeerError):
    """``join-room`` was refused: ``reason`` is the server's code
    (``wrong-password``, ``password-required``, ``invalid-room``,
    ``room-full``...), or ``timeout`` when it never answered."""

    def __init__(self, reason: str, message: str,
                 room: Optional[str] = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.room = room


class IceError(PeerError):
    """``ask-ice`` gave no ICE servers (TURN not configured, refused)."""


class PeerTimeout(PeerError):
    """A room member never completed a peer connection with us."""

    def __init__(self, remote_id: str, message: str) -> None:
        super().__init__(message)
        self.remote_id = remote_id
