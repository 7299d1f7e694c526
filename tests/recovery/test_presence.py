"""Presence and the app's own handlers under connection state recovery,
with the real socket.io-client 4.8 (Node) through a cutting proxy."""

import re
import urllib.request

import pytest

from tests.support.servers import serve_app

from .test_recovery import run_blip

APP = "tests.apps.presence_app:create_app"


@pytest.fixture(scope="module")
def short_window():
    srv = serve_app(APP, "eventlet",
                    env={"RTCIO_RECOVERY_WINDOW": "1.5"}).start()
    yield srv
    srv.stop()


def _login(server, user):
    with urllib.request.urlopen(f"{server.url}/login?user={user}") as resp:
        cookie = resp.headers["Set-Cookie"]
    return cookie.split(";", 1)[0]


@pytest.mark.parametrize("transports", ["websocket", "polling"])
def test_app_disconnect_handler_at_window_end_has_its_request(
        short_window, transports):
    """A cut client that does not come back within the window departs;
    the app's disconnect handler then reads flask.request and
    flask.session as in any other event (no KeyError traceback)."""
    srv = short_window
    cookie = _login(srv, f"carol-{transports}")
    done = run_blip(srv.url, srv.port, "expire", transports, gap=4.0,
                    env={"COOKIE": cookie})
    assert done["recovered"] is False
    assert ["user-disconnected", done["aId"]] in done["log"]["b"]
    log = srv.log_with(f"APP-DISCONNECT sid={done['aId']}")
    lines = re.findall(rf"APP-DISCONNECT sid={re.escape(done['aId'])} .*",
                       log)
    assert lines == [f"APP-DISCONNECT sid={done['aId']} same=True "
                     f"addr=127.0.0.1 user=carol-{transports} "
                     f"path=/socket.io/ reason=transport close"] or \
        lines == [f"APP-DISCONNECT sid={done['aId']} same=True "
                  f"addr=127.0.0.1 user=carol-{transports} "
                  f"path=/socket.io/ reason=ping timeout"], log[-3000:]
    assert "Traceback" not in log
