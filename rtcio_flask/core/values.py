"""Where a setting comes from, and parsing its value the way config files
and environment variables write it: on/off words, positive numbers given as
digits.

:func:`pick` is the one precedence rule (argument > ``app.config`` >
environment > default) every feature resolves its options through. Pure
(a config is any mapping), so the core's own settings (limits, TURN) use
the same rules as the rest, and every refusal reads the same: what was
wrong, where it came from, what to write. :mod:`rtcio_flask.config`
re-exports these for the glue layers.
"""

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union


class _Unset:
    """The "not given" marker, distinct from None (which often means off)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Found:
    """A setting's value and where it came from (for error messages);
    ``where`` is None when the default applied."""

    value: Any
    where: Optional[str]


def config_key(name: str) -> str:
    """``max_members`` -> ``RTCIO_MAX_MEMBERS``."""
    return "RTCIO_" + name.upper()


def pick(name: str, given: Any = UNSET, config: Mapping[str, Any] = {},
         environ: Optional[Mapping[str, str]] = None,
         default: Any = UNSET) -> Found:
    """The one precedence rule: ``given`` (an argument), then
    ``config["RTCIO_<NAME>"]``, then ``environ["RTCIO_<NAME>"]`` (only when
    ``environ`` is passed: not every setting may come from the
    environment), then ``default``."""
    if given is not UNSET:
        return Found(given, f"RTCIO({name}=...)")
    key = config_key(name)
    if key in config:
        return Found(config[key], f"app.config[{key!r}]")
    if environ is not None and key in environ:
        return Found(environ[key], f"environment variable {key}")
    return Found(default, None)


#: Words that mean "on" in config files and environment variables.
TRUE_WORDS = ("1", "true", "yes", "on")
#: Words that mean "off".
FALSE_WORDS = ("0", "false", "no", "off", "")
#: What a number setting whose 0 means "off" also accepts as off.
OFF_WORDS = FALSE_WORDS + ("0.0", "none")


def is_off(value: Any) -> bool:
    """Whether a number setting is switched off: None, False, a numeric 0,
    or text such as ``0``, ``off``, ``false``, ``no``, ``none`` or empty
    (any case, spaces around). The one rule every "0 turns it off" setting
    (protection caps and timeouts, the recovery window) goes by, so an
    environment variable means the same everywhere. True is not off."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return value.strip().lower() in OFF_WORDS
    return not isinstance(value, bool) and value == 0


def parse_flag(value: Any) -> bool:
    """Environment-style booleans: ``1``/``true``/``yes``/``on`` are True,
    any other text False; non-text values by their truth."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def strict_flag(value: Any, where: str) -> bool:
    """Like :func:`parse_flag`, but text that is neither an "on" nor an
    "off" word is an error (for settings where a typo must not silently
    mean off)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{where} must be True or False (or 'true'/'false'), "
                     f"not {value!r}.")


Number = Union[int, float]


def positive_number(value: Any, what: str, *, whole: bool = True,
                    unit: str = "", hint: str = "") -> Number:
    """``value`` as a positive int (``whole``) or number, accepting the
    digits of config files and environment variables; otherwise a
    ValueError reading ``<what> must be a positive whole number of <unit>
    <hint>, not <value>.``"""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            pass
    # Any, not Tuple[type, ...]: isinstance() with the latter would narrow
    # ``value`` to object.
    ok_types: Any = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types) \
            or value <= 0:
        kind = "whole number" if whole else "number"
        of_unit = f" of {unit}" if unit else ""
        raise ValueError(f"{what} must be a positive {kind}{of_unit}{hint}, "
                         f"not {value!r}.")
    return value


#: How much of a client's value a log line quotes.
LOG_QUOTE_CHARS = 200


def clipped(value: Any, limit: int = LOG_QUOTE_CHARS) -> str:
    """``repr(value)`` for a log line, cut to ``limit`` characters with the
    full length said: a client's 100 KB value must not become a 100 KB
    line (nor fill the operator's disk)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"
