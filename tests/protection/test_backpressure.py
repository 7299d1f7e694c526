"""Issue 14, defect 4: a client that never reads must not grow the server's
memory without bound. Three members send 60 KB envelopes (within the event
limits) to a member whose client stopped reading; the server closes that
connection with one WARNING once its outgoing queue passes the cap
(4 MiB / 4,096 packets by default), the others hear it left, and the memory
its queue held is given back."""

import logging
import re
import time
from pathlib import Path

from tests.support.raw_eio import RawSocket
from tests.support.clients import Recorder
from tests.support.servers import serve_app

APP = "tests.apps.rooms_app:create_app"
ROOM = "backpressure"
log = logging.getLogger(__name__)


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def non_reader(base_url):
    """A raw socket.io websocket client that joins a room, then never reads
    again (a tiny receive buffer, so the kernel holds little for it)."""
    raw = RawSocket(base_url, timeout=10, receive_buffer=4096)
    raw.join_room(ROOM)
    return raw


def test_client_that_never_reads_is_closed_and_its_memory_released():
    with serve_app(APP, "eventlet") as server:
        victim = non_reader(server.url)
        senders = [Recorder().connect(server.url) for _ in range(3)]
        for sender in senders:
            assert sender.call("join-room", {"roomId": ROOM}) is None
        time.sleep(0.5)
        baseline = rss_mib(server.proc.pid)
        payload = "x" * 60_000
        peak = baseline
        started = time.monotonic()
        sent = 0
        closed_line = None
        # 3 x 20 envelopes a second, inside the default rate limit (50/s).
        while time.monotonic() - started < 60 and closed_line is None:
            for sender in senders:
                sender.emit("#rtcio:message", {
                    "source": sender.sid, "target": victim.sid,
                    "data": {"candidate": {"candidate": payload}}})
                sent += 1
            time.sleep(0.05)
            if sent % 30 == 0:
                peak = max(peak, rss_mib(server.proc.pid))
                found = re.search(r"WARNING rtcio_flask: rtcio: closing "
                                  r"connection \S+ from 127\.0\.0\.1: .*",
                                  server.log())
                closed_line = found and found.group(0)
        took = time.monotonic() - started
        assert closed_line, server.log()[-3000:]
        # The others hear it left, as for any lost connection.
        for sender in senders:
            sender.wait_for("user-disconnected", timeout=10)
        time.sleep(2)
        after = rss_mib(server.proc.pid)
        text = server.log()
        log.info("non-reading client: closed after %.1f s and %d envelopes "
                 "(%.1f MB sent); RSS baseline %.1f MiB, peak %.1f MiB, "
                 "2 s after closing %.1f MiB; %s", took, sent,
                 sent * 0.06, baseline, peak, after, closed_line)
        assert closed_line.startswith(
            f"WARNING rtcio_flask: rtcio: closing connection "
            f"{victim.eio_sid} from 127.0.0.1: "), closed_line
        assert "the client is not reading them (caps: max_queue_packets=" \
            "4096, max_queue_bytes=4194304)" in closed_line
        assert text.count("rtcio: closing connection") == 1, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        # What the queue held is released (a generous margin over the 4 MiB
        # cap for allocator slack; without the cap it grew by hundreds).
        assert after < baseline + 16, (baseline, peak, after)
        for sender in senders:
            sender.client.disconnect()
