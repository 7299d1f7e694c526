"""A full room loses nothing with the DEFAULT limits, and a flood is still
cut off (issue 14, defect 1).

50 socket.io-client 4.8 clients (Node, as rtc.io runs in browsers) signal a
full mesh through ``rooms=True`` on a live eventlet server: every pair
exchanges one SDP and 8 ICE candidates each way, all sent at once as a
browser does. Before the peer-sized relay budget a newcomer to 49 members
lost 341 of 882 envelopes and was disconnected as an abuser; 50 members
joining at once lost 16,418 of 22,050 and were all disconnected.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from rtcio_flask.core.limits import DEFAULT_PEER_RATE, DEFAULT_RATE
from tests.support.servers import ROOT, serve_app

APP = "tests.apps.abuse_app:create_app"
CLIENT = Path(__file__).with_name("mesh_client.mjs")
MEMBERS = 50  # RoomsConfig.max_members, the default


def _mesh(server, mode, **env):
    if not (ROOT / "node_modules" / "socket.io-client").exists():
        pytest.fail("socket.io-client is not installed: run `npm ci` in the "
                    "project root")
    env = dict(os.environ, URL=server.url, MODE=mode, N=str(MEMBERS),
               **{k: str(v) for k, v in env.items()})
    done = subprocess.run(["node", str(CLIENT)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    lines = [line for line in done.stdout.splitlines()
             if line.startswith("RESULT ")]
    assert lines, (done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture
def server():
    # Defaults everywhere: no TEST_LIMITS, rooms=True.
    with serve_app(APP, "eventlet", env={"TEST_ROOMS": "true"}) as live:
        yield live


def test_newcomer_to_a_full_room_loses_nothing_and_a_flood_is_cut(server):
    peers = MEMBERS - 1
    allowance = DEFAULT_RATE + DEFAULT_PEER_RATE * peers  # relay envelopes/s
    result = _mesh(server, "newcomer", FLOOD_FACTOR=2,
                   FLOOD_ALLOWANCE=allowance, FLOOD_SECONDS=30)
    # Set-up: 49 members joined one by one, 21,168 envelopes.
    assert result["setupReceived"] == result["setupExpected"] == \
        peers * (peers - 1) * 9
    # The newcomer's 49 pairs: 882 envelopes, none lost, nobody cut off.
    assert result["expected"] == 2 * peers * 9 == 882
    assert (result["lost"], result["disconnectedMeasured"],
            result["misrouted"], result["joinErrors"]) == (0, 0, 0, 0), result
    # Then member 0 sends at twice its allowance: the server cuts it off,
    # and only it.
    flood = result["flood"]
    assert flood["disconnectedAfterMs"] is not None, flood
    assert flood["othersDisconnected"] == 0, flood
    log = server.log()
    assert log.count("kept exceeding the event limits") == 1, log
    assert log.count("faster than the rate limit") == 1, log
    assert "Traceback" not in log


def test_a_full_room_joining_at_once_loses_nothing(server):
    result = _mesh(server, "all")
    assert result["expected"] == MEMBERS * (MEMBERS - 1) * 9 == 22050
    assert (result["lost"], result["disconnected"], result["misrouted"],
            result["joinErrors"]) == (0, 0, 0, 0), result
    log = server.log()
    assert "rate limit" not in log and "event limits" not in log, log
    assert "Traceback" not in log
