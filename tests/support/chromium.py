"""Debian's Chromium as the browser tests launch it (through Playwright's
``executable_path``; never a downloaded browser), and the socket.io client
the test pages load."""

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
