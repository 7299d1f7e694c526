"""Connection-level protection, pure: how many connections one client
address may hold, how long a connection may take to send its request
headers, and how much may wait in one socket's outgoing queue.

The numbers and why:

- ``max_connections_per_address`` = 200 Engine.IO sessions (socket.io
  connections). A browser tab holds one; an office or school behind one NAT
  address with 100-150 people each in a call (some with two tabs) stays
  under it, while one client can no longer take the whole server (the
  WSGI servers' pools hold 1,000-1,024 connections). The TCP accept loops
  the project starts allow twice as many raw connections per address
  (:attr:`ProtectionSettings.max_tcp_per_address`): a polling session holds
  two (the pending GET and a POST), a websocket upgrade briefly two.
- ``header_timeout`` = 10 s from accepting a connection to its complete
  request headers (Node's ``headersTimeout`` is 60 s; browsers send headers
  in one packet, a slow mobile link in well under a second), and
  ``keepalive_timeout`` = 30 s idle between two requests of a kept-alive
  connection (longer than the 25 s ping interval, so a polling client that
  keeps its connection between polls is never cut).
- ``max_queue_bytes`` = 4 MiB and ``max_queue_packets`` = 4,096 waiting in
  one socket's outgoing queue. A newcomer in a full 50-member room
  receives about 49 x (1 SDP + 8 candidates + presence) = 500 packets and
  0.5 MB in one burst; the caps are about eight times that. A client
  that reads nothing fills them within seconds under real traffic (the
  kernel's socket buffers hold a few MB more first).

0 (or None/False) turns a cap or timeout off.
"""

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Set

from .values import is_off, positive_number

DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 200
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_KEEPALIVE_TIMEOUT = 30.0
DEFAULT_MAX_QUEUE_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_QUEUE_PACKETS = 4096
#: The connection pool of the accept loops the project starts (eventlet's
#: default is 1,024): the per-address cap keeps one client from filling it.
DEFAULT_MAX_CONNECTIONS = 10000


def optional_number(value: Any, what: str, *, whole: bool = True,
                    unit: str = "") -> Optional[float]:
    """A positive number, or None when the setting is off (0, None, off)."""
    if is_off(value):
        return None
    return positive_number(value, what, whole=whole, unit=unit,
                           hint=" (0 turns it off)")


@dataclass(frozen=True)
class ProtectionSettings:
    """The resolved connection caps and timeouts (None: off)."""

    max_connections_per_address: Optional[int] = \
        DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
    #: Proxies in front of the server whose ``X-Forwarded-For`` entry is
    #: trusted: 0 (default) uses the TCP peer address; 1 the address the
    #: nearest proxy saw. Only set it when every request comes through
    #: those proxies: a client could otherwise forge its address.
    trusted_proxy_hops: int = 0
    header_timeout: Optional[float] = DEFAULT_HEADER_TIMEOUT
    keepalive_timeout: Optional[float] = DEFAULT_KEEPALIVE_TIMEOUT
    max_queue_bytes: Optional[int] = DEFAULT_MAX_QUEUE_BYTES
    max_queue_packets: Optional[int] = DEFAULT_MAX_QUEUE_PACKETS
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @property
    def max_tcp_per_address(self) -> Optional[int]:
        """TCP connections one address may hold in the accept loops we
        start: two per session (see the module docstring). Off behind
        trusted proxies, where every connection comes from a proxy."""
        if self.max_connections_per_address is None or \
                self.trusted_proxy_hops:
            return None
        return 2 * self.max_connections_per_address


def build_settings(values: Dict[str, Any],
                   where: Dict[str, str]) -> ProtectionSettings:
    """Check raw values (from arguments, config or environment; ``where``
    names each one's source for errors) into :class:`ProtectionSettings`."""
    def name(key: str) -> str:
        return where.get(key) or "RTCIO_" + key.upper()

    per_address = optional_number(values.get(
        "max_connections_per_address", DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
        name("max_connections_per_address"), unit="connections")
    hops_value = values.get("trusted_proxy_hops", 0)
    hops = 0 if is_off(hops_value) else int(positive_number(
        hops_value, name("trusted_proxy_hops"), unit="proxies",
        hint=" (0: no proxy is trusted)"))
    header = optional_number(values.get("header_timeout",
                                        DEFAULT_HEADER_TIMEOUT),
                             name("header_timeout"), whole=False,
                             unit="seconds")
    keepalive = optional_number(values.get("keepalive_timeout",
                                           DEFAULT_KEEPALIVE_TIMEOUT),
                                name("keepalive_timeout"), whole=False,
                                unit="seconds")
    queue_bytes = optional_number(values.get("max_queue_bytes",
                                             DEFAULT_MAX_QUEUE_BYTES),
                                  name("max_queue_bytes"), unit="bytes")
    queue_packets = optional_number(values.get("max_queue_packets",
                                               DEFAULT_MAX_QUEUE_PACKETS),
                                    name("max_queue_packets"),
                                    unit="packets")
    total = positive_number(values.get("max_connections",
                                       DEFAULT_MAX_CONNECTIONS),
                            name("max_connections"), unit="connections")
    return ProtectionSettings(
        max_connections_per_address=None if per_address is None
        else int(per_address),
        trusted_proxy_hops=hops,
        header_timeout=header, keepalive_timeout=keepalive,
        max_queue_bytes=None if queue_bytes is None else int(queue_bytes),
        max_queue_packets=None if queue_packets is None
        else int(queue_packets),
        max_connections=int(total))


def client_address(remote_addr: Optional[str], forwarded_for: Optional[str],
                   trusted_hops: int) -> str:
    """The client's address: the TCP peer, or with ``trusted_hops`` proxies
    the entry of ``X-Forwarded-For`` the farthest trusted proxy added (the
    list's ``trusted_hops``-th entry from the right; proxies append)."""
    if trusted_hops and forwarded_for:
        hops = [part.strip() for part in forwarded_for.split(",")
                if part.strip()]
        if hops:
            return hops[-min(trusted_hops, len(hops))]
    return remote_addr or "?"


#: The WSGI environ key holding a request's client address, set by the
#: outermost layer in front of Engine.IO (the session cap) on every
#: ``/socket.io/`` request, so a socket's handshake environ carries it.
ADDRESS_KEY = "rtcio.client_address"


def request_address(environ: Mapping[str, Any], trusted_hops: int = 0
                    ) -> str:
    """The one client-address rule for a WSGI request: the session cap,
    the password throttle, admin logins and every log line naming a client
    call this, so they never disagree about who a client is behind a
    proxy. A ``/socket.io/`` request (and a socket's handshake environ)
    already carries the address under :data:`ADDRESS_KEY`; any other
    request is resolved with ``trusted_hops`` (the app's
    ``trusted_proxy_hops``)."""
    stamped = environ.get(ADDRESS_KEY)
    if stamped is not None:
        return str(stamped)
    return client_address(environ.get("REMOTE_ADDR"),
                          environ.get("HTTP_X_FORWARDED_FOR"), trusted_hops)


class AddressCounter:
    """Open connections per client address, with a cap, and whether a
    refusal is the first of an episode (one WARNING per address per
    episode: it ends when the address drops below its cap again)."""

    def __init__(self, cap: Optional[int]) -> None:
        self.cap = cap
        self.open: Dict[str, int] = {}
        self._refusing: Set[str] = set()
        #: Refusals in the current episode, per address (for the log line
        #: that ends it).
        self.refused: Dict[str, int] = {}

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``, or refuse it (False)
        when the address already holds ``cap``."""
        count = self.open.get(address, 0)
        if self.cap is not None and count >= self.cap:
            self.refused[address] = self.refused.get(address, 0) + 1
            return False
        self.open[address] = count + 1
        return True

    def first_refusal(self, address: str) -> bool:
        """True for the first refusal of an episode (log it), else False.
        An episode ends when the address holds at most half its cap again,
        so a client hovering at the cap does not log a line per try."""
        if address in self._refusing:
            return False
        self._refusing.add(address)
        return True

    def release(self, address: str) -> int:
        """Count a connection from ``address`` as closed. Returns how many
        refusals the episode that ended now had (0: none ended)."""
        count = self.open.get(address, 0) - 1
        if count <= 0:
            self.open.pop(address, None)
        else:
            self.open[address] = count
        if address in self._refusing and (
                self.cap is None or max(count, 0) <= self.cap // 2):
            self._refusing.discard(address)
            return self.refused.pop(address, 0)
        return 0
