"""Origin policy for the socket.io endpoint: parsing the Node-style ``cors``
option and deciding, per request, whether an origin may connect.

Pure functions and plain objects only (no Flask, no socket.io), in the manner
of flask-cors' ``core`` module, so every form can be tested exhaustively
without a server. The WSGI glue that applies the decision lives in
:mod:`rtcio_flask.transport.gate`.
"""

import inspect
import re
from dataclasses import dataclass, field
from typing import (Any, Callable, Collection, Dict, FrozenSet, List,
                    Mapping, Optional, Pattern, Sequence, Tuple, Union, cast)
from urllib.parse import urlsplit

from .options import check_known

ANY = "*"

# What a serialized browser origin looks like: scheme "://" host [":" port],
# nothing after it. IPv6 hosts come bracketed.
_ORIGIN_RE = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.\-]*)://"
    r"(?P<host>\[[0-9a-f:.]+\]|[a-z0-9\-._~%!$&'()*+,;=]+)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)

_DICT_KEYS = {"origin", "credentials", "max_age"}
_NODE_ONLY_KEYS = {
    "methods": "socket.io only uses GET, POST and OPTIONS; remove 'methods'",
    "allowedHeaders": "requested headers are echoed back on preflight; "
    "remove 'allowedHeaders'",
    "optionsSuccessStatus": "preflights are answered with 204; remove it",
    "preflightContinue": "preflights never reach the app; remove it",
    "maxAge": "write 'max_age' (seconds)",
    "exposedHeaders": "socket.io exposes no headers; remove 'exposedHeaders'",
}

_PRODUCTION_EXAMPLE = (
    'cors={"origin": ["https://app.example.com"], "credentials": True}'
)


class OriginError(ValueError):
    """A configured origin that no browser could ever send. ``value`` and
    ``why`` let an interface other than ``RTCIO(cors=...)`` (the command
    line) say the same thing in its own terms."""

    def __init__(self, message: str, value: object, why: str) -> None:
        super().__init__(message)
        self.value = value
        self.why = why


def _origin_error(value: Any, why: str) -> "OriginError":
    return OriginError(
        f"RTCIO cors: {value!r} is not a valid origin ({why}). Write an "
        f"origin as scheme://host[:port], for example "
        f"'https://app.example.com', or use a compiled regex for patterns.",
        value, why)


def normalize_origin(value: Any) -> str:
    """Validate one configured origin string and return it lower-cased.

    Browsers serialize origins in lower case with no path, so anything else
    could never match; failing here beats a silent "blocked by CORS" later.
    """
    if not isinstance(value, str):
        raise _origin_error(value, "not a string")
    text = value.strip()
    if not text:
        raise _origin_error(value, "empty")
    if text == "null":
        return text
    if text == ANY:
        raise ValueError(
            "RTCIO cors: '*' inside a list would only match a literal '*'. "
            "Write cors='*' on its own to allow any origin."
        )
    lowered = text.lower()
    if "*" in lowered:
        raise _origin_error(value, _wildcard_why(lowered))
    match = _ORIGIN_RE.match(lowered)
    if match:
        port = match.group("port")
        if port is not None and not 0 < int(port) < 65536:
            raise _origin_error(value, f"port {port} is out of range")
        return lowered
    parts = urlsplit(lowered)
    if parts.scheme and parts.netloc:
        suggestion = f"{parts.scheme}://{parts.netloc}"
        raise _origin_error(
            value, f"an origin has no path, query or trailing slash; "
            f"write {suggestion!r}")
    raise _origin_error(value, "missing scheme:// or host")


def _wildcard_why(origin: str) -> str:
    """Why ``https://*.example.com`` (or ``http://localhost:*``) is refused,
    with the regex that says it: a browser sends one exact origin, so a
    ``*`` inside a listed origin would only ever match a literal ``*`` and
    every page would be refused later with "blocked by CORS"."""
    pattern = ""
    parts = origin.split("*")
    for index, part in enumerate(parts):
        pattern += re.escape(part)
        if index < len(parts) - 1:
            # after a colon past the scheme it is the port, else a DNS label
            in_port = part.endswith(":") and "://" in origin[
                :len("*".join(parts[:index + 1]))]
            pattern += r"\d+" if in_port else "[a-z0-9-]+"
    return (f"a '*' inside an origin is not a wildcard, it would only match "
            f"a literal '*'; list each origin, or give RTCIO(cors=...) a "
            f"compiled regex: re.compile(r'^{pattern}$')")


def _callable_arity(func: Callable[..., Any]) -> int:
    """How many positional arguments a user's origin callable takes (1 or 2).

    Decided once at configuration time so the hot path never has to catch a
    TypeError raised from inside the user's own function.
    """
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return 1
    positional = [
        p for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(positional) >= 2:
        return 2
    if len(positional) == 1:
        return 1
    raise ValueError(
        "RTCIO cors: an origin callable must take the origin (and optionally "
        "the WSGI environ): def allowed(origin, environ=None) -> bool"
    )


@dataclass(frozen=True)
class Decision:
    """The answer for one request: allowed or not, and why, for the log."""

    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class OriginPolicy:
    """Which browser origins may open a socket.io session.

    ``mode`` is one of ``any``, ``list``, ``callable``, ``same-origin`` or
    ``off``; ``setting`` names, in the user's own words, the option that
    produced it, so a refusal can say exactly what to change.
    """

    mode: str
    exact: FrozenSet[str] = frozenset()
    patterns: Tuple[Pattern[str], ...] = ()
    func: Optional[Callable[..., Any]] = None
    func_arity: int = 1
    credentials: bool = False
    max_age: int = 600
    setting: str = "cors"
    described: str = field(default="", compare=False)

    @property
    def enabled(self) -> bool:
        """False when a proxy in front does CORS and we must not touch it."""
        return self.mode != "off"

    def check(self, origin: Optional[str],
              environ: Optional[Mapping[str, Any]] = None) -> Decision:
        """Decide for one ``Origin`` header value (None when absent).

        Requests without an Origin come from non-browser clients, to which
        CORS does not apply, so they are let through as socket.io does.
        """
        if self.mode == "off" or origin is None:
            return Decision(True)
        if self.mode == "any":
            return Decision(True)
        candidate = origin.lower()
        if self.mode == "same-origin":
            if candidate in same_origins(environ or {}):
                return Decision(True)
            return Decision(False, "only the server's own origin is allowed "
                                   "by default")
        if self.mode == "callable":
            args = (origin, environ) if self.func_arity == 2 else (origin,)
            func = cast(Callable[..., Any], self.func)  # set in this mode
            try:
                ok = bool(func(*args))
            except Exception as exc:  # the user's code: refuse, say why
                return Decision(False, f"the origin callable raised {exc!r}")
            if ok:
                return Decision(True)
            if self.described == "the origin callable":
                return Decision(False, "the origin callable said no")
            return Decision(False, f"it is not {self.described}")
        if candidate in self.exact:
            return Decision(True)
        for pattern in self.patterns:
            # JavaScript's regex.test() finds a match anywhere, like search().
            if pattern.search(origin):
                return Decision(True)
        return Decision(False, f"it is not in {self.described}")

    def drops_credentials(self, origin: Optional[str],
                          environ: Mapping[str, Any]) -> bool:
        """Whether the browser will drop our answer because the request was
        sent with credentials (``withCredentials``, fetch's ``credentials:
        "include"``) and this policy allows none.

        A browser sends cookies to another origin only in that mode, so a
        cross-origin request carrying a ``Cookie`` header is one; without
        ``Access-Control-Allow-Credentials`` the page sees nothing but
        ``xhr poll error``, which reads like a refused origin. Requests
        without an Origin (non-browser clients) are never affected, nor are
        websocket handshakes: browsers send cookies with those whatever the
        page asked, and apply no CORS check to the answer."""
        if self.mode == "off" or self.credentials or origin is None:
            return False
        if str(environ.get("HTTP_UPGRADE", "")).lower() == "websocket":
            return False
        if not environ.get("HTTP_COOKIE"):
            return False
        return origin.lower() not in same_origins(environ)

    def refusal(self, origin: Optional[str], reason: Optional[str],
                credentials: bool) -> Tuple[str, str]:
        """``(error code, message)`` of a refused request: the origin
        (``reason`` from :meth:`check`), credentials (see
        :meth:`drops_credentials`), or both, each with what to write. The
        origin is the client's to choose: shown cut to
        :data:`MAX_SHOWN_ORIGIN` characters, so a log line stays short."""
        origin = shown_origin(origin)
        turn_on = ("turn credentials on: rtcio-flask --credentials "
                   "(RTCIO_CORS_CREDENTIALS=1) or RTCIO(app, cors={'origin': "
                   "[...], 'credentials': True})")
        if self.mode == "any":
            turn_on += " ('*' cannot carry credentials: list the origins)"
        sends = ("it sends credentials (cookies: the page connects with "
                 "withCredentials), which this server does not accept")
        if reason and credentials:
            return ("origin-and-credentials-not-allowed",
                    f"Origin {origin} may not connect to the signaling "
                    f"server: {reason}, and {sends}. To allow it, add it to "
                    f"{self.setting} and {turn_on}.")
        if credentials:
            return ("credentials-not-allowed",
                    f"Origin {origin} is allowed, but {sends}, so the "
                    f"browser would drop every answer. To allow it, "
                    f"{turn_on}; or connect without withCredentials.")
        return ("origin-not-allowed",
                f"Origin {origin} may not connect to the signaling "
                f"server: {reason}. To allow it, add it to {self.setting}.")

    def headers(self, origin: Optional[str]) -> List[Tuple[str, str]]:
        """CORS response headers for an allowed browser request."""
        if self.mode == "off" or origin is None:
            return []
        headers = [("Access-Control-Allow-Origin", origin)]
        if self.credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        headers.append(("Vary", "Origin"))
        return headers

    def preflight_headers(self, origin: Optional[str],
                          requested_headers: Optional[str]
                          ) -> List[Tuple[str, str]]:
        """Headers answering an ``OPTIONS`` preflight from an allowed origin."""
        headers = self.headers(origin)
        headers.append(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
        if requested_headers and _HEADER_LIST_RE.match(requested_headers):
            headers.append(("Access-Control-Allow-Headers", requested_headers))
        headers.append(("Access-Control-Max-Age", str(self.max_age)))
        return headers


# A comma-separated list of HTTP header names (tokens); anything else is not
# echoed back, so a hostile preflight cannot inject into our response.
_HEADER_LIST_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z\-]+"
                             r"(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z\-]+)*$")


def same_origins(environ: Mapping[str, Any]) -> Sequence[str]:
    """The origins that count as the server's own for a request.

    Mirrors what python-engineio accepts by default, including the origin a
    reverse proxy announces through ``X-Forwarded-Proto``/``-Host``.
    """
    host = environ.get("HTTP_HOST")
    if not host:
        return ()
    scheme = environ.get("wsgi.url_scheme", "http")
    found = [f"{scheme}://{host}".lower()]
    fwd_proto = environ.get("HTTP_X_FORWARDED_PROTO")
    fwd_host = environ.get("HTTP_X_FORWARDED_HOST")
    if fwd_proto or fwd_host:
        proto = (fwd_proto or scheme).split(",")[0].strip()
        fhost = (fwd_host or host).split(",")[0].strip()
        found.append(f"{proto}://{fhost}".lower())
    return found


#: The longest origin a refusal shows whole (real origins are far shorter;
#: the header is the client's to fill).
MAX_SHOWN_ORIGIN = 200


def shown_origin(origin: Optional[str]) -> str:
    """``repr(origin)``, cut to :data:`MAX_SHOWN_ORIGIN` characters with its
    full length said."""
    if origin is None or len(origin) <= MAX_SHOWN_ORIGIN:
        return repr(origin)
    return f"{origin[:MAX_SHOWN_ORIGIN]!r}... ({len(origin)} characters)"


def _describe(items: Sequence[Union[str, Pattern[str]]]) -> str:
    return "the allowed origins [" + ", ".join(
        repr(i.pattern) if isinstance(i, re.Pattern) else repr(i)
        for i in items) + "]"


def parse_origins_env(text: Optional[str]
                      ) -> Union[None, str, List[str]]:
    """Turn ``"https://a.com, https://b.com"`` into what ``cors=`` accepts.

    Returns None for an empty value so an unset variable changes nothing.
    """
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        return None
    if items == [ANY]:
        return ANY
    return items


def _label(setting: str) -> str:
    """How a configuration error names the setting: ``RTCIO(cors=...)``
    as it is, a bare ``cors`` as ``RTCIO cors``."""
    return setting if setting.startswith("RTCIO") else f"RTCIO {setting}"


def build_policy(cors: Any, credentials: Optional[bool] = None,
                 setting: str = "cors", max_age: Optional[int] = None,
                 described: Optional[str] = None) -> OriginPolicy:
    """Turn any accepted form of the ``cors`` option into an OriginPolicy.

    ``cors`` may be ``None`` (same origin only, the safe default), ``False``
    (off: a proxy in front handles CORS), ``"*"``, one origin, a list or
    tuple of origins and compiled regexes, a callable, a compiled regex, or a
    dict ``{"origin": <one of those>, "credentials": bool, "max_age": int}``.
    A ready OriginPolicy passes through unchanged (the CLI builds its own, so
    refusals name its flags). ``described`` names what a callable allows,
    for refusals ("it is not <described>"; default "the origin callable said
    no"). Raises ValueError, naming what to write instead, for anything
    else.
    """
    if isinstance(cors, OriginPolicy):
        return cors
    origin = cors
    if isinstance(cors, dict):
        unknown = set(cors) - _DICT_KEYS
        for key in sorted(unknown & set(_NODE_ONLY_KEYS)):
            raise ValueError(f"{_label(setting)}: unknown key {key!r}: "
                             f"{_NODE_ONLY_KEYS[key]}.")
        check_known(cors, _DICT_KEYS, _label(setting), what="key")
        if "origin" not in cors:
            raise ValueError(
                f"{_label(setting)}: a dict needs an 'origin' key, for example "
                f"{_PRODUCTION_EXAMPLE}.")
        origin = cors["origin"]
        if "credentials" in cors:
            if credentials is not None and credentials != cors["credentials"]:
                raise ValueError(
                    f"{_label(setting)}: credentials given twice with different "
                    f"values; keep only the one inside the dict.")
            credentials = cors["credentials"]
        if "max_age" in cors:
            max_age = cors["max_age"]
    if credentials is None:
        credentials = False
    if not isinstance(credentials, bool):
        raise ValueError(
            f"{_label(setting)}: credentials must be True or False, "
            f"not {credentials!r}.")
    if max_age is None:
        max_age = 600
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ValueError(
            f"{_label(setting)}: max_age must be a whole number of seconds "
            f"(0 or more), not {max_age!r}.")
    common: Dict[str, Any] = dict(credentials=credentials, max_age=max_age,
                                  setting=setting)

    if origin is None:
        return OriginPolicy("same-origin", described="the server's own origin",
                            **common)
    if origin is False:
        if credentials:
            raise ValueError(
                f"{_label(setting)}: CORS is off (False), so credentials has no "
                f"effect here; set it on the proxy that handles CORS.")
        return OriginPolicy("off", described="nothing (CORS is off)", **common)
    if origin is True:
        raise ValueError(
            f"{_label(setting)}: origin=True (Node's 'reflect any origin') is "
            f"not accepted; write '*' for any origin in development, or list "
            f"the origins: {_PRODUCTION_EXAMPLE}.")
    if isinstance(origin, str) and origin.strip() == ANY:
        if credentials:
            raise ValueError(
                f"{_label(setting)}: '*' cannot be combined with credentials=True "
                f"(browsers refuse that answer). List the origins instead: "
                f"{_PRODUCTION_EXAMPLE}.")
        return OriginPolicy("any", described="any origin ('*')", **common)
    if isinstance(origin, str):
        exact = normalize_origin(origin)
        return OriginPolicy("list", exact=frozenset([exact]),
                            described=_describe([exact]), **common)
    if isinstance(origin, re.Pattern):
        if not isinstance(origin.pattern, str):
            raise ValueError(f"{_label(setting)}: compile the regex from a str, "
                             f"not bytes.")
        return OriginPolicy("list", patterns=(origin,),
                            described=_describe([origin]), **common)
    if isinstance(origin, (list, tuple, set, frozenset)):
        return _list_policy(origin, common)
    if callable(origin):
        return OriginPolicy("callable", func=origin,
                            func_arity=_callable_arity(origin),
                            described=described or "the origin callable",
                            **common)
    raise ValueError(
        f"{_label(setting)}: {type(origin).__name__} is not an accepted origin "
        f"form. Write '*', one origin string, a list of origins or compiled "
        f"regexes, a callable origin -> bool, a compiled regex, or False to "
        f"leave CORS to a proxy; in production: {_PRODUCTION_EXAMPLE}.")


def _list_policy(items: Collection[Any],
                 common: Dict[str, Any]) -> OriginPolicy:
    setting = common["setting"]
    if not items:
        raise ValueError(
            f"{_label(setting)}: an empty origin list would refuse every "
            f"browser. List at least one origin, or write False if a proxy "
            f"handles CORS.")
    exact: List[str] = []
    patterns: List[Pattern[str]] = []
    shown: List[Union[str, Pattern[str]]] = []
    for item in items:
        if isinstance(item, re.Pattern):
            patterns.append(item)
            shown.append(item)
        elif isinstance(item, str):
            exact.append(normalize_origin(item))
            shown.append(exact[-1])
        else:
            raise ValueError(
                f"{_label(setting)}: list items must be origin strings or "
                f"compiled regexes, not {type(item).__name__} ({item!r}).")
    return OriginPolicy("list", exact=frozenset(exact), patterns=tuple(patterns),
                        described=_describe(shown), **common)
