"""Issue 14, item 6: under gunicorn the health check must answer 503 as soon
as the worker got SIGTERM, as the standalone server does, also when the app
is loaded before the fork (``--preload``), where the SIGTERM handler RTCIO
chained at load time belonged to the arbiter and the workers' health kept
answering 200 until they exited (1-2 s).

(gthread is left out: its worker stops reading new connections as soon as
it gets SIGTERM, so a health check there times out, which a balancer also
reads as down.)"""

import logging
import signal
import time

import pytest
import requests

from tests.support.gunicorn import serve_gunicorn

APP = "tests.apps.deploy_app:create_app()"
log = logging.getLogger(__name__)


@pytest.mark.parametrize("worker,extra", [
    ("eventlet", ["--preload"]),
    ("gevent", ["--preload"]),
    ("eventlet", []),
])
def test_healthz_answers_503_right_after_sigterm(worker, extra):
    server = serve_gunicorn(APP, worker, graceful_timeout=30, extra=extra,
                            threads=4 if worker == "gthread" else None)
    with server:
        assert requests.get(server.url + "/healthz", timeout=5).status_code \
            == 200
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        # The arbiter forwards SIGTERM to the worker within milliseconds;
        # the worker then serves for up to a second or two before it exits
        # (or closes its listener). Sample the health check meanwhile.
        seen = []
        while time.monotonic() - sent < 3:
            at = time.monotonic() - sent
            try:
                answer = requests.get(server.url + "/healthz", timeout=2)
            except requests.RequestException as exc:
                seen.append((round(at, 2), type(exc).__name__))
                break
            seen.append((round(at, 2), answer.status_code))
            time.sleep(0.05)
        log.info("%s %s: /healthz after SIGTERM: %s", worker, extra, seen)
        late_ok = [(at, code) for at, code in seen if at >= 0.2 and
                   code == 200]
        assert not late_ok, (seen, server.log()[-2000:])
        # Each worker type says "down" its own way: 503 (eventlet), or a
        # listener already closed (gevent with --preload).
        assert any(code != 200 for _, code in seen), seen
