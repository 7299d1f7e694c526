"""The demo page in real Chromium tabs, served from one origin, signaling
through the example app on another: presence, a real RTCPeerConnection with
the rtc.io control DataChannel, chat both ways, login cookies on the
handshake, CORS refusals, both transports, and peer-left on tab close.
"""

import re
import sys

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import EXAMPLE, OUTPUT, side_by_side
from tests.support.servers import LiveServer, free_port, serve_app


def open_tab(tabs, example, name, room, host="127.0.0.1", **query):
    return tabs.open(example.page_url(host=host, name=name, room=room,
                                      autojoin=1, **query), name)


def wait_joined(page, user):
    page.wait_for_function("u => demo.joined && demo.user === u", arg=user)


def wait_peer_to_peer(page, peer_name):
    """The rtcio:ctrl DataChannel to ``peer_name`` is open."""
    page.wait_for_function(
        "n => Object.values(demo.peers).some(p => p.open && p.name === n)",
        arg=peer_name)
    expect(page.locator("#members li.p2p", has_text=peer_name)).to_be_visible()


def chat(sender, receiver, sender_name, text):
    """Type into the sender's chat box; the receiver shows it."""
    sender.fill("#chat-input", text)
    sender.click("#chat-send")
    expect(receiver.locator("#chat-log li", has_text=text)).to_have_text(
        f"{sender_name}: {text}")
    got = receiver.evaluate("demo.chat.map(m => [m.from, m.text])")
    assert [sender_name, text] in got


def two_connected_tabs(tabs, example, room, **query):
    alice = open_tab(tabs, example, "alice", room, **query)
    wait_joined(alice, "alice")
    bob = open_tab(tabs, example, "bob", room, **query)
    wait_joined(bob, "bob")
    wait_peer_to_peer(alice, "bob")
    wait_peer_to_peer(bob, "alice")
    return alice, bob


def test_two_tabs_connect_peer_to_peer_and_chat_both_ways(
        tabs, dev_example, browser):
    alice, bob = two_connected_tabs(tabs, dev_example, "p2p")

    # Presence: each tab lists itself and the other.
    for page, other in ((alice, "bob"), (bob, "alice")):
        expect(page.locator("#members li")).to_have_count(2)
        expect(page.locator("#members li.peer")).to_have_text(
            re.compile(rf"^{other}\s*peer-to-peer$"))

    # The page origin and the signaling server really are different origins.
    origins = alice.evaluate("[location.origin, demo.serverUrl]")
    assert origins == [dev_example.page_origin, dev_example.server_url]
    assert origins[0] != origins[1]

    # The connection is a real peer connection, not a relay via the server.
    state = alice.evaluate(
        "Object.values(demo.peers).map(p => [p.pc.connectionState, "
        "p.ctrl.label, p.ctrl.id, p.ctrl.negotiated])")
    assert state == [["connected", "rtcio:ctrl", 0, True]]

    chat(alice, bob, "alice", "hello from alice")
    chat(bob, alice, "bob", "hi alice, bob here")

    OUTPUT.mkdir(exist_ok=True)
    side_by_side(browser, [alice.screenshot(), bob.screenshot()],
                 OUTPUT / "demo-two-tabs.png")


def test_login_cookie_reaches_the_handshake_and_the_connect_hook(
        tabs, dev_example):
    alice = open_tab(tabs, dev_example, "alice", "cookies")
    wait_joined(alice, "alice")
    expect(alice.locator("#status")).to_contain_text("Signed in as alice")

    # The session cookie belongs to the signaling server's host, set by the
    # page's cross-origin POST /login (credentials: "include").
    cookies = alice.context.cookies(dev_example.server_url)
    assert [c["name"] for c in cookies] == ["session"]

    # The connect hook recorded the user it read from the session.
    sid = alice.evaluate("demo.me")
    assert f"connect hook: {sid} is logged in as 'alice'" in dev_example.log()
    online = requests.get(dev_example.server_url + "/api/online",
                          timeout=5).json()
    assert "alice" in online["users"]


def test_a_page_without_the_login_cookie_is_refused_visibly(
        tabs, dev_example):
    anon = open_tab(tabs, dev_example, "mallory", "cookies", nologin=1)
    status = anon.locator("#status")
    expect(status).to_have_text(
        "connect_error: login required: POST /login first (press "
        "\u201cLog in and join\u201d: the server only lets logged-in users "
        "connect)")
    expect(status).to_have_class(re.compile(r"\berror\b"))
    assert anon.evaluate("demo.me") is None
    assert anon.context.cookies(dev_example.server_url) == []
    # The refused page recovers: both buttons work again, and logging in
    # now joins.
    expect(anon.locator("#join")).to_be_enabled()
    expect(anon.locator("#join-anon")).to_be_enabled()
    assert anon.evaluate("demo.socket") is None
    anon.locator("#join").click()
    anon.wait_for_function("demo.joined === true")
    expect(status).to_contain_text("Signed in as mallory")


def test_a_page_from_an_origin_not_allowed_cannot_connect(
        tabs, dev_example):
    # localhost:<page port> is another origin than the allowed
    # 127.0.0.1:<page port>; the page is the same, and it signals to the
    # same server under the same host name (localhost:<server port>).
    evil_origin = f"http://localhost:{dev_example.page_port}"
    server = f"http://localhost:{dev_example.signaling.port}"
    page = open_tab(tabs, dev_example, "eve", "cors", host="localhost",
                    nologin=1)
    assert page.evaluate("[location.origin, demo.serverUrl]") == [
        evil_origin, server]

    page.wait_for_function("demo.connectError !== null")
    assert page.evaluate("demo.me") is None
    expect(page.locator("#status")).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#status")).to_have_text(
        f"connect_error: xhr poll error (this page's origin {evil_origin} "
        f"is not in ALLOWED_ORIGINS on {server}; add it there, and the "
        f"server's log names the refused origin)")
    expect(page.locator("#join")).to_be_enabled()
    blocked = [m for m in tabs.messages("blocked by CORS policy")
               if evil_origin in m[2] and server in m[2]]
    assert blocked, tabs.console
    assert any("No 'Access-Control-Allow-Origin' header" in m[2]
               for m in blocked), blocked

    # The server says why, in the log line the README tells people to find.
    assert (f"Origin '{evil_origin}' may not connect to the signaling "
            f"server") in dev_example.log()

    # The login route (flask-cors) refuses that origin too: fetch rejects.
    outcome = page.evaluate(
        "fetch(demo.serverUrl + '/login', {method: 'POST', credentials: "
        "'include', headers: {'Content-Type': 'application/json'}, body: "
        "'{\"name\": \"eve\"}'}).then(() => 'allowed', e => e.name)")
    assert outcome == "TypeError"

    # Websocket-only: no CORS wording, the handshake itself is refused.
    ws_page = open_tab(tabs, dev_example, "eve-ws", "cors", host="localhost",
                       nologin=1, transports="websocket")
    ws_page.wait_for_function("demo.connectError !== null")
    assert ws_page.evaluate("demo.me") is None
    refused = [m for m in tabs.messages("WebSocket connection to")
               if m[0] == "eve-ws" and server.replace("http", "ws") in m[2]]
    assert refused and "failed" in refused[0][2], tabs.console


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_one_transport_only_under_gunicorn_eventlet(
        tabs, gunicorn_example, transport):
    alice, bob = two_connected_tabs(tabs, gunicorn_example,
                                    f"only-{transport}",
                                    transports=transport)
    for page in (alice, bob):
        assert page.evaluate("demo.socket.io.engine.transport.name") == \
            transport
        assert page.evaluate("demo.transportsUsed") == [transport]
    chat(alice, bob, "alice", f"over {transport}, alice to bob")
    chat(bob, alice, "bob", f"over {transport}, bob to alice")


def test_closing_a_tab_is_seen_through_peer_left_within_3_seconds(
        tabs, dev_example):
    alice, bob = two_connected_tabs(tabs, dev_example, "leaving")
    alice_id = alice.evaluate("demo.me")

    bob.evaluate("window.closeAt = Date.now()")
    alice.close()
    bob.wait_for_function("id => id in demo.peerLeftAt", arg=alice_id)
    elapsed_ms = bob.evaluate("id => demo.peerLeftAt[id] - window.closeAt",
                              alice_id)
    # The spec's requirement for a closed tab (PROTOCOL.md, peer-left).
    assert 0 <= elapsed_ms < 3000, elapsed_ms
    print(f"peer-left seen {elapsed_ms} ms after the tab closed")
    expect(bob.locator("#members li.peer")).to_have_count(0)
    assert alice_id in bob.evaluate("Object.keys(demo.goneAt)")


def test_credentials_off_on_the_server_is_reported_by_the_browser(tabs):
    """The page connects withCredentials; a server that lists the origin but
    does not allow credentials gets the browser's credentials complaint
    (README, "blocked by CORS", item 4), not a silent failure."""
    page_port = free_port()
    signaling = serve_app(
        "tests.apps.basic:create_app", "eventlet",
        env={"RTCIO_ALLOWED_ORIGINS": f"http://127.0.0.1:{page_port}"})
    site = LiveServer([sys.executable, str(EXAMPLE / "page.py")],
                      port=page_port,
                      env={"PAGE_PORT": str(page_port),
                           "SIGNALING_URL": signaling.url})
    with signaling, site:
        page = tabs.open(f"http://127.0.0.1:{page_port}/?name=carol"
                         f"&autojoin=1&nologin=1", "carol")
        page.wait_for_function("demo.connectError !== null")
        assert page.evaluate("demo.me") is None
        complaint = [m for m in tabs.messages(
            "'Access-Control-Allow-Credentials' header in the response is ''")
            if signaling.url in m[2]]
        assert complaint, tabs.console
        # The page names credentials, not the origin (which is allowed).
        says_credentials = (
            f"connect_error: xhr poll error (the server at {signaling.url} "
            f"allows this page's origin http://127.0.0.1:{page_port} but "
            f"not credentials, and this page connects with withCredentials "
            f"to send its login cookie; start the server with credentials "
            f"on: rtcio-flask --credentials, or cors={{'origin': [...], "
            f"'credentials': True}})")
        expect(page.locator("#status")).to_have_text(says_credentials)

        # With a cookie for the server's host (cookies ignore ports), the
        # server sees the credentials and its log line says so too.
        page.evaluate("document.cookie = 'demo=1; path=/'")
        page.reload()
        page.wait_for_function("demo.connectError !== null")
        expect(page.locator("#status")).to_have_text(says_credentials)
        log = signaling.log_with("but it sends credentials")
        assert (f"Origin 'http://127.0.0.1:{page_port}' is allowed, but it "
                f"sends credentials (cookies: the page connects with "
                f"withCredentials)") in log
        assert "may not connect" not in log
