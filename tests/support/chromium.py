"""Debian's Chromium as the browser tests launch it (through Playwright's
``executable_path``; never a downloaded browser), the socket.io client the
test pages load, and :class:`Tabs`, the pages of one test. The fixtures
``chromium_args``, ``browser`` and ``tabs`` (tests/conftest.py) are the
suite's one way to get a browser."""

import contextlib
from pathlib import Path
from typing import Iterator, List, Optional

from .servers import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic",
    # Plain host candidates instead of mDNS names: resolving those would
    # send multicast queries out of the machine's interface. The two tabs
    # then connect over this host's own addresses, which never leave it.
    # (Chromium gathers no candidates at all where loopback is the only
    # interface, loopback flag or not.)
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
# A camera and a microphone that play a test pattern and a beep, allowed
# without a prompt (a module overrides the ``chromium_args`` fixture).
MEDIA_ARGS = CHROMIUM_ARGS + [
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# How long a page waits for what takes well under a second here; generous
# because the machine is shared (a timeout, not a threshold).
WAIT_MS = 20_000
CLIENT_JS = ROOT / "node_modules" / "socket.io-client" / "dist" / \
    "socket.io.min.js"


@contextlib.contextmanager
def launch_chromium(args: Optional[List[str]] = None) -> Iterator[object]:
    """Debian's Chromium through Playwright (never a downloaded browser),
    closed afterwards; fails clearly when it or socket.io-client is
    missing."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: bash scripts/test.sh installs Debian's "
        f"chromium package")
    assert CLIENT_JS.exists(), (
        "socket.io-client is missing: run `npm ci` in the repository root "
        "(bash scripts/test.sh does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS if args is None else args)
        try:
            yield chromium
        finally:
            chromium.close()


class Tabs:
    """Browser tabs for one test, each in its own context (own cookies, as
    two people on two machines), with every console message and page error
    recorded; closed by :meth:`close`."""

    def __init__(self, browser):
        self.browser = browser
        self.contexts = []
        self.console = []   # (tab label, type, text)

    def open(self, url, label="", **query):
        """A new tab at ``url`` (``query`` appended as its query string)."""
        if query:
            url += ("&" if "?" in url else "?") + "&".join(
                f"{k}={v}" for k, v in query.items())
        context = self.browser.new_context(viewport={"width": 900,
                                                     "height": 620})
        context.set_default_timeout(WAIT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: self.console.append(
            (label, msg.type, msg.text)))
        page.on("pageerror", lambda err: self.console.append(
            (label, "pageerror", str(err))))
        page.goto(url)
        return page

    def messages(self, needle):
        return [m for m in self.console if needle.lower() in m[2].lower()]

    def close(self):
        for context in self.contexts:
            context.close()
