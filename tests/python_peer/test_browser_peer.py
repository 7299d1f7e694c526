"""The Python peer (``rtcio_flask.peer.Peer``) and a real Chromium page
speaking the rtc.io peer conventions, in one room through the live server
under gunicorn -k eventlet: both arrival orders, control and named channel
messages both ways, binary data, peer-disconnect on both sides, and a
browser microphone recorded to a playable file.
"""

import asyncio

import av
import numpy

from rtcio_flask.peer import Peer, channel_id, play, record
from tests.python_peer.conftest import (TIMEOUT, inbox, joined, room,
                                        start_signaling, wait_connected)

NAMED = "chat"
BLOB = bytes(range(256)) * 64  # 16 KiB, every byte value


class Received:
    """What the Python peer got, per (channel, event), as asyncio-safe
    lists read from the test thread."""

    def __init__(self, peer, channels=()):
        self.items = []
        self.connects = []
        self.disconnects = []
        peer.on_message(self.items.append)
        peer.on("peer-connect", lambda r: self.connects.append(r.id))
        peer.on("peer-disconnect", lambda r: self.disconnects.append(r.id))

    def of(self, channel, event=None):
        return [m for m in self.items if m.channel == channel and
                (event is None or m.event == event)]


async def start_peer(url, room_id, name="bot", **options):
    peer = Peer(url, **options)
    channel = peer.create_channel(NAMED)
    seen = Received(peer)
    await peer.connect()
    await peer.join(room_id, name=name)
    return peer, channel, seen


async def until(condition, timeout=TIMEOUT):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def exchange(aio, page, peer, channel, seen):
    """Both directions on ctrl and on the named channel, text and binary."""
    browser_id = page.evaluate("rtc.me")
    remote = peer.peer(browser_id)
    # Python -> browser: control (to all, and to one), named, binary.
    assert peer.emit("hello", "from python", {"n": 1}) == 1
    assert remote.emit("direct", [1, 2, 3]) is True
    assert channel.emit("note", "on a named channel") == 1
    assert channel.send(BLOB) == 1
    got = inbox(page, peer.id, 4)
    by_kind = {(m["channel"], m.get("event")): m for m in got}
    assert by_kind[(None, "hello")]["args"] == ["from python", {"n": 1}]
    assert by_kind[(None, "direct")]["args"] == [[1, 2, 3]]
    assert by_kind[(NAMED, "note")]["args"] == ["on a named channel"]
    assert bytes(by_kind[(NAMED, None)]["bytes"]) == BLOB

    # Browser -> Python, same four kinds.
    assert page.evaluate(
        """([id, ch, blob]) => [
             rtc.emitTo(id, null, "ping", ["from chromium", 2]),
             rtc.emitTo(id, ch, "pong", [{"deep": [true, null]}]),
             rtc.sendBytes(id, ch, blob)]""",
        [peer.id, NAMED, list(BLOB)]) == [True, True, True]
    aio.run(until(lambda: len(seen.items) >= 3))
    ping, = seen.of(None, "ping")
    assert ping.remote.id == browser_id
    assert ping.args == ("from chromium", 2)
    pong, = seen.of(NAMED, "pong")
    assert pong.args == ({"deep": [True, None]},)
    binary, = [m for m in seen.items if m.data is not None]
    assert binary.channel == NAMED and binary.data == BLOB

    # The negotiated ids are the ones rtc.io derives, on both sides.
    ids = page.evaluate(
        """([id, ch]) => [rtc.peers[id].ctrl.id,
             rtc.peers[id].channels[ch].id, rtc.channelId("чат-😀")]""",
        [peer.id, NAMED])
    assert ids == [0, channel_id(NAMED), channel_id("чат-😀")]


def test_browser_first_then_python_peer(signaling, tabs, aio):
    room_id = room()
    page = tabs.open(signaling.url, name="alice", room=room_id,
                     channels=NAMED)
    browser_id = joined(page)
    peer, channel, seen = aio.run(start_peer(signaling.url, room_id))
    peer_id = peer.id
    try:
        wait_connected(page, peer_id)
        aio.run(until(lambda: browser_id in seen.connects))
        assert peer.peer(browser_id).name == "alice"
        exchange(aio, page, peer, channel, seen)
    finally:
        aio.run(peer.close())
    # The browser sees the Python peer leave.
    page.wait_for_function("id => rtc.disconnects.includes(id)",
                           arg=peer_id)


def test_python_peer_first_then_browser(signaling, tabs, aio):
    room_id = room()
    peer, channel, seen = aio.run(start_peer(signaling.url, room_id))
    try:
        page = tabs.open(signaling.url, name="bob", room=room_id,
                         channels=NAMED)
        browser_id = joined(page)
        wait_connected(page, peer.id)
        aio.run(until(lambda: browser_id in seen.connects))
        exchange(aio, page, peer, channel, seen)
        # The browser leaves: the Python peer gets peer-disconnect.
        page.evaluate("rtc.leave()")
        aio.run(until(lambda: browser_id in seen.disconnects))
        assert peer.peers == []
    finally:
        aio.run(peer.close())


def test_browser_microphone_recorded_to_a_playable_file(
        signaling, tabs, aio, tmp_path):
    path = tmp_path / "call.wav"
    room_id = room()

    async def recorder():
        peer = Peer(signaling.url)
        recording = record(peer, str(path))
        await peer.connect()
        await peer.join(room_id, name="recorder")
        return peer, recording

    # Python first: it offers, asking for audio it does not send.
    peer, recording = aio.run(recorder())
    try:
        page = tabs.open(signaling.url, name="singer", room=room_id, audio=1)
        browser_id = joined(page)
        wait_connected(page, peer.id)
        aio.run(until(lambda: recording.started))
        assert recording.files == {browser_id: str(path)}
        aio.run(asyncio.sleep(2.5))
    finally:
        aio.run(recording.stop())
        aio.run(peer.close())

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = [frame.to_ndarray() for frame in container.decode(stream)]
        rate = stream.rate
    pcm = numpy.concatenate([s.reshape(-1) for s in samples])
    seconds = pcm.size / rate / stream.channels
    assert seconds > 1.0, seconds
    # Chromium's fake microphone beeps: the file is not silence.
    assert numpy.abs(pcm.astype(numpy.int32)).max() > 1000


def write_tone(path, seconds=3, rate=48000):
    """A 440 Hz sine as a WAV file, written with PyAV."""
    t = numpy.arange(int(seconds * rate)) / rate
    pcm = (numpy.sin(2 * numpy.pi * 440 * t) * 12000).astype(numpy.int16)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        for start in range(0, pcm.size, 960):
            frame = av.AudioFrame.from_ndarray(
                pcm[start:start + 960].reshape(1, -1), format="s16",
                layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_python_peer_sends_audio_from_a_file(signaling, tabs, aio,
                                             tmp_path):
    tone = tmp_path / "tone.wav"
    write_tone(tone)
    room_id = room()
    page = tabs.open(signaling.url, name="listener", room=room_id)
    browser_id = joined(page)

    async def player():
        peer = Peer(signaling.url)
        play(peer, str(tone))
        await peer.join(room_id, name="dj")
        return peer

    peer = aio.run(player())
    peer_id = peer.id
    try:
        wait_connected(page, peer_id)
        page.wait_for_function(
            "id => rtc.tracks.some(t => t.from === id && t.kind === 'audio')",
            arg=peer_id)
        # The browser decodes sound, not silence.
        page.wait_for_function(
            """async id => {
                 const stats = await rtc.peers[id].pc.getStats();
                 return [...stats.values()].some(r => r.type === "inbound-rtp"
                   && r.kind === "audio" && r.totalAudioEnergy > 0.01);
               }""", arg=peer_id, polling=200)
        assert browser_id in [r.id for r in peer.peers]
    finally:
        aio.run(peer.close())


def test_python_peer_rejoins_after_the_server_restarts(tabs, aio):
    """No connection state recovery on the server yet: the peer reconnects,
    joins its room again under a new id, and the browser connects to it
    afresh."""
    server = start_signaling()
    try:
        room_id = room()
        page = tabs.open(server.url, name="frank", room=room_id)
        old_browser = joined(page)
        peer, channel, seen = aio.run(start_peer(server.url, room_id))
        old_peer = peer.id
        try:
            wait_connected(page, old_peer)
            server.stop()
            aio.run(until(lambda: old_browser in seen.disconnects))
            server.start()
            # Both sides come back under new socket ids and reconnect.
            page.wait_for_function(
                "old => rtc.me !== old && rtc.joined", arg=old_browser)
            new_browser = page.evaluate("rtc.me")
            aio.run(until(lambda: new_browser in seen.connects,
                          timeout=30))
            assert peer.id != old_peer
            wait_connected(page, peer.id)
            assert peer.peer(new_browser).emit("back", 1)
            assert inbox(page, peer.id, 1)[0]["event"] == "back"
        finally:
            aio.run(peer.close())
    finally:
        server.stop()
