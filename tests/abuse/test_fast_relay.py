"""The relay's raw-packet fast path (protocol.RtcioProtocol.relay_packet)
behaves exactly like the python-socketio path: same envelopes, stamped
source, refusals, namespaces, and it steps aside when the app has its own
#rtcio:message handler."""

import requests

from tests.support.clients import Recorder
from tests.support.servers import serve_app


def _envelope(sender, target, seq):
    return {"source": "someone-else", "target": target,
            "data": {"candidate": {"candidate": "c", "seq": seq}}}


def test_many_envelopes_arrive_once_in_order_with_source_stamped():
    with serve_app("tests.apps.basic:create_app", "eventlet") as server:
        a = Recorder().connect(server.url)
        b = Recorder().connect(server.url)
        try:
            # 80: inside the default burst of 100 events (see Limits).
            for seq in range(80):
                a.emit("#rtcio:message", _envelope(a.sid, b.sid, seq))
            got = b.wait_for("#rtcio:message", count=80, timeout=20)
            assert [e["data"]["candidate"]["seq"] for e in got] == list(
                range(80))
            assert {e["source"] for e in got} == {a.sid}
            assert a.events("#rtcio:message") == []  # never echoed
            # A refused envelope with an acknowledgement still answers it.
            answer = a.call("#rtcio:message", {"target": "nobody",
                                               "data": {}})
            assert answer["error"] == "unknown-target"
        finally:
            a.disconnect()
            b.disconnect()


def test_other_namespace_uses_its_own_prefix():
    with serve_app("tests.apps.basic:create_app", "eventlet") as server:
        a = Recorder(namespace="/calls").connect(server.url)
        b = Recorder(namespace="/calls").connect(server.url)
        root = Recorder().connect(server.url)
        try:
            a.emit("#rtcio:message", _envelope(a.sid, b.sid, 1))
            got = b.wait_for("#rtcio:message", timeout=10)
            assert got[0]["source"] == a.sid
            assert got[0]["data"]["candidate"]["seq"] == 1
            # A /calls sid is unknown on "/": refused, not relayed.
            answer = root.call("#rtcio:message", _envelope(root.sid, b.sid, 2))
            assert answer["error"] == "unknown-target"
        finally:
            for c in (a, b, root):
                c.disconnect()


def test_app_handler_on_the_event_still_runs():
    with serve_app("tests.apps.abuse_app:create_app", "eventlet",
                   env={"TEST_SPY_RELAY": "1"}) as server:
        a = Recorder().connect(server.url)
        b = Recorder().connect(server.url)
        try:
            for seq in range(5):
                a.emit("#rtcio:message", _envelope(a.sid, b.sid, seq))
            got = b.wait_for("#rtcio:message", count=5, timeout=10)
            assert sorted(e["data"]["candidate"]["seq"] for e in got) == list(
                range(5))
            a.call("echo", 1)  # handlers for earlier events have run by now
            count = requests.get(server.url + "/spied", timeout=5).json()
            assert count["count"] == 5
        finally:
            a.disconnect()
            b.disconnect()
