"""A private nginx on 127.0.0.1 for tests, from Debian's package: its own
temp dir (pid, logs, temp paths), TLS with a CA and certificate made at
test time (trustme), and the site configuration docs/deployment.rst shows
(docs/nginx/rtcio.conf), rendered with the test's ports and files.

The rendering replaces literal strings of the documented file; each must
be there, so the test fails if the documentation changes shape instead of
quietly testing something else."""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from .servers import ROOT, free_port, wait_for_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE_CONF = ROOT / "docs" / "nginx" / "rtcio.conf"

_MAIN = """\
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/rtcio.conf;
}}
"""


def render_site(upstream_ports, port, cert, key):
    """docs/nginx/rtcio.conf with this test's ports, certificate and key."""
    text = SITE_CONF.read_text()
    replacements = [("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                    ("/etc/ssl/certs/signal.example.com.pem", str(cert)),
                    ("/etc/ssl/private/signal.example.com.key", str(key))]
    documented_ports = (3001, 3002, 3003)
    assert len(upstream_ports) == len(documented_ports), upstream_ports
    for documented, upstream in zip(documented_ports, upstream_ports):
        replacements.append((f"server 127.0.0.1:{documented} ",
                             f"server 127.0.0.1:{upstream} "))
    for old, new in replacements:
        assert text.count(old) == 1, f"{SITE_CONF} no longer has {old!r}"
        text = text.replace(old, new)
    return text


class NginxProcess:
    """``nginx`` in front of ``upstream_ports`` with TLS from ``ca``
    (a ``trustme.CA``); ``url`` is https://127.0.0.1:<port>."""

    def __init__(self, upstream_ports, ca):
        if not os.path.exists(NGINX):
            pytest.fail("nginx is not installed; scripts/test.sh installs "
                        "the Debian package nginx")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rtcio-nginx-"))
        os.chmod(self.dir, 0o755)
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_and_cert_chain_pem.write_to_path(
            str(self.dir / "server.pem"))
        conf = render_site(upstream_ports, self.port, self.dir / "server.pem",
                           self.dir / "server.pem")
        (self.dir / "rtcio.conf").write_text(conf)
        user = "user root;" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(_MAIN.format(dir=self.dir,
                                                          user=user))
        self.proc = None

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
             "-e", str(self.dir / "error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, 10, self.proc, self.dir / "error.log")
        return self

    def error_log(self):
        return (self.dir / "error.log").read_text(errors="replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)   # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
