"""50 concurrent pairs relaying across two processes on one real Redis.

Each pair's first member is on one process and its second on the other, so
every envelope crosses through the message queue; built-in rooms (relay
scope) and connection state recovery are on, as a scaled-out deployment
runs them. Nothing may be refused, lost, duplicated or reordered, and the
envelopes must take the relay's batched queue path (published once by the
sender's process, delivered by the target's), not python-socketio's generic
emit. Counts only: the speed is bench/run.py's to report.
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.redis_server import RedisProcess
from tests.support.servers import LiveServer

ROOT = Path(__file__).resolve().parents[2]
PAIRS = 50
MSGS = 20


def create_app():
    """What a user scaling out writes: the queue from the environment,
    limits raised for a load generator's bursts (one address, far faster
    than a browser), and a route reporting the relay's queue counters."""
    import flask

    from rtcio_flask import RTCIO

    app = flask.Flask("relay-at-scale")
    rtcio = RTCIO(app, cors="*", rooms=True,
                  message_queue=os.environ["RTCIO_MESSAGE_QUEUE"],
                  limits={"rate": 1_000_000, "burst": 1_000_000},
                  max_connections_per_address=0)

    @app.route("/queue-relay")
    def queue_relay():
        relay = rtcio.state_for(app).queue_relay
        return {"published": relay.published, "delivered": relay.delivered,
                "batches": relay.batches,
                "relayed": rtcio.protocol("/").relayed}

    return app


@pytest.fixture(scope="module")
def two_processes():
    if not shutil.which("node"):
        pytest.fail("node is not installed (scripts/test.sh installs it)")
    redis = RedisProcess().start()
    argv = [sys.executable, "-m", "tests.support.serve",
            "tests.deploy.test_relay_at_scale:create_app", "--mode",
            "eventlet", "--port", "{port}"]
    processes = [LiveServer(argv, env={"RTCIO_MESSAGE_QUEUE": redis.url})
                 for _ in range(2)]
    try:
        yield [process.start() for process in processes]
    finally:
        for process in processes:
            process.stop()
        redis.remove()


def _stats(process):
    with urllib.request.urlopen(process.url + "/queue-relay",
                                timeout=10) as response:
        return json.loads(response.read())


def test_fifty_pairs_across_two_processes_lose_nothing(two_processes):
    first, second = two_processes
    # The module's other test may have relayed through these processes
    # first (random order): count what this load adds.
    before = [_stats(process) for process in two_processes]
    logged = [len(process.log()) for process in two_processes]
    run = subprocess.run(
        ["node", str(ROOT / "bench" / "split_loadgen.mjs")], cwd=ROOT,
        env=dict(os.environ, URLS=f"{first.url},{second.url}",
                 PAIRS=str(PAIRS), MSGS=str(MSGS), TIMEOUT_MS="20000"),
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["received"] == PAIRS * MSGS, result
    assert result["short_pairs"] == 0, result
    for problem in ("connect_errors", "join_errors", "refused",
                    "out_of_order", "duplicates"):
        assert result[problem] == 0, (problem, result)

    after = [_stats(process) for process in two_processes]
    # Pair i's sender is on process i % 2 and its target on the other.
    for key in ("published", "delivered", "relayed"):
        added = sum(a[key] - b[key] for a, b in zip(after, before))
        assert added == PAIRS * MSGS, (key, before, after)
    for process, start in zip(two_processes, logged):
        log = process.log()[start:]
        for sign in ("Too many connections", "store-unavailable",
                     "dropped envelope", "Cannot publish", "Traceback"):
            assert sign not in log, (sign, log[-3000:])


def test_a_leave_in_one_process_closes_the_scope_in_the_other(two_processes):
    """The relay's room-scope check answers from each process's local view;
    a leave in the target's process reaches the sender's through the queue,
    so the next envelope is refused, not relayed on a stale view."""
    from tests.support.clients import Recorder

    first, second = two_processes
    alice = Recorder().connect(first.url)
    bob = Recorder().connect(second.url)
    try:
        for client, name in ((alice, "alice"), (bob, "bob")):
            client.emit("join-room", {"roomId": "scope", "name": name})
            client.wait_for("join-ok", timeout=10)
        envelope = {"source": alice.sid, "target": bob.sid, "data": 1}
        alice.emit("#rtcio:message", envelope)  # the raw-packet path
        bob.wait_for("#rtcio:message", timeout=10)

        bob.emit("leave-room", {"roomId": "scope"})
        alice.wait_for("user-disconnected", timeout=10)
        result = alice.call("#rtcio:message", dict(envelope, data=2),
                            timeout=10)
        assert result["ok"] is False and result["error"] == "not-in-room", \
            result
        alice.emit("#rtcio:message", dict(envelope, data=3))
        alice.call("check-room", {"roomId": "scope"}, timeout=10)  # a beat
        assert [m["data"] for m in bob.events("#rtcio:message")] == [1]
    finally:
        alice.disconnect()
        bob.disconnect()
