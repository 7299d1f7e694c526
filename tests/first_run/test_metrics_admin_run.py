"""``/metrics`` scraped from live servers and parsed with prometheus_client,
the socket.io Admin UI through its ``/admin`` namespace with a real
python-socketio client, and ``rtcio.run(app)`` closing websockets cleanly."""

import sys

import pytest
import requests
import socketio
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import Recorder
from tests.first_run.test_startup_errors import wait_for_log
from tests.support.servers import LiveServer

CLI = [sys.executable, "-m", "rtcio_flask"]


def scrape(url):
    got = requests.get(url + "/metrics", timeout=5)
    assert got.status_code == 200
    assert got.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(got.text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_cli_metrics_count_what_happened():
    with LiveServer(CLI + ["--port", "{port}", "--metrics"]) as server:
        before = scrape(server.url)
        assert value(before, "rtcio_connected_sockets") == 0
        assert value(before, "rtcio_rooms") == 0
        alice = Recorder().connect(server.url)
        bob = Recorder().connect(server.url, transports=("polling",))
        try:
            for who, name in ((alice, "alice"), (bob, "bob")):
                who.emit("join-room", {"roomId": "m", "name": name})
                who.wait_for("join-ok")
            for _ in range(3):
                alice.emit("#rtcio:message", {"target": bob.sid,
                                              "data": {"n": 1}})
            bob.wait_for("#rtcio:message", count=3)
            # Acknowledged, so the drop has happened when call() returns.
            ack = alice.call("#rtcio:message", {"target": "nobody",
                                                "data": {}})
            assert ack["error"] == "unknown-target"
            refused = requests.get(
                server.url + "/socket.io/",
                params={"EIO": "4", "transport": "polling"},
                headers={"Origin": "https://evil.example"}, timeout=5)
            assert refused.status_code == 400
        except Exception:
            print(server.log())
            raise
        now = scrape(server.url)
        assert value(now, "rtcio_connected_sockets") == 2
        assert value(now, "rtcio_rooms") == 1
        assert value(now, "rtcio_room_members") == 2
        assert value(now, "rtcio_relayed_envelopes_total") == 3
        assert value(now, "rtcio_dropped_events_total",
                     reason="unknown-target") == 1
        assert value(now, "rtcio_dropped_events_total",
                     reason="rate-limit") == 0
        assert value(now, "rtcio_refused_connections_total",
                     reason="origin") == 1
        assert value(now, "rtcio_refused_connections_total",
                     reason="auth") == 0
        assert value(now, "rtcio_recovered_sessions_total") == 0
        assert value(now, "rtcio_join_seconds_count") == 2
        assert value(now, "rtcio_join_seconds_bucket", le="+Inf") == 2
        alice.disconnect()
        bob.disconnect()


def test_metrics_are_off_unless_asked():
    with LiveServer(CLI + ["--port", "{port}"]) as server:
        assert requests.get(server.url + "/metrics", timeout=5) \
            .status_code == 404


ADMIN_ENV = {"RTCIO_ADMIN_USERNAME": "ops", "RTCIO_ADMIN_PASSWORD": "s3cret"}


def _admin_client(url, auth):
    client = socketio.Client(reconnection=False)
    client.connect(url, namespaces=["/admin"], auth=auth,
                   transports=["websocket"], wait_timeout=10)
    return client


def test_admin_ui_namespace_needs_the_login():
    with LiveServer(CLI + ["--port", "{port}"], env=ADMIN_ENV) as server:
        client = _admin_client(server.url, {"username": "ops",
                                            "password": "s3cret"})
        try:
            assert client.connected
            assert "/admin" in client.namespaces
        finally:
            client.disconnect()
        with pytest.raises(socketio.exceptions.ConnectionError):
            _admin_client(server.url, {"username": "ops",
                                       "password": "wrong"})
        with pytest.raises(socketio.exceptions.ConnectionError):
            _admin_client(server.url, None)
        # The rtc.io side is untouched.
        user = Recorder().connect(server.url)
        user.emit("join-room", {"roomId": "a"})
        user.wait_for("join-ok")
        user.disconnect()
        log = server.log()
        assert "the socket.io Admin UI is on" in log
        assert "Admin UI is on: /admin/" in log
        assert "Traceback" not in log


@pytest.mark.parametrize("admin", [True, {"username": "ops"}])
def test_admin_ui_without_a_login_is_refused(admin):
    import flask

    from rtcio_flask import RTCIO

    with pytest.raises(ValueError, match="needs a"):
        RTCIO(flask.Flask("x"), admin=admin)


@pytest.mark.parametrize("kind", ["threading", "eventlet", "gevent"])
def test_rtcio_run_serves_and_closes_websockets_cleanly(kind):
    argv = [sys.executable, "-m", "tests.first_run.run_app", kind, "{port}"]
    with LiveServer(argv) as server:
        wait_for_log(server, f"({kind})")
        for _ in range(3):
            client = Recorder().connect(server.url)
            client.emit("join-room", {"roomId": "r"})
            client.wait_for("join-ok")
            client.disconnect()
        polling = Recorder().connect(server.url, transports=("polling",))
        polling.disconnect()
        server.stop()
        log = server.log()
    assert f"({kind})" in log
    assert "Bad request syntax" not in log
    assert "Traceback" not in log
