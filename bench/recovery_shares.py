"""Recovery's fair shares, measured (docs/networks.rst, "Fair shares").

1. The bookkeeping's cost, in this process: one logged relay envelope
   (``PacketLog.append_to``) with an owner, a full log levelled across
   2,000 owners, and one held session with the per-address buckets.
2. The attack of issue 19, live: a server with the default bounds on
   127.0.0.1; a socket.io-client 4.8 user held after a cut while
   127.0.0.2 churns connect-and-drop as fast as it can for ``--seconds``
   (bounded), then floods relays to its own held socket. Reports the
   churn rate reached, how many held sockets the bounds sent away, and
   whether the user recovered with every missed envelope.

Run: ``PYTHONPATH=. python bench/recovery_shares.py [--seconds 5]``.
"""

import argparse
import re
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rtcio_flask.core.recovery_log import (HeldSession,  # noqa: E402
                                           HeldSessions, PacketLog)


def bookkeeping():
    log = PacketLog()
    n = 200_000
    t = timeit.timeit(lambda: log.append_to("/", "sid", "x" * 300,
                                            owner="10.0.0.1"), number=n)
    print(f"append_to with an owner: {t / n * 1e6:.2f} us/envelope")
    log = PacketLog()
    owners = [f"10.0.{i // 256}.{i % 256}" for i in range(2000)]
    t = timeit.timeit(lambda: [log.append_to("/", "s", "y" * 3000, owner=o)
                               for o in owners], number=20)
    print(f"full 32 MiB log, 2,000 owners levelled: {t / 40000 * 1e6:.2f} "
          f"us/envelope")
    held = HeldSessions(10_000, max_per_address=100)
    count = [0]

    def hold():
        i = count[0] = count[0] + 1
        held.hold(HeldSession(pid=str(i), sid=f"s{i}", namespace="/",
                              rooms=frozenset(), seq_at_connect=0,
                              address=f"10.9.{i % 200}.{i % 97}"), 120)

    t = timeit.timeit(hold, number=100_000)
    print(f"hold, 10,000 held from ~19,000 addresses: "
          f"{t / 100_000 * 1e6:.2f} us/session")


def attack(seconds):
    from tests.recovery.test_fair_shares import Other, flood
    from tests.recovery.test_recovery import _envelopes, run_blip
    from tests.support.servers import serve_app

    srv = serve_app("tests.apps.rooms_app:create_app", "eventlet").start()
    cycles = [0, 0.0]

    def churn_then_flood():
        start = time.monotonic()
        while time.monotonic() - start < seconds and cycles[0] < 50_000:
            Other(srv.port).cut()
            cycles[0] += 1
        cycles[1] = time.monotonic() - start
        flood(srv.port)

    try:
        done = run_blip(srv.url, srv.port, "recover", "websocket",
                        during_gap=churn_then_flood)
        evicted = sum(int(n) for n in re.findall(
            r"(\d+) held socket\(s\) left before", srv.log()))
    finally:
        srv.stop()
    print(f"127.0.0.2 churned {cycles[0]} connect-and-drop cycles in "
          f"{cycles[1]:.1f} s ({cycles[0] / cycles[1]:.0f}/s); the bounds "
          f"sent {evicted} of its held sockets away early")
    print(f"the user on 127.0.0.1: recovered={done.get('recovered')}, "
          f"envelopes {_envelopes(done['log']['a'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    bookkeeping()
    attack(args.seconds)
