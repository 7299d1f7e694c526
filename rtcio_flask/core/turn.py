"""Time-limited TURN credentials in coturn's REST API format.

A TURN server that relays for anyone is an open proxy, and a password baked
into a web page is public. The TURN REST API (coturn's ``use-auth-secret``)
avoids both: the signaling server and the TURN server share one secret, and
every client gets a username ``"<expiry unix time>:<user id>"`` with the
password ``base64(HMAC-SHA1(secret, username))``. The TURN server recomputes
the HMAC and checks the expiry itself, so nothing has to be stored or
revoked, and a leaked credential stops working on its own.

Pure logic (no Flask, no socket.io) so it is unit-testable; the ``ask-ice``
event that hands these out lives in :mod:`rtcio_flask.protocol.ice`.
"""

import base64
import datetime
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Tuple, Union)

from .options import check_known
from .values import positive_number

#: The shared secret: text, or raw bytes.
Secret = Union[str, bytes]
#: ``user_id(sid)`` -> the user part of a TURN username, or None.
UserIdHook = Callable[[str], Any]

#: Lifetime of a credential when none is set: one day, as the TURN REST API
#: draft suggests. coturn checks the expiry on every refresh of an
#: allocation, so a call lasts at most this long after the client asked.
DEFAULT_TTL = 86400

#: STUN caps USERNAME at 513 bytes; the expiry and ':' take about 11.
MAX_USER_ID_BYTES = 500

TURN_SCHEMES = ("turn:", "turns:")
STUN_SCHEMES = ("stun:", "stuns:")

_EXAMPLE = ("TurnConfig(secret='<the static-auth-secret of coturn>', "
            "urls=['turn:turn.example.com:3478?transport=udp'])")


@dataclass(frozen=True)
class TurnCredentials:
    """One vended credential and the unix time it stops working."""

    username: str
    credential: str
    expires: int


def rest_credential(secret: Secret, username: str) -> str:
    """The password coturn expects for ``username``:
    ``base64(HMAC-SHA1(secret, username))``."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    digest = hmac.new(secret, username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def check_user_id(user_id: Union[str, int]) -> str:
    """The user part of a TURN username as a string, or ValueError.

    Anything may follow the first ':' (coturn reads the expiry before it),
    but the whole username must fit in a STUN attribute.
    """
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
        raise ValueError(f"a TURN user id is a string such as the socket id "
                         f"or a user name, not {type(user_id).__name__}")
    text = str(user_id)
    if not text:
        raise ValueError("a TURN user id must not be empty")
    if len(text.encode("utf-8")) > MAX_USER_ID_BYTES:
        raise ValueError(f"a TURN user id must fit in {MAX_USER_ID_BYTES} "
                         f"bytes (STUN's USERNAME limit)")
    return text


def make_credentials(secret: Secret, user_id: Union[str, int],
                     ttl: int = DEFAULT_TTL,
                     now: Optional[float] = None) -> TurnCredentials:
    """Credentials for ``user_id`` valid for ``ttl`` seconds from ``now``
    (a unix time; the current time when None)."""
    user = check_user_id(user_id)
    if now is None:
        now = time.time()
    expires = int(now) + int(ttl)
    username = f"{expires}:{user}"
    return TurnCredentials(username, rest_credential(secret, username),
                           expires)


def _url_list(value: Any, schemes: Tuple[str, str], what: str,
              where: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{where}: {what} is a list of URLs or one "
                         f"comma-separated string, not {value!r}.") from None
    urls: List[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{where}: every {what} entry is a string such "
                             f"as '{schemes[0]}host:3478', not {item!r}.")
        url = item.strip()
        if not url:
            continue
        scheme = url.split(":", 1)[0].lower() + ":"
        if scheme not in schemes or len(url) <= len(scheme) or any(
                ch.isspace() for ch in url):
            raise ValueError(
                f"{where}: {url!r} is not a {what} URL; write it as "
                f"'{schemes[0]}host:3478?transport=udp' or "
                f"'{schemes[1]}host:5349' (RFC 7064/7065).")
        urls.append(url)
    return tuple(urls)


def _ttl_seconds(value: Any, where: str) -> int:
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
        if value == int(value):
            value = int(value)
    return int(positive_number(value, f"{where}: the TURN credential "
                                      f"lifetime", unit="seconds",
                               hint=" (such as 86400, one day)"))


class TurnConfig:
    """What RTCIO needs to vend TURN credentials, checked at start-up.

    ``secret`` is coturn's ``static-auth-secret``; ``urls`` the ``turn:`` /
    ``turns:`` URLs clients get the credentials for; ``stun_urls`` optional
    ``stun:`` URLs sent alongside; ``ttl`` the lifetime in seconds (or a
    ``timedelta``). ``user_id``, when given, is called as ``user_id(sid)``
    inside the socket's Flask request context and returns the user part of
    the username (for example the logged-in user, so coturn's logs name
    people), or None to refuse the socket any credentials.

    Fields:

    - ``secret``: coturn's ``static-auth-secret`` (str or bytes).
    - ``urls``: ``turn:``/``turns:`` URLs, a list or one comma-separated
      string; at least one.
    - ``ttl``: credential lifetime in seconds or a ``timedelta`` (86400).
    - ``stun_urls``: ``stun:``/``stuns:`` URLs handed out alongside.
    - ``user_id``: ``user_id(sid)`` -> the user part of the username, or
      None to refuse that socket (default: the socket id).
    """

    def __init__(self, secret: Secret, urls: Union[str, Iterable[str]],
                 ttl: Any = DEFAULT_TTL,
                 stun_urls: Union[None, str, Iterable[str]] = (),
                 user_id: Optional[UserIdHook] = None, *,
                 where: str = "TurnConfig") -> None:
        if isinstance(secret, bytes):
            ok = bool(secret)
        else:
            ok = isinstance(secret, str) and bool(secret.strip())
        if not ok:
            raise ValueError(
                f"{where}: the TURN secret must be a non-empty string, the "
                f"same as coturn's static-auth-secret; got {secret!r}. "
                f"Write {_EXAMPLE}.")
        self.secret = secret
        self.urls = _url_list(urls, TURN_SCHEMES, "TURN", where)
        if not self.urls:
            raise ValueError(f"{where}: give at least one TURN URL, for "
                             f"example urls=['turn:turn.example.com:3478'] "
                             f"(STUN URLs go in stun_urls).")
        self.stun_urls = _url_list(stun_urls, STUN_SCHEMES, "STUN", where)
        self.ttl = _ttl_seconds(ttl, where)
        if user_id is not None and not callable(user_id):
            raise ValueError(f"{where}: user_id is a function sid -> user "
                             f"id (or None), not {user_id!r}.")
        self.user_id = user_id

    def __repr__(self) -> str:
        # Never print the secret: configs end up in logs and tracebacks.
        return (f"TurnConfig(urls={list(self.urls)!r}, ttl={self.ttl}, "
                f"stun_urls={list(self.stun_urls)!r})")

    def credentials(self, user_id: Union[str, int],
                    now: Optional[float] = None) -> TurnCredentials:
        """Fresh :class:`TurnCredentials` for ``user_id``."""
        return make_credentials(self.secret, user_id, self.ttl, now)

    def ice_servers(self, user_id: Union[str, int],
                    now: Optional[float] = None) -> List[Dict[str, Any]]:
        """The ``iceServers`` list of an ``RTCConfiguration`` for one user:
        the STUN URLs (if any), then the TURN URLs with credentials."""
        creds = self.credentials(user_id, now)
        servers: List[Dict[str, Any]] = []
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        servers.append({"urls": list(self.urls), "username": creds.username,
                        "credential": creds.credential})
        return servers

    @classmethod
    def from_value(cls, value: Any, where: str = "RTCIO(turn=...)"
                   ) -> Optional["TurnConfig"]:
        """A TurnConfig from ``turn=``: a TurnConfig, a dict of its
        arguments, or None/False for no TURN."""
        if value is None or value is False:
            return None
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {"secret", "urls", "ttl", "stun_urls", "user_id"}
            check_known(value, known, where, what="key")
            if "secret" not in value or "urls" not in value:
                raise ValueError(f"{where}: a TURN dict needs 'secret' and "
                                 f"'urls', for example {{'secret': '...', "
                                 f"'urls': ['turn:turn.example.com:3478']}}.")
            return cls(where=where, **value)
        raise ValueError(f"{where} takes a TurnConfig or a dict such as "
                         f"{{'secret': ..., 'urls': [...]}}, not {value!r}.")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optional["TurnConfig"]:
        """A TurnConfig from ``app.config`` (``RTCIO_TURN_SECRET``,
        ``RTCIO_TURN_URLS``, ``RTCIO_TURN_TTL``, ``RTCIO_STUN_URLS``), or
        None when no TURN key is set."""
        keys = CONFIG_KEYS
        present = [key for key in keys if config.get(key) not in (None, "")]
        if not present:
            return None
        missing = [key for key in keys[:2] if key not in present]
        if missing:
            raise ValueError(
                f"app.config sets {', '.join(present)} but not "
                f"{' and '.join(missing)}: TURN credentials need both "
                f"RTCIO_TURN_SECRET (coturn's static-auth-secret) and "
                f"RTCIO_TURN_URLS (comma-separated turn: URLs).")
        return cls(config["RTCIO_TURN_SECRET"], config["RTCIO_TURN_URLS"],
                   ttl=config.get("RTCIO_TURN_TTL") or DEFAULT_TTL,
                   stun_urls=config.get("RTCIO_STUN_URLS"),
                   where="app.config['RTCIO_TURN_*']")


#: The app.config keys of TURN (besides ``RTCIO_TURN``, the dict form).
CONFIG_KEYS = ("RTCIO_TURN_SECRET", "RTCIO_TURN_URLS", "RTCIO_TURN_TTL",
               "RTCIO_STUN_URLS")


def resolve_turn(value: Any, config: Mapping[str, Any]
                 ) -> Optional[TurnConfig]:
    """The app's TurnConfig: the ``turn=`` argument when given, else
    ``app.config["RTCIO_TURN"]`` (the same dict or TurnConfig), else the
    ``RTCIO_TURN_*`` keys; None when TURN is not configured."""
    if value is not None:
        return TurnConfig.from_value(value)
    if config.get("RTCIO_TURN") is not None:
        return TurnConfig.from_value(config["RTCIO_TURN"],
                                     where="app.config['RTCIO_TURN']")
    return TurnConfig.from_config(config)
