"""Fixtures for the rooms tests: a private redis-server on a free port, and
the two room stores over it."""

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from tests.support.servers import free_port, wait_for_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    """A throw-away redis-server on 127.0.0.1: no persistence, own dir."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rtcio-redis-")
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL)
        wait_for_port(self.port, 10, self.proc)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    if not os.path.exists(REDIS_SERVER):
        pytest.fail("redis-server is not installed; scripts/test.sh installs "
                    "the Debian package redis-server")
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["memory", "redis"])
def store(request):
    """Each store implementation; the Redis one gets a fresh key prefix so
    tests never see each other's rooms."""
    if request.param == "memory":
        from rtcio_flask.room_store import MemoryRoomStore
        yield MemoryRoomStore()
        return
    from rtcio_flask.redis_room_store import RedisRoomStore
    server = request.getfixturevalue("redis_server")
    st = RedisRoomStore(server.url, prefix=f"t{uuid.uuid4().hex[:8]}:")
    try:
        yield st
    finally:
        st.close()
