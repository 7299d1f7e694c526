"""A Redis master, one replica and three sentinels (Debian's
``redis-sentinel``) on free 127.0.0.1 ports, for the Sentinel URL and
failover tests. Timeouts are short (down after 1 s, failover timeout 3 s)
so a failover takes seconds, not the production minutes."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest
import redis

from tests.support.redis_server import RedisProcess
from tests.support.servers import free_port, wait_for_port

SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
SERVICE = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


class SentinelCluster:
    def __init__(self, sentinels=3):
        self.dir = tempfile.mkdtemp(prefix="rtcio-sentinel-")
        self.master = RedisProcess()
        self.replica = None
        self.ports = [free_port() for _ in range(sentinels)]
        self.procs = []

    @property
    def url(self):
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return f"redis+sentinel://{hosts}/0/{SERVICE}"

    def start(self):
        if not shutil.which(SENTINEL):
            pytest.fail("redis-sentinel is not installed; scripts/test.sh "
                        "installs the Debian package redis-sentinel")
        self.master.start()
        self.replica = RedisProcess(replica_of=self.master.port).start()
        for port in self.ports:
            conf = os.path.join(self.dir, f"sentinel-{port}.conf")
            with open(conf, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                        f"sentinel monitor {SERVICE} 127.0.0.1 "
                        f"{self.master.port} 2\n"
                        f"sentinel down-after-milliseconds {SERVICE} "
                        f"{DOWN_AFTER_MS}\n"
                        f"sentinel failover-timeout {SERVICE} "
                        f"{FAILOVER_TIMEOUT_MS}\n"
                        f"sentinel parallel-syncs {SERVICE} 1\n")
            proc = subprocess.Popen(
                [SENTINEL, conf], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            self.procs.append(proc)
            wait_for_port(port, 10, proc)
        self.wait_ready()
        return self

    def sentinel(self, index=0):
        return redis.Redis(host="127.0.0.1", port=self.ports[index],
                           decode_responses=True, socket_timeout=2)

    def master_port(self, index=0):
        host, port = self.sentinel(index).sentinel_get_master_addr_by_name(
            SERVICE)
        return int(port)

    def wait_ready(self, timeout=30):
        """Until every sentinel knows the replica and the other sentinels
        (a failover needs a quorum and a replica to promote)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready = all(
                    int(s.sentinel_master(SERVICE)["num-slaves"]) >= 1 and
                    int(s.sentinel_master(SERVICE)["num-other-sentinels"])
                    >= len(self.ports) - 1
                    for s in map(self.sentinel, range(len(self.ports))))
            except redis.RedisError:
                ready = False
            if ready:
                return
            time.sleep(0.2)
        raise TimeoutError("the sentinels did not see each other and the "
                           "replica in time")

    def wait_promoted(self, old_port, timeout=60):
        """Until the sentinels name another master; returns when they did
        (time.monotonic())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.master_port() != old_port:
                    return time.monotonic()
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise TimeoutError("the sentinels promoted no new master")

    def remove(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for server in (self.master, self.replica):
            if server is not None:
                server.remove()
        shutil.rmtree(self.dir, ignore_errors=True)
