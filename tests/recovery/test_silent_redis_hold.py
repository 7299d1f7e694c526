"""A socket's hold for recovery finishes while every Redis connection of
its process has gone silent (no reply, no close: a failover or a NAT that
forgot them), as each end sees it.

The greenlet that holds a dropped socket emits through the message queue
(the ``#rtcio:peer-left`` hint, then ``user-reconnecting`` to its rooms).
The queue's publishes once shared the subscriber's client, which has no
read timeout: the first publish on a silent connection waited for ever,
so the hold never finished and the room never heard the member was
reconnecting (a greenlet seen parked in the hold path under load). One
process on a real redis-server behind a TCP proxy that freezes what it
carries, socket.io-client 4.8 through a proxy that cuts A without a close
frame; eventlet and gevent. The wait is bounded; no timing is asserted
(before the fix B heard the hint and, 60 s later, still nothing more).
"""

import sys
from pathlib import Path

import pytest

from tests.recovery.proxy import CuttingProxy
from tests.recovery.test_recovery import NodeClients
from tests.support.redis_server import RedisProcess
from tests.support.servers import LiveServer

SCRIPT = Path(__file__).with_name("silent_hold_client.mjs")


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_a_hold_finishes_while_redis_is_silent(mode):
    redis = RedisProcess().start()
    silent = CuttingProxy(redis.port)
    server = LiveServer(
        [sys.executable, "-m", "tests.support.serve",
         "tests.deploy.test_relay_at_scale:create_app", "--mode", mode,
         "--port", "{port}"],
        env={"RTCIO_MESSAGE_QUEUE": f"redis://127.0.0.1:{silent.port}/0"})
    cutter = None
    node = None
    try:
        server.start()
        cutter = CuttingProxy(server.port)
        node = NodeClients(server.url, cutter.url, "hold", "websocket",
                           script=SCRIPT)
        node.read("joined")
        assert silent.freeze() > 0
        cutter.cut()
        node.go()
        done = node.read("done", timeout=90)
        # The hint is sent before the first publish; user-reconnecting
        # only once that publish returned.
        assert "#rtcio:peer-left" in done["heard"], done
        assert "user-reconnecting" in done["heard"], (done,
                                                      server.log()[-3000:])
    finally:
        if node is not None:
            node.close()
        if cutter is not None:
            cutter.close()
        server.stop()
        silent.close()
        redis.remove()
