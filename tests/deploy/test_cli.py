"""The standalone server as a user runs it: the ``rtcio-flask`` console
script (and ``python -m rtcio_flask``) in a subprocess, with real clients."""

import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
import requests
import socketio

from tests.support.clients import Recorder
from tests.support.servers import (ROOT, LiveServer, free_port,
                                   probe_after_sigterm)


def _command():
    """The command, run from this checkout (the ``rtcio-flask`` console
    script may belong to another install); LiveServer puts the checkout on
    PYTHONPATH, and so does ``_run``."""
    return [sys.executable, "-m", "rtcio_flask"]


def _run(argv, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(argv, capture_output=True, text=True, env=env,
                          **kwargs)


def test_console_script_is_installed():
    assert shutil.which("rtcio-flask"), \
        "the rtcio-flask console script is not installed (pip install -e .)"


def _handshake(url, origin):
    return requests.get(url + "/socket.io/",
                        params={"EIO": "4", "transport": "polling"},
                        headers={"Origin": origin}, timeout=5)


def test_help_tells_a_new_user_what_to_set():
    out = _run([*_command(), "--help"], timeout=30)
    assert out.returncode == 0
    for needle in ("--host", "--port", "--allowed-origins", "--credentials",
                   "--message-queue", "--turn-secret", "--turn-urls",
                   "--max-members", "PORT", "ALLOWED_ORIGINS", "REDIS_URL",
                   "/healthz", "sticky sessions", "rtcio-flask peer --help",
                   "RTCIO_ADMIN_USERNAME"):
        assert needle in out.stdout, needle


def test_python_m_runs_the_same_command():
    out = _run([sys.executable, "-m", "rtcio_flask", "--version"],
               timeout=30)
    assert out.returncode == 0
    assert out.stdout.startswith("rtcio-flask ")


@pytest.mark.parametrize("argv, message", [
    (["--allowed-origins", "*", "--credentials"], "'*' cannot be combined"),
    (["--message-queue", "redis://127.0.0.1:{dead}/0"],
     "cannot reach the message queue"),
    # what to do about it, in the command line's terms
    (["--message-queue", "redis://127.0.0.1:{dead}/0"],
     "; start Redis (or correct --message-queue / $REDIS_URL), or set "
     "RTCIO_START_WITHOUT_QUEUE=1 to start without it"),
    (["--message-queue", "mysql://x"], "unsupported message queue URL"),
    # the flag the user typed, not the RTCIO(...) option it becomes
    (["--trusted-proxy-hops", "-1"], "rtcio-flask: error: "
     "--trusted-proxy-hops must be a positive whole number of proxies"),
    (["--max-members", "0"],
     "rtcio-flask: error: --max-members must be a positive whole number"),
    (["--recovery-window", "-5"],
     "rtcio-flask: error: --recovery-window must be a positive number"),
    # 0 was taken for "not given" (a day)
    (["--turn-secret", "s", "--turn-urls", "turn:t.example:3478",
      "--turn-ttl", "0"], "rtcio-flask: error: --turn-ttl must be a "
     "positive whole number of seconds (such as 86400, one day), not 0"),
    # it started, and refused every page of the domain later
    (["--allowed-origins", "https://*.example.com"],
     "--allowed-origins: 'https://*.example.com' is not an origin (a '*' "
     "inside an origin is not a wildcard"),
    # redis-py's own words named neither the flag nor what to write
    (["--message-queue", "redis://127.0.0.1:notaport/0"],
     "--message-queue: 'redis://127.0.0.1:notaport/0': the port 'notaport' "
     "is not a number from 1 to 65535; write "
     "redis://[user:password@]host:6379/0."),
])
def test_misconfiguration_exits_with_a_clear_error(argv, message):
    argv = [a.replace("{dead}", str(free_port())) for a in argv]
    out = _run([*_command(), "--port", str(free_port())] + argv,
               timeout=60)
    assert out.returncode == 2
    assert "rtcio-flask: error:" in out.stderr
    assert message in out.stderr


@pytest.mark.parametrize("name", ["RTCIO_CORS_CREDENTIALS", "RTCIO_METRICS",
                                  "RTCIO_START_WITHOUT_QUEUE"])
def test_on_off_variable_typo_is_refused(name):
    """``ture`` used to mean off, silently (no cookies, no metrics)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{name: "ture"})
    out = subprocess.run(
        [*_command(), "--port", str(free_port()), "--message-queue",
         f"redis://127.0.0.1:{free_port()}/0"], capture_output=True,
        text=True, env=env, timeout=60)
    assert out.returncode == 2
    assert f"{name} must be True or False (or 'true'/'false'), not " \
        f"'ture'." in out.stderr, out.stderr


def test_start_without_queue_starts_with_redis_down():
    """The way out the refusal offers works: RTCIO_START_WITHOUT_QUEUE=1
    starts the server with its Redis down (it used to be refused by the
    command's own check before RTCIO(app) read the variable)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    with LiveServer([*_command(), "--port", "{port}", "--message-queue",
                     url], env={"RTCIO_START_WITHOUT_QUEUE": "1"}) as server:
        answer = requests.get(server.url + "/healthz", timeout=5)
        assert answer.status_code == 200
        assert "cannot reach" not in server.log()


def test_misspelled_environment_variable_is_named_at_start():
    """RTCIO_MESAGE_QUEUE used to start one process with rooms in memory
    and not a word about it; now the start-up log names the right
    variable (and the server still starts: the environment is not RTCIO's
    alone)."""
    with LiveServer([*_command(), "--port", "{port}"],
                    env={"RTCIO_MESAGE_QUEUE": "redis://127.0.0.1:6379/0"}
                    ) as server:
        assert requests.get(server.url + "/healthz", timeout=5).ok
        assert ("WARNING rtcio_flask: rtcio: environment variable "
                "RTCIO_MESAGE_QUEUE is not a setting RTCIO reads, so it is "
                "ignored (did you mean RTCIO_MESSAGE_QUEUE?)") in server.log()


@pytest.fixture(scope="module")
def readme_server():
    """Exactly the README's command: ``rtcio-flask --port 3001`` (on a free
    port)."""
    with LiveServer([*_command(), "--port", "{port}"], watch=True) as server:
        yield server


def test_readme_command_serves_rooms_and_relays(readme_server):
    url = readme_server.url
    alice = Recorder().connect(url)
    bob = Recorder().connect(url, transports=("polling",))
    try:
        alice.emit("join-room", {"roomId": "demo", "name": "alice"})
        alice.wait_for("join-ok")
        bob.emit("join-room", {"roomId": "demo", "name": "bob"})
        bob.wait_for("join-ok")
        assert bob.events("user-connected") == [
            {"id": alice.sid, "name": "alice", "roomId": "demo"}]
        assert alice.wait_for("#rtcio:init-offer") == [{"source": bob.sid}]
        offer = {"description": {"type": "offer", "sdp": "v=0"}}
        alice.emit("#rtcio:message", {"target": bob.sid, "data": offer})
        [got] = bob.wait_for("#rtcio:message")
        assert got == {"source": alice.sid, "target": bob.sid, "data": offer}
        bob_sid = bob.sid
        bob.client.eio.queue.join()
        bob.disconnect()
        assert alice.wait_for("#rtcio:peer-left") == [{"id": bob_sid}]
    finally:
        alice.disconnect()
        bob.disconnect()


def test_readme_command_health_and_default_origins(readme_server):
    url = readme_server.url
    health = requests.get(url + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert health.headers["Cache-Control"] == "no-store"

    local = _handshake(url, "http://localhost:5173")
    assert local.status_code == 200
    assert local.headers["Access-Control-Allow-Origin"] == \
        "http://localhost:5173"
    remote = _handshake(url, "https://evil.example")
    assert remote.status_code == 400
    log = readme_server.log()
    assert "'https://evil.example' may not connect" in log
    assert "--allowed-origins" in log
    assert "listening on http://127.0.0.1:" in log
    assert "eventlet" in log


def _behind_tls_proxy(url, origin):
    """A polling handshake as nginx passes it on (docs/nginx/rtcio.conf:
    Host and X-Forwarded-Proto of the browser's request)."""
    return requests.get(url + "/socket.io/",
                        params={"EIO": "4", "transport": "polling"},
                        headers={"Origin": origin,
                                 "Host": "signal.example.com",
                                 "X-Forwarded-Proto": "https"}, timeout=5)


def test_default_origins_behind_a_tls_proxy(readme_server):
    """Behind nginx ending TLS, a page on the server's own https origin is
    the server's own origin: it was refused, because the command compared
    it with the http:// it is served on."""
    own = _behind_tls_proxy(readme_server.url, "https://signal.example.com")
    assert own.status_code == 200, own.text
    assert own.headers["Access-Control-Allow-Origin"] == \
        "https://signal.example.com"
    # another site behind the same proxy is still refused
    other = _behind_tls_proxy(readme_server.url, "https://evil.example")
    assert other.status_code == 400


def test_rtcio_environment_names_in_the_command():
    """RTCIO_ALLOWED_ORIGINS, RTCIO(app)'s variable, was ignored by the
    command (which read only ALLOWED_ORIGINS); a config-only key such as
    RTCIO_RATE_LIMIT set in the environment is named as ignored."""
    env = {"RTCIO_ALLOWED_ORIGINS": "https://env.example",
           "RTCIO_RATE_LIMIT": "5"}
    with LiveServer([*_command(), "--port", "{port}"], env=env) as server:
        assert _handshake(server.url, "https://env.example").status_code \
            == 200
        assert ("rtcio: environment variable RTCIO_RATE_LIMIT is ignored: "
                "RTCIO reads RTCIO_RATE_LIMIT from app.config, not from the "
                "environment") in server.log()


def test_environment_configures_and_flags_win():
    port, env_port = free_port(), free_port()
    env = {"PORT": str(env_port), "ALLOWED_ORIGINS": "https://env.example"}
    # Environment only: PORT and ALLOWED_ORIGINS, served by threads.
    with LiveServer([*_command(), "--server", "threading"], env=env,
                    port=env_port) as server:
        assert _handshake(server.url, "https://env.example").status_code \
            == 200
        assert _handshake(server.url, "http://localhost:5173").status_code \
            == 400
        # Over polling, python-socketio's client sends no Origin at all.
        client = Recorder().connect(server.url, transports=("polling",))
        client.emit("join-room", {"roomId": "r"})
        client.wait_for("join-ok")
        client.disconnect()
        assert "(threading;" in server.log()
    # Flags win over the same variables.
    with LiveServer([*_command(), "--port", "{port}", "--allowed-origins",
                     "https://flag.example"], env=env, port=port) as server:
        assert _handshake(server.url, "https://flag.example").status_code \
            == 200
        assert _handshake(server.url, "https://env.example").status_code \
            == 400


@pytest.mark.parametrize("kind", ["eventlet", "gevent", "threading"])
def test_sigterm_disconnects_clients_and_exits(kind):
    with LiveServer([*_command(), "--port", "{port}", "--server",
                     kind]) as server:
        client = socketio.Client(reconnection=False)
        gone = threading.Event()
        client.on("disconnect", lambda *a: gone.set())
        client.connect(server.url, transports=["websocket"], wait_timeout=10)
        # /healthz (always on in rtcio-flask) says 503 from the signal on
        # until the listener closes (threading closes it at once).
        seen = probe_after_sigterm(server.url + "/healthz", server.proc.pid)
        assert gone.wait(20)
        assert server.proc.wait(20) == 0
        log = server.log()
    assert seen and 200 not in [code for _, code in seen[1:]], seen
    assert {code for _, code in seen} <= {200, 503, "ConnectionError"}, seen
    assert "SIGTERM received, shutting down" in log
    assert "closed 1 connection so" in log
