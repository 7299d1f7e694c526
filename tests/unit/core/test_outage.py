"""One ERROR per outage and one INFO at its end, whatever the interleaving
of failures and successes (rtcio_flask.core.outage)."""

from hypothesis import given
from hypothesis import strategies as st

from rtcio_flask.core.outage import Outage


def test_first_failure_starts_and_a_quiet_success_ends():
    o = Outage(settle=1.0)
    assert o.succeeded(0.0) is None and not o.down
    assert o.failed(1.0) is True and o.down
    assert o.failed(1.5) is False
    assert o.succeeded(1.6) is None          # raced the failures: no end
    assert o.succeeded(2.6) == 1.6
    assert not o.down


def test_success_right_after_a_failure_is_no_flap():
    o = Outage(settle=1.0)
    o.failed(10.0)
    for t in (10.001, 10.002, 10.5, 10.99):
        assert o.succeeded(t) is None
    assert o.failed(11.0) is False
    assert o.succeeded(12.5) == 2.5


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 5)), max_size=60))
def test_starts_and_ends_alternate(events):
    """Whatever happens, outage starts and ends alternate, starting with a
    start, and an end only comes ``settle`` after the last failure."""
    o = Outage(settle=1.0)
    now, log, last_failure = 0.0, [], None
    for ok, step in events:
        now += step
        if ok:
            if o.succeeded(now) is not None:
                log.append("end")
                assert now - last_failure >= 1.0
        else:
            last_failure = now
            if o.failed(now):
                log.append("start")
    assert log == ["start", "end"] * (len(log) // 2) + \
        (["start"] if len(log) % 2 else [])
