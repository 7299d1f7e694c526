"""Envelopes from one sender to one target arrive in the order sent, with a
message queue, whether the target is on the sender's process or another.

WebRTC needs it: a peer that gets ICE candidates before the offer they
belong to, or a second offer before the first, fails the negotiation. Two
processes on one real Redis, python-socketio clients; one sender emits N
numbered envelopes back to back to a target beside it and to one on the
other process, through the relay's raw-packet path and, with an app
handler on ``#rtcio:message`` (which takes the relay off that path),
through python-socketio's own event handling.
"""

import os
import sys

import pytest

from tests.support.clients import Recorder
from tests.support.redis_server import RedisProcess
from tests.support.servers import LiveServer

N = 150


def create_app():
    """A scaled-out app; ``ORDER_APP_HANDLER=1`` adds an app handler on
    the relay event (it only counts), as an app that audits relays does."""
    import flask

    from rtcio_flask import RTCIO

    app = flask.Flask("queue-order")
    rtcio = RTCIO(app, cors="*", rooms=True,
                  message_queue=os.environ["RTCIO_MESSAGE_QUEUE"],
                  limits={"rate": 1_000_000, "burst": 1_000_000},
                  max_connections_per_address=0)
    if os.environ.get("ORDER_APP_HANDLER") == "1":
        seen = []

        @rtcio.on("#rtcio:message")
        def audit(envelope):
            seen.append(1)
    return app


@pytest.fixture(scope="module")
def redis():
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.remove()


def _processes(redis, mode, app_handler):
    argv = [sys.executable, "-m", "tests.support.serve",
            "tests.deploy.test_queue_order:create_app", "--mode", mode,
            "--port", "{port}"]
    env = {"RTCIO_MESSAGE_QUEUE": redis.url,
           "ORDER_APP_HANDLER": "1" if app_handler else "0"}
    return [LiveServer(argv, env=env) for _ in range(2)]


@pytest.mark.parametrize("app_handler", [False, True],
                         ids=["raw-packet-path", "app-handler"])
@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_back_to_back_envelopes_arrive_in_order(redis, mode, app_handler):
    first, second = processes = _processes(redis, mode, app_handler)
    clients = []
    try:
        for process in processes:
            process.start()
        sender = Recorder().connect(first.url)
        near = Recorder(ordered=True).connect(first.url)
        far = Recorder(ordered=True).connect(second.url)
        clients = [sender, near, far]
        room = f"order-{mode}-{app_handler}"
        for client, name in zip(clients, ("sender", "near", "far")):
            client.emit("join-room", {"roomId": room, "name": name})
            client.wait_for("join-ok", timeout=10)
        sender.wait_for("user-connected", count=2, timeout=10)
        for n in range(N):  # back to back: no wait between emits
            for target in (near, far):
                sender.emit("#rtcio:message", {
                    "source": sender.sid, "target": target.sid,
                    "data": {"n": n, "candidate": "x" * 50}})
        for target in (near, far):
            target.wait_for("#rtcio:message", count=N, timeout=30)
            got = [m["data"]["n"] for m in target.events("#rtcio:message")]
            assert got == list(range(N)), (target is far, got)
    finally:
        for client in clients:
            client.disconnect()
        for process in processes:
            process.stop()


def test_relayed_log_stays_bounded_by_max_packets(redis):
    """The relay's batches log every envelope to the recovery stream and
    trim it to ``max_packets`` once per batch (not on every ``XADD``):
    after many more envelopes than the bound, the stream holds about the
    bound (approximate trimming drops whole stream nodes of 100 entries),
    and every envelope still arrived once, in order."""
    import redis as redis_py

    argv = [sys.executable, "-m", "tests.support.serve",
            "tests.deploy.test_queue_order:create_app", "--mode", "gevent",
            "--port", "{port}"]
    process = LiveServer(argv, env={"RTCIO_MESSAGE_QUEUE": redis.url,
                                    "RTCIO_RECOVERY_MAX_PACKETS": "10"})
    clients = []
    total = 4 * N
    try:
        process.start()
        sender, target = clients = [
            Recorder().connect(process.url),
            Recorder(ordered=True).connect(process.url)]
        for client, name in zip(clients, ("sender", "target")):
            client.emit("join-room", {"roomId": "bounded", "name": name})
            client.wait_for("join-ok", timeout=10)
        sender.wait_for("user-connected", timeout=10)
        for n in range(total):
            sender.emit("#rtcio:message", {
                "source": sender.sid, "target": target.sid,
                "data": {"n": n}})
        target.wait_for("#rtcio:message", count=total, timeout=30)
        got = [m["data"]["n"] for m in target.events("#rtcio:message")]
        assert got == list(range(total))
        length = redis_py.Redis.from_url(redis.url).xlen(
            "rtcio:recovery:log")
        # Untrimmed, the stream would hold every envelope (600); trimmed
        # to 10, at most one stream node (100) and the last batch more.
        assert length < total // 2, length
    finally:
        for client in clients:
            client.disconnect()
        process.stop()
