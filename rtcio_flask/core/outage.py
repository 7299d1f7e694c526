"""When a dependency (Redis) is down and when it is back, decided once for
every feature that uses it, so an outage is one ERROR line and its end one
INFO line (issue 22: the log alternated ``unreachable`` / ``reachable
again`` within 3 ms, because each feature judged by its own last call and
a success in flight right after a failure looked like the end of it).

The rule: the first failure starts an outage; a success ends it only once
no failure has been seen for ``settle`` seconds. Successes inside that
quiet period (calls that raced the failures) end nothing, and failures
inside an outage are not news. Pure: the caller passes the clock.
"""

from typing import Optional

#: Seconds without a failure before a success counts as the end of an
#: outage.
DEFAULT_SETTLE = 1.0


class Outage:
    """The up/down state of one dependency."""

    def __init__(self, settle: float = DEFAULT_SETTLE) -> None:
        self.settle = settle
        #: When the current outage began (None while up).
        self.since: Optional[float] = None
        self.last_failure: Optional[float] = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, now: float) -> bool:
        """A call failed at ``now``; True when this starts an outage."""
        self.last_failure = now
        if self.since is None:
            self.since = now
            return True
        return False

    def succeeded(self, now: float) -> Optional[float]:
        """A call succeeded at ``now``; the outage's length in seconds when
        this ends one, else None."""
        if self.since is None:
            return None
        assert self.last_failure is not None  # set with since
        if now - self.last_failure < self.settle:
            return None
        length = now - self.since
        self.since = None
        return length
