"""Every Redis URL form python-socketio's RedisManager takes, read for the
room store, recovery and the fleet heartbeat (rtcio_flask.core.redis_url),
and the pool options a URL may carry (deploy/redis_client.py)."""

import pytest

from rtcio_flask.core.redis_url import (DEFAULT_SERVICE, is_redis_url,
                                        parse_redis_url, redact)
from rtcio_flask.deploy.redis_client import pool_options


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0", "rediss://u:pw@cache:6380/1",
    "unix:///run/redis.sock?db=2", "REDIS://h"])
def test_plain_urls_go_to_redis_py_unchanged(url):
    target = parse_redis_url(url)
    assert target.url == url and not target.sentinel


@pytest.mark.parametrize("url, expected", [
    ("valkey://h:6379/0", "redis://h:6379/0"),
    ("valkeys://u:pw@h:6380/3", "rediss://u:pw@h:6380/3"),
])
def test_valkey_urls_become_their_redis_twin(url, expected):
    assert parse_redis_url(url).url == expected


def test_sentinel_url_like_python_socketio():
    target = parse_redis_url(
        "redis+sentinel://:s3cret@10.0.0.1:26379,sentinel-b:26380/2/cache")
    assert target.sentinels == (("10.0.0.1", 26379), ("sentinel-b", 26380))
    assert target.service == "cache" and target.db == 2
    assert target.password == "s3cret" and target.username is None
    assert target.connection_kwargs() == {"db": 2, "password": "s3cret"}
    assert "s3cret" not in repr(target)


def test_sentinel_url_defaults_and_ipv6_and_quoted_password():
    target = parse_redis_url("valkey+sentinel://user:p%40ss@[::1]:26379")
    assert target.sentinels == (("::1", 26379),)
    assert target.service == DEFAULT_SERVICE and target.db == 0
    assert target.username == "user" and target.password == "p@ss"


@pytest.mark.parametrize("url, why", [
    ("redis+sentinel://h1/0/m", "not a sentinel host:port"),
    ("redis+sentinel://h1:26379,h2:x/0/m", "not a sentinel host:port"),
    ("redis+sentinel://h1:99999/0/m", "not a sentinel host:port"),
    ("redis+sentinel://h1:26379/zero/m", "is not a number"),
    ("redis+sentinel://h1:26379/0/m/extra", "more than /db/service"),
])
def test_bad_sentinel_urls_say_what_to_write(url, why):
    with pytest.raises(ValueError, match=why) as info:
        parse_redis_url(url, "rooms_redis")
    message = str(info.value)
    assert message.startswith("rooms_redis:")
    assert "redis+sentinel://[:password@]host1:26379" in message
    assert "\n" not in message


def test_sentinel_errors_never_show_the_password():
    with pytest.raises(ValueError) as info:
        parse_redis_url("redis+sentinel://:hunter2@h1/0/m")
    assert "hunter2" not in str(info.value) and ":***@" in str(info.value)


@pytest.mark.parametrize("url", ["amqp://h//", "mysql://h/0", "h:6379", "",
                                 None, 5])
def test_other_urls_are_not_redis(url):
    assert not is_redis_url(url)
    with pytest.raises(ValueError, match="is not a Redis URL; write "
                                         "redis://host:6379/0"):
        parse_redis_url(url)


def test_redact():
    assert redact("redis://u:secret@h:6379/0") == "redis://u:***@h:6379/0"
    assert redact("redis+sentinel://:pw@a:1,b:2/0/m") == \
        "redis+sentinel://:***@a:1,b:2/0/m"
    assert redact("redis://h:6379/0") == "redis://h:6379/0"


def test_pool_options_come_out_of_the_query_string():
    url, found = pool_options(
        "redis://h:6379/0?max_connections=200&pool_timeout=2.5&ssl_cert_reqs"
        "=none")
    assert url == "redis://h:6379/0?ssl_cert_reqs=none"
    assert found == {"max_connections": 200, "pool_timeout": 2.5}
    assert pool_options("redis://h/0") == ("redis://h/0", {})


@pytest.mark.parametrize("query", ["max_connections=0", "max_connections=x",
                                   "pool_timeout=-1", "max_connections=2.5"])
def test_bad_pool_options_fail_at_start(query):
    with pytest.raises(ValueError, match="must be a positive number"):
        pool_options("redis://h/0?" + query)


@pytest.mark.parametrize("url, why", [
    ("redis://127.0.0.1:notaport/0", "the port 'notaport' is not a number"),
    ("rediss://cache:70000/0", "the port '70000' is not a number"),
    ("valkey://h:0/0", "the port '0' is not a number"),
    # redis-py silently used database 0 for these, or 12 for /1/2
    ("redis://127.0.0.1:6379/abc", "the database 'abc' is not a number"),
    ("redis://127.0.0.1:6379/1/2", "the database '1/2' is not a number"),
])
def test_bad_port_or_database_says_what_to_write(url, why):
    with pytest.raises(ValueError) as info:
        parse_redis_url(url, "message_queue")
    message = str(info.value)
    assert message.startswith(f"message_queue: {url!r}: {why}"), message
    assert message.endswith("; write redis://[user:password@]host:6379/0.")


@pytest.mark.parametrize("url", [
    "redis://[::1]:6379/0", "redis://[::1]/0", "redis://:p:w@h:6379/3",
    "rediss://h:6380/", "redis://h"])
def test_good_ports_and_databases_pass(url):
    assert parse_redis_url(url).url == url
