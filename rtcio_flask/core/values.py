"""Parsing setting values the way config files and environment variables
write them: on/off words, positive numbers given as digits.

Pure, so the core's own settings (limits, TURN) can use the same rules as
the Flask-side resolver in :mod:`rtcio_flask.config`, and every refusal
reads the same: what was wrong, where it came from, what to write.
"""

from typing import Any, Union

#: Words that mean "on" in config files and environment variables.
TRUE_WORDS = ("1", "true", "yes", "on")
#: Words that mean "off".
FALSE_WORDS = ("0", "false", "no", "off", "")


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
