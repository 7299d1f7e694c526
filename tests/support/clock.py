"""A clock a test sets by hand, for code that takes ``clock=`` (a callable
returning seconds, like ``time.monotonic``)."""


class FakeClock:
    """``clock()`` returns :attr:`now`, which the test moves; 0.0 at first."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now
