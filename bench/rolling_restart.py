"""A rolling restart, measured (docs/networks.rst, "Rolling restarts").

Two ``gunicorn -k <worker>`` processes on one redis-server
(``RTCIO_MESSAGE_QUEUE``), ``--pairs`` socket.io-client 4.8 pairs (one
side on each process, a room per pair). SIGTERM to the first; its clients
reconnect by themselves (socket.io-client's default backoff) to the second
and recover. Prints how many came back with the same id and
``recovered``, got the envelope relayed to them during the gap once, how
many departures their rooms heard (0 expected), how long the drained
process took to exit, and the time from SIGTERM to each recovery.

Run: ``PYTHONPATH=. python bench/rolling_restart.py [--pairs 100]
[--worker eventlet]`` (bounded: at most 500 pairs).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.gunicorn import serve_gunicorn  # noqa: E402
from tests.support.redis_server import RedisProcess  # noqa: E402

APP = "tests.apps.presence_app:create_app()"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--worker", default="eventlet")
    args = parser.parse_args()
    pairs = max(1, min(args.pairs, 500))
    redis = RedisProcess().start()
    # Every client is on 127.0.0.1: lift the per-address shares (200 open
    # sessions, 100 held ones by default; a drain holds like a drop, so
    # past 100 an address's oldest held sockets would depart).
    env = {"RTCIO_MESSAGE_QUEUE": redis.url, "RTCIO_RECOVERY_WINDOW": "120",
           "RTCIO_MAX_CONNECTIONS_PER_ADDRESS": "2000",
           "RTCIO_RECOVERY_MAX_SESSIONS_PER_ADDRESS": "2000"}
    first = serve_gunicorn(APP, args.worker, env=env).start()
    second = serve_gunicorn(APP, args.worker, env=env).start()
    node = subprocess.Popen(
        ["node", str(ROOT / "bench" / "rolling_restart.mjs")], cwd=ROOT,
        env=dict(os.environ, FIRST_URL=first.url, SECOND_URL=second.url,
                 PAIRS=str(pairs), NODE_PATH=str(ROOT / "node_modules")),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(node.stdout.readline())["step"] == "ready"
        sent = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        node.stdin.write("go\n")
        node.stdin.flush()
        code = first.proc.wait(60)
        exited = time.monotonic() - sent
        done = json.loads(node.stdout.readline())
        print(json.dumps(dict(done, worker=args.worker, exitCode=code,
                              drainedExitS=round(exited, 2))))
    finally:
        node.kill()
        node.wait(10)
        first.stop()
        second.stop()
        redis.remove()


if __name__ == "__main__":
    main()
