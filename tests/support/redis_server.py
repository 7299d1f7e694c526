"""A private redis-server on a free 127.0.0.1 port, for the room-store and
scale-out tests. ``persistent=True`` keeps an append-only file so the
server can be restarted mid-test and come back with its data, as a
production Redis configured for persistence does."""

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.support.servers import free_port, wait_for_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    """``unix_socket=True`` also listens on a Unix socket (``unix_url``);
    ``replica_of=port`` starts it as a replica of 127.0.0.1:port."""

    def __init__(self, persistent=False, unix_socket=False, replica_of=None):
        self.port = free_port()
        self.persistent = persistent
        self.dir = tempfile.mkdtemp(prefix="rtcio-redis-")
        self.socket = os.path.join(self.dir, "redis.sock") \
            if unix_socket else None
        self.replica_of = replica_of
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self):
        return f"unix://{self.socket}?db=0"

    def start(self):
        if not shutil.which(REDIS_SERVER):
            pytest.fail("redis-server is not installed; scripts/test.sh "
                        "installs the Debian package redis-server")
        appendonly = "yes" if self.persistent else "no"
        extra = []
        if self.socket:
            extra += ["--unixsocket", self.socket, "--unixsocketperm", "700"]
        if self.replica_of:
            extra += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", appendonly, "--dir", self.dir]
            + extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL)
        wait_for_port(self.port, 10, self.proc)
        return self

    def stop(self):
        """SIGTERM: Redis flushes its append-only file and exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self):
        """SIGKILL, as a crash or a lost host."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self):
        self.stop()
        return self.start()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
