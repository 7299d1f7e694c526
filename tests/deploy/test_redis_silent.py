"""Relays across processes come back after every Redis connection went
silent: no reply, no close, no reset (a failover or a NAT that forgot the
connections, as each end sees it), while new connections get through.

The message queue's client once had no read timeout, for the sake of its
subscriber, and its publishes shared it: the relay's one flusher waited
for ever on a publish, so every envelope after it, to any process, stayed
queued for good (and a held socket's departure, which publishes too). Two
processes on a real redis-server behind a TCP proxy that can freeze what
it carries (tests/recovery/proxy.py); real python-socketio clients. The
wait is bounded; no timing is asserted.
"""

import sys
import time

import pytest

from tests.recovery.proxy import CuttingProxy
from tests.support.clients import Recorder
from tests.support.redis_server import RedisProcess
from tests.support.servers import LiveServer

#: Long enough for the publish's read timeout (5 s), the subscriber's
#: silence check (5 + 5 s) and a retry, on a loaded machine.
BOUND = 60.0


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_relay_resumes_after_redis_connections_go_silent(mode):
    redis = RedisProcess().start()
    proxy = CuttingProxy(redis.port)
    argv = [sys.executable, "-m", "tests.support.serve",
            "tests.deploy.test_relay_at_scale:create_app", "--mode", mode,
            "--port", "{port}"]
    url = f"redis://127.0.0.1:{proxy.port}/0"
    first, second = processes = [
        LiveServer(argv, env={"RTCIO_MESSAGE_QUEUE": url}) for _ in range(2)]
    clients = []
    try:
        for process in processes:
            process.start()
        alice = Recorder().connect(first.url)
        near = Recorder().connect(first.url)
        far = Recorder().connect(second.url)
        clients = [alice, near, far]
        for client, name in zip(clients, ("alice", "near", "far")):
            client.emit("join-room", {"roomId": "silent", "name": name})
            client.wait_for("join-ok", timeout=10)
        alice.wait_for("user-connected", count=2, timeout=10)

        def send(n):
            for target in (near, far):
                alice.emit("#rtcio:message", {
                    "source": alice.sid, "target": target.sid, "data": n})

        send(0)
        for target in (near, far):
            target.wait_for("#rtcio:message", timeout=10)
        assert proxy.freeze() > 0

        def got_after_freeze(target):
            return [m["data"] for m in target.events("#rtcio:message")
                    if m["data"] > 0]

        n = 0
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            n += 1
            send(n)
            time.sleep(1.0)
            if got_after_freeze(far) and got_after_freeze(near) and \
                    got_after_freeze(near)[-1] == n:
                break
        # The process holding the target hears the sender's process again,
        # and the sender's own deliveries were not stuck behind a publish.
        assert got_after_freeze(far), (n, first.log()[-3000:])
        assert got_after_freeze(near)[-1:] == [n], (
            n, got_after_freeze(near), first.log()[-3000:])
    finally:
        for client in clients:
            client.disconnect()
        for process in processes:
            process.stop()
        proxy.close()
        redis.remove()
