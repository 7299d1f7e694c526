"""Half-sent requests die quietly: a request whose headers never finish is
closed at the header deadline without reaching the WSGI app, so it opens
no Engine.IO session and counts nothing against its address.

Before, 20 such requests to ``rtcio-flask`` (each the start of a polling
handshake) became 20 Engine.IO sessions when the deadline closed them:
the server parsed the partial headers after the shutdown. gunicorn's
async workers have their own deadline for a request's headers (its
``--keep-alive``, also for the first request) and never hand a partial
request to the app; the test holds both to it, with raw sockets. Each
server allows COUNT / 2 + 1 sessions per address (rtcio-flask: twice
that in TCP connections, so the half-sent ones and the readiness probe are
all let in), so half-sent
requests counted against the address would refuse the real client that
follows, as a whole NAT was refused for 45 s before."""

import socket
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import Recorder
from tests.support.gunicorn import serve_gunicorn
from tests.support.servers import LiveServer

COUNT = 20
#: Fewer sessions per address than half-sent requests: the real client
#: after them gets in only if they were not counted.
CAPPED = {"RTCIO_MAX_CONNECTIONS_PER_ADDRESS": str(COUNT // 2 + 1)}
HALF = (b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nUser-Agent: half-sent\r\n")


def connected_sockets(url):
    text = requests.get(url + "/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rtcio_connected_sockets":
                return sample.value
    raise AssertionError(f"no rtcio_connected_sockets in {text!r}")


def half_send(port):
    socks = []
    for _ in range(COUNT):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(HALF)
        socks.append(sock)
    return socks


def closed_by_server(sock, timeout=15.0):
    """What the server sent before closing (b"" for nothing)."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return got
            got += data
    except ConnectionResetError:
        return got


def check_quiet_close(server):
    socks = half_send(server.port)
    try:
        answers = [closed_by_server(sock) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert answers == [b""] * COUNT, answers[:3]
    # Give a session the parser might have opened time to register.
    time.sleep(0.3)
    assert connected_sockets(server.url) == 0, server.log()[-3000:]
    # The address is not held responsible for them: a real client connects.
    client = Recorder().connect(server.url, transports=("polling",))
    try:
        assert connected_sockets(server.url) == 1
    finally:
        client.disconnect()
    log = server.log()
    assert "Traceback" not in log, log[-3000:]
    return log


# threading (werkzeug) goes through the same WSGI wrapper as these two.
@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_rtcio_flask_closes_half_sent_requests_before_the_app(mode):
    with LiveServer([sys.executable, "-m", "rtcio_flask", "--port",
                     "{port}", "--server", mode, "--metrics",
                     "--header-timeout", "1"],
                    env=CAPPED) as server:
        log = check_quiet_close(server)
    assert "connection(s) from 127.0.0.1 that sent no complete request " \
        "within 1.0 s" in log, log[-3000:]


@pytest.mark.parametrize("worker", ["eventlet", "gevent"])
def test_gunicorn_closes_half_sent_requests_before_the_app(worker):
    with serve_gunicorn("tests.apps.deploy_app:create_app()", worker,
                        env={"RTCIO_METRICS": "1", **CAPPED},
                        extra=["--keep-alive", "1"]) as server:
        check_quiet_close(server)
