"""Version numbers of the libraries RTCIO reaches into, and the ranges it
was verified against (pure: the installed versions are looked up by
:mod:`rtcio_flask.transport.compat`).

A release string becomes a tuple of its leading numbers (``"5.18.1"`` ->
``(5, 18, 1)``, ``"26.0.0rc1"`` -> ``(26, 0, 0)``), which is all a range
check needs; no third-party parser is required at run time.
"""

import re
from dataclasses import dataclass
from typing import Optional, Tuple

Version = Tuple[int, ...]

_LEADING = re.compile(r"\d+(?:\.\d+)*")


def parse_version(text: Optional[str]) -> Optional[Version]:
    """The leading ``N.N.N`` of a release string as a tuple, or None."""
    if not text:
        return None
    found = _LEADING.match(text.strip().lstrip("vV"))
    if found is None:
        return None
    return tuple(int(part) for part in found.group(0).split("."))


def show(version: Version) -> str:
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class Verified:
    """``low <= version < below``: the releases a shim was checked against
    (``below`` is the first release nobody checked yet)."""

    distribution: str
    low: Version
    below: Version

    def contains(self, version: Optional[Version]) -> bool:
        if version is None:
            return False
        return self.low <= version < self.below

    def describe(self) -> str:
        return f"{self.distribution} >={show(self.low)},<{show(self.below)}"


def at_least(version: Optional[Version], floor: Version) -> bool:
    """Whether ``version`` is known and not older than ``floor``."""
    return version is not None and version >= floor
