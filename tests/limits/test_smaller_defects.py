"""The smaller defects of issue 14, each through the layer a client
touches, with the exact log line expected and no traceback:

- a lone-surrogate room id on the Redis store: ``invalid-room``, not a
  ``server-error`` and a traceback per join;
- an empty websocket text frame under gunicorn: one WARNING, the websocket
  closed, no traceback (and no 500 written into the open websocket);
- a chunked polling POST: its packets are delivered (or 413 past
  ``max_http_buffer_size``), never discarded with 200;
- wrong room passwords throttled per client address, per socket and per
  room (for guessers): ``join-error {reason: "too-many-attempts"}``.
"""

import json

import pytest

from rtcio_flask.core.throttle import AttemptThrottle
from tests.support.clients import Recorder
from tests.support.clock import FakeClock
from tests.support.gunicorn import serve_gunicorn
from tests.support.raw_eio import RawPolling, RawSocket
from tests.support.redis_server import RedisProcess
from tests.support.servers import serve_app

APP = "tests.apps.abuse_app:create_app"


@pytest.fixture(scope="module")
def redis_url():
    server = RedisProcess().start()
    try:
        yield server.url
    finally:
        server.remove()


def test_lone_surrogate_room_id_on_redis_is_invalid_room(redis_url):
    rooms = {"store_url": redis_url}
    with serve_app(APP, "eventlet",
                   env={"TEST_ROOMS": json.dumps(rooms)}) as server:
        raw = RawSocket(server.url)
        try:
            for _ in range(3):
                # The JSON escape a client can send; Python decodes it to a
                # lone surrogate that Redis cannot encode.
                raw.send('421["join-room",{"roomId":"a\\ud800b"}]')
                ack = raw.recv_until(lambda m: m.startswith("431"))
                assert json.loads(ack[3:])[0]["error"] == "invalid-room"
            member = Recorder().connect(server.url)
            assert member.call("join-room", {"roomId": "fine"}) is None
            member.disconnect()
        finally:
            raw.close()
        log = server.log()
    line = (f"rtcio: refused {raw.sid} room 'a\\ud800b' [invalid-room]: "
            f"roomId is not valid Unicode text (it holds a lone surrogate)")
    assert log.count(line) == 3, log
    assert "server-error" not in log and "Traceback" not in log


@pytest.mark.parametrize("worker", ["eventlet", "gevent"])
def test_empty_websocket_frame_under_gunicorn(worker):
    with serve_gunicorn("tests.apps.abuse_app:create_app()", worker) as server:
        raw = RawSocket(server.url)
        healthy = Recorder().connect(server.url)
        try:
            raw.send("")
            assert raw.closed_by_server()
            assert healthy.call("echo", 1)["args"] == [1]
        finally:
            raw.close()
            healthy.disconnect()
        log = server.log()
    assert log.count("rtcio: closing a websocket from 127.0.0.1: empty "
                     "text frame") == 1, log
    assert "Traceback" not in log and "Error handling request" not in log


def _chunks(*parts):
    for part in parts:
        yield part.encode()


@pytest.mark.parametrize("mode", ["eventlet", "gunicorn-gthread"])
def test_chunked_polling_post_is_read_not_discarded(mode):
    live = (serve_app(APP, "eventlet") if mode == "eventlet" else
            serve_gunicorn("tests.apps.abuse_app:create_app()", "gthread"))
    with live as server:
        polling = RawPolling(server.url)
        polling.handshake()
        try:
            headers = {"Content-Type": "text/plain;charset=UTF-8"}
            reply = polling.http.post(polling.url(), data=_chunks("4", "0"),
                                      headers=headers, timeout=10)
            assert (reply.status_code, reply.text) == (200, "OK")
            assert polling.get().text.startswith("40{")
            reply = polling.http.post(
                polling.url(), data=_chunks('421["echo",', '"chunked"]'),
                headers=headers, timeout=10)
            assert reply.status_code == 200
            assert json.loads(polling.get().text[3:])[0]["args"] == [
                "chunked"]
            # Past max_http_buffer_size (1 MB by default): 413, not 200.
            big = polling.http.post(
                polling.url(), data=_chunks("4" + "x" * 600000,
                                            "y" * 600000),
                headers=headers, timeout=10)
            assert big.status_code == 413
        finally:
            polling.close()
        log = server.log()
    assert log.count("rtcio: refused a chunked polling POST over 1000000 "
                     "bytes (max_http_buffer_size)") == 1, log
    assert "Traceback" not in log


# -- password guesses ---------------------------------------------------------

def _guess(client, room, password, event="join-room"):
    return client.call(event, {"roomId": room, "password": password})


def test_password_guesses_throttled_per_address():
    rooms = {"password_attempts_per_address": 5,
             "password_attempts_per_room": None}
    with serve_app(APP, "eventlet",
                   env={"TEST_ROOMS": json.dumps(rooms)}) as server:
        owner = Recorder().connect(server.url)
        guessers = [Recorder().connect(server.url) for _ in range(3)]
        try:
            assert _guess(owner, "vault", "s3cret") is None
            answers = [_guess(guessers[i % 3], "vault", f"guess{i}",
                              "check-room" if i % 2 else "join-room")
                       for i in range(12)]
            reasons = [a["error"] for a in answers]
            assert reasons == ["wrong-password"] * 5 + \
                ["too-many-attempts"] * 7
            assert answers[-1]["reason"].startswith(
                "too many wrong passwords; try again in ")
            # While throttled even the right password is refused, so the
            # refusal tells nothing.
            assert _guess(guessers[0], "vault", "s3cret")["error"] == \
                "too-many-attempts"
            errors = guessers[0].wait_for("join-error", count=5)
            assert errors[-1]["reason"] == "too-many-attempts"
            # A join without a password is no guess: password-required.
            assert guessers[1].call("join-room", {"roomId": "vault"})[
                "error"] == "password-required"
        finally:
            for client in [owner] + guessers:
                client.disconnect()
        log = server.log()
    line = ("rtcio: too many wrong room passwords for address '127.0.0.1' "
            "(5 in 60 s); further attempts are refused with "
            "too-many-attempts (RoomsConfig.password_attempts_per_address)")
    assert log.count(line) == 1, log
    assert "Traceback" not in log


def test_password_guesses_throttled_per_room():
    rooms = {"password_attempts_per_address": None,
             "password_attempts_per_room": 4}
    with serve_app(APP, "eventlet",
                   env={"TEST_ROOMS": json.dumps(rooms)}) as server:
        owner = Recorder().connect(server.url)
        guesser = Recorder().connect(server.url)
        try:
            assert _guess(owner, "vault", "s3cret") is None
            assert _guess(owner, "other", "pw") is None
            reasons = [_guess(guesser, "vault", f"g{i}")["error"]
                       for i in range(6)]
            assert reasons == ["wrong-password"] * 4 + \
                ["too-many-attempts"] * 2
            # Another room is not affected (for a socket that has not
            # guessed at "vault"; a room under attack refuses only guessers,
            # see tests/protection/test_client_address.py).
            other = Recorder().connect(server.url)
            assert _guess(other, "other", "nope")["error"] == \
                "wrong-password"
            assert _guess(other, "other", "pw") is None
            other.disconnect()
        finally:
            owner.disconnect()
            guesser.disconnect()
        log = server.log()
    assert log.count("rtcio: too many wrong room passwords for room 'vault' "
                     "(4 in 60 s)") == 1, log


def test_attempt_throttle_refills_over_its_window_and_sweeps():
    clock = FakeClock()
    throttle = AttemptThrottle(3, window=30.0, clock=clock, max_keys=4)
    assert throttle.blocked_for("a") is None
    assert [throttle.failed("a") for _ in range(3)] == [False, False, True]
    assert throttle.blocked_for("a") == pytest.approx(10.0)
    clock.now = 10.0
    assert throttle.blocked_for("a") is None
    for key in "bcd":
        throttle.failed(key)
    clock.now = 1000.0
    throttle.failed("e")  # the fifth key sweeps the refilled ones
    assert len(throttle) == 1
