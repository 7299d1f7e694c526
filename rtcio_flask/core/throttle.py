"""Failed attempts counted per key (a client address, a socket, a room),
so guessing a room password costs time, and :class:`PasswordGuesses`, which
throttles the guesser rather than the room it guesses at.

Without it one client found a 4-character room password at 673 guesses a
second from 30 connections. Each key gets a bucket of ``allowance`` failed
attempts, refilled evenly over ``window`` seconds; while a key's bucket is
empty every attempt under that key is refused, right or wrong, so the
refusal tells an attacker nothing about the password. Successes cost
nothing. Pure: the rooms feature (:mod:`rtcio_flask.rooms.handlers`) feeds
it keys and outcomes.
"""

import ipaddress
import time
from typing import Callable, Dict, Hashable, List, Optional, Tuple

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

    def refilled_in(self, key: Hashable) -> Optional[float]:
        """None when ``key`` has no failure left on its books (its bucket
        is full); else the seconds until it has none."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        tokens = bucket.tokens + (self.clock() - bucket.stamp) * bucket.rate
        if tokens >= bucket.capacity:
            return None
        return (bucket.capacity - tokens) / bucket.rate

    def failed(self, key: Hashable, drain: bool = False) -> bool:
        """Count one failure (``drain``: one that costs the key its whole
        allowance); True when it used the key's last attempt (so the caller
        can log the moment a key becomes throttled, once)."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(self.rate,
                                                      self.allowance, now)
        was_open = bucket.take(now)
        if drain:
            bucket.tokens = 0.0
        return was_open and bucket.tokens < 1.0

    def refund(self, key: Hashable) -> None:
        """Give back an attempt counted with :meth:`failed` before its
        outcome was known (it turned out right)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(bucket.capacity, bucket.tokens + 1.0)

    def drain(self, key: Hashable) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = 0.0

    def forget(self, key: Hashable) -> None:
        self._buckets.pop(key, None)

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


def guesser_key(address: str) -> str:
    """The key a client address is throttled under: the address itself, or
    for IPv6 its /64 network (one subscriber line gets a whole /64, so
    per-address keys would give a guesser billions of fresh buckets)."""
    if ":" not in address:
        return address
    try:
        parsed = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))


class Guess:
    """One password attempt in flight (see :meth:`PasswordGuesses.begin`):
    what it was counted under."""

    __slots__ = ("keys", "spent", "attack")

    def __init__(self, keys: List[Tuple[AttemptThrottle, Hashable, str]],
                 spent: List[Tuple[str, Hashable]], attack: bool) -> None:
        self.keys = keys
        self.spent = spent
        self.attack = attack


class PasswordGuesses:
    """Wrong room passwords, throttled by who guesses, never by room alone.

    - Each client address (:func:`guesser_key`) and each socket has its own
      allowance of failures; while either is used up, that guesser's
      attempts are refused, right or wrong (the refusal tells nothing).
    - Each room has an allowance too, but an exhausted room (under attack
      from many addresses) refuses only the guessers: an address or socket
      with a wrong guess still on its books. A member who knows the
      password, from an address that has not been guessing, goes straight
      in. While a room is under attack, a wrong guess costs its address
      and socket their whole allowance (a window each), so many addresses
      together get about one guess per address per window instead of the
      address allowance each.

    An attempt is counted when it starts (:meth:`begin`) and given back
    when it turns out right (:meth:`settle`): checking a password yields
    (the Redis store), and a socket that sent 11 guesses at once had all 11
    checked before the first was counted.

    ``None`` for an allowance turns that throttle off.
    """

    def __init__(self, per_address: Optional[int], per_socket: Optional[int],
                 per_room: Optional[int], window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        def throttle(allowance: Optional[int]) -> Optional[AttemptThrottle]:
            return None if allowance is None else AttemptThrottle(
                allowance, window, clock)
        self.by_address = throttle(per_address)
        self.by_socket = throttle(per_socket)
        self.by_room = throttle(per_room)

    def _guessers(self, address: str, sid: str
                  ) -> List[Tuple[AttemptThrottle, Hashable, str]]:
        found: List[Tuple[AttemptThrottle, Hashable, str]] = []
        if self.by_address is not None:
            found.append((self.by_address, guesser_key(address), "address"))
        if self.by_socket is not None:
            found.append((self.by_socket, sid, "socket"))
        return found

    def under_attack(self, room: str) -> bool:
        return self.by_room is not None and \
            self.by_room.blocked_for(room) is not None

    def blocked_for(self, address: str, sid: str,
                    room: str) -> Optional[float]:
        """None when this guesser may try a password on ``room`` now; else
        the seconds until it may."""
        attack = self.under_attack(room)
        waits = []
        for throttle, key, _ in self._guessers(address, sid):
            waits.append(throttle.refilled_in(key) if attack
                         else throttle.blocked_for(key))
        blocked = [wait for wait in waits if wait is not None]
        return max(blocked) if blocked else None

    def begin(self, address: str, sid: str,
              room: str) -> Tuple[Optional[float], Optional[Guess]]:
        """``(wait, None)`` when the attempt is refused for ``wait``
        seconds; else ``(None, guess)``, the attempt counted as a failure
        until :meth:`settle` says otherwise."""
        wait = self.blocked_for(address, sid, room)
        if wait is not None:
            return wait, None
        attack = self.under_attack(room)
        keys = self._guessers(address, sid)
        if self.by_room is not None and not attack:
            keys.append((self.by_room, room, "room"))
        spent = [(what, key) for throttle, key, what in keys
                 if throttle.failed(key)]
        return None, Guess(keys, spent, attack)

    def settle(self, guess: Guess, right: bool) -> List[Tuple[str, Hashable]]:
        """The outcome of an attempt :meth:`begin` counted. Returns
        ``(what, key)`` for each throttle ("address", "socket", "room")
        a wrong guess used up, so the caller logs the moment once."""
        if right:
            for throttle, key, _ in guess.keys:
                throttle.refund(key)
            return []
        if guess.attack:
            for throttle, key, _ in guess.keys:
                throttle.drain(key)
            return []
        return guess.spent

    def failed(self, address: str, sid: str,
               room: str) -> List[Tuple[str, Hashable]]:
        """Count one wrong password at once (begin + settle)."""
        _, guess = self.begin(address, sid, room)
        return [] if guess is None else self.settle(guess, right=False)

    def forget_socket(self, sid: str) -> None:
        """A socket that is gone holds no bucket."""
        if self.by_socket is not None:
            self.by_socket.forget(sid)
