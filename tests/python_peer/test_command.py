"""``rtcio-flask peer`` (run as ``python -m rtcio_flask peer`` from this
worktree) next to a real Chromium page: ``--echo`` on the control channel,
a named channel and binary; SIGTERM leaving cleanly; a password-protected
room; and one clear error line with a non-zero exit for each failure.
"""

import base64
import time

import av
import numpy

from tests.python_peer.conftest import inbox, joined, room, wait_connected
from tests.support.clients import Recorder
from tests.support.servers import free_port

NAMED = "files"


def echo_round_trip(page, command, peer_id):
    """The page sends three things; the command prints them and sends each
    back on the channel it came on."""
    browser_id = page.evaluate("rtc.me")
    assert page.evaluate(
        """([id, ch]) => [
             rtc.emitTo(id, null, "ping", [1, "two", {"three": 3}]),
             rtc.emitTo(id, ch, "chunk", ["on a named channel"]),
             rtc.sendBytes(id, ch, [0, 1, 2, 253, 254, 255])]""",
        [peer_id, NAMED]) == [True, True, True]
    ping = command.next("message", where=lambda r: r["event"] == "ping")
    assert ping == {"type": "message", "event": "ping",
                    "args": [1, "two", {"three": 3}], "peer": browser_id,
                    "channel": None, "_seen": True}
    chunk = command.next("message", where=lambda r: r["event"] == "chunk")
    assert chunk["channel"] == NAMED
    binary = command.next("binary")
    assert base64.b64decode(binary["base64"]) == bytes([0, 1, 2, 253, 254,
                                                        255])
    assert binary["channel"] == NAMED and binary["size"] == 6

    echoed = inbox(page, peer_id, 3)
    assert {"from": peer_id, "channel": None, "event": "ping",
            "args": [1, "two", {"three": 3}]} in echoed
    assert {"from": peer_id, "channel": NAMED, "event": "chunk",
            "args": ["on a named channel"]} in echoed
    assert {"from": peer_id, "channel": NAMED,
            "bytes": [0, 1, 2, 253, 254, 255]} in echoed


def test_echo_command_with_a_browser_then_sigterm(signaling, tabs,
                                                  commands, tmp_path):
    room_id = room()
    recording = tmp_path / "carol.ogg"
    command = commands(signaling.url, "--room", room_id, "--name", "echo",
                       "--channel", NAMED, "--echo", "--record",
                       str(recording))
    peer_id = command.next("joined")["id"]
    page = tabs.open(signaling.url, name="carol", room=room_id, channels=NAMED,
                     audio=1)
    browser_id = joined(page)
    wait_connected(page, peer_id)
    assert command.next("peer-connect")["peer"] == browser_id
    assert command.next("track") == {"type": "track", "peer": browser_id,
                                     "kind": "audio", "_seen": True}
    echo_round_trip(page, command, peer_id)
    time.sleep(1.5)  # some sound to record

    code, stderr = command.terminate()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert command.lines[-1] == {"type": "left", "room": room_id}
    assert command.next("peer-disconnect")["peer"] == browser_id
    page.wait_for_function("id => rtc.disconnects.includes(id)",
                           arg=peer_id)
    # --record finished a playable Ogg/Opus file of the browser's beeps.
    with av.open(str(recording)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
    assert stream.codec_context.name == "opus"
    assert sum(f.samples for f in frames) / stream.rate > 1.0
    loudest = max(numpy.abs(f.to_ndarray()).max() for f in frames)
    assert loudest > 0.05, loudest


def test_echo_command_in_a_password_room(signaling, tabs, commands):
    room_id = room()
    # The browser joins first and so sets the password.
    page = tabs.open(signaling.url, name="dave", room=room_id, channels=NAMED,
                     password="open-sesame")
    joined(page)

    wrong = commands(signaling.url, "--room", room_id, "--password", "nope")
    code, stderr = wrong.finish()
    assert code == 1
    assert stderr == (f"rtcio-flask peer: error: could not join room "
                      f"'{room_id}': the room password is wrong "
                      f"(wrong-password)\n")

    command = commands(signaling.url, "--room", room_id, "--echo",
                       "--channel", NAMED, "--password", "open-sesame")
    peer_id = command.next("joined")["id"]
    wait_connected(page, peer_id)
    echo_round_trip(page, command, peer_id)
    code, stderr = command.terminate()
    assert code == 0, stderr


def error_line(command):
    code, stderr = command.finish()
    assert code == 1, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("rtcio-flask peer: error: ")
    return lines[0][len("rtcio-flask peer: error: "):]


def test_unreachable_server(commands):
    port = free_port()  # nothing listens there
    message = error_line(commands(f"http://127.0.0.1:{port}", "--room", "x",
                                  "--timeout", "3"))
    assert message.startswith(
        f"cannot reach the signaling server at http://127.0.0.1:{port}: ")


def test_refused_origin(signaling, commands):
    # No Origin (the default) is accepted, as every other test shows; an
    # Origin the server does not list is refused, with the server's reason.
    message = error_line(commands(signaling.url, "--room", "x", "--origin",
                                  "http://evil.example"))
    assert message.startswith(
        "the server refused the connection (HTTP 400): Origin "
        "'http://evil.example' may not connect to the signaling server")


def test_room_full(signaling, commands):
    room_id = room()
    members = [Recorder().connect(signaling.url) for _ in range(2)]
    try:
        for member in members:
            member.emit("join-room", {"roomId": room_id})
            member.wait_for("join-ok")
        message = error_line(commands(signaling.url, "--room", room_id))
    finally:
        for member in members:
            member.disconnect()
    assert message == f"could not join room '{room_id}': the room already " \
                      f"has 2 members (room-full)"


def test_a_member_that_never_answers(signaling, commands):
    room_id = room()
    silent = Recorder().connect(signaling.url)  # joins, never does WebRTC
    try:
        silent.emit("join-room", {"roomId": room_id, "name": "mute"})
        silent.wait_for("join-ok")
        command = commands(signaling.url, "--room", room_id,
                           "--peer-timeout", "2")
        message = error_line(command)
        assert message == (f"peer 'mute' ({silent.sid}) never connected "
                           f"(no open control channel after 2 s)")
    finally:
        silent.disconnect()


def test_echo_command_over_turn_only(turn_signaling, tabs, commands):
    """Both sides relay-only with credentials from ask-ice: the data goes
    through the real coturn or not at all."""
    coturn, server = turn_signaling
    room_id = room()
    command = commands(server.url, "--room", room_id, "--echo", "--channel",
                       NAMED, "--ice", "ask", "--relay-only")
    peer_id = command.next("joined")["id"]
    page = tabs.open(server.url, name="erin", room=room_id, channels=NAMED,
                     ice="ask", relay=1)
    joined(page)
    wait_connected(page, peer_id)
    echo_round_trip(page, command, peer_id)
    types = page.evaluate("id => rtc.candidateTypes[id]", peer_id)
    assert types and set(types) == {"relay"}, types
    # The pair in use: the transport's selected pair (Chromium may report
    # the nominated flag a moment later), asked again until it is known.
    stats = page.evaluate(
        """async id => {
             for (let i = 0; i < 50; i++) {
               const report = await rtc.peers[id].pc.getStats();
               const rows = [...report.values()];
               const transport = rows.find(r => r.type === "transport" &&
                                                r.selectedCandidatePairId);
               const pair = transport
                 ? report.get(transport.selectedCandidatePairId)
                 : rows.find(r => r.type === "candidate-pair" &&
                                  r.nominated && r.state === "succeeded");
               if (pair) {
                 const local = report.get(pair.localCandidateId);
                 const remote = report.get(pair.remoteCandidateId);
                 return [local.candidateType, remote.candidateType];
               }
               await new Promise(done => setTimeout(done, 100));
             }
             return null;
           }""", peer_id)
    assert stats == ["relay", "relay"]
    # Both sides allocated on coturn, each with its own vended user.
    log = coturn.log()
    assert log.count("ALLOCATE processed, success") >= 2, log[-2000:]
    code, stderr = command.terminate()
    assert code == 0, stderr
