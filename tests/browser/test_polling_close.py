"""Polling only, as behind a proxy that blocks websockets: two Chromium
tabs of the demo page in one room, one tab closes, and the other sees the
departure (``#rtcio:peer-left``, then ``user-disconnected``) at once,
because the server notices the waiting long-poll's connection closing
(rtcio_flask/transport/hangup.py), as Node's engine.io does. Without that,
python-engineio notices at the ping timeout, 45 s later.
"""

from playwright.sync_api import expect

from tests.browser.test_example_page import two_connected_tabs


def test_closing_a_polling_tab_is_seen_within_2_seconds(tabs, dev_example):
    alice, bob = two_connected_tabs(tabs, dev_example, "polling-close",
                                    transports="polling")
    for page in (alice, bob):
        assert page.evaluate("demo.transportsUsed") == ["polling"]
    alice_id = alice.evaluate("demo.me")

    bob.evaluate("window.closeAt = Date.now()")
    alice.close()
    # A generous wait, still well under the 45 s ping timeout (which would
    # be the only other way to learn of it); the requirement is below.
    bob.wait_for_function("id => id in demo.peerLeftAt", arg=alice_id,
                          timeout=20_000)
    elapsed_ms = bob.evaluate("id => demo.peerLeftAt[id] - window.closeAt",
                              alice_id)
    print(f"polling: peer-left seen {elapsed_ms} ms after the tab closed")
    assert 0 <= elapsed_ms < 2000, elapsed_ms
    expect(bob.locator("#members li.peer")).to_have_count(0)
    assert bob.evaluate("demo.socket.connected") is True
