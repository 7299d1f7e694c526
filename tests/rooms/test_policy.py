"""RoomsConfig and the checks on client input, without sockets."""

import flask
import pytest
from hypothesis import given, settings, strategies as st

from rtcio_flask import RTCIO, MemoryRoomStore, RoomsConfig
from rtcio_flask.rooms.config import (RoomInputError, echo_room_id,
                                     parse_join, parse_password,
                                     parse_room_id, resolve_rooms)

CFG = RoomsConfig()


def test_defaults_are_secure_and_documented_values():
    cfg = RoomsConfig()
    assert cfg.relay_scope == "room"
    assert (cfg.max_members, cfg.max_rooms_per_socket) == (50, 10)
    assert (cfg.max_room_id_length, cfg.max_name_length,
            cfg.max_password_length) == (128, 64, 128)
    assert isinstance(cfg.make_store(), MemoryRoomStore)
    assert cfg.server_id and RoomsConfig().server_id != cfg.server_id


@pytest.mark.parametrize("kwargs, match", [
    ({"max_members": 0}, "max_members"),
    ({"max_members": True}, "max_members"),
    ({"max_rooms_per_socket": -1}, "max_rooms_per_socket"),
    ({"max_chat_bytes": "lots"}, "max_chat_bytes"),
    ({"relay_scope": "everyone"}, "relay_scope"),
    ({"namespace": "calls"}, "namespace"),
    ({"store_url": "mysql://x"}, "store_url"),
    ({"store": MemoryRoomStore(), "store_url": "memory://"}, "not both"),
    ({"server_id": ""}, "server_id"),
])
def test_bad_settings_fail_at_start_up(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RoomsConfig(**kwargs)


def test_resolve_rooms_forms_and_precedence():
    assert resolve_rooms(None, {}) is None
    assert resolve_rooms(False, {"RTCIO_ROOMS": True}) is None
    assert resolve_rooms(True, {}).max_members == 50
    cfg = RoomsConfig(max_members=3)
    assert resolve_rooms(cfg, {"RTCIO_ROOMS_MAX_MEMBERS": 9}) is cfg
    config = {"RTCIO_ROOMS": "yes", "RTCIO_ROOMS_MAX_MEMBERS": "7",
              "RTCIO_ROOMS_RELAY_SCOPE": "any"}
    from_config = resolve_rooms(None, config)
    assert (from_config.max_members, from_config.relay_scope) == (7, "any")
    # A dict argument wins over app.config, field by field.
    merged = resolve_rooms({"max_members": 4}, config)
    assert (merged.max_members, merged.relay_scope) == (4, "any")
    with pytest.raises(ValueError, match="unknown key"):
        resolve_rooms({"max_member": 4}, {})
    with pytest.raises(ValueError, match="rooms= takes"):
        resolve_rooms(5, {})


def test_rooms_off_by_default_and_on_from_app_config():
    off = flask.Flask("off")
    rtcio = RTCIO(off)
    assert off.extensions["rtcio"].rooms is None
    with off.app_context(), pytest.raises(RuntimeError, match="rooms=True"):
        _ = rtcio.rooms
    on = flask.Flask("on")
    on.config.update(RTCIO_ROOMS=True, RTCIO_ROOMS_MAX_MEMBERS=5)
    rtcio_on = RTCIO(on)
    assert rtcio_on.rooms.config.max_members == 5
    assert "join-room" in on.extensions["rtcio"].server.handlers["/"]
    assert "join-room" not in off.extensions["rtcio"].server.handlers.get(
        "/", {})


def test_bad_rooms_option_fails_in_init_app():
    with pytest.raises(ValueError, match="relay_scope"):
        RTCIO(flask.Flask("bad"), rooms={"relay_scope": "all"})


def test_store_url_picks_redis_store():
    from rtcio_flask import RedisRoomStore
    store = RoomsConfig(store_url="redis://127.0.0.1:1/0").make_store()
    assert isinstance(store, RedisRoomStore)   # connects lazily
    store.close()


def test_parse_join_accepts_valid_payloads():
    assert parse_join({"roomId": "r", "name": "Ann"}, CFG) == ("r", "Ann",
                                                                None)
    assert parse_join({"roomId": "r"}, CFG) == ("r", "", None)
    assert parse_join({"roomId": "r", "password": ""}, CFG)[2] is None
    assert parse_join({"roomId": "r", "password": "pw"}, CFG)[2] == "pw"
    assert parse_join({"roomId": "x" * 128, "name": "n" * 64}, CFG)[0] == \
        "x" * 128
    assert parse_join({"roomId": "Zimmer ünö 🎉"}, CFG)[0] == "Zimmer ünö 🎉"


@pytest.mark.parametrize("payload", [
    None, [], "r", {"roomId": None}, {"roomId": 1}, {"roomId": ""},
    {"roomId": " "}, {"roomId": "a\nb"}, {"roomId": "x" * 129},
    {"roomId": "r", "name": ["x"]}, {"roomId": "r", "name": "\x00"},
    {"roomId": "r", "name": "n" * 65}, {"roomId": "r", "password": 1},
    {"roomId": "r", "password": "p" * 129},
])
def test_parse_join_refuses_with_invalid_room(payload):
    with pytest.raises(RoomInputError) as info:
        parse_join(payload, CFG)
    assert info.value.reason == "invalid-room"


def test_limits_follow_config():
    small = RoomsConfig(max_room_id_length=4, max_name_length=2,
                        max_password_length=3)
    with pytest.raises(RoomInputError):
        parse_room_id({"roomId": "abcde"}, small)
    with pytest.raises(RoomInputError):
        parse_join({"roomId": "a", "name": "abc"}, small)
    with pytest.raises(RoomInputError):
        parse_password({"password": "abcd"}, small)


def test_echo_room_id():
    assert echo_room_id({"roomId": "r"}) == "r"
    assert echo_room_id({"roomId": 3}) is None
    assert echo_room_id("x") is None
    assert len(echo_room_id({"roomId": "y" * 1000})) == 256


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) |
    st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["roomId", "name", "password", "x"]),
                       json_values) | json_values)
def test_parse_join_never_raises_anything_else(payload):
    """Whatever a client sends, the answer is a parsed join or a clean
    invalid-room refusal, never an exception that would reach the log."""
    try:
        room_id, name, password = parse_join(payload, CFG)
    except RoomInputError as exc:
        assert exc.reason == "invalid-room"
        return
    assert isinstance(room_id, str) and 0 < len(room_id) <= 128
    assert isinstance(name, str) and len(name) <= 64
    assert password is None or isinstance(password, str)
