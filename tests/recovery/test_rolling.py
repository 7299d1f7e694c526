"""Recovery across a rolling restart: two gunicorn processes on one Redis
(message queue), real socket.io-client 4.8 (Node). A process that gets
SIGTERM drains its sockets into the Redis recovery log; their clients
recover on the other process. A process killed with SIGKILL leaves held
sockets that the other one departs when their window ends, once."""

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest
import redis as redis_py

from tests.support.gunicorn import serve_gunicorn
from tests.support.redis_server import RedisProcess

from .proxy import CuttingProxy
from .test_recovery import NodeClients

APP = "tests.apps.presence_app:create_app()"
SCRIPT = Path(__file__).with_name("rolling_client.mjs")


@pytest.fixture
def stack(request):
    """Redis and two single-worker gunicorns on it, for one test (one of
    them is stopped or killed on purpose); the param is (recovery window,
    gunicorn worker class)."""
    window, worker = request.param
    redis = RedisProcess().start()
    env = {"RTCIO_MESSAGE_QUEUE": redis.url, "RTCIO_RECOVERY_WINDOW": window,
           "RTCIO_FLEET_INTERVAL": "0.5"}
    first = serve_gunicorn(APP, worker, env=env).start()
    second = serve_gunicorn(APP, worker, env=env).start()
    yield redis, first, second
    for srv in (first, second):
        srv.stop()
    redis.remove()


def _envelopes(events):
    return [e[1] for e in events if e[0] == "msg"]


def _swept(redis, server_id, timeout=30.0):
    """Wait until the fleet sweep removed ``server_id`` (it stopped
    heartbeating and another process purged what it left)."""
    client = redis_py.Redis.from_url(redis.url, decode_responses=True)
    deadline = time.monotonic() + timeout
    while client.sismember("rtcio:fleet:servers", server_id):
        assert time.monotonic() < deadline, f"{server_id} never swept"
        time.sleep(0.1)
    client.close()


def _kill_hard(server):
    """SIGKILL a gunicorn and its worker (a SIGKILL to the arbiter alone
    leaves the worker running, orphaned)."""
    pid = server.proc.pid
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        workers = [int(p) for p in children.read().split()]
    assert workers, "gunicorn has no worker"
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    for worker in workers:
        os.kill(worker, signal.SIGKILL)


def _node(mode, first, second, proxy_url="", transports="websocket",
          **env):
    """rolling_client.mjs in ``mode``; B (and the balancer) on second."""
    return NodeClients(second.url, proxy_url, mode, transports,
                       env={"FIRST_URL": first.url,
                            "SECOND_URL": second.url, **env}, script=SCRIPT)


def _logs(*servers):
    return "".join(f"\n--- {srv.argv[-1]} :{srv.port}\n{srv.log()[-12000:]}"
                   for srv in servers)


@pytest.mark.parametrize("stack,transports", [
    (("120", "eventlet"), "websocket"), (("120", "eventlet"), "polling"),
    (("120", "gevent"), "websocket")], indirect=["stack"])
def test_sigterm_drain_recovers_on_the_other_process(stack, transports):
    redis, first, second = stack
    node = _node("drain", first, second, transports=transports,
                 EXTRA="10")
    try:
        start = node.read("drain")
        ids = start["ids"]
        first.proc.send_signal(signal.SIGTERM)
        node.go()
        back = node.read("recovered")
        # the drained process exits once its sockets are closed
        assert first.proc.wait(30) == 0
        _swept(redis, start["firstId"])
        node.go()
        done = node.read("done")
    except AssertionError as exc:
        raise AssertionError(f"{exc}{_logs(first, second)}")
    finally:
        node.close()
    assert back["secondId"] != start["firstId"]
    for name in ("a", "c"):
        # a transport loss, which socket.io-client reconnects after (a
        # socket.io disconnect packet, "io server disconnect", would have
        # stopped it); over polling the cut poll reads as an error
        assert done["reasons"][name] == [
            "transport close" if transports == "websocket" else
            "transport error"]
        assert back["after"][name] == ids[name]
        assert [c["recovered"] for c in done["connects"][name]] == \
            [False, True]
        assert [c["id"] for c in done["connects"][name]] == [ids[name]] * 2
        # every envelope once and in order, the gap's included
        assert _envelopes(done["log"][name]) == [1, 2, 3, 4, 5, 6, 7, 8]
        # presence: never a departure, on the survivor or before
        assert ["user-disconnected", ids[name]] not in done["log"]["b"]
        assert done["log"]["b"].count(["user-reconnected", ids[name]]) == 1
    extras = [name for name in done["connects"] if name.startswith("e")]
    assert len(extras) == 10
    for name in extras:  # every socket of the drained process came back
        first_id = done["connects"][name][0]["id"]
        assert done["connects"][name] == [
            {"id": first_id, "recovered": False},
            {"id": first_id, "recovered": True}], name
    assert _envelopes(done["log"]["b"]) == [1, 1, 7, 7]
    def by_id(members):
        return sorted(members, key=lambda m: m["id"])

    everyone = by_id({"id": ids[n], "reconnecting": False}
                     for n in ("a", "b", "c"))
    everyone = by_id(everyone + [
        {"id": done["connects"][name][0]["id"], "reconnecting": False}
        for name in extras])
    assert by_id(back["members"]) == everyone
    # after FIRST's fleet sweep: still members (recorded under SECOND)
    assert by_id(done["members"]) == everyone
    # a recovery is no departure: the app's disconnect handler ran only
    # when the clients closed at the end
    reasons = re.findall(r"APP-DISCONNECT .* reason=(.*)",
                         first.log() + second.log())
    assert set(reasons) <= {"client disconnect"}, reasons
    assert "Traceback" not in second.log()


@pytest.mark.parametrize("stack", [("8", "eventlet")], indirect=True)
def test_held_sockets_of_a_killed_process_depart_once(stack):
    redis, first, second = stack
    proxy = CuttingProxy(first.port)
    with urllib.request.urlopen(f"{first.url}/login?user=xena") as resp:
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
    node = _node("kill", first, second, proxy.url, COOKIE=cookie)
    try:
        cut = node.read("cut")
        x = cut["xId"]
        assert proxy.cut() >= 1
        node.go()
        held = node.read("held")
        _kill_hard(first)
        _swept(redis, cut["firstId"])
        node.go()
        swept = node.read("swept")
        done = node.read("done", timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}{_logs(first, second)}")
    finally:
        node.close()
        proxy.close()
    b = done["log"]["b"]
    held_x = {"id": x, "reconnecting": True}
    assert held_x in held["members"]
    # the fleet sweep of the dead process leaves a held member to recovery
    assert held_x in swept["members"]
    # its window ended on the survivor: one departure, presence updated
    assert b.count(["user-disconnected", x]) == 1
    assert ["#rtcio:peer-left", x] in b
    assert x not in [m["id"] for m in done["members"]]
    # the app's disconnect handler ran there, once, in X's own request
    # context (rebuilt from what the held session kept in Redis)
    log = second.log_with(f"APP-DISCONNECT sid={x}")
    assert re.findall(rf"APP-DISCONNECT sid={re.escape(x)} .*", log) == [
        f"APP-DISCONNECT sid={x} same=True addr=127.0.0.1 user=xena "
        f"path=/socket.io/ reason=transport close"], log[-3000:]
    assert "Traceback" not in second.log()


def test_a_drained_process_deletes_its_alive_key_at_once():
    """SIGTERM, the drain finishes (Recovery.stop): the process's
    ``rtcio:recovery:proc:<id>`` key is gone when it exits, not up to its
    5 s time-to-live later, so another process departs the sockets it
    held at their window's end."""
    redis = RedisProcess().start()
    srv = serve_gunicorn(APP, "eventlet", env={
        "RTCIO_MESSAGE_QUEUE": redis.url,
        "RTCIO_RECOVERY_WINDOW": "120"}).start()
    client = redis_py.Redis.from_url(redis.url, decode_responses=True)
    try:
        urllib.request.urlopen(srv.url + "/socket.io/?EIO=4&transport="
                               "polling", timeout=10).read()
        deadline = time.monotonic() + 30
        while not client.keys("rtcio:recovery:proc:*"):
            assert time.monotonic() < deadline, srv.log()[-3000:]
            time.sleep(0.1)
        (key,) = client.keys("rtcio:recovery:proc:*")
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(30) == 0, srv.log()[-3000:]
        assert client.exists(key) == 0
    finally:
        client.close()
        srv.stop()
        redis.remove()


@pytest.mark.parametrize("environ", [None, {"wsgi.url_scheme": "http"}])
def test_a_held_session_stored_without_its_environ_departs_in_context(
        environ):
    """A held session in Redis whose owner is gone, stored without the
    handshake's environ (an earlier release during a rolling upgrade) or
    with almost nothing of it: the process that departs it at its
    window's end runs the app's disconnect handler in a request context
    all the same (it used to fail with ``KeyError: 'wsgi.url_scheme'``
    before the handler ran)."""
    redis = RedisProcess().start()
    srv = serve_gunicorn(APP, "eventlet", env={
        "RTCIO_MESSAGE_QUEUE": redis.url,
        "RTCIO_RECOVERY_WINDOW": "120"}).start()
    client = redis_py.Redis.from_url(redis.url, decode_responses=True)
    sid = "ghostSocketOfAnEarlierRelease"
    try:
        past = int(time.time() * 1000) - 1000
        held = {"sid": sid, "ns": "/", "rooms": [sid], "start": "0-0",
                "reason": "transport close", "owner": "a-process-gone",
                "deadline": past}
        if environ is not None:
            held["environ"] = environ
        client.set("rtcio:recovery:session:ghostpid", json.dumps(held),
                   px=60_000)
        client.zadd("rtcio:recovery:deadlines", {"ghostpid": past})
        log = srv.log_with(f"APP-DISCONNECT sid={sid}", timeout=30)
        assert re.findall(rf"APP-DISCONNECT sid={sid} .*", log) == [
            f"APP-DISCONNECT sid={sid} same=True addr=None user=None "
            f"path=/socket.io/ reason=transport close"], log[-3000:]
        assert "Traceback" not in srv.log()
        assert client.exists("rtcio:recovery:session:ghostpid") == 0
    finally:
        client.close()
        srv.stop()
        redis.remove()
