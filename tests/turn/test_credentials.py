"""Pure tests of TURN REST credentials and TurnConfig validation."""

import base64
import datetime
import hashlib
import hmac

import flask
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcio_flask import RTCIO, TurnConfig, make_credentials
from rtcio_flask.core.turn import (MAX_USER_ID_BYTES, rest_credential,
                              resolve_turn)


def reference_credential(secret, username):
    """coturn's check, written out independently of rtcio_flask.core.turn."""
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


# -- known answers ----------------------------------------------------------

# Expected values computed with OpenSSL, not with Python:
#   printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac north-wind \
#       -binary | base64
@pytest.mark.parametrize("secret, username, expected", [
    ("north-wind", "1700000000:alice", "Oko4dt8u/EbTRjRUJWQDFm/zTCc="),
    ("ключ", "1700003600:zoë@example.com", "X1s+KfaCwnqndjd8xPupxsGCS40="),
])
def test_known_answer_vectors(secret, username, expected):
    assert rest_credential(secret, username) == expected
    assert reference_credential(secret, username) == expected


def test_make_credentials_format_and_expiry():
    creds = make_credentials("north-wind", "alice", ttl=3600,
                             now=1699996400.75)
    assert creds.username == "1700000000:alice"
    assert creds.expires == 1700000000
    assert creds.credential == "Oko4dt8u/EbTRjRUJWQDFm/zTCc="


def test_bytes_secret_gives_the_same_credential():
    assert (rest_credential(b"north-wind", "1700000000:alice")
            == rest_credential("north-wind", "1700000000:alice"))


@given(secret=st.text(min_size=1), user=st.text(min_size=1, max_size=100),
       now=st.integers(min_value=0, max_value=4_000_000_000),
       ttl=st.integers(min_value=1, max_value=10 ** 7))
def test_any_input_matches_the_reference(secret, user, now, ttl):
    creds = make_credentials(secret, user, ttl=ttl, now=now)
    expiry, _, rest = creds.username.partition(":")
    assert int(expiry) == now + ttl == creds.expires
    assert rest == user
    assert creds.credential == reference_credential(secret, creds.username)


def test_current_time_is_used_when_now_is_not_given():
    before = int(datetime.datetime.now().timestamp())
    creds = make_credentials("s", "u", ttl=60)
    after = int(datetime.datetime.now().timestamp())
    assert before + 60 <= creds.expires <= after + 60


@pytest.mark.parametrize("user", ["", None, True, ["a"], "x" * (
    MAX_USER_ID_BYTES + 1)])
def test_bad_user_ids_are_refused(user):
    with pytest.raises(ValueError, match="TURN user id"):
        make_credentials("s", user)


# -- TurnConfig -------------------------------------------------------------

def test_ice_servers_shape():
    turn = TurnConfig("north-wind", "turn:a.example:3478?transport=udp, "
                      "turns:a.example:5349", ttl=3600,
                      stun_urls=["stun:a.example:3478"])
    servers = turn.ice_servers("alice", now=1699996400)
    assert servers == [
        {"urls": ["stun:a.example:3478"]},
        {"urls": ["turn:a.example:3478?transport=udp",
                  "turns:a.example:5349"],
         "username": "1700000000:alice",
         "credential": "Oko4dt8u/EbTRjRUJWQDFm/zTCc="},
    ]


def test_without_stun_only_the_turn_entry_is_sent():
    servers = TurnConfig("s", ["turn:a:3478"]).ice_servers("u")
    assert len(servers) == 1 and servers[0]["urls"] == ["turn:a:3478"]


def test_ttl_forms():
    assert TurnConfig("s", "turn:a", ttl="120").ttl == 120
    assert TurnConfig("s", "turn:a",
                      ttl=datetime.timedelta(hours=2)).ttl == 7200
    assert TurnConfig("s", "turn:a").ttl == 86400


def test_repr_hides_the_secret():
    assert "hunter2" not in repr(TurnConfig("hunter2", "turn:a"))


@pytest.mark.parametrize("kwargs, message", [
    ({"secret": "", "urls": "turn:a"}, "static-auth-secret"),
    ({"secret": "   ", "urls": "turn:a"}, "non-empty string"),
    ({"secret": None, "urls": "turn:a"}, "TurnConfig\\(secret="),
    ({"secret": "s", "urls": []}, "at least one TURN URL"),
    ({"secret": "s", "urls": ""}, "at least one TURN URL"),
    ({"secret": "s", "urls": "http://a:3478"}, "turn:host:3478"),
    ({"secret": "s", "urls": "stun:a:3478"}, "not a TURN URL"),
    ({"secret": "s", "urls": "turn:"}, "not a TURN URL"),
    ({"secret": "s", "urls": ["turn:a b"]}, "not a TURN URL"),
    ({"secret": "s", "urls": [3478]}, "every TURN entry is a string"),
    ({"secret": "s", "urls": 3478}, "comma-separated"),
    ({"secret": "s", "urls": "turn:a", "stun_urls": "turn:a"},
     "not a STUN URL"),
    ({"secret": "s", "urls": "turn:a", "ttl": 0}, "positive whole number"),
    ({"secret": "s", "urls": "turn:a", "ttl": -5}, "positive whole number"),
    ({"secret": "s", "urls": "turn:a", "ttl": "1h"}, "such as 86400"),
    ({"secret": "s", "urls": "turn:a", "ttl": 1.5}, "positive whole number"),
    ({"secret": "s", "urls": "turn:a", "ttl": True}, "positive whole number"),
    ({"secret": "s", "urls": "turn:a", "user_id": "session"},
     "function sid -> user id"),
])
def test_validation_errors_say_what_to_write(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TurnConfig(**kwargs)


# -- where the settings come from -------------------------------------------

def test_resolve_from_a_dict():
    turn = resolve_turn({"secret": "s", "urls": ["turn:a"], "ttl": 5}, {})
    assert turn.urls == ("turn:a",) and turn.ttl == 5


@pytest.mark.parametrize("value, message", [
    ({"secret": "s"}, "needs 'secret' and 'urls'"),
    ({"secret": "s", "urls": "turn:a", "lifetime": 5}, "unknown key 'lifetime'"),
    ("s3cret", "takes a TurnConfig or a dict"),
])
def test_resolve_refuses_bad_turn_values(value, message):
    with pytest.raises(ValueError, match=message):
        resolve_turn(value, {})


def test_resolve_from_app_config():
    turn = resolve_turn(None, {"RTCIO_TURN_SECRET": "s",
                               "RTCIO_TURN_URLS": "turn:a:1,turns:b:2",
                               "RTCIO_TURN_TTL": "300",
                               "RTCIO_STUN_URLS": "stun:a:1"})
    assert turn.urls == ("turn:a:1", "turns:b:2")
    assert turn.stun_urls == ("stun:a:1",) and turn.ttl == 300


def test_argument_wins_over_app_config_and_false_turns_it_off():
    config = {"RTCIO_TURN_SECRET": "s", "RTCIO_TURN_URLS": "turn:config"}
    assert resolve_turn({"secret": "t", "urls": "turn:arg"},
                        config).urls == ("turn:arg",)
    assert resolve_turn(False, config) is None
    assert resolve_turn(None, {}) is None


@pytest.mark.parametrize("config, message", [
    ({"RTCIO_TURN_URLS": "turn:a"}, "not RTCIO_TURN_SECRET"),
    ({"RTCIO_TURN_SECRET": "s"}, "not RTCIO_TURN_URLS"),
    ({"RTCIO_STUN_URLS": "stun:a"},
     "not RTCIO_TURN_SECRET and RTCIO_TURN_URLS"),
    ({"RTCIO_TURN_SECRET": "s", "RTCIO_TURN_URLS": "turn:a",
      "RTCIO_TURN_TTL": "soon"}, "app.config\\['RTCIO_TURN_\\*'\\]"),
])
def test_incomplete_app_config_fails_at_start_up(config, message):
    app = flask.Flask("incomplete")
    app.config.update(config)
    with pytest.raises(ValueError, match=message):
        RTCIO(app)
    assert "rtcio" not in app.extensions


def test_rtcio_keeps_the_config_on_the_app_state():
    app = flask.Flask("configured")
    turn = TurnConfig("s", "turn:a")
    RTCIO(app, turn=turn)
    assert app.extensions["rtcio"].turn is turn
    bare = flask.Flask("bare")
    RTCIO(bare)
    assert bare.extensions["rtcio"].turn is None
