"""A private coturn on 127.0.0.1 with the TURN REST API
(``use-auth-secret``), for the tests that need a real TURN server."""

import shutil
import socket
import tempfile

from .servers import LiveServer

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
REALM = "rtcio.test"


def free_udp_and_tcp_port(tries=50):
    """A port free for both UDP and TCP: coturn listens on both."""
    for _ in range(tries):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


class Coturn(LiveServer):
    """coturn with ``use-auth-secret``, no config file, no TLS, no CLI,
    logging to its stdout (the LiveServer log file)."""

    def __init__(self, secret):
        self.secret = secret
        self.workdir = tempfile.mkdtemp(prefix="rtcio-coturn-")
        port = free_udp_and_tcp_port()
        super().__init__([
            TURNSERVER, "-n",
            "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--use-auth-secret", f"--static-auth-secret={secret}",
            f"--realm={REALM}",
            "--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780",
            # The test's peers are on loopback too.
            "--allow-loopback-peers",
            "--log-file=stdout", "--simple-log",
            f"--pidfile={self.workdir}/turnserver.pid",
            f"--userdb={self.workdir}/turndb",
            "--relay-threads=1", "--verbose",
        ], port=port)

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    def stop(self, timeout=10.0):
        try:
            super().stop(timeout)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
