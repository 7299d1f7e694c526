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
    ``tls=True`` also on a TLS port with a certificate from a test CA
    (``tls_url``, trustme); ``replica_of=port`` starts it as a replica of
    127.0.0.1:port."""

    def __init__(self, persistent=False, unix_socket=False, replica_of=None,
                 tls=False):
        self.port = free_port()
        self.tls_port = free_port() if tls else None
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

    @property
    def tls_url(self):
        ca = os.path.join(self.dir, "ca.pem")
        return f"rediss://127.0.0.1:{self.tls_port}/0?ssl_ca_certs={ca}"

    def _tls_args(self):
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        paths = {name: os.path.join(self.dir, name)
                 for name in ("ca.pem", "cert.pem", "key.pem")}
        ca.cert_pem.write_to_path(paths["ca.pem"])
        cert.cert_chain_pems[0].write_to_path(paths["cert.pem"])
        cert.private_key_pem.write_to_path(paths["key.pem"])
        return ["--tls-port", str(self.tls_port),
                "--tls-cert-file", paths["cert.pem"],
                "--tls-key-file", paths["key.pem"],
                "--tls-ca-cert-file", paths["ca.pem"],
                "--tls-auth-clients", "no"]

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
        if self.tls_port:
            extra += self._tls_args()
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
