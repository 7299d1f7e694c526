"""The ask-ice event on a live server: who gets credentials, who gets a
clear refusal, and that an app's own ask-ice handler is left alone."""

import requests

from tests.support.clients import Recorder
from tests.support.servers import serve_app

TURN_ENV = {"RTCIO_TURN_SECRET": "login-app-secret",
            "RTCIO_TURN_URLS": "turn:127.0.0.1:3478,turns:127.0.0.1:5349"}


def ask(url, headers=None, namespace="/"):
    client = Recorder(namespace=namespace).connect(url, headers=headers or {})
    try:
        return client.call("ask-ice", timeout=10)
    finally:
        client.disconnect()


def test_unconfigured_server_says_what_to_set(live_server):
    answer = ask(live_server.url)
    assert answer["ok"] is False
    assert answer["error"] == "turn-not-configured"
    assert "RTCIO_TURN_SECRET" in answer["reason"]
    # The socket is still usable afterwards.
    client = Recorder().connect(live_server.url)
    try:
        assert client.call("whoami")["sid"] == client.sid
    finally:
        client.disconnect()


def test_app_handler_answers_when_turn_is_not_configured():
    with serve_app("tests.apps.turn_app:create_own_handler_app") as server:
        answer = ask(server.url)
    assert answer == {"iceServers": [{"urls": ["stun:app.example:3478"]}],
                      "from": "app"}


def _login_cookie(server, user):
    http = requests.Session()
    response = http.get(f"{server.url}/login", params={"user": user},
                        timeout=10)
    response.raise_for_status()
    return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


def test_user_id_hook_names_the_logged_in_user_or_refuses():
    with serve_app("tests.apps.turn_app:create_login_app",
                   env=TURN_ENV) as server:
        alice = ask(server.url, {"Cookie": _login_cookie(server, "alice")})
        anonymous = ask(server.url)
        too_long = ask(server.url,
                       {"Cookie": _login_cookie(server, "x" * 600)})
        again = ask(server.url, {"Cookie": _login_cookie(server, "bob")})
        log = server.log()

    [entry] = alice["iceServers"]
    assert entry["urls"] == ["turn:127.0.0.1:3478", "turns:127.0.0.1:5349"]
    assert entry["username"].endswith(":alice")
    assert alice["ttl"] == 600

    assert anonymous["ok"] is False and anonymous["error"] == "turn-refused"

    assert too_long["ok"] is False and too_long["error"] == "server-error"
    assert "500 bytes" in too_long["reason"]
    assert "TURN user_id hook failed" in log

    # A bad answer for one socket disturbs nobody else.
    assert again["iceServers"][0]["username"].endswith(":bob")
