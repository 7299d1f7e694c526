"""Where RTCIO's settings come from, and the rules every setting shares.

Order of precedence, as Flask users expect: an argument to ``RTCIO(...)`` /
``init_app(...)``, then ``app.config["RTCIO_<NAME>"]``, then the
``RTCIO_<NAME>`` environment variable, then the default. :func:`pick` is
that rule, once; every feature resolves its options through it, and checks
numbers and flags with :mod:`rtcio_flask.core.values` and URLs with the
helpers here, so a typo fails loudly at
start-up (naming where the value came from) instead of refusing browsers
later.

The rule and the value parsers live in :mod:`rtcio_flask.core.values`
(pure); this module re-exports them for the glue layers. It also resolves
the core settings (origins, path, async mode,
envelope size, protocol namespaces) into :class:`Settings`.
"""

import os
import sys
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple
from urllib.parse import urlparse

from .core.envelope import DEFAULT_MAX_ENVELOPE_BYTES
from .core.redis_url import ALL_SCHEMES as ALL_REDIS_SCHEMES
from .core.redis_url import is_redis_url
from .core.origins import OriginPolicy, build_policy, parse_origins_env
from .core.values import (FALSE_WORDS, TRUE_WORDS, UNSET, Found, config_key,
                          parse_flag, pick, positive_number, strict_flag)

__all__ = ["UNSET", "Found", "config_key", "pick", "parse_flag", "strict_flag",
           "positive_number", "TRUE_WORDS", "FALSE_WORDS", "REDIS_SCHEMES",
           "url_scheme", "is_redis_url", "monkey_patched",
           "detect_async_mode", "Settings", "resolve",
           "ENV_ALLOWED_ORIGINS"]

#: Environment variable with comma-separated allowed origins.
ENV_ALLOWED_ORIGINS = "RTCIO_ALLOWED_ORIGINS"

ASYNC_MODES = ("eventlet", "gevent", "gevent_uwsgi", "threading")


#: URL schemes that name a Redis (or Valkey) server, Sentinel included:
#: the room store, the recovery log and the fleet heartbeat open every one
#: (:mod:`rtcio_flask.deploy.redis_client`).
REDIS_SCHEMES = ALL_REDIS_SCHEMES


def url_scheme(url: str) -> str:
    """The lower-cased scheme of ``url`` (``redis`` for
    ``redis://host:6379/0``)."""
    return urlparse(url.strip()).scheme.lower()


def monkey_patched(kind: str) -> bool:
    """Whether eventlet's or gevent's monkey patching is in effect in this
    process (``threading`` always is: it needs none)."""
    if kind == "eventlet" and "eventlet" in sys.modules:
        from eventlet import patcher
        return bool(patcher.is_monkey_patched("socket"))
    if kind == "gevent" and "gevent" in sys.modules:
        from gevent import monkey
        return bool(monkey.is_module_patched("socket"))
    return kind == "threading"


def detect_async_mode() -> str:
    """The async mode matching how this process is actually running.

    python-socketio's own default picks eventlet whenever it is importable,
    which breaks an app served by plain threads on a machine that merely has
    eventlet installed. We pick eventlet or gevent only when their monkey
    patching is in effect (as under ``gunicorn -k eventlet``/``-k gevent``).
    """
    for kind in ("eventlet", "gevent"):
        if monkey_patched(kind):
            return kind
    return "threading"


@dataclass
class Settings:
    """The resolved core settings for one app."""

    policy: OriginPolicy
    path: str
    async_mode: str
    max_envelope_bytes: int
    protocol_namespaces: Tuple[str, ...]
    #: False when nothing set cors and the safe default applies.
    cors_configured: bool = True


def resolve(config: Mapping[str, Any], cors: Any = UNSET,
            cors_credentials: Any = UNSET, path: Any = UNSET,
            async_mode: Any = UNSET, max_envelope_bytes: Any = UNSET,
            protocol_namespaces: Any = UNSET,
            environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Combine arguments, ``app.config`` and the environment into Settings."""
    environ = os.environ if environ is None else environ

    found = pick("cors", cors, config)
    cors_value, cors_where = found.value, found.where
    if cors_value is UNSET:
        env_value = parse_origins_env(environ.get(ENV_ALLOWED_ORIGINS))
        if env_value is not None:
            cors_value = env_value
            cors_where = f"environment variable {ENV_ALLOWED_ORIGINS}"
    cors_configured = cors_value is not UNSET
    if cors_value is UNSET:
        cors_value = None
        cors_where = ("cors setting (it allows only the server's own origin "
                      "when unset): RTCIO(app, cors=[...]), "
                      f"app.config['RTCIO_CORS'] or {ENV_ALLOWED_ORIGINS}")
    if isinstance(cors_value, str) and "," in cors_value:
        cors_value = parse_origins_env(cors_value)

    found = pick("cors_credentials", cors_credentials, config, default=None)
    credentials = found.value
    if isinstance(credentials, str):
        credentials = strict_flag(credentials, str(found.where))
    policy = build_policy(cors_value, credentials=credentials,
                          setting=cors_where or "cors")

    path_value = pick("path", path, config, default="socket.io").value
    if not isinstance(path_value, str) or not path_value.strip("/"):
        raise ValueError(f"RTCIO path must be a non-empty string such as "
                         f"'socket.io', not {path_value!r}.")

    found = pick("async_mode", async_mode, config, default=None)
    mode = found.value
    if mode is None:
        mode = detect_async_mode()
    elif mode not in ASYNC_MODES:
        raise ValueError(f"{found.where}: unknown async mode {mode!r}; write "
                         f"one of {', '.join(ASYNC_MODES)}, or leave it unset "
                         f"to follow the running server.")

    found = pick("max_envelope_bytes", max_envelope_bytes, config,
                 default=DEFAULT_MAX_ENVELOPE_BYTES)
    size = int(positive_number(found.value,
                               found.where or "RTCIO_MAX_ENVELOPE_BYTES",
                               unit="bytes"))

    found = pick("protocol_namespaces", protocol_namespaces, config,
                 default=("/",))
    namespaces = found.value
    if namespaces in (None, False):
        namespaces = ()
    if isinstance(namespaces, str):
        namespaces = (namespaces,)
    namespaces = tuple(namespaces)
    for ns in namespaces:
        if not isinstance(ns, str) or not ns.startswith("/"):
            raise ValueError(f"{found.where}: namespaces start with '/', "
                             f"for example '/' or '/calls'; got {ns!r}.")

    return Settings(policy=policy, path=path_value.strip("/"),
                    async_mode=mode, max_envelope_bytes=size,
                    protocol_namespaces=namespaces,
                    cors_configured=cors_configured)
