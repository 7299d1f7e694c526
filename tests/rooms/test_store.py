"""The RoomStore contract, run against both stores (memory, and Redis on a
private redis-server)."""

import threading

import pytest

from rtcio_flask.rooms.store import (ALREADY_MEMBER, JOINED,
                                    PASSWORD_REQUIRED, ROOM_FULL,
                                    TOO_MANY_ROOMS, WRONG_PASSWORD,
                                    hash_password, password_matches)


def sids(members):
    return [m.sid for m in members]


def test_first_join_has_empty_snapshot_and_later_ones_see_earlier(store):
    first = store.join("r", "a", "Alice", server_id="s1")
    assert first.status == JOINED and first.ok
    assert first.others == ()
    second = store.join("r", "b", "Bob", server_id="s1")
    assert second.status == JOINED
    assert [(m.sid, m.name) for m in second.others] == [("a", "Alice")]
    third = store.join("r", "c", "Cy")
    assert sids(third.others) == ["a", "b"]
    assert sids(store.members("r")) == ["a", "b", "c"]
    assert store.rooms() == ["r"]


def test_rejoin_is_idempotent(store):
    store.join("r", "a", "Alice")
    store.join("r", "b", "Bob")
    again = store.join("r", "a", "Alice")
    assert again.status == ALREADY_MEMBER and again.ok
    assert sids(again.others) == ["b"]
    assert sids(store.members("r")) == ["a", "b"]
    assert store.rooms_of("a") == ["r"]


def test_leave_returns_member_and_last_one_out_deletes_room(store):
    store.join("r", "a", "Alice", server_id="s1")
    store.join("r", "b", "Bob")
    gone = store.leave("r", "a")
    assert gone.sid == "a" and gone.name == "Alice" and gone.server_id == "s1"
    assert store.leave("r", "a") is None
    assert store.leave("nope", "a") is None
    assert sids(store.members("r")) == ["b"]
    store.leave("r", "b")
    assert store.rooms() == []
    assert store.members("r") == []
    assert store.rooms_of("b") == []


def test_password_set_by_first_joiner_and_checked(store):
    assert store.join("p", "a", password="s3cret").status == JOINED
    assert store.join("p", "b").status == PASSWORD_REQUIRED
    assert store.join("p", "b", password="").status == PASSWORD_REQUIRED
    assert store.join("p", "b", password="wrong").status == WRONG_PASSWORD
    assert store.join("p", "b", password="s3cret").status == JOINED
    # A later joiner's password never replaces the room's.
    assert store.join("p", "c", password="s3cret").status == JOINED
    check = store.check("p")
    assert check.password_required and check.password_ok is None
    assert store.check("p", "s3cret").password_ok is True
    assert store.check("p", "nope").password_ok is False
    assert store.check("other").password_required is False


def test_password_forgotten_when_room_empties(store):
    store.join("p", "a", password="one")
    store.leave("p", "a")
    assert store.check("p").password_required is False
    # The next first joiner sets a new one (or none).
    assert store.join("p", "b", password="two").status == JOINED
    assert store.join("p", "c", password="one").status == WRONG_PASSWORD
    store.leave("p", "b")
    assert store.join("p", "d").status == JOINED
    assert store.check("p").password_required is False


def test_room_without_password_ignores_given_passwords(store):
    store.join("open", "a")
    assert store.join("open", "b", password="whatever").status == JOINED
    assert store.check("open", "whatever").password_required is False


def test_member_cap(store):
    for sid in ("a", "b"):
        assert store.join("cap", sid, max_members=2).status == JOINED
    assert store.join("cap", "c", max_members=2).status == ROOM_FULL
    assert sids(store.members("cap")) == ["a", "b"]
    # A member already in is not refused by the cap.
    assert store.join("cap", "a", max_members=2).status == ALREADY_MEMBER
    store.leave("cap", "a")
    assert store.join("cap", "c", max_members=2).status == JOINED


def test_rooms_per_socket_cap(store):
    assert store.join("r1", "a", max_rooms=2).status == JOINED
    assert store.join("r2", "a", max_rooms=2).status == JOINED
    assert store.join("r3", "a", max_rooms=2).status == TOO_MANY_ROOMS
    assert store.rooms_of("a") == ["r1", "r2"]
    assert store.members("r3") == []


def test_password_checked_before_cap(store):
    store.join("pc", "a", password="pw", max_members=1)
    assert store.join("pc", "b", max_members=1).status == PASSWORD_REQUIRED
    assert store.join("pc", "b", password="pw",
                      max_members=1).status == ROOM_FULL


def test_media_state_cached_per_member_and_dropped_on_leave(store):
    store.join("m", "a", "Alice")
    store.join("m", "b", "Bob")
    assert store.set_media("m", "a", True, False) is True
    assert store.set_media("m", "zz", True, True) is False
    assert store.set_media("nope", "a", True, True) is False
    alice = store.member("m", "a")
    assert (alice.mic, alice.cam, alice.has_media_state) == (True, False,
                                                              True)
    assert store.member("m", "b").has_media_state is False
    snapshot = store.join("m", "c").others
    assert [(m.sid, m.mic, m.cam) for m in snapshot] == [
        ("a", True, False), ("b", None, None)]
    store.leave("m", "a")
    store.join("m", "a")
    assert store.member("m", "a").has_media_state is False


def test_multi_room_sockets_and_shared_rooms(store):
    store.join("x", "a")
    store.join("y", "a")
    store.join("y", "b")
    store.join("z", "c")
    assert store.rooms_of("a") == ["x", "y"]
    assert store.shares_room("a", "b") and store.shares_room("b", "a")
    assert not store.shares_room("a", "c")
    assert not store.shares_room("a", "nobody")
    left = store.leave_all("a")
    assert sorted(room for room, _ in left) == ["x", "y"]
    assert store.rooms() == ["y", "z"]
    assert not store.shares_room("a", "b")


def test_purge_server_removes_only_its_members(store):
    store.join("r", "a", server_id="dead")
    store.join("r", "b", server_id="alive")
    store.join("q", "c", server_id="dead")
    assert sorted((r, m.sid) for r, m in store.members_of_server("dead")) \
        == [("q", "c"), ("r", "a")]
    removed = store.purge_server("dead")
    assert sorted((r, m.sid) for r, m in removed) == [("q", "c"), ("r", "a")]
    assert sids(store.members("r")) == ["b"]
    assert store.rooms() == ["r"]
    assert store.members_of_server("dead") == []
    assert store.purge_server("dead") == []


def test_purge_server_keeps_members_recovery_still_holds(store):
    store.join("r", "held", server_id="dead")
    store.join("r", "gone", server_id="dead")
    removed = store.purge_server("dead", keep=lambda sid: sid == "held")
    assert [m.sid for _r, m in removed] == ["gone"]
    assert sids(store.members("r")) == ["held"]


def test_move_records_a_member_under_its_new_process(store):
    """A socket that recovered on another process: the sweep of the old
    one no longer removes it, the new one's does."""
    store.join("r", "a", name="ann", server_id="old")
    store.join("q", "a", server_id="old")
    assert store.move("r", "a", "new") is True
    assert store.move("r", "a", "new") is True  # already there
    assert store.move("r", "nobody", "new") is False
    assert store.member("r", "a").server_id == "new"
    assert store.member("r", "a").name == "ann"
    assert [(r, m.sid) for r, m in store.members_of_server("old")] == \
        [("q", "a")]
    assert [r for r, _m in store.purge_server("old")] == ["q"]
    assert sids(store.members("r")) == ["a"]
    assert [r for r, _m in store.purge_server("new")] == ["r"]


def test_room_ids_with_separators_do_not_collide(store):
    store.join("a:pw", "x", password="1")
    store.join("a", "y")
    assert store.check("a").password_required is False
    assert sids(store.members("a")) == ["y"]
    assert sids(store.members("a:pw")) == ["x"]


def test_concurrent_joins_respect_cap(store):
    """Many threads racing into a capped room: exactly the cap gets in."""
    results = []
    lock = threading.Lock()

    def join(i):
        res = store.join("race", f"s{i}", max_members=5)
        with lock:
            results.append(res.status)

    threads = [threading.Thread(target=join, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(JOINED) == 5
    assert results.count(ROOM_FULL) == 15
    assert len(store.members("race")) == 5


def test_concurrent_first_joiners_agree_on_one_password(store):
    """Two first joiners race with different passwords: one sets it, the
    other is refused (never two rooms with two passwords)."""
    results = {}

    def join(sid, pw):
        results[sid] = store.join("pwrace", sid, password=pw).status

    threads = [threading.Thread(target=join, args=(f"s{i}", f"pw{i}"))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert list(results.values()).count(JOINED) == 1
    assert set(results.values()) <= {JOINED, WRONG_PASSWORD}


def test_password_hash_round_trip_and_malformed_values():
    stored = hash_password("hunter2")
    assert "hunter2" not in stored
    assert password_matches(stored, "hunter2")
    assert not password_matches(stored, "hunter3")
    assert not password_matches(stored, None)
    assert not password_matches("", "x")
    assert not password_matches("plain", "plain")
    assert not password_matches("md5$1$00$00", "x")
    assert hash_password("x") != hash_password("x")   # salted


def test_redis_keys_removed_when_room_empties(redis_server):
    from rtcio_flask.rooms.redis_store import RedisRoomStore
    st = RedisRoomStore(redis_server.url, prefix="cleanup:")
    try:
        st.join("r", "a", password="pw", server_id="s1")
        st.join("r", "b", server_id="s1")
        st.set_media("r", "a", True, True)
        assert st.redis.keys("cleanup:*")
        st.leave("r", "a")
        st.leave("r", "b")
        leftover = [k for k in st.redis.keys("cleanup:*")
                    if k != "cleanup:seq"]
        assert leftover == []
    finally:
        st.close()


def test_redis_store_shared_by_two_clients(redis_server):
    """Two store objects (two processes, in effect) see one state."""
    from rtcio_flask.rooms.redis_store import RedisRoomStore
    one = RedisRoomStore(redis_server.url, prefix="shared:")
    two = RedisRoomStore(redis_server.url, prefix="shared:")
    try:
        one.join("r", "a", "Alice", password="pw", server_id="p1")
        assert two.join("r", "b", "Bob", server_id="p2").status == \
            PASSWORD_REQUIRED
        res = two.join("r", "b", "Bob", password="pw", server_id="p2")
        assert [m.name for m in res.others] == ["Alice"]
        assert sids(one.members("r")) == ["a", "b"]
    finally:
        one.close()
        two.close()


def test_redis_store_needs_url_or_client():
    from rtcio_flask.rooms.redis_store import RedisRoomStore
    with pytest.raises(ValueError, match="url"):
        RedisRoomStore()


def test_a_store_of_the_apps_own_with_the_older_purge_still_purges():
    """A RoomStore subclass that overrides ``purge_server(server_id)``
    (written before ``keep=``) is called as it was: the fleet's purge
    through ``rtcio.rooms`` still works."""
    import flask

    from rtcio_flask import RTCIO, MemoryRoomStore, RoomsConfig

    class OlderStore(MemoryRoomStore):
        def purge_server(self, server_id):
            return super().purge_server(server_id)

    store = OlderStore()
    rtcio = RTCIO(flask.Flask("older"), rooms=RoomsConfig(store=store))
    store.join("r", "a", server_id="dead")
    assert rtcio.rooms.purge_server("dead") == [("r", "a")]
    assert store.members("r") == []
