"""Where settings come from: arguments, app.config, environment."""

import pytest

from rtcio_flask.config import ENV_ALLOWED_ORIGINS, detect_async_mode, resolve

A = "https://a.example.com"
B = "https://b.example.com"


def test_argument_beats_config_beats_environment():
    env = {ENV_ALLOWED_ORIGINS: "https://env.example.com"}
    config = {"RTCIO_CORS": B}
    assert resolve(config, cors=A, environ=env).policy.exact == {A}
    assert resolve(config, environ=env).policy.exact == {B}
    from_env = resolve({}, environ=env).policy
    assert from_env.exact == {"https://env.example.com"}
    assert ENV_ALLOWED_ORIGINS in from_env.setting


def test_unset_means_same_origin_and_says_where_to_configure():
    cfg = resolve({}, environ={})
    assert cfg.policy.mode == "same-origin"
    assert not cfg.cors_configured
    assert "RTCIO_ALLOWED_ORIGINS" in cfg.policy.setting


def test_comma_separated_config_string_and_credentials_flag():
    cfg = resolve({"RTCIO_CORS": f"{A},{B}", "RTCIO_CORS_CREDENTIALS": "true"},
                  environ={})
    assert cfg.policy.exact == {A, B}
    assert cfg.policy.credentials is True


def test_env_star_with_config_credentials_is_refused():
    with pytest.raises(ValueError, match="List the origins"):
        resolve({"RTCIO_CORS_CREDENTIALS": True},
                environ={ENV_ALLOWED_ORIGINS: "*"})


@pytest.mark.parametrize("kwargs, words", [
    ({"async_mode": "tornado"}, "unknown async mode"),
    ({"path": ""}, "non-empty string"),
    ({"max_envelope_bytes": 0}, "positive whole number"),
    ({"max_envelope_bytes": "lots"}, "positive whole number"),
    ({"protocol_namespaces": ["calls"]}, "start with '/'"),
])
def test_bad_values_fail_at_start_up(kwargs, words):
    with pytest.raises(ValueError, match=words):
        resolve({}, environ={}, **kwargs)


def test_path_and_sizes_from_config():
    cfg = resolve({"RTCIO_PATH": "/signal/", "RTCIO_MAX_ENVELOPE_BYTES": "1000",
                   "RTCIO_PROTOCOL_NAMESPACES": "/calls"}, environ={})
    assert cfg.path == "signal"
    assert cfg.max_envelope_bytes == 1000
    assert cfg.protocol_namespaces == ("/calls",)


def test_plain_process_is_threading():
    # pytest does not monkey-patch: even with eventlet importable, a plain
    # threaded server must not be given eventlet's async mode.
    import eventlet  # noqa: F401
    assert detect_async_mode() == "threading"


# -- the one precedence rule (config.pick) ------------------------------------

def test_pick_argument_then_app_config_then_environment_then_default():
    from rtcio_flask.config import UNSET, pick

    config = {"RTCIO_WINDOW": 5}
    environ = {"RTCIO_WINDOW": "9"}
    assert pick("window", 1, config, environ).value == 1
    assert pick("window", 1, config, environ).where == "RTCIO(window=...)"
    found = pick("window", UNSET, config, environ)
    assert (found.value, found.where) == (5, "app.config['RTCIO_WINDOW']")
    found = pick("window", UNSET, {}, environ)
    assert (found.value, found.where) == ("9",
                                          "environment variable RTCIO_WINDOW")
    found = pick("window", UNSET, {}, environ=None, default=3)
    assert (found.value, found.where) == (3, None)
    # Settings that may not come from the environment pass environ=None.
    assert pick("window", UNSET, {}, None, default=3).value == 3


def test_pick_keeps_falsy_arguments():
    from rtcio_flask.config import pick

    # None and False are answers (often "off"), not "not given".
    assert pick("rooms", None, {"RTCIO_ROOMS": True}).value is None
    assert pick("rooms", False, {"RTCIO_ROOMS": True}).value is False


def test_redis_urls():
    from rtcio_flask.config import is_redis_url

    assert is_redis_url("redis://h:6379/0") and is_redis_url("REDISS://h")
    assert is_redis_url("unix:///tmp/r.sock")
    assert not is_redis_url("amqp://h") and not is_redis_url(None)
