"""The built-in rooms on a live eventlet server, driven by real
python-socketio clients: every event of PROTOCOL.md "Rooms" and every
refusal."""

import time

import pytest
import redis
import requests
import socketio

from rtcio_flask import RtcioEvents
from tests.support.clients import Recorder
from tests.support.servers import serve_app

APP = "tests.apps.rooms_app:create_app"
INIT = RtcioEvents.INIT_OFFER


@pytest.fixture(scope="module", params=["memory", "redis"])
def server(request):
    """The rooms app under eventlet, once with each room store. Small caps
    so room-full and too-many-rooms are quick to reach."""
    env = {"TEST_ROOMS_MAX_MEMBERS": "3", "TEST_ROOMS_MAX_ROOMS": "3"}
    redis_url = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_server").url
        redis.Redis.from_url(redis_url).flushdb()
        env["TEST_ROOMS_STORE_URL"] = redis_url
    with serve_app(APP, "eventlet", env=env) as srv:
        srv.redis_url = redis_url
        yield srv


@pytest.fixture
def connect(server):
    made = []

    def make(**kwargs):
        rec = Recorder().connect(server.url, **kwargs)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        never_hears_itself(rec)
        rec.disconnect()


def never_hears_itself(rec):
    """A socket never receives its own presence or init-offer."""
    sid = rec.sid if rec.client.connected else None
    if sid is None:
        return
    for event, payload in list(rec.received):
        if event in ("user-connected", "user-disconnected", "media-state"):
            assert payload.get("id") != sid, (event, payload)
        if event == INIT:
            assert payload.get("source") != sid, payload


def names(received):
    return [event for event, _ in received]


def join(rec, room, name="", **extra):
    """Join and wait for join-ok; return the events received up to it."""
    before = len(rec.received)
    oks = len(rec.events("join-ok"))
    rec.emit("join-room", dict(roomId=room, name=name, **extra))
    rec.wait_for("join-ok", count=oks + 1)
    return rec.received[before:]


def barrier(sender, receiver, room):
    """Make sure ``receiver`` has got everything the server sent it before
    now: a chat line from ``sender`` through the same room arrives after
    anything queued earlier."""
    token = f"barrier-{time.monotonic_ns()}"
    sender.emit("chat-message", {"roomId": room, "text": token})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any(p.get("text") == token for p in receiver.events("chat-message")):
            return
        time.sleep(0.01)
    raise AssertionError(f"barrier {token} never arrived")


# -- the join flow ------------------------------------------------------------

def test_join_flow_backfills_newcomer_and_invites_offers(connect):
    a, b, c = connect(), connect(), connect()
    got_a = join(a, "flow", "Alice")
    assert names(got_a) == ["join-ok"]
    assert got_a[-1][1] == {"roomId": "flow"}

    got_b = join(b, "flow", "Bob")
    assert got_b == [
        ("user-connected", {"id": a.sid, "name": "Alice", "roomId": "flow"}),
        ("join-ok", {"roomId": "flow"})]
    assert a.wait_for("user-connected")[0] == {"id": b.sid, "name": "Bob",
                                               "roomId": "flow"}
    assert a.wait_for(INIT)[0] == {"source": b.sid}

    got_c = join(c, "flow", "Cy")
    assert [p["id"] for e, p in got_c if e == "user-connected"] == [a.sid,
                                                                   b.sid]
    assert a.wait_for(INIT, count=2)[1] == {"source": c.sid}
    assert b.wait_for(INIT)[0] == {"source": c.sid}
    # Existing members were told exactly once each.
    barrier(c, a, "flow")
    barrier(c, b, "flow")
    assert [p["source"] for p in a.events(INIT)] == [b.sid, c.sid]
    assert [p["source"] for p in b.events(INIT)] == [c.sid]


def test_event_order_for_existing_member_is_presence_then_init_offer(connect):
    a, b = connect(), connect()
    join(a, "order", "A")
    join(b, "order", "B")
    a.wait_for(INIT)
    relevant = [e for e in names(a.received) if e in ("user-connected", INIT)]
    assert relevant == ["user-connected", INIT]


def test_rejoin_is_idempotent(connect):
    a, b = connect(), connect()
    join(a, "again", "A")
    join(b, "again", "B")
    a.wait_for(INIT)
    got = join(b, "again", "B")
    assert names(got) == ["join-ok"]          # no second backfill
    barrier(b, a, "again")
    assert len(a.events("user-connected")) == 1
    assert len(a.events(INIT)) == 1
    assert a.call("api-members", "again") == [{"id": a.sid, "name": "A"},
                                              {"id": b.sid, "name": "B"}]


def test_leave_room_tells_the_others(connect):
    a, b, c = connect(), connect(), connect()
    for rec, name in ((a, "A"), (b, "B"), (c, "C")):
        join(rec, "leave", name)
    assert b.call("leave-room", {"roomId": "leave"}) is None
    assert a.wait_for("user-disconnected")[0] == {"id": b.sid,
                                                  "roomId": "leave"}
    assert c.wait_for("user-disconnected")[0]["id"] == b.sid
    assert b.events("user-disconnected") == []
    # B is out: room events no longer reach it, and leaving twice is refused.
    barrier(a, c, "leave")
    assert all(p.get("id") != a.sid or "text" not in p
               for p in b.events("chat-message"))
    again = b.call("leave-room", {"roomId": "leave"})
    assert again["ok"] is False and again["error"] == "not-in-room"
    bad = b.call("leave-room", {"roomId": 5})
    assert bad["error"] == "invalid-room"


def test_disconnect_tells_every_room(connect):
    a, b = connect(), connect()
    join(a, "d1", "A")
    join(a, "d2", "A")
    join(b, "d1", "B")
    join(b, "d2", "B")
    b_sid = b.sid
    b.disconnect()
    gone = a.wait_for("user-disconnected", count=2)
    assert sorted(p["roomId"] for p in gone) == ["d1", "d2"]
    assert {p["id"] for p in gone} == {b_sid}
    # The core's peer-left reaches the member through the rooms' sio room,
    # once although they shared two rooms.
    assert a.wait_for(RtcioEvents.PEER_LEFT) == [{"id": b_sid}]
    assert a.call("api-members", "d1") == [{"id": a.sid, "name": "A"}]


def test_multi_room_socket_gets_one_init_offer_per_peer(connect):
    a, b = connect(), connect()
    join(a, "m1", "A")
    join(b, "m1", "B")
    a.wait_for(INIT)
    join(a, "m2", "A")
    got = join(b, "m2", "B")
    # Presence is per room; the peer connection is per pair, so no second
    # init-offer for a pair that already shares a room.
    assert ("user-connected", {"id": a.sid, "name": "A", "roomId": "m2"}) \
        in got
    presence = a.wait_for("user-connected", count=2)
    assert presence[1] == {"id": b.sid, "name": "B", "roomId": "m2"}
    barrier(b, a, "m2")
    assert len(a.events(INIT)) == 1
    assert b.call("leave-room", {"roomId": "m1"}) is None
    assert a.wait_for("user-disconnected")[0] == {"id": b.sid,
                                                  "roomId": "m1"}
    assert b.call("api-members", "m2") == [{"id": a.sid, "name": "A"},
                                           {"id": b.sid, "name": "B"}]


# -- media state, chat, screen share ----------------------------------------

def test_media_state_forwarded_cached_and_backfilled(connect):
    a, b, c = connect(), connect(), connect()
    join(a, "media", "A")
    join(b, "media", "B")
    assert a.call("media-state", {"roomId": "media", "mic": True,
                                  "cam": False}) is None
    assert b.wait_for("media-state")[0] == {"id": a.sid, "roomId": "media",
                                            "mic": True, "cam": False}
    got = join(c, "media", "C")
    assert ("media-state", {"id": a.sid, "roomId": "media", "mic": True,
                            "cam": False}) in got
    assert [p["id"] for e, p in got if e == "media-state"] == [a.sid]
    assert names(got).index("media-state") < names(got).index("join-ok")
    assert b.call("api-member", {"roomId": "media", "id": a.sid}) == {
        "id": a.sid, "name": "A", "mic": True, "cam": False}


def test_media_state_refusals(connect):
    a, b = connect(), connect()
    join(a, "media2", "A")
    join(b, "media2", "B")
    bad = a.call("media-state", {"roomId": "media2", "mic": "yes",
                                 "cam": True})
    assert bad["error"] == "invalid-media-state"
    outsider = connect()
    refused = outsider.call("media-state", {"roomId": "media2", "mic": True,
                                            "cam": True})
    assert refused["error"] == "not-in-room"
    barrier(a, b, "media2")
    assert b.events("media-state") == []


def test_chat_and_screen_share_forwarded_to_room_only(connect):
    a, b, outsider = connect(), connect(), connect()
    join(a, "chat", "A")
    join(b, "chat", "B")
    join(outsider, "elsewhere", "O")
    a.emit("chat-message", {"roomId": "chat", "text": "hi", "id": "spoofed"})
    assert b.wait_for("chat-message")[0] == {"roomId": "chat", "text": "hi",
                                             "id": a.sid}
    a.emit("stopScreenShare", {"roomId": "chat"})
    assert b.wait_for("stopScreenShare")[0] == {"roomId": "chat",
                                                "id": a.sid}
    # Not a member: refused, nobody hears it.
    refused = outsider.call("chat-message", {"roomId": "chat", "text": "x"})
    assert refused["error"] == "not-in-room"
    refused = outsider.call("stopScreenShare", {"roomId": "chat"})
    assert refused["error"] == "not-in-room"
    big = a.call("chat-message", {"roomId": "chat", "text": "x" * 20000})
    assert big["error"] == "payload-too-large"
    barrier(a, b, "chat")
    assert [p["text"] for p in b.events("chat-message")][:1] == ["hi"]
    assert len(b.events("chat-message")) == 2          # hi + barrier
    assert a.events("chat-message") == []
    assert outsider.events("chat-message") == []


# -- passwords ----------------------------------------------------------------

def test_room_passwords(connect):
    a, b = connect(), connect()
    assert b.call("check-room", {"roomId": "pw"}) is None
    assert b.wait_for("room-check-ok")[0] == {"roomId": "pw",
                                              "passwordRequired": False}
    join(a, "pw", "A", password="s3cret")

    b.emit("check-room", {"roomId": "pw"})
    assert b.wait_for("room-check-ok", 2)[1] == {"roomId": "pw",
                                                 "passwordRequired": True}
    b.emit("check-room", {"roomId": "pw", "password": "s3cret"})
    assert b.wait_for("room-check-ok", 3)[2]["passwordRequired"] is True
    wrong = b.call("check-room", {"roomId": "pw", "password": "nope"})
    assert wrong["error"] == "wrong-password"
    assert b.wait_for("join-error")[0] == {
        "reason": "wrong-password", "roomId": "pw",
        "message": "the room password is wrong"}

    b.emit("join-room", {"roomId": "pw", "name": "B"})
    assert b.wait_for("join-error", 2)[1]["reason"] == "password-required"
    ack = b.call("join-room", {"roomId": "pw", "name": "B",
                               "password": "guess"})
    assert ack["ok"] is False and ack["error"] == "wrong-password"
    assert b.wait_for("join-error", 3)[2]["reason"] == "wrong-password"
    assert a.events("user-connected") == []
    join(b, "pw", "B", password="s3cret")
    assert a.wait_for("user-connected")[0]["id"] == b.sid

    # Forgotten when the room empties: the next first joiner sets its own.
    a.call("leave-room", {"roomId": "pw"})
    b.call("leave-room", {"roomId": "pw"})
    b.emit("check-room", {"roomId": "pw"})
    assert b.wait_for("room-check-ok", 4)[3]["passwordRequired"] is False
    join(b, "pw", "B")


# -- limits and bad input -----------------------------------------------------

def test_room_full(connect):
    members = [connect() for _ in range(3)]
    for i, rec in enumerate(members):
        join(rec, "full", f"m{i}")
    late = connect()
    ack = late.call("join-room", {"roomId": "full", "name": "late"})
    assert ack["ok"] is False and ack["error"] == "room-full"
    err = late.wait_for("error")[0]
    assert err["code"] == "room-full" and err["roomId"] == "full"
    assert late.events("join-ok") == []
    barrier(members[0], members[1], "full")
    assert len(members[0].events("user-connected")) == 2


def test_too_many_rooms_per_socket(connect):
    a = connect()
    for room in ("r1x", "r2x", "r3x"):
        join(a, room, "A")
    ack = a.call("join-room", {"roomId": "r4x", "name": "A"})
    assert ack["error"] == "too-many-rooms"
    assert a.wait_for("error")[0]["code"] == "too-many-rooms"
    assert "r4x" not in a.call("api-list")


@pytest.mark.parametrize("payload", [
    "just-a-string",
    {"name": "no room"},
    {"roomId": 42},
    {"roomId": ""},
    {"roomId": "   "},
    {"roomId": "x" * 129},
    {"roomId": "tab\there"},
    {"roomId": "ok", "name": 7},
    {"roomId": "ok", "name": "n" * 65},
    {"roomId": "ok", "password": 1234},
    {"roomId": "ok", "password": "p" * 129},
])
def test_invalid_join_input_answers_invalid_room(connect, payload):
    a, bystander = connect(), connect()
    join(bystander, "ok", "By")
    ack = a.call("join-room", payload)
    assert ack["ok"] is False and ack["error"] == "invalid-room"
    err = a.wait_for("join-error")[0]
    assert err["reason"] == "invalid-room"
    expected = payload.get("roomId") if isinstance(payload, dict) else None
    assert err["roomId"] == (expected if isinstance(expected, str) else None)
    # Nobody else is disturbed, and the socket can still join properly.
    assert bystander.events("user-connected") == []
    join(a, "ok", "A")
    assert bystander.wait_for("user-connected")[0]["id"] == a.sid


def test_invalid_check_room_input(connect):
    a = connect()
    ack = a.call("check-room", {"roomId": ["list"]})
    assert ack["error"] == "invalid-room"
    assert a.wait_for("join-error")[0]["reason"] == "invalid-room"


# -- relay scope ----------------------------------------------------------------

def envelope(rec, target):
    return {"source": rec.sid, "target": target,
            "data": {"description": {"type": "offer", "sdp": "v=0"}}}


def test_relay_only_between_room_mates(connect):
    a, b = connect(), connect()
    refused = a.call(RtcioEvents.MESSAGE, envelope(a, b.sid))
    assert refused["ok"] is False and refused["error"] == "not-in-room"
    join(a, "relay", "A")
    join(b, "relay", "B")
    assert a.call(RtcioEvents.MESSAGE, envelope(a, b.sid)) is None
    assert b.wait_for(RtcioEvents.MESSAGE)[0]["source"] == a.sid
    b.call("leave-room", {"roomId": "relay"})
    again = a.call(RtcioEvents.MESSAGE, envelope(a, b.sid))
    assert again["error"] == "not-in-room"
    assert len(b.events(RtcioEvents.MESSAGE)) == 1


def test_relay_scope_any_lets_strangers_signal():
    with serve_app(APP, "eventlet",
                   env={"TEST_ROOMS_RELAY_SCOPE": "any"}) as srv:
        a = Recorder().connect(srv.url)
        b = Recorder().connect(srv.url)
        try:
            assert a.call(RtcioEvents.MESSAGE, envelope(a, b.sid)) is None
            assert b.wait_for(RtcioEvents.MESSAGE)[0]["source"] == a.sid
        finally:
            a.disconnect()
            b.disconnect()


# -- access hooks ---------------------------------------------------------------

@pytest.mark.parametrize("auth, message", [
    ({"token": "bad"}, "bad token, log in again"),
    ({"token": "no"}, "not authorized"),
])
def test_authorize_refusal_reaches_connect_error(server, auth, message):
    rec = Recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        rec.connect(server.url, auth=auth)
    assert rec.connect_error == {"message": message}
    assert not rec.client.connected


def test_authorize_lets_good_sockets_in(connect):
    rec = connect(auth={"token": "good"})
    assert rec.client.connected
    join(rec, "authorized", "X")


def login_cookie(server, **params):
    resp = requests.get(server.url + "/login", params=params, timeout=5)
    assert resp.status_code == 200
    return "; ".join(f"{k}={v}" for k, v in resp.cookies.items())


def test_join_hook_refuses_a_room(server, connect):
    a = connect()
    ack = a.call("join-room", {"roomId": "staff-only", "name": "A"})
    assert ack["ok"] is False and ack["error"] == "forbidden"
    assert a.wait_for("join-error")[0] == {
        "reason": "forbidden", "roomId": "staff-only",
        "message": "staff only"}
    a.emit("join-room", {"roomId": "hook-false"})
    assert a.wait_for("join-error", 2)[1]["reason"] == "forbidden"
    # check-room on a refused room answers the same, revealing nothing.
    ack = a.call("check-room", {"roomId": "staff-only"})
    assert ack["error"] == "forbidden"
    assert a.wait_for("join-error", 3)[2]["reason"] == "forbidden"
    assert a.events("room-check-ok") == []
    assert a.call("api-members", "staff-only") == []


def test_failing_join_hook_answers_server_error_and_disturbs_nobody(
        server, connect):
    a, b = connect(), connect()
    join(b, "hook-crash-bystander", "B")
    ack = a.call("join-room", {"roomId": "hook-crash", "name": "A"})
    assert ack["ok"] is False and ack["error"] == "server-error"
    assert a.wait_for("join-error")[0]["reason"] == "server-error"
    assert "join hook failure on purpose" in server.log()
    join(a, "hook-crash-bystander", "A")
    assert b.wait_for("user-connected")[0]["id"] == a.sid


def test_join_hook_reads_flask_session_and_names_member(server, connect):
    cookie = login_cookie(server, user="carol", staff="1")
    staff = connect(headers={"Cookie": cookie})
    join(staff, "staff-room", "I am the boss")
    assert staff.call("api-members", "staff-room") == [
        {"id": staff.sid, "name": "carol"}]


# -- server-side API ----------------------------------------------------------

def test_api_list_members_member(connect):
    a, b = connect(), connect()
    join(a, "api", "A")
    join(b, "api", "B")
    assert "api" in a.call("api-list")
    assert a.call("api-members", "api") == [{"id": a.sid, "name": "A"},
                                            {"id": b.sid, "name": "B"}]
    assert a.call("api-member", {"roomId": "api", "id": b.sid}) == {
        "id": b.sid, "name": "B", "mic": None, "cam": None}
    assert a.call("api-member", {"roomId": "api", "id": "nobody"}) is None
    assert a.call("api-members", "no-such-room") == []


def test_api_kick(connect):
    a, b, c = connect(), connect(), connect()
    for rec, name in ((a, "A"), (b, "B"), (c, "C")):
        join(rec, "kick", name)
    assert a.call("api-kick", {"roomId": "kick", "id": b.sid}) is True
    assert b.wait_for("kicked")[0] == {"roomId": "kick", "reason": "bye"}
    assert a.wait_for("user-disconnected")[0] == {"id": b.sid,
                                                  "roomId": "kick"}
    assert c.wait_for("user-disconnected")[0]["id"] == b.sid
    assert a.call("api-members", "kick") == [{"id": a.sid, "name": "A"},
                                             {"id": c.sid, "name": "C"}]
    # Kicked means out: no more room traffic, no relay to room mates.
    barrier(a, c, "kick")
    assert b.events("chat-message") == []
    refused = b.call(RtcioEvents.MESSAGE, envelope(b, a.sid))
    assert refused["error"] == "not-in-room"
    assert a.call("api-kick", {"roomId": "kick", "id": b.sid}) is False


def test_api_emit_to_room(connect):
    a, b, outsider = connect(), connect(), connect()
    join(a, "emit", "A")
    join(b, "emit", "B")
    join(outsider, "other-emit", "O")
    assert outsider.call("api-emit", {"roomId": "emit", "text": "hello"})
    assert a.wait_for("announcement")[0] == {"text": "hello"}
    assert b.wait_for("announcement")[0] == {"text": "hello"}
    barrier(a, b, "emit")
    assert outsider.events("announcement") == []


def test_authorize_sees_flask_session(server, connect):
    rec = Recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        rec.connect(server.url, auth={"token": "needs-login"})
    assert rec.connect_error["message"].startswith("log in first (")
    cookie = login_cookie(server, user="dave")
    ok = connect(auth={"token": "needs-login"}, headers={"Cookie": cookie})
    assert ok.client.connected


# Only a shared (Redis) store can hold another process's members: this
# test asks for that store alone, never skips the memory one.
@pytest.mark.parametrize("server", ["redis"], indirect=True)
def test_purge_server_removes_ghosts_of_a_dead_process(server, connect):
    """A process that died left members in the shared store; purging its
    server id removes them and tells their rooms."""
    assert server.redis_url
    from rtcio_flask.rooms.redis_store import RedisRoomStore
    a = connect()
    join(a, "ghosts", "A")
    store = RedisRoomStore(server.redis_url)
    try:
        assert store.join("ghosts", "ghost-sid", "Ghost",
                          server_id="dead-host:1").ok
        assert [m["id"] for m in a.call("api-members", "ghosts")] == [
            a.sid, "ghost-sid"]
        assert a.call("api-purge", "dead-host:1") == [["ghosts",
                                                       "ghost-sid"]]
        assert a.wait_for("user-disconnected")[0] == {"id": "ghost-sid",
                                                      "roomId": "ghosts"}
        assert a.call("api-members", "ghosts") == [{"id": a.sid,
                                                    "name": "A"}]
        # The live process's own members are recorded under its id.
        own = a.call("api-server-id")
        assert [(r, m.sid) for r, m in store.members_of_server(own)
                if r == "ghosts"] == [("ghosts", a.sid)]
    finally:
        store.close()


def test_join_then_instant_disconnect_leaves_no_ghost(server, connect):
    """A socket that sends join-room and hangs up at once must not stay in
    the room (the join and the disconnect race on the server)."""
    observer = connect()
    join(observer, "ghost-race", "Obs")
    for _ in range(10):
        rec = Recorder().connect(server.url)
        rec.emit("join-room", {"roomId": "ghost-race", "name": "flash"})
        rec.disconnect()
    deadline = time.monotonic() + 10
    while True:
        members = observer.call("api-members", "ghost-race")
        if members == [{"id": observer.sid, "name": "Obs"}]:
            break
        assert time.monotonic() < deadline, f"ghost members: {members}"
        time.sleep(0.05)
    # Every arrival the observer heard of was followed by its departure.
    arrived = {p["id"] for p in observer.events("user-connected")}
    gone = {p["id"] for p in observer.events("user-disconnected")}
    assert arrived <= gone
