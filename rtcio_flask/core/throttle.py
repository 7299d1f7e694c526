"""Failed attempts counted per key (a room, a client address), so guessing
a room password costs time.

Without it one client found a 4-character room password at 673 guesses a
second from 30 connections. Each key gets a bucket of ``allowance`` failed
attempts, refilled evenly over ``window`` seconds; while a key's bucket is
empty every attempt under that key is refused, right or wrong, so the
refusal tells an attacker nothing about the password. Successes cost
nothing. Pure: the rooms feature (:mod:`rtcio_flask.rooms.handlers`) feeds
it keys and outcomes.
"""

import time
from typing import Callable, Dict, Hashable, Optional

from .limits import TokenBucket

#: Keys remembered before buckets that have refilled are swept out.
MAX_KEYS = 10000


class AttemptThrottle:
    """``allowance`` failures per key, refilled over ``window`` seconds."""

    def __init__(self, allowance: int, window: float,
                 clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_KEYS) -> None:
        self.allowance = allowance
        self.rate = allowance / window
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: Dict[Hashable, TokenBucket] = {}

    def blocked_for(self, key: Hashable) -> Optional[float]:
        """None when ``key`` may try again now; else the seconds until its
        next attempt is allowed."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        now = self.clock()
        tokens = bucket.tokens + (now - bucket.stamp) * bucket.rate
        if tokens >= 1.0:
            return None
        return (1.0 - tokens) / bucket.rate

    def failed(self, key: Hashable) -> bool:
        """Count one failure; True when it used the key's last attempt (so
        the caller can log the moment a key becomes throttled, once)."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(self.rate,
                                                      self.allowance, now)
        bucket.take(now)
        return bucket.tokens < 1.0

    def _sweep(self, now: float) -> None:
        """Forget keys whose bucket has refilled (they hold nothing); if
        every key is still throttled, forget the oldest half."""
        full = [key for key, bucket in self._buckets.items()
                if bucket.tokens + (now - bucket.stamp) * bucket.rate
                >= bucket.capacity]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            for key in list(self._buckets)[:self.max_keys // 2]:
                del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
