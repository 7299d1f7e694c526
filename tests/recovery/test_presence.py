"""Presence and the app's own handlers under connection state recovery,
with the real socket.io-client 4.8 (Node) through a cutting proxy."""

import json
import re
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.support.clients import Recorder
from tests.support.servers import serve_app

from .test_recovery import NodeClients, run_blip

APP = "tests.apps.presence_app:create_app"


def _serve(window, **env):
    srv = serve_app(APP, "eventlet",
                    env={"RTCIO_RECOVERY_WINDOW": window, **env},
                    watch=True).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def short_window():
    yield from _serve("1.5")


@pytest.fixture(scope="module")
def long_window():
    yield from _serve("120")


def _login(server, user):
    with urllib.request.urlopen(f"{server.url}/login?user={user}") as resp:
        cookie = resp.headers["Set-Cookie"]
    return cookie.split(";", 1)[0]


@pytest.mark.parametrize("transports", ["websocket", "polling"])
def test_app_disconnect_handler_at_window_end_has_its_request(
        short_window, transports):
    """A cut client that does not come back within the window departs;
    the app's disconnect handler then reads flask.request and
    flask.session as in any other event (no KeyError traceback)."""
    srv = short_window
    cookie = _login(srv, f"carol-{transports}")
    done = run_blip(srv.url, srv.port, "expire", transports, gap=4.0,
                    env={"COOKIE": cookie})
    assert done["recovered"] is False
    assert ["user-disconnected", done["aId"]] in done["log"]["b"]
    log = srv.log_with(f"APP-DISCONNECT sid={done['aId']}")
    lines = re.findall(rf"APP-DISCONNECT sid={re.escape(done['aId'])} .*",
                       log)
    assert lines == [f"APP-DISCONNECT sid={done['aId']} same=True "
                     f"addr=127.0.0.1 user=carol-{transports} "
                     f"path=/socket.io/ reason=transport close"] or \
        lines == [f"APP-DISCONNECT sid={done['aId']} same=True "
                  f"addr=127.0.0.1 user=carol-{transports} "
                  f"path=/socket.io/ reason=ping timeout"], log[-3000:]
    assert "Traceback" not in log


PRESENCE_CLIENT = Path(__file__).with_name("presence_client.mjs")


@pytest.mark.parametrize("code", [1000, 1001])
def test_a_websocket_closed_on_purpose_departs_at_once(long_window, code):
    """A page going away closes its websocket with 1001 (a plain close
    1000) and sends nothing else: that is a departure, not a blip. The
    room hears user-disconnected at once (the window is 120 s), the
    members list no longer has it, and the app's handler ran."""
    srv = long_window
    node = NodeClients(srv.url, srv.url, "goodbye", "websocket",
                       {"CODE": str(code)}, script=PRESENCE_CLIENT)
    try:
        done = node.read("done")
    finally:
        node.close()
    a = done["aId"]
    assert done["log"]["b"].count(["user-disconnected", a, False]) == 1
    assert ["user-reconnecting", a, False] not in done["log"]["b"]
    assert [m["id"] for m in done["members"]] == [
        m["id"] for m in done["members"] if m["id"] != a]
    assert len(done["members"]) == 1
    log = srv.log_with(f"APP-DISCONNECT sid={a}")
    assert f"APP-DISCONNECT sid={a} same=True" in log
    assert "Traceback" not in log


def test_a_held_member_is_marked_reconnecting_and_comes_back(long_window):
    """Cut with no close frame: the room hears user-reconnecting once, the
    members list and a newcomer's join answer mark the member
    ``reconnecting``; after the recovery the room hears user-reconnected
    once and the mark is gone. Nobody hears user-disconnected."""
    srv = long_window
    done = run_blip(srv.url, srv.port, "blip", "websocket",
                    script=PRESENCE_CLIENT)
    a, log = done["aId"], done["log"]
    assert done["recovered"] is True and done["aIdAfter"] == a
    assert log["b"].count(["user-reconnecting", a, False]) == 1
    assert log["b"].count(["user-reconnected", a, False]) == 1
    assert not [e for e in log["b"] + log["c"]
                if e[0] == "user-disconnected"]
    held = {m["id"]: m.get("reconnecting", False) for m in done["held"]}
    assert held[a] is True and list(held.values()).count(True) == 1
    # the newcomer's join answer: A listed, marked reconnecting
    assert ["user-connected", a, True] in log["c"]
    back = {m["id"]: m.get("reconnecting", False) for m in done["back"]}
    assert a in back and not any(back.values())
    assert "Traceback" not in srv.log()


@pytest.fixture(scope="module")
def on_redis():
    from tests.support.redis_server import RedisProcess

    redis = RedisProcess().start()
    try:
        yield from _serve("120", RTCIO_MESSAGE_QUEUE=redis.url)
    finally:
        redis.remove()


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_an_offset_from_before_the_join_replays_nothing_of_the_room(
        request, backend):
    """A member rewinds its offset to one it got before joining the room
    (a packet to itself): it recovers (the offset is its own), and gets
    what the room said during the gap, but nothing the room said before
    it joined. The same with the log in a Redis stream."""
    srv = request.getfixturevalue(
        "long_window" if backend == "memory" else "on_redis")
    done = run_blip(srv.url, srv.port, "forge", "websocket",
                    env={"FORGE": "own"}, script=PRESENCE_CLIENT)
    assert done["forged"] == done["offsets"][0]
    assert done["recovered"] is True and done["aIdAfter"] == done["aId"]
    assert "gap" in done["chats"]
    assert "before-1" not in done["chats"] and \
        "before-2" not in done["chats"], done["chats"]
    assert "Traceback" not in srv.log()


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_an_offset_never_given_to_the_session_gets_a_new_socket(
        request, backend):
    """``<logid>-1``, the log's first packet, long before this socket
    connected: refused as Node refuses an unknown offset, so the client
    gets a new socket and no packet of anyone's history; the old socket
    departs (with Redis it stayed in its room: the session, taken from
    Redis, read as recovered elsewhere)."""
    srv = request.getfixturevalue(
        "long_window" if backend == "memory" else "on_redis")
    # A logged packet before the forger connects, whatever ran first on
    # this server (on a fresh one the log's first packet was the
    # forger's own pong: given to it, so it rightly recovered)
    early = Recorder(["pong"]).connect(srv.url)
    early.emit("api-ping", 0)
    early.wait_for("pong")
    early.disconnect()
    done = run_blip(srv.url, srv.port, "forge", "websocket",
                    env={"FORGE": "first"}, script=PRESENCE_CLIENT)
    assert done["forged"].endswith("-1")
    assert done["recovered"] is False
    assert done["aIdAfter"] != done["aId"]
    assert [c for c in done["chats"] if c != "joined"] == []
    assert done["bHeardLeave"] == [done["aId"]]
    assert "Traceback" not in srv.log()


@pytest.mark.parametrize("backend", ["memory", "redis"])
@pytest.mark.parametrize("forge", ["none", "number"])
def test_a_pid_without_a_string_offset_gets_a_new_socket(
        request, backend, forge):
    """A CONNECT with the held socket's own pid but no offset, or one that
    is not a string: Node recovers only when both are strings, so the
    client gets a new socket and nothing is replayed (before, it recovered
    and got everything logged for it since it connected); the held socket
    departs at once, as with a refused offset."""
    srv = request.getfixturevalue(
        "long_window" if backend == "memory" else "on_redis")
    done = run_blip(srv.url, srv.port, "forge", "websocket",
                    env={"FORGE": forge}, script=PRESENCE_CLIENT)
    assert done["forged"] == ("undefined" if forge == "none" else "42")
    assert done["recovered"] is False
    assert done["aIdAfter"] != done["aId"]
    assert [c for c in done["chats"] if c != "joined"] == []
    assert done["bHeardLeave"] == [done["aId"]]
    refused = f"{done['aId']} cannot be recovered (its CONNECT names no"
    assert refused in srv.log_with(refused)
    assert "Traceback" not in srv.log()


@pytest.fixture(scope="module")
def quick_pings():
    yield from _serve("120", TEST_PING_INTERVAL="0.5")


@pytest.mark.parametrize("pings", ["none yet", "answered"])
def test_a_pid_does_not_take_a_connected_socket(request, pings):
    """A CONNECT naming the pid of a socket that is connected and answers
    its pings gets a new socket (and a new pid); the connected socket
    keeps its connection and its envelopes. Also once pings went back and
    forth (0.5 s interval, the hijack comes after 3 s)."""
    srv = request.getfixturevalue(
        "long_window" if pings == "none yet" else "quick_pings")
    node = NodeClients(srv.url, srv.url, "hijack", "websocket",
                       {"WAIT_MS": "0" if pings == "none yet" else "3000"},
                       script=PRESENCE_CLIENT)
    try:
        done = node.read("done")
    finally:
        node.close()
    assert done["cId"] != done["aId"] and done["cRecovered"] is False
    assert done["offsetType"] == "string" and done["samePid"] is False
    assert done["aConnected"] is True and done["aIdNow"] == done["aId"]
    assert done["got"] == {"a": [1], "c": []}
    assert "Traceback" not in srv.log()


def test_a_huge_offset_is_refused_in_a_short_log_line(long_window):
    srv = long_window
    done = run_blip(srv.url, srv.port, "forge", "websocket",
                    env={"FORGE": "huge"}, script=PRESENCE_CLIENT)
    assert done["recovered"] is False
    log = srv.log_with(f"{done['aId']} cannot be recovered")
    line = [l for l in log.splitlines()
            if f"{done['aId']} cannot be recovered" in l]
    assert len(line) == 1 and "(100002 chars)" in line[0], line
    assert max(len(l) for l in log.splitlines()) < 1000


def _poll(srv, sid, method="GET", body=None):
    """One Engine.IO polling request of session ``sid``."""
    request = urllib.request.Request(
        f"{srv.url}/socket.io/?EIO=4&transport=polling&t=x&sid={sid}",
        data=None if body is None else body.encode(), method=method,
        headers={"Content-Type": "text/plain;charset=UTF-8"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.read().decode()


def test_a_connection_closed_while_its_connect_runs_departs(long_window):
    """The client closes its Engine.IO session while the app's connect
    handler still runs: python-socketio skips the socket (still
    connecting) and forgets the handshake environ. The socket must not
    stay connected to nothing: once the CONNECT is done it departs, and
    the app's disconnect handler runs in the handshake's request context
    (before, it never ran; its rooms and presence kept a ghost)."""
    srv = long_window
    with urllib.request.urlopen(f"{srv.url}/socket.io/?EIO=4&transport="
                                "polling&t=x", timeout=10) as resp:
        eio_sid = json.loads(resp.read().decode()[1:])["sid"]
    # The CONNECT's POST is answered once the connect handler is done:
    # it is sent from a thread, and the close while it runs.
    answers = []
    connecting = threading.Thread(target=lambda: answers.append(
        _poll(srv, eio_sid, "POST", '40{"slow":1.5}')))
    connecting.start()
    log = srv.log_with(f"APP-CONNECT-SLOW eio={eio_sid}", timeout=10)
    sid = re.findall(rf"APP-CONNECT-SLOW eio={eio_sid} sid=(\S+)", log)[0]
    assert _poll(srv, eio_sid, "POST", "1") == "OK"  # Engine.IO close
    connecting.join(15)
    assert answers == ["OK"]
    log = srv.log_with(f"APP-DISCONNECT sid={sid}", timeout=15)
    assert re.findall(rf"APP-DISCONNECT sid={re.escape(sid)} .*", log) == [
        f"APP-DISCONNECT sid={sid} same=True addr=127.0.0.1 user=None "
        f"path=/socket.io/ reason=client disconnect"], log[-3000:]
    assert "Traceback" not in log
