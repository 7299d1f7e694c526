"""A private redis-server on a free 127.0.0.1 port, for the room-store and
scale-out tests. ``persistent=True`` keeps an append-only file so the
server can be restarted mid-test and come back with its data, as a
production Redis configured for persistence does."""

import shutil
import subprocess
import tempfile

import pytest

from tests.support.servers import free_port, wait_for_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    def __init__(self, persistent=False):
        self.port = free_port()
        self.persistent = persistent
        self.dir = tempfile.mkdtemp(prefix="rtcio-redis-")
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        if not shutil.which(REDIS_SERVER):
            pytest.fail("redis-server is not installed; scripts/test.sh "
                        "installs the Debian package redis-server")
        appendonly = "yes" if self.persistent else "no"
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", appendonly, "--dir", self.dir],
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

    def restart(self):
        self.stop()
        return self.start()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
