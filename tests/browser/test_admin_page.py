"""The socket.io Admin UI as the extension serves it, in Chromium: the page
loads from the app itself (nothing from an outside host), its login form
already points at this server, the login works, and the sockets page lists
a connected user with its name in the room. The server allows a list of
origins that does not name its own (a front end elsewhere, as in
production): the page, on the server's own origin, still logs in, and may
open nothing but the admin namespace."""

import sys

from tests.browser.conftest import OUTPUT
from tests.support.chromium import WAIT_MS
from tests.support.clients import Recorder
from tests.support.servers import LiveServer

CLI = [sys.executable, "-m", "rtcio_flask", "--port", "{port}",
       "--allowed-origins", "https://front.example"]
# A raw Engine.IO websocket from the admin page (the server's own origin)
# asking for the default namespace: what the server answers.
OPEN_DEFAULT_NAMESPACE = """() => new Promise(resolve => {
  const ws = new WebSocket(location.origin.replace(/^http/, 'ws') +
                           '/socket.io/?EIO=4&transport=websocket');
  ws.onmessage = e => {
    if (e.data.startsWith('0')) ws.send('40');
    if (e.data.startsWith('4')) { ws.close(); resolve(e.data); }
  };
  ws.onclose = e => resolve('closed ' + e.code);
})"""
ENV = {"RTCIO_ADMIN_USERNAME": "ops", "RTCIO_ADMIN_PASSWORD": "s3cret"}


def test_admin_ui_page_logs_in_and_lists_sockets(browser):
    with LiveServer(CLI, env=ENV) as server:
        # A bot sends no Origin (its websocket would send the server's own).
        alice = Recorder(websocket_extra_options={
            "suppress_origin": True}).connect(server.url)
        alice.emit("join-room", {"roomId": "standup", "name": "alice"})
        alice.wait_for("join-ok")
        outside = []
        page = browser.new_page()
        try:
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith(server.url) else None)
            page.goto(server.url + "/admin")
            url_field = page.get_by_label("Server URL")
            url_field.wait_for(timeout=WAIT_MS)
            # The form already points at this server.
            assert url_field.input_value() == server.url
            page.get_by_label("Username").fill("ops")
            page.get_by_label("Password").fill("wrong")
            page.get_by_role("button", name="Connect").click()
            page.get_by_text("Invalid credentials").wait_for(timeout=WAIT_MS)
            page.get_by_label("Password").fill("s3cret")
            page.get_by_role("button", name="Connect").click()
            page.get_by_label("Server URL").wait_for(state="hidden",
                                                     timeout=WAIT_MS)
            page.goto(server.url + "/admin/#/sockets")
            page.get_by_text(alice.sid).first.wait_for(timeout=WAIT_MS)
            page.get_by_text(alice.sid).first.click()
            page.get_by_text("alice").first.wait_for(timeout=WAIT_MS)
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "admin-ui.png"), full_page=True)
            # The page's origin opens the default namespace: refused.
            refused = page.evaluate(OPEN_DEFAULT_NAMESPACE)
            assert refused.startswith(
                f'44{{"message":"Origin \'{server.url}\' may not connect'), \
                refused
            assert "may open only the Admin UI's namespace /admin" in refused
        finally:
            page.close()
        alice.disconnect()
        assert outside == []
        log = server.log()
        assert "admin login refused for user 'ops'" in log
        assert "Traceback" not in log
        assert "may open that namespace only" in log
        assert log.count("may open only the Admin UI's namespace") == 1
