"""Connection state recovery with the real socket.io-client 4.8 (Node)
through a proxy that cuts the connection with no close frame."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.servers import ROOT, serve_app

from .proxy import CuttingProxy

APP = "tests.apps.rooms_app:create_app"
CLIENT = Path(__file__).with_name("recovery_client.mjs")


class NodeClients:
    """recovery_client.mjs, driven one JSON line at a time."""

    def __init__(self, direct_url, proxy_url, mode, transports, env=None,
                 script=CLIENT):
        env = dict(os.environ, **(env or {}), DIRECT_URL=direct_url,
                   PROXY_URL=proxy_url,
                   MODE=mode, TRANSPORTS=transports,
                   ROOM=f"blip-{mode}-{transports}-{time.monotonic()}",
                   NODE_PATH=str(ROOT / "node_modules"))
        self.proc = subprocess.Popen(["node", str(script)], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def read(self, expect, timeout=60):
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout)
            raise AssertionError(f"node client ended before {expect!r}: "
                                 f"{self.proc.stderr.read()}")
        msg = json.loads(line)
        assert msg["step"] == expect, json.dumps(msg)
        return msg

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _envelopes(events):
    return [e[1] for e in events if e[0] == "msg"]


@pytest.fixture(scope="module")
def server():
    srv = serve_app(APP, "eventlet",
                    env={"RTCIO_RECOVERY_WINDOW": "120"}, watch=True).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def short_window_server():
    srv = serve_app(APP, "eventlet",
                    env={"RTCIO_RECOVERY_WINDOW": "1.5"}, watch=True).start()
    yield srv
    srv.stop()


def run_blip(direct, upstream_port, mode, transports, gap=0.0,
             switch_to=None, env=None, script=CLIENT, during_gap=None):
    proxy = CuttingProxy(upstream_port)
    node = NodeClients(direct, proxy.url, mode, transports, env, script)
    try:
        node.read("cut")
        assert proxy.cut() >= 1
        node.go()
        node.read("gap")
        if during_gap is not None:
            during_gap()
        time.sleep(gap)
        if switch_to is not None:
            proxy.upstream = ("127.0.0.1", switch_to)
        proxy.resume()
        node.go()
        return node.read("done", timeout=90)
    finally:
        node.close()
        proxy.close()


@pytest.mark.parametrize("transports", ["websocket", "polling"])
def test_blip_recovers_same_socket_and_missed_envelopes(server, transports):
    done = run_blip(server.url, server.port, "recover", transports)
    log = done["log"]
    assert done["aIdAfter"] == done["aId"]
    assert done["recovered"] is True
    assert [c["recovered"] for c in log["aConnects"]] == [False, True]
    # everything B sent during the gap, exactly once, in order; then the
    # relay works both ways again (room scope sees A as a member)
    assert _envelopes(log["a"]) == [1, 2, 3, 4, 5, 6, 7]
    assert _envelopes(log["b"]) == [1, 7]
    # B got the peer-left hint at once (rtc.io checks it against WebRTC),
    # but presence never changed: A stayed in the room all along
    assert log["b"].count(["#rtcio:peer-left", done["aId"]]) == 1
    assert ["user-disconnected", done["aId"]] not in log["b"]
    assert ["user-connected", done["aId"]] not in log["b"][1:]
    assert "Traceback" not in server.log()


def test_window_expiry_is_a_normal_departure(short_window_server):
    srv = short_window_server
    done = run_blip(srv.url, srv.port, "expire", "websocket", gap=4.0)
    log = done["log"]
    assert done["recovered"] is False
    assert done["aIdAfter"] != done["aId"]
    assert ["#rtcio:peer-left", done["aId"]] in log["b"]
    assert ["user-disconnected", done["aId"]] in log["b"]
    assert "Traceback" not in srv.log()


@pytest.fixture(scope="module")
def two_processes():
    from tests.support.redis_server import RedisProcess

    redis = RedisProcess().start()
    env = {"RTCIO_MESSAGE_QUEUE": redis.url, "RTCIO_RECOVERY_WINDOW": "120"}
    first = serve_app(APP, "eventlet", env=env).start()
    second = serve_app(APP, "eventlet", env=env).start()
    yield first, second
    first.stop()
    second.stop()
    redis.remove()


@pytest.mark.parametrize("transports", ["websocket", "polling"])
def test_blip_recovers_on_another_process(two_processes, transports):
    """A starts on the first process and comes back on the second; B stays
    on the second. The log and the held session live in Redis."""
    first, second = two_processes
    try:
        done = run_blip(second.url, first.port, "recover", transports,
                        switch_to=second.port)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- first:\n{first.log()[-3000:]}"
                             f"\n--- second:\n{second.log()[-3000:]}")
    log = done["log"]
    assert done["aIdAfter"] == done["aId"]
    assert done["recovered"] is True, first.log() + second.log()
    assert _envelopes(log["a"]) == [1, 2, 3, 4, 5, 6, 7]
    assert _envelopes(log["b"]) == [1, 7]
    assert ["user-disconnected", done["aId"]] not in log["b"]
    for srv in two_processes:
        assert "Traceback" not in srv.log(), srv.log()
