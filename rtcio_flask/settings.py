"""Where RTCIO's settings come from, and which async mode fits the process.

Order of precedence, as Flask users expect: an argument to ``RTCIO(...)`` /
``init_app(...)``, then ``app.config``, then the environment, then the
default. Every value is validated here, at start-up, so a typo fails loudly
instead of refusing browsers later.
"""

import os
import sys
from dataclasses import dataclass

from .cors import build_policy, parse_origins_env
from .envelope import DEFAULT_MAX_ENVELOPE_BYTES

#: Environment variable with comma-separated allowed origins.
ENV_ALLOWED_ORIGINS = "RTCIO_ALLOWED_ORIGINS"

ASYNC_MODES = ("eventlet", "gevent", "gevent_uwsgi", "threading")

_UNSET = object()


def detect_async_mode():
    """The async mode matching how this process is actually running.

    python-socketio's own default picks eventlet whenever it is importable,
    which breaks an app served by plain threads on a machine that merely has
    eventlet installed. We pick eventlet or gevent only when their monkey
    patching is in effect (as under ``gunicorn -k eventlet``/``-k gevent``).
    """
    if "eventlet" in sys.modules:
        from eventlet import patcher
        if patcher.is_monkey_patched("socket"):
            return "eventlet"
    if "gevent" in sys.modules:
        from gevent import monkey
        if monkey.is_module_patched("socket"):
            return "gevent"
    return "threading"


@dataclass
class Settings:
    """The resolved settings for one app."""

    policy: object
    path: str
    async_mode: str
    max_envelope_bytes: int
    protocol_namespaces: tuple
    #: False when nothing set cors and the safe default applies.
    cors_configured: bool = True


def _pick(name, given, config, default=_UNSET):
    if given is not _UNSET:
        return given, f"RTCIO({name.lower()}=...)"
    key = "RTCIO_" + name.upper()
    if key in config:
        return config[key], f"app.config[{key!r}]"
    return default, None


#: Words that mean "on" in config files and environment variables.
TRUE_WORDS = ("1", "true", "yes", "on")


def parse_flag(value):
    """Environment-style booleans: ``1``/``true``/``yes``/``on`` are True,
    any other text False; non-text values by their truth."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def _flag(text, where):
    """Like :func:`parse_flag`, but text that is neither an "on" nor an
    "off" word is an error (for settings where a typo must not silently
    mean off)."""
    value = text.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{where} must be True or False (or 'true'/'false'), "
                     f"not {text!r}.")


def _positive_int(value, where):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where} must be a positive whole number of bytes, "
                         f"not {value!r}.")
    return value


def resolve(config, cors=_UNSET, cors_credentials=_UNSET, path=_UNSET,
            async_mode=_UNSET, max_envelope_bytes=_UNSET,
            protocol_namespaces=_UNSET, environ=None):
    """Combine arguments, ``app.config`` and the environment into Settings."""
    environ = os.environ if environ is None else environ

    cors_value, cors_where = _pick("cors", cors, config)
    if cors_value is _UNSET:
        env_value = parse_origins_env(environ.get(ENV_ALLOWED_ORIGINS))
        if env_value is not None:
            cors_value = env_value
            cors_where = f"environment variable {ENV_ALLOWED_ORIGINS}"
    cors_configured = cors_value is not _UNSET
    if cors_value is _UNSET:
        cors_value = None
        cors_where = ("cors setting (it allows only the server's own origin "
                      "when unset): RTCIO(app, cors=[...]), "
                      f"app.config['RTCIO_CORS'] or {ENV_ALLOWED_ORIGINS}")
    if isinstance(cors_value, str) and "," in cors_value:
        cors_value = parse_origins_env(cors_value)

    credentials, cred_where = _pick("cors_credentials", cors_credentials,
                                    config, None)
    if isinstance(credentials, str):
        credentials = _flag(credentials, cred_where)
    policy = build_policy(cors_value, credentials=credentials,
                          setting=cors_where)

    path_value, _ = _pick("path", path, config, "socket.io")
    if not isinstance(path_value, str) or not path_value.strip("/"):
        raise ValueError(f"RTCIO path must be a non-empty string such as "
                         f"'socket.io', not {path_value!r}.")

    mode, mode_where = _pick("async_mode", async_mode, config, None)
    if mode is None:
        mode = detect_async_mode()
    elif mode not in ASYNC_MODES:
        raise ValueError(f"{mode_where}: unknown async mode {mode!r}; write "
                         f"one of {', '.join(ASYNC_MODES)}, or leave it unset "
                         f"to follow the running server.")

    size, size_where = _pick("max_envelope_bytes", max_envelope_bytes, config,
                             DEFAULT_MAX_ENVELOPE_BYTES)
    size = _positive_int(size, size_where or "RTCIO_MAX_ENVELOPE_BYTES")

    namespaces, ns_where = _pick("protocol_namespaces", protocol_namespaces,
                                 config, ("/",))
    if namespaces in (None, False):
        namespaces = ()
    if isinstance(namespaces, str):
        namespaces = (namespaces,)
    namespaces = tuple(namespaces)
    for ns in namespaces:
        if not isinstance(ns, str) or not ns.startswith("/"):
            raise ValueError(f"{ns_where}: namespaces start with '/', "
                             f"for example '/' or '/calls'; got {ns!r}.")

    return Settings(policy=policy, path=path_value.strip("/"),
                    async_mode=mode, max_envelope_bytes=size,
                    protocol_namespaces=namespaces,
                    cors_configured=cors_configured)
