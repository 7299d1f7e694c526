"""The password-guess throttle, pure: guessers (address, socket) are
throttled; a room under attack refuses only guessers."""

import pytest

from rtcio_flask.core.protection import ADDRESS_KEY, request_address
from rtcio_flask.core.throttle import PasswordGuesses, guesser_key
from tests.support.clock import FakeClock


@pytest.mark.parametrize("address, key", [
    ("10.1.2.3", "10.1.2.3"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("::ffff:10.0.0.1", "10.0.0.1"),
    ("fe80::1%eth0", "fe80::/64"),
    ("?", "?"),
    ("not:an:address:at:all", "not:an:address:at:all"),
])
def test_guesser_key_groups_an_ipv6_line(address, key):
    assert guesser_key(address) == key


def test_request_address_prefers_the_stamped_address():
    environ = {"REMOTE_ADDR": "127.0.0.1",
               "HTTP_X_FORWARDED_FOR": "1.1.1.1, 10.0.0.2"}
    assert request_address(environ) == "127.0.0.1"
    assert request_address(environ, 1) == "10.0.0.2"
    assert request_address(environ, 5) == "1.1.1.1"
    assert request_address(dict(environ, **{ADDRESS_KEY: "10.9.9.9"}),
                           1) == "10.9.9.9"
    assert request_address({}) == "?"


def test_socket_allowance_runs_out_before_the_address_one():
    clock = FakeClock()
    guesses = PasswordGuesses(4, 2, None, 60.0, clock)
    assert guesses.failed("10.0.0.1", "s1", "r") == []
    assert guesses.failed("10.0.0.1", "s1", "r") == [("socket", "s1")]
    assert guesses.blocked_for("10.0.0.1", "s1", "r") == pytest.approx(30)
    # Another socket at the address still has the address's remainder.
    assert guesses.blocked_for("10.0.0.1", "s2", "r") is None
    assert guesses.failed("10.0.0.1", "s2", "r") == []
    assert guesses.failed("10.0.0.1", "s2", "r") == [
        ("address", "10.0.0.1"), ("socket", "s2")]
    assert guesses.blocked_for("10.0.0.1", "s3", "r") is not None
    assert guesses.blocked_for("10.0.0.2", "s4", "r") is None
    guesses.forget_socket("s1")
    clock.now = 15.0   # one address attempt back, s1 forgotten
    assert guesses.blocked_for("10.0.0.1", "s1", "r") is None


def test_room_under_attack_refuses_guessers_and_drains_them():
    clock = FakeClock()
    guesses = PasswordGuesses(10, 5, 3, 60.0, clock)
    for i in range(3):
        guesses.failed(f"10.0.0.{i}", f"s{i}", "room")
    assert guesses.under_attack("room")
    # A guesser waits until its books are clean (one failure: 6 s).
    assert guesses.blocked_for("10.0.0.0", "s9", "room") == pytest.approx(6)
    assert guesses.blocked_for("10.0.0.0", "s9", "other") is None
    # A clean guesser may try; a wrong guess now costs a whole window.
    assert guesses.blocked_for("10.0.0.7", "s7", "room") is None
    assert guesses.failed("10.0.0.7", "s7", "room") == []
    assert guesses.blocked_for("10.0.0.7", "s8", "room") == \
        pytest.approx(60)
    # Elsewhere its address is back to the usual pace (one per 6 s).
    assert guesses.blocked_for("10.0.0.7", "s8", "other") == \
        pytest.approx(6)
    clock.now = 60.0
    assert not guesses.under_attack("room")
    assert guesses.blocked_for("10.0.0.7", "s8", "room") is None


def test_throttles_switch_off():
    guesses = PasswordGuesses(None, None, None, 60.0)
    for _ in range(100):
        assert guesses.failed("a", "s", "r") == []
    assert guesses.blocked_for("a", "s", "r") is None


def test_attempts_in_flight_count_until_settled():
    """Guesses sent at once are counted when they start, so a socket
    cannot have more checked in parallel than its allowance."""
    guesses = PasswordGuesses(10, 3, None, 60.0, FakeClock())
    started = [guesses.begin("10.0.0.1", "s", "r") for _ in range(5)]
    assert [wait is None for wait, _ in started] == [True] * 3 + [False] * 2
    # One turned out right: its attempt is given back.
    assert guesses.settle(started[0][1], right=True) == []
    assert guesses.settle(started[1][1], right=False) == []
    assert guesses.settle(started[2][1], right=False) == [
        ("socket", "s")]
    assert guesses.begin("10.0.0.1", "s", "r")[0] is None
