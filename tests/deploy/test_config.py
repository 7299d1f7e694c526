"""Deployment options as an app configures them: the message queue, the
health route, and the start-up refusals (Flask test client, no server)."""

import flask
import pytest
import socketio

from rtcio_flask import RTCIO
from rtcio_flask.deploy import gunicorn as deployment, message_queue


def make_app(**options):
    app = flask.Flask("config-test")
    rtcio = RTCIO(app, **options)
    return app, rtcio.state_for(app)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0",
                                 "rediss://user:pw@cache:6380/1",
                                 "unix:///run/redis.sock",
                                 "valkey://cache:6379/0",
                                 "redis+sentinel://s1:26379,s2:26379/0/m"])
def test_redis_urls_are_accepted(url):
    assert message_queue.check_url(url) == url.partition(":")[0]


@pytest.mark.parametrize("url", ["", "mysql://db/0", "127.0.0.1:6379", 5])
def test_bad_queue_urls_say_what_to_write(url):
    with pytest.raises(ValueError, match="redis://"):
        message_queue.check_url(url)


def test_redact_hides_the_password():
    assert message_queue.redact("redis://u:secret@h:6379/0") == \
        "redis://u:***@h:6379/0"
    assert message_queue.redact("redis://h:6379/0") == "redis://h:6379/0"


def test_message_queue_sets_the_redis_manager_and_room_store():
    # Nothing connects at start-up (python-socketio connects lazily) when
    # the app opts out of the reachability check.
    app, state = make_app(rooms=True, fleet_interval=3600,
                          message_queue="redis://127.0.0.1:1/0",
                          start_without_queue=True)
    try:
        assert isinstance(state.server.manager, socketio.RedisManager)
        assert state.server.manager.redis_url == "redis://127.0.0.1:1/0"
        from rtcio_flask.rooms.redis_store import RedisRoomStore
        assert isinstance(state.rooms.store, RedisRoomStore)
        assert state.fleet is not None
        # The core relay must not drop targets living in other processes.
        assert state.protocols["/"]._local_only is False
    finally:
        state.fleet.stop()


def test_message_queue_from_app_config_and_environment(monkeypatch):
    app = flask.Flask("cfg")
    app.config["RTCIO_MESSAGE_QUEUE"] = "redis://127.0.0.1:2/0"
    app.config["RTCIO_START_WITHOUT_QUEUE"] = True
    RTCIO(app)
    assert app.extensions["rtcio"].server.manager.redis_url == \
        "redis://127.0.0.1:2/0"

    monkeypatch.setenv("RTCIO_MESSAGE_QUEUE", "redis://127.0.0.1:3/0")
    monkeypatch.setenv("RTCIO_START_WITHOUT_QUEUE", "1")
    _, state = make_app()
    assert state.server.manager.redis_url == "redis://127.0.0.1:3/0"


def test_without_a_queue_the_manager_stays_in_memory():
    _, state = make_app(rooms=True)
    # In memory: not a message-queue manager (recovery may subclass it).
    assert isinstance(state.server.manager, socketio.Manager)
    assert not isinstance(state.server.manager, socketio.PubSubManager)
    assert state.deploy.message_queue is None
    assert getattr(state, "fleet", None) is None


@pytest.mark.parametrize("options, message", [
    ({"message_queue": "redis://h/0", "server": socketio.Server()},
     "server= hands one in"),
    ({"message_queue": "redis://h/0",
      "client_manager": socketio.Manager()}, "not both"),
    ({"message_queue": "mysql://h/0"}, "unsupported message queue URL"),
    ({"health_path": "healthz"}, "must start with '/'"),
])
def test_misconfiguration_fails_at_start_up(options, message):
    with pytest.raises(ValueError, match=message):
        make_app(**options)


@pytest.mark.parametrize("rooms, warned", [
    (True, True), ({"store_url": "redis://127.0.0.1:6379/0"}, False)])
def test_rooms_in_memory_beside_an_apps_own_queue_manager_are_named(
        caplog, rooms, warned):
    """An app's own ``client_manager=socketio.RedisManager(...)`` links
    processes, but the rooms' default store is this process's memory: two
    processes each had rooms of their own (no ``user-connected`` across,
    envelopes dropped as sharing no room) with nothing in the log."""
    manager = socketio.RedisManager("redis://127.0.0.1:6379/0")
    with caplog.at_level("WARNING", logger="rtcio_flask"):
        make_app(rooms=rooms, client_manager=manager, recovery=False)
    lines = [r.getMessage() for r in caplog.records
             if "built-in rooms keep their members" in r.getMessage()]
    assert len(lines) == int(warned), caplog.text
    if warned:
        assert "rooms={'store_url': 'redis://...'}" in lines[0]


def test_health_route_says_only_ok_then_draining():
    app, state = make_app(health_path="/healthz")
    client = app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    state.health.draining = True
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "draining"}


def test_no_health_route_unless_asked():
    app, _ = make_app()
    assert app.test_client().get("/healthz").status_code == 404


def test_outside_gunicorn_there_is_no_worker_count():
    assert deployment.gunicorn_workers({"WEB_CONCURRENCY": "8"}) is None
    assert deployment.check_workers(environ={"WEB_CONCURRENCY": "8"}) is None


def test_refusal_names_both_correct_set_ups():
    text = deployment.multi_worker_message(4)
    assert "gunicorn runs 4 worker processes" in text
    assert "gunicorn -w 1" in text
    assert "sticky sessions" in text and "message_queue" in text
    assert deployment.ENV_STICKY + "=1" in text


@pytest.mark.parametrize("where, name, value, message", [
    ("env", "RTCIO_STICKY_SESSIONS", "ture",
     "environment variable RTCIO_STICKY_SESSIONS must be True or False "
     "(or 'true'/'false'), not 'ture'."),
    ("env", "RTCIO_START_WITHOUT_QUEUE", "perhaps",
     "environment variable RTCIO_START_WITHOUT_QUEUE must be True or False"),
    ("config", "RTCIO_STICKY_SESSIONS", "yes please",
     "app.config['RTCIO_STICKY_SESSIONS'] must be True or False"),
    ("config", "RTCIO_ROOMS", "maybe",
     "app.config['RTCIO_ROOMS'] must be True or False (or 'true'/'false'), "
     "not 'maybe'."),
    ("arg", "rooms", "nope", "RTCIO(rooms=...) must be True or False"),
])
def test_an_on_off_typo_is_refused_not_taken_for_off(
        where, name, value, message, monkeypatch):
    """A word that is neither on nor off used to mean off, silently
    (sticky sessions off, no rooms): now it stops the start, saying
    where it came from and what to write."""
    app = flask.Flask("flag-test")
    options = {}
    if where == "env":
        monkeypatch.setenv(name, value)
    elif where == "config":
        app.config[name] = value
    else:
        options[name] = value
    with pytest.raises(ValueError) as info:
        RTCIO(app, **options)
    assert str(info.value).startswith(message), info.value


@pytest.mark.parametrize("value, on", [("1", True), ("on", True),
                                       ("off", False), ("", False)])
def test_on_off_words_still_work(value, on, monkeypatch):
    monkeypatch.setenv("RTCIO_STICKY_SESSIONS", value)
    app = flask.Flask("flag-test")
    app.config["RTCIO_ROOMS"] = value
    state = RTCIO(app).state_for(app)
    assert state.deploy.sticky_sessions is on
    assert (state.rooms is not None) is on
