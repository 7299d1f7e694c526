"""A closed Chromium tab is a departure, not a blip: its websocket's close
frame (1001, going away) makes the server announce it at once, although
connection state recovery (on by default, 120 s window) would hold a
dropped connection. A tab that joins a second later is not told the closed
tab is a member, and the app's own disconnect handler ran (its /api/online
list lets the user go).
"""

import requests

from tests.browser.test_example_page import (open_tab, two_connected_tabs,
                                             wait_joined)


def test_a_closed_tab_leaves_the_room_at_once(tabs, dev_example):
    alice, bob = two_connected_tabs(tabs, dev_example, "tab-closes")
    assert "websocket" in alice.evaluate("demo.transportsUsed")
    alice_id = alice.evaluate("demo.me")
    online = f"{dev_example.server_url}/api/online"
    assert "alice" in requests.get(online, timeout=10).json()["users"]

    alice.close()
    log = dev_example.signaling.log_with(f"disconnect: {alice_id}",
                                         timeout=20)
    assert f"disconnect: {alice_id} ('alice'): transport close" in log
    assert "alice" not in requests.get(online, timeout=10).json()["users"]

    carol = open_tab(tabs, dev_example, "carol", "tab-closes")
    wait_joined(carol, "carol")
    carol.wait_for_function(
        "() => Object.values(demo.peers).some(p => p.name === 'bob')")
    names = carol.evaluate("Object.values(demo.peers).map(p => p.name)")
    assert names == ["bob"]
    assert "Traceback" not in dev_example.log()
