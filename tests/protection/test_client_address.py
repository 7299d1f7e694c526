"""One client-address rule everywhere, through a live server behind a
(simulated) proxy: ``RTCIO_TRUSTED_PROXY_HOPS=1`` and each client's
``X-Forwarded-For``, as nginx sends it. The password throttle keys on the
guesser's address and socket (never the room alone), and log lines name
the forwarded address. Behind a real nginx: tests/deploy/test_nginx.py."""

import json

import requests

from tests.support.clients import Recorder
from tests.support.servers import serve_app

APP = "tests.apps.abuse_app:create_app"


def _client(server, address):
    return Recorder().connect(server.url,
                              headers={"X-Forwarded-For": address})


def _guess(client, room, password):
    return client.call("join-room", {"roomId": room, "password": password})


def _serve(**rooms):
    return serve_app(APP, "eventlet", env={
        "TEST_ROOMS": json.dumps(rooms), "RTCIO_TRUSTED_PROXY_HOPS": "1"})


def test_a_guesser_never_refuses_the_right_password_at_another_address():
    with _serve() as server:
        owner = _client(server, "10.0.0.1")
        # A client may prepend anything; only the proxy's entry counts.
        guessers = [_client(server, "6.6.6.6, 10.0.0.2") for _ in range(3)]
        clients = [owner] + guessers
        try:
            assert _guess(owner, "vault", "s3cret") is None
            answers = [_guess(guessers[i % 3], "vault", f"g{i}")["error"]
                       for i in range(12)]
            assert answers == ["wrong-password"] * 10 + \
                ["too-many-attempts"] * 2
            member = _client(server, "10.0.0.3")
            creator = _client(server, "10.0.0.4")
            clients += [member, creator]
            assert _guess(member, "vault", "s3cret") is None
            assert member.wait_for("join-ok")[0] == {"roomId": "vault"}
            assert _guess(creator, "new-room", "pw") is None
            # The guesser's address stays refused, right password or not.
            assert _guess(guessers[0], "vault", "s3cret")["error"] == \
                "too-many-attempts"
            refused = requests.get(
                server.url + "/socket.io/?EIO=4&transport=carrier-pigeon",
                headers={"X-Forwarded-For": "10.0.0.7"}, timeout=5)
            assert refused.status_code == 400
        finally:
            for client in clients:
                client.disconnect()
        log = server.log_with("from 10.0.0.7")
    assert log.count("rtcio: too many wrong room passwords for address "
                     "'10.0.0.2' (10 in 60 s)") == 1, log
    assert "rtcio: refused a GET request from 10.0.0.7:" in log, log
    assert "127.0.0.1" not in log.replace("http://127.0.0.1", ""), log


def test_a_room_under_attack_refuses_only_the_guessers():
    with _serve(password_attempts_per_room=4) as server:
        owner = _client(server, "10.0.1.1")
        guessers = [_client(server, f"10.0.2.{i}") for i in range(4)]
        clients = [owner] + guessers
        try:
            assert _guess(owner, "vault", "s3cret") is None
            # Four addresses, one guess each: the room is under attack.
            for i, guesser in enumerate(guessers):
                assert _guess(guesser, "vault", f"g{i}")["error"] == \
                    "wrong-password"
            # Each of them has guessed: refused, even with the password.
            assert _guess(guessers[0], "vault", "s3cret")["error"] == \
                "too-many-attempts"
            assert _guess(guessers[1], "vault", "g9")["error"] == \
                "too-many-attempts"
            # A member who knows the password goes straight in.
            member = _client(server, "10.0.3.1")
            clients.append(member)
            assert _guess(member, "vault", "s3cret") is None
            # A fresh address gets its one guess; then it is a guesser.
            newcomer = _client(server, "10.0.3.2")
            clients.append(newcomer)
            assert _guess(newcomer, "vault", "g10")["error"] == \
                "wrong-password"
            assert _guess(newcomer, "vault", "s3cret")["error"] == \
                "too-many-attempts"
            # Other rooms are not under attack: a guesser's own allowance
            # still applies there.
            assert _guess(guessers[2], "other", "pw") is None
        finally:
            for client in clients:
                client.disconnect()
        log = server.log()
    assert log.count("rtcio: too many wrong room passwords for room 'vault' "
                     "(4 in 60 s); only sockets and addresses that guessed "
                     "wrong are refused there now") == 1, log
    assert "Traceback" not in log
