"""The suite's own checks can fail: a watched server (tests/support/
servers.py) that logs a traceback fails the check after the test that
caused it, and only that one."""

import socket
import sys

import pytest

from tests.support.servers import WATCHED, LiveServer, check_watched

# Listens on the port; a connection that sends something logs a traceback
# (LiveServer.start's own probe sends nothing).
SCRIPT = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    if c.recv(1):
        print("Traceback (most recent call last):\\nValueError: on purpose",
              flush=True)
    c.close()
"""


def _poke(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"x")


def test_a_watched_server_fails_the_check_after_a_traceback():
    with LiveServer([sys.executable, "-c", SCRIPT, "{port}"],
                    watch=True) as server:
        assert server in WATCHED
        check_watched()  # nothing logged yet
        _poke(server)
        server.log_with("on purpose")
        with pytest.raises(AssertionError, match="logged 'Traceback'"):
            check_watched()
        check_watched()  # that traceback was reported once
        _poke(server)
        server.log_with("on purpose")
        server.check_log(expected=["on purpose"])
    assert server not in WATCHED


def test_a_watched_server_that_died_fails_the_check():
    server = LiveServer([sys.executable, "-c", SCRIPT, "{port}"],
                        watch=True).start()
    try:
        server.proc.kill()
        server.proc.wait()
        with pytest.raises(AssertionError, match="exited"):
            server.check_log()
    finally:
        server.stop()
    assert server not in WATCHED
