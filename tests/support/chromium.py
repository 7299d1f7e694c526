"""Debian's Chromium as the browser tests launch it (through Playwright's
``executable_path``; never a downloaded browser), and the socket.io client
the test pages load."""

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
