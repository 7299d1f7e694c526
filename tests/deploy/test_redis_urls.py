"""Every Redis URL the message queue takes works for the room store,
recovery and the fleet heartbeat too (issue 21), against real redis-server
and redis-sentinel processes; the pools wait for a free connection instead
of failing, and count it (issue 20); an unreachable Redis refuses the start
in one line unless the app opts out (issue 22); a queue that is not Redis
says in one line which setting the rooms need."""

import os
import shutil
import signal
import socket
import subprocess
import threading

import flask
import pytest

from rtcio_flask import RTCIO
from rtcio_flask.deploy.redis_client import connect
from rtcio_flask.rooms.redis_store import RedisRoomStore
from tests.recovery.test_recovery import _envelopes, run_blip
from tests.support.clients import Recorder
from tests.support.redis_server import RedisProcess
from tests.support.sentinel import SentinelCluster
from tests.support.servers import ROOT, LiveServer, free_port


@pytest.fixture(scope="module")
def redis_server():
    server = RedisProcess(unix_socket=True, tls=True).start()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def sentinels():
    cluster = SentinelCluster().start()
    yield cluster
    cluster.remove()


def _url(form, redis_server, sentinels=None):
    port = redis_server.port
    return {"redis": f"redis://127.0.0.1:{port}/0",
            "unix": redis_server.unix_url,
            "rediss": redis_server.tls_url,
            "valkey": f"valkey://127.0.0.1:{port}/0",
            "sentinel": sentinels.url if sentinels else None}[form]


@pytest.mark.parametrize("form", ["redis", "rediss", "unix", "valkey",
                                  "sentinel"])
def test_room_store_on_every_url_form(form, redis_server, request):
    sentinels = request.getfixturevalue("sentinels") \
        if form == "sentinel" else None
    store = RedisRoomStore(_url(form, redis_server, sentinels),
                           prefix=f"{form}:")
    try:
        assert store.join("r", "a", "alice").status == "joined"
        assert store.join("r", "b", "bob").others[0].name == "alice"
        assert [m.name for m in store.members("r")] == ["alice", "bob"]
    finally:
        store.close()
    if sentinels is not None:  # it went to the master the sentinels name
        master = connect(sentinels.master.url)
        assert master.hget("sentinel:members:r", "a")
        master.close()


def _process(url, **env):
    return LiveServer([shutil.which("rtcio-flask"), "--port", "{port}"],
                      env={"REDIS_URL": url, "RTCIO_FLEET_INTERVAL": "0.5",
                           **env})


@pytest.mark.parametrize("form", ["rediss", "unix", "valkey", "sentinel"])
def test_two_processes_share_rooms_relays_recovery_and_fleet(
        form, redis_server, request):
    """Two ``rtcio-flask`` processes on one URL: a room split over both
    relays; socket.io-client cut off on one recovers on the other (same
    id, missed envelopes: the recovery log); and when one is killed with
    -9 the other purges its members (the fleet heartbeat)."""
    sentinels = request.getfixturevalue("sentinels") \
        if form == "sentinel" else None
    url = _url(form, redis_server, sentinels)
    one, two = _process(url), _process(url)
    clients = []
    try:
        one.start()
        two.start()
        alice = Recorder().connect(one.url)
        bob = Recorder().connect(two.url, transports=("polling",))
        clients += [alice, bob]
        alice.emit("join-room", {"roomId": f"call-{form}", "name": "alice"})
        alice.wait_for("join-ok")
        bob.emit("join-room", {"roomId": f"call-{form}", "name": "bob"})
        bob.wait_for("join-ok")
        assert bob.events("user-connected")[0]["name"] == "alice"
        alice.emit("#rtcio:message", {"target": bob.sid, "data": {"n": 1}})
        assert bob.wait_for("#rtcio:message", timeout=10)[0]["data"] == \
            {"n": 1}
        done = run_blip(two.url, one.port, "recover", "websocket",
                        switch_to=two.port)
        assert done["recovered"] is True and done["aIdAfter"] == done["aId"]
        assert _envelopes(done["log"]["a"]) == [1, 2, 3, 4, 5, 6, 7]
        for process in (one, two):
            log = process.log()
            assert "Traceback" not in log and "ERROR" not in log, log
            assert "recovery window" in log, log
        alice_sid = alice.sid
        one.proc.send_signal(signal.SIGKILL)
        one.proc.wait(10)
        # Only the fleet heartbeat tells the second process alice is gone.
        gone = bob.wait_for("user-disconnected", timeout=15)[0]
        assert gone == {"id": alice_sid, "roomId": f"call-{form}"}, gone
        assert "Traceback" not in two.log()
    finally:
        for client in clients:
            client.disconnect()
        one.stop()
        two.stop()


@pytest.mark.parametrize("form", ["redis", "sentinel"])
def test_pool_waits_for_a_connection_and_counts_it(form, redis_server,
                                                   request):
    """Twenty calls at once on a pool of two: every one is answered (none
    raises MaxConnectionsError), and the pool counted those that waited;
    through Sentinel too (the waiting pool on SentinelConnectionPool)."""
    sentinels = request.getfixturevalue("sentinels") \
        if form == "sentinel" else None
    client = connect(_url(form, redis_server, sentinels) +
                     "?max_connections=2&pool_timeout=20")
    errors, answers = [], []

    def call(i):
        try:
            # BLPOP on an empty list holds the connection for 0.1 s.
            answers.append(client.blpop(f"empty:{i}", timeout=0.1))
        except Exception as exc:  # what the old pool raised
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    pool = client.connection_pool
    assert errors == [] and len(answers) == 20
    assert pool.max_connections == 2 and pool.waits >= 1
    assert pool.timeouts == 0
    client.close()


def test_pool_waits_show_in_the_metrics(redis_server):
    app = flask.Flask("pool-metrics")
    rtcio = RTCIO(app, rooms=True, metrics=True, fleet_interval=3600,
                  message_queue=redis_server.url)
    state = rtcio.state_for(app)
    try:
        state.rooms.store.redis.connection_pool.waits = 3
        text = app.test_client().get("/metrics").get_data(as_text=True)
        assert 'rtcio_redis_pool_waits_total{client="rooms"} 3.0' in text
        assert 'rtcio_redis_pool_timeouts_total{client="rooms"} 0.0' in text
        assert 'rtcio_redis_pool_waits_total{client="fleet"} 0.0' in text
    finally:
        state.fleet.stop()


@pytest.fixture
def refused_port():
    """A port bound (so no other test's server takes it) but not
    listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def test_unreachable_redis_refuses_the_start_in_one_line(refused_port):
    url = f"redis://127.0.0.1:{refused_port}/0"
    with pytest.raises(ValueError) as info:
        RTCIO(flask.Flask("down"), message_queue=url, rooms=True)
    message = str(info.value)
    assert message.startswith(f"cannot reach the message queue at {url}: ")
    assert "start_without_queue=True" in message and "\n" not in message

    # Opting in: it starts (and connects later).
    app = flask.Flask("down-ok")
    rtcio = RTCIO(app, message_queue=url, rooms=True, fleet_interval=3600,
                  start_without_queue=True)
    rtcio.state_for(app).fleet.stop()


@pytest.mark.parametrize("form", ["redis", "sentinel"])
def test_the_cli_refuses_with_the_same_line(refused_port, form):
    url = f"redis://127.0.0.1:{refused_port}/0" if form == "redis" else \
        f"redis+sentinel://127.0.0.1:{refused_port}/0/mymaster"
    done = subprocess.run(
        [shutil.which("rtcio-flask"), "--port", str(free_port())],
        env=dict(os.environ, REDIS_URL=url, PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert f"rtcio-flask: error: cannot reach the message queue at {url}: " \
        in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    if form == "sentinel":
        # Each sentinel by its address, not by redis-py's client repr.
        assert f"No master found for 'mymaster' : Error 111 connecting to " \
            f"127.0.0.1:{refused_port}." in done.stderr, done.stderr
        assert "<redis." not in done.stderr, done.stderr


def test_amqp_queue_says_which_setting_rooms_need(redis_server,
                                                 refused_port):
    queue = f"amqp://guest:guest@127.0.0.1:{refused_port}//"
    with pytest.raises(ValueError) as info:
        RTCIO(flask.Flask("amqp"), message_queue=queue, rooms=True)
    message = str(info.value)
    assert "rooms_redis='redis://host:6379/0' (RTCIO_ROOMS_REDIS)" in message
    assert "guest:guest" not in message and "\n" not in message

    app = flask.Flask("amqp-rooms")
    app.config["RTCIO_ROOMS_REDIS"] = redis_server.url
    rtcio = RTCIO(app, message_queue=queue, rooms=True, fleet_interval=3600)
    state = rtcio.state_for(app)
    try:
        assert isinstance(state.rooms.store, RedisRoomStore)
        assert state.rooms.store.url == redis_server.url
        assert state.recovery is not None and state.recovery.backend.shared
    finally:
        state.fleet.stop()


def test_bad_rooms_redis_fails_at_start():
    with pytest.raises(ValueError, match="RTCIO: rooms_redis: .* is not a "
                                         "Redis URL"):
        RTCIO(flask.Flask("bad"), rooms=True, rooms_redis="mysql://h/0")
