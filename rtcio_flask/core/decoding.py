"""Client JSON, refused before it can hurt the decoder or the receivers.

``json.loads`` recurses once per ``[`` or ``{``: a few thousand nested
brackets raise RecursionError (not ValueError), and python-socketio walks
the decoded data recursively again (``data_is_binary``, the encoder). A
packet nested 1,000 deep therefore used to cost two long tracebacks in the
log per packet, inside the rate limit.

- :func:`json_hazard` looks at the raw packet text once, before any
  decoding, and answers with a reason to refuse it or None. It is cheap: a
  packet with at most ``max_depth`` brackets in all (every SDP envelope a
  Chromium browser sends) costs two ``str.count`` calls; only packets with
  more brackets have their strings blanked and their brackets paired level
  by level, all inside ``re`` (timings in docs/limits.rst).
- :func:`strict_loads` is the decoder for client JSON: what browsers'
  ``JSON.parse`` refuses (``NaN``, ``Infinity``) is refused, numbers that
  overflow a float (``1e999999``, which Python reads as ``inf`` and would
  send on as ``Infinity``, breaking every receiving browser's parser) are
  refused, and integers keep engineio's 100-digit cap (Python's own
  ``int()`` would take up to 4,300 digits, quadratic work).

Pure: standard library only.
"""

import json
import math
import re
from itertools import accumulate
from typing import Any, NoReturn, Optional

#: JSON nesting deeper than this is refused. Signaling envelopes are 3-4
#: levels deep (``["#rtcio:message", {data: {candidate: {...}}}]``), app
#: events rarely above 10.
DEFAULT_MAX_DEPTH = 32

#: Digits accepted in one integer, as python-engineio's own decoder.
MAX_INT_DIGITS = 100

# A JSON string (escapes included); its contents may hold any bracket.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Everything that is not a bracket, once strings are gone.
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# Openers to +1, closers to -1 (as signed bytes).
_STEPS = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})


def json_hazard(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Optional[str]:
    """Why the JSON in ``text`` must not reach a decoder, or None.

    ``text`` is a whole socket.io packet (type digit, namespace, ack id,
    then JSON). Refused: nesting deeper than ``max_depth``, counted on
    brackets outside strings whether or not they pair (the decoder would
    recurse through them before noticing a mismatch).
    """
    if text.count("[") + text.count("{") > max_depth:
        text = _json_part(text)
        return _depth_problem(text, max_depth)
    return None


def _json_part(text: str) -> str:
    """``text`` without its namespace, whose characters (quotes included)
    are not JSON and would throw off the string matching."""
    head = text[:24].lstrip("0123456789-")
    if head[:1] == "/":
        comma = text.find(",")
        return text[comma + 1:] if comma >= 0 else ""
    return text


def _depth_problem(text: str, max_depth: int) -> Optional[str]:
    brackets = _NOT_BRACKET.sub("", _STRING.sub('""', text))
    if len(brackets) <= max_depth:
        return None  # the extra brackets were inside strings
    # Openers +1, closers -1: the running sum is the depth. accumulate()
    # over a signed memoryview runs in C (no bytecode per bracket).
    steps = memoryview(brackets.translate(_STEPS).encode("latin-1"))
    if max(accumulate(steps.cast("b"))) > max_depth:
        return f"JSON nested deeper than {max_depth} levels"
    return None


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer with more than {MAX_INT_DIGITS} "
                         f"digits")
    return int(digits)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


_strict = json.JSONDecoder(parse_int=_int, parse_float=_float,
                           parse_constant=_constant)


def strict_loads(text: str, **_ignored: Any) -> Any:
    """``json.loads`` for what clients send; raises ValueError (never
    RecursionError, once :func:`json_hazard` passed the text) for anything
    a browser's ``JSON.parse``/``JSON.stringify`` would not produce."""
    return _strict.decode(text)


def connect_namespace(text: str) -> str:
    """The namespace of a socket.io CONNECT packet's text (``0``,
    ``0{...}``, ``0/admin,{...}``)."""
    if not text.startswith("0/"):
        return "/"
    end = text.find(",")
    return text[1:] if end < 0 else text[1:end]
