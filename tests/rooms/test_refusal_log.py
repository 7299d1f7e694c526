"""Operators get one log line per refused join, whatever refused it."""

import pytest

from tests.support.clients import Recorder
from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def server():
    env = {"TEST_ROOMS_MAX_MEMBERS": "1"}
    with serve_app("tests.apps.rooms_app:create_app", "eventlet",
                   env=env, watch=True) as srv:
        yield srv


def test_each_refusal_is_one_log_line_naming_socket_room_and_reason(server):
    owner = Recorder().connect(server.url)
    guest = Recorder().connect(server.url)
    guest_sid = guest.sid
    try:
        owner.emit("join-room", {"roomId": "locked", "password": "s3cret"})
        owner.wait_for("join-ok")
        cases = [
            ({"roomId": "locked", "password": "wrong"}, "wrong-password"),
            ({"roomId": "locked"}, "password-required"),
            ({"roomId": ""}, "invalid-room"),
            ({"roomId": "staff-x"}, "forbidden"),
        ]
        for payload, code in cases:
            ack = guest.call("join-room", payload)
            assert ack["error"] == code, ack
        owner.emit("join-room", {"roomId": "solo"})
        owner.wait_for("join-ok", count=2)
        assert guest.call("join-room", {"roomId": "solo"})["error"] == \
            "room-full"
    finally:
        owner.disconnect()
        guest.disconnect()
    lines = [line for line in server.log().splitlines()
             if f"refused {guest_sid}" in line]
    codes = ["wrong-password", "password-required", "invalid-room",
             "forbidden", "room-full"]
    assert len(lines) == len(codes), lines
    for line, code in zip(lines, codes):
        assert f"[{code}]" in line
