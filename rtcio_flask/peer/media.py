"""Media for a Python peer: record what a browser sends, send a file.

Thin on purpose: aiortc's MediaRecorder and MediaPlayer do the work; this
module only ties them to a :class:`~rtcio_flask.peer.Peer`'s events so a
bot records a call in two lines.
"""

import logging
from typing import Any, Dict, List, Optional

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaPlayer, MediaRecorder

from .peer import Peer, RemotePeer

logger = logging.getLogger("rtcio_flask.peer")


class Recording:
    """Records the first ``kind`` track a peer sends to ``path`` (the
    container follows the extension: ``.wav``, ``.ogg``, ``.mp3``...).

    ``{peer}`` in ``path`` records every peer to its own file instead.
    """

    def __init__(self, peer: Peer, path: str, kind: str = "audio") -> None:
        self.path = path
        self.kind = kind
        self.files: Dict[str, str] = {}  # remote id -> file
        self._recorders: List[MediaRecorder] = []
        self._stopped = False
        peer.on("track-added", self._on_track)

    async def _on_track(self, remote: RemotePeer,
                        track: MediaStreamTrack) -> None:
        if track.kind != self.kind or self._stopped:
            return
        per_peer = "{peer}" in self.path
        if not per_peer and self.files:
            logger.info("already recording to %s; %s's %s track is not "
                        "recorded", self.path, remote.id, track.kind)
            return
        path = self.path.replace("{peer}", remote.id)
        recorder = MediaRecorder(path)
        recorder.addTrack(track)
        self.files[remote.id] = path
        self._recorders.append(recorder)
        await recorder.start()
        logger.info("recording %s's %s to %s", remote.id, track.kind, path)

    @property
    def started(self) -> bool:
        return bool(self.files)

    async def stop(self) -> None:
        """Finish the files (a recorder that is not stopped leaves a file
        without its trailer)."""
        self._stopped = True
        for recorder in self._recorders:
            await recorder.stop()
        self._recorders = []


def record(peer: Peer, path: str, kind: str = "audio") -> Recording:
    """Record the ``kind`` track peers send to ``path``; call this before
    joining, and ``await recording.stop()`` before exiting."""
    if kind not in peer.receive:
        peer.receive.append(kind)
    return Recording(peer, path, kind)


def play(peer: Peer, path: str, loop: bool = True,
         options: Optional[Dict[str, Any]] = None) -> MediaPlayer:
    """Send the audio (and video) of a media file to every peer that
    connects from now on; returns the player (``player.audio``...)."""
    player = MediaPlayer(path, loop=loop, options=options or {})
    for track in (player.audio, player.video):
        if track is not None:
            peer.add_track(track)
    return player
