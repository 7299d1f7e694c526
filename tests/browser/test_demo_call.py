"""The demo as a call, in Chromium with fake camera and microphone: two
pages see each other's video, a server restart shows "Reconnecting" and
the call comes back, Leave ends it; a page without a camera still sees the
others; "Join without logging in" against a server that needs no login;
the layout at a phone's width. The two-page screenshot goes to
test-output/demo-call.png; with RTCIO_UPDATE_SCREENSHOTS=1 also to
docs/demo.png, the one the README shows."""

import os
import shutil
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (EXAMPLE, OUTPUT, side_by_side,
                                    start_dev_example)
from tests.recovery.proxy import CuttingProxy
from tests.support.chromium import MEDIA_ARGS, WAIT_MS
from tests.support.servers import ROOT, LiveServer, free_port, wait_for_port

SCREENSHOT = ROOT / "docs" / "demo.png"


@pytest.fixture(scope="module")
def chromium_args():
    """The calls need a camera: Chromium's fake one."""
    return MEDIA_ARGS


@pytest.fixture
def example():
    """The example app of its own (the call test restarts it)."""
    started = start_dev_example()
    try:
        yield started
    finally:
        started.stop()


def join(tabs, example, name, room, **query):
    page = tabs.open(example.page_url(name=name, room=room, autojoin=1,
                                      **query), name)
    page.wait_for_function("demo.joined === true")
    return page


def sees_video_of(page, name):
    """A playing <video> from ``name``: frames with a size, not a black
    box."""
    page.wait_for_function(
        """n => [...document.querySelectorAll('#videos figure:not(.me)')]
               .some(f => f.querySelector('figcaption').textContent === n
                          && f.querySelector('video').videoWidth > 0)""",
        arg=name)


def test_two_pages_call_survive_a_server_restart_and_leave(
        tabs, example, browser):
    alice = join(tabs, example, "alice", "call")
    bob = join(tabs, example, "bob", "call")
    for page, other in ((alice, "bob"), (bob, "alice")):
        assert page.evaluate("demo.media") == "camera"
        sees_video_of(page, other)
        # Its own camera shows too.
        page.wait_for_function(
            "document.querySelector('#videos figure.me video').videoWidth"
            " > 0")
    alice.wait_for_function(
        "Object.values(demo.peers).some(p => p.open)")
    alice.fill("#chat-input", "before the restart")
    alice.click("#chat-send")
    expect(bob.locator("#chat-log li")).to_have_text(
        "alice: before the restart")
    for page in (alice, bob):
        page.evaluate("window.scrollTo(0, 0)")
    side_by_side(browser, [alice.screenshot(), bob.screenshot()],
                 OUTPUT / "demo-call.png")
    if os.environ.get("RTCIO_UPDATE_SCREENSHOTS"):
        shutil.copyfile(OUTPUT / "demo-call.png", SCREENSHOT)

    # The server goes away: both pages say so, and keep trying.
    example.signaling.stop()
    for page in (alice, bob):
        expect(page.locator("#status")).to_contain_text("Reconnecting")
        expect(page.locator("#status")).to_have_class("status warn")
        assert page.evaluate("demo.socket !== null")
    example.signaling.start()
    wait_for_port(example.page_port, 20)
    for page, other in ((alice, "bob"), (bob, "alice")):
        page.wait_for_function("demo.reconnects >= 1 && demo.joined")
        expect(page.locator("#status")).to_have_class("status ok")
        sees_video_of(page, other)
        expect(page.locator("#members li.peer")).to_have_count(1)
    # Nothing the page had is lost: the chat, the camera, the room.
    expect(bob.locator("#chat-log li")).to_have_text(
        "alice: before the restart")
    alice.wait_for_function(
        "Object.values(demo.peers).some(p => p.open)")
    alice.fill("#chat-input", "after the restart")
    alice.click("#chat-send")
    expect(bob.locator("#chat-log li").nth(1)).to_have_text(
        "alice: after the restart")

    # Leave: alice is back at the form, camera off; bob sees her go.
    alice.click("#leave")
    expect(alice.locator("#status")).to_have_text(
        "Left the room. Join again when you like.")
    expect(alice.locator("#join")).to_be_enabled()
    expect(alice.locator("#join-anon")).to_be_visible()
    expect(alice.locator("#leave")).to_be_hidden()
    assert alice.evaluate("demo.localStream") is None
    expect(alice.locator("#videos figure")).to_have_count(0)
    expect(bob.locator("#members li.peer")).to_have_count(0)
    expect(bob.locator("#videos figure:not(.me)")).to_have_count(0)
    # And joins again with one click.
    alice.click("#join")
    alice.wait_for_function("demo.joined === true")
    sees_video_of(bob, "alice")


def test_a_network_cut_is_recovered_without_redoing_the_call(tabs, example):
    """Alice's signaling goes through a proxy that cuts it (no close frame,
    as a Wi-Fi hand-over looks): she shows "Reconnecting", bob sees her
    marked reconnecting, and when the network is back the server recovers
    her socket: same id, same peer connection, the video never stopped."""
    proxy = CuttingProxy(example.signaling.port)
    try:
        alice = join(tabs, example, "alice", "cut", server=proxy.url)
        bob = join(tabs, example, "bob", "cut")
        sees_video_of(alice, "bob")
        sees_video_of(bob, "alice")
        alice_id = alice.evaluate("demo.me")
        alice.evaluate("window.callBefore = Object.values(demo.peers)[0].pc")

        proxy.cut(refuse=True)
        expect(alice.locator("#status")).to_contain_text("Reconnecting")
        expect(bob.locator("#members li.peer")).to_have_text(
            "alicereconnecting")
        proxy.resume()
        alice.wait_for_function("demo.recovered === 1")
        expect(alice.locator("#status")).to_have_text(
            "Back in room cut (the server kept our place).")
        expect(bob.locator("#members li.peer")).to_have_text(
            "alicepeer-to-peer")
        assert alice.evaluate("demo.me") == alice_id
        assert alice.evaluate(
            "Object.values(demo.peers)[0].pc === window.callBefore")
        sees_video_of(alice, "bob")
        sees_video_of(bob, "alice")
    finally:
        proxy.close()


def test_a_page_without_a_camera_watches_and_chats(tabs, example):
    bob = join(tabs, example, "bob", "watch")
    # Chromium's own answer when a page may not use a camera.
    viewer = tabs.browser.new_context()
    tabs.contexts.append(viewer)
    page = viewer.new_page()
    page.set_default_timeout(WAIT_MS)
    page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () => Promise.reject("
        "new DOMException('no camera here', 'NotFoundError'))")
    page.goto(example.page_url(name="carol", room="watch", autojoin=1))
    page.wait_for_function("demo.joined === true")
    assert page.evaluate("demo.media") == "receive-only"
    expect(page.locator("#media-status")).to_have_text(
        "No camera or microphone (NotFoundError): you see and hear the "
        "others, and chat.")
    sees_video_of(page, "bob")
    # bob gets no video from carol (she sends none), but the chat works.
    page.wait_for_function("Object.values(demo.peers).some(p => p.open)")
    page.fill("#chat-input", "I can see you")
    page.click("#chat-send")
    expect(bob.locator("#chat-log li")).to_have_text("carol: I can see you")
    assert bob.evaluate(
        "[...document.querySelectorAll('#videos figure:not(.me) video')]"
        ".every(v => v.videoWidth === 0)")


def test_join_without_logging_in_on_a_server_without_login(tabs):
    """``rtcio-flask`` (no login) with the demo page on another origin: the
    anonymous join reaches the room and the page says so."""
    page_port = free_port()
    origin = f"http://127.0.0.1:{page_port}"
    signaling = LiveServer([sys.executable, "-m", "rtcio_flask", "--port",
                            "{port}", "--allowed-origins", origin,
                            "--credentials"])
    site = LiveServer([sys.executable, str(EXAMPLE / "page.py")],
                      port=page_port,
                      env={"PAGE_PORT": str(page_port),
                           "SIGNALING_URL": signaling.url})
    with signaling, site:
        page = tabs.open(f"{origin}/?name=dora&room=open", "dora")
        page.click("#join-anon")
        page.wait_for_function("demo.joined === true")
        expect(page.locator("#status")).to_have_text(
            page.evaluate("'Not logged in, as dora (socket ' + demo.me + "
                          "'), in room open.'"))
        expect(page.locator("#members li").first).to_have_text("dorayou")
        expect(page.locator("#leave")).to_be_visible()


def test_the_page_holds_at_a_phone_width(browser, example):
    context = browser.new_context(viewport={"width": 375,
                                                  "height": 740},
                                        device_scale_factor=2)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(example.page_url(name="erin", room="phone", autojoin=1))
        page.wait_for_function("demo.joined === true")
        # Nothing sticks out sideways.
        assert page.evaluate(
            "document.documentElement.scrollWidth") <= 375
        # The form is one column: the fields and buttons stacked, full
        # width, none beside another.
        expect(page.locator("#join")).to_be_hidden()
        boxes = [page.locator(sel).bounding_box() for sel in
                 ("#name", "#room", "#leave")]
        tops = [box["y"] for box in boxes]
        assert tops == sorted(tops) and len(set(tops)) == len(tops), boxes
        widths = {round(box["width"]) for box in boxes}
        assert len(widths) == 1, boxes
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "demo-phone.png"), full_page=True)
    finally:
        context.close()
