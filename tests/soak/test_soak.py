"""Soak and fault tests against ONE server process on 127.0.0.1.

Many websocket clients (a Node process running socket.io-client, as rtc.io
does) in pairs, each pair in its own room, relay numbered envelopes both
ways continuously. Every envelope must arrive exactly once, in order, from
the right sender to the right receiver, and the server's resident memory
must stay flat once warmed up. Clients that vanish are noticed and their
rooms get ``#rtcio:peer-left``.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.support.clients import Recorder
from tests.support.servers import ROOT, serve_app

APP = "tests.apps.abuse_app:create_app"
CLIENT = Path(__file__).with_name("soak_client.mjs")


#: Every soak client connects from 127.0.0.1: lift the per-address cap
#: (200 socket.io connections, rtcio_flask.core.protection).
SOAK_ENV = {"TEST_ROOMS": "true", "RTCIO_MAX_CONNECTIONS_PER_ADDRESS": "0"}


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class RssSampler(threading.Thread):
    """Samples a process's RSS every ``every`` seconds until stopped."""

    def __init__(self, pid, every=1.0):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples = []  # (seconds since start, KiB)
        self._stop_event = threading.Event()

    def run(self):
        start = time.monotonic()
        while not self._stop_event.wait(self.every):
            try:
                self.samples.append((time.monotonic() - start,
                                     _rss_kib(self.pid)))
            except (OSError, AssertionError):
                return

    def stop(self):
        self._stop_event.set()
        self.join(5)


def _node_available():
    if not (ROOT / "node_modules" / "socket.io-client").exists():
        pytest.fail("socket.io-client is not installed: run "
                    "`npm ci` in the project root (scripts/test.sh does)")


def run_soak(server, pairs, rate, seconds, warmup=0, warmup_rate=None):
    """Run the Node soak client; return its RESULT and the RSS samples
    taken during the steady run (after the client's warm-up phase)."""
    _node_available()
    env = dict(os.environ, URL=server.url, PAIRS=str(pairs), RATE=str(rate),
               SECONDS=str(seconds), WARMUP_SECONDS=str(warmup),
               WARMUP_RATE=str(warmup_rate or rate))
    proc = subprocess.Popen(["node", str(CLIENT)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    sampler = None
    result = None
    progress = []
    try:
        deadline = time.monotonic() + warmup + seconds + 240
        for line in proc.stdout:
            if line.startswith("STEADY"):
                sampler = RssSampler(server.proc.pid)
                sampler.start()
            elif line.startswith("PROGRESS"):
                progress.append(json.loads(line.split(" ", 1)[1]))
            elif line.startswith("RESULT"):
                result = json.loads(line.split(" ", 1)[1])
                break
            if time.monotonic() > deadline:
                break
        proc.wait(60)
    finally:
        if sampler is not None:
            sampler.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert result is not None, (proc.returncode, proc.stderr.read()[-3000:],
                                server.log()[-3000:])
    return result, (sampler.samples if sampler else []), progress


def check_delivery(result, pairs):
    text = json.dumps(result)
    assert "fatal" not in result, text
    assert result["clients"] == pairs * 2, text
    assert result["sent"] > 0, text
    assert result["drained"], text
    # Zero lost, duplicated, misrouted or reordered envelopes.
    for key in ("lost", "duplicated", "misrouted", "reordered",
                "disconnected"):
        assert result[key] == 0, text
    assert result["received"] == result["sent"], text


def check_memory_flat(samples, warmup_fraction=0.2):
    """After warm-up, RSS may wobble but must not keep growing: the last
    third's median stays within 10% (and 16 MiB) of the median just after
    warm-up.

    Measured: per connection, RSS grows with traffic until each socket's
    buffers and greenlet stack copies reach their working size (Python's
    own allocated blocks stay flat), then levels off; the client's warm-up
    phase at a higher rate gets there before sampling starts.
    """
    assert len(samples) >= 6, samples
    steady = samples[int(len(samples) * warmup_fraction):]
    third = max(2, len(steady) // 3)
    first = sorted(kib for _, kib in steady[:third])[third // 2]
    last = sorted(kib for _, kib in steady[-third:])[third // 2]
    growth = last - first
    assert growth <= max(first * 0.10, 16 * 1024), (first, last, samples)
    return first, last


def test_short_soak_pairs_relay_without_loss_and_flat_memory():
    pairs = int(os.environ.get("RTCIO_SOAK_SHORT_PAIRS", 150))
    with serve_app(APP, "eventlet", env=SOAK_ENV) as server:
        result, samples, _ = run_soak(server, pairs=pairs, rate=2,
                                      seconds=15, warmup=6, warmup_rate=8)
        check_delivery(result, pairs)
        check_memory_flat(samples)
        assert "Traceback" not in server.log()


@pytest.mark.soak_long
@pytest.mark.timeout(1800)
def test_long_soak_two_thousand_clients():
    clients = int(os.environ.get("RTCIO_SOAK_CLIENTS", 2000))
    seconds = float(os.environ.get("RTCIO_SOAK_SECONDS", 180))
    rate = float(os.environ.get("RTCIO_SOAK_RATE", 0.5))
    mode = os.environ.get("RTCIO_SOAK_MODE", "eventlet")
    with serve_app(APP, mode, env=SOAK_ENV) as server:
        result, samples, progress = run_soak(
            server, pairs=clients // 2, rate=rate, seconds=seconds,
            warmup=float(os.environ.get("RTCIO_SOAK_WARMUP", 30)),
            warmup_rate=2 * rate)
        check_delivery(result, clients // 2)
        first, last = check_memory_flat(samples)
        print(f"\nsoak: {result} rss after warm-up {first} KiB, at end "
              f"{last} KiB")
        assert "Traceback" not in server.log()


# -- clients that vanish ---------------------------------------------------------

VICTIM = textwrap.dedent("""
    import sys, time, socketio
    sio = socketio.Client(reconnection=False)
    sio.connect(sys.argv[1], transports=["websocket"], wait_timeout=10)
    sio.call("join-room", {"roomId": sys.argv[2], "name": "victim"},
             timeout=10)
    print(sio.get_sid(), flush=True)
    time.sleep(120)
""")


def _start_victim(url, room):
    proc = subprocess.Popen([sys.executable, "-c", VICTIM, url, room],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    sid = proc.stdout.readline().strip()
    assert sid, "victim did not connect"
    return proc, sid


@pytest.fixture(scope="module")
def short_ping_server():
    # Ping every 1 s, give up 1 s later: a silent peer is gone in ~2 s.
    with serve_app(APP, "eventlet", env=dict(SOAK_ENV,
                                                  TEST_PING="1,1"),
                   watch=True) as server:
        yield server


@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_vanished_client_is_noticed_and_room_told(short_ping_server, how):
    """``killed``: the process dies (the kernel closes its sockets).
    ``frozen``: SIGSTOP, so its TCP connection stays open but silent, as
    with a sleeping laptop or a dropped network: only the server's ping
    timeout can notice it."""
    room = f"vanish-{how}"
    watcher = Recorder().connect(short_ping_server.url)
    victim, victim_sid = None, None
    try:
        watcher.call("join-room", {"roomId": room, "name": "watcher"})
        victim, victim_sid = _start_victim(short_ping_server.url, room)
        watcher.wait_for("user-connected", timeout=10)
        if how == "killed":
            victim.kill()
        else:
            victim.send_signal(signal.SIGSTOP)
        # ping interval + ping timeout is 2 s; allow generous slack for a
        # loaded machine, but far below python-socketio's default 45 s.
        left = watcher.wait_for("#rtcio:peer-left", timeout=15)
        assert left == [{"id": victim_sid}]
        gone = watcher.wait_for("user-disconnected", timeout=5)
        assert gone[0]["id"] == victim_sid
    finally:
        watcher.disconnect()
        if victim is not None:
            if victim.poll() is None:
                victim.send_signal(signal.SIGCONT)
                victim.kill()
            victim.wait(10)
