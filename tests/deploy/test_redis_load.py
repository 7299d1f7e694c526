"""Scale-out that does not collapse (issue 20): one ``gunicorn -k eventlet``
(and ``-k gevent``) worker on ``RTCIO_MESSAGE_QUEUE=redis://...`` under the bench loadgen's
pattern, with socket.io-client 4.8 (Node): 5 pairs used to get nothing
delivered (``MaxConnectionsError: Too many connections``, joins and relays
refused with ``store-unavailable``). The pools here are deliberately tiny
(``?max_connections=4``) so the load must wait for connections: every
join and every envelope still goes through, and the pools counted the
waits. Numbers (throughput) belong to bench/, not here."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support.gunicorn import serve_gunicorn
from tests.support.redis_server import RedisProcess
from tests.support.servers import ROOT

CLIENT = Path(__file__).with_name("redis_load.mjs")
APP = "tests.apps.redis_load_app:create_app()"


@pytest.fixture
def redis_server():
    server = RedisProcess().start()
    yield server
    server.remove()


def run_load(url, pairs, msgs):
    out = subprocess.run(
        ["node", str(CLIENT)], cwd=ROOT, capture_output=True, text=True,
        timeout=240, env=dict(os.environ, URL=url, PAIRS=str(pairs),
                              MSGS=str(msgs),
                              NODE_PATH=str(ROOT / "node_modules")))
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"load client failed: {out.stderr[-2000:]}"
    return json.loads(lines[-1])


@pytest.mark.parametrize("worker, pairs, msgs", [
    ("eventlet", 5, 50), ("eventlet", 50, 20), ("gevent", 50, 20)])
def test_every_join_and_envelope_goes_through_a_tiny_pool(redis_server,
                                                          worker, pairs,
                                                          msgs):
    queue = redis_server.url + "?max_connections=4"
    with serve_gunicorn(APP, worker,
                        env={"RTCIO_MESSAGE_QUEUE": queue}) as server:
        result = run_load(server.url, pairs, msgs)
        metrics = requests.get(server.url + "/metrics", timeout=10).text
        log = server.log()
    assert result["joinErrors"] == [], result
    assert result["refused"] == {}, result
    assert result["reversed"] == 0, result
    assert result["sent"] == pairs * msgs
    assert result["delivered"] == pairs * msgs, result
    waits = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'rtcio_redis_pool_waits_total\{client="(\w+)"\} (\S+)', metrics)}
    assert set(waits) >= {"rooms", "recovery", "queue", "fleet"}, metrics
    if pairs == 50:  # 100 sockets on 4 connections a pool: some waited
        assert sum(waits.values()) > 0, metrics
    assert "rtcio_redis_pool_timeouts_total" in metrics
    for bad in ("store-unavailable", "Too many connections", "Traceback",
                "Cannot publish to redis", "unreachable"):
        assert bad not in log, log[-3000:]
