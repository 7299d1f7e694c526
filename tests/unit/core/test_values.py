"""The shared rules for setting values (core/values.py): every feature's
numbers and flags are parsed here, so these cases hold for all of them."""

import pytest

from rtcio_flask.core.values import (is_off, parse_flag, positive_number,
                                     strict_flag)


@pytest.mark.parametrize("text", ["1", "true", "YES", " on "])
def test_on_words(text):
    assert parse_flag(text) is True
    assert strict_flag(text, "X") is True


@pytest.mark.parametrize("text", ["0", "false", "No", "off", ""])
def test_off_words(text):
    assert parse_flag(text) is False
    assert strict_flag(text, "X") is False


def test_strict_flag_refuses_typos_and_names_the_setting():
    assert parse_flag("ture") is False  # lenient: anything else is off
    with pytest.raises(ValueError, match=r"^RTCIO_X must be True or False"):
        strict_flag("ture", "RTCIO_X")


def test_non_text_flags_go_by_truth():
    assert parse_flag(1) is True and parse_flag(None) is False
    assert strict_flag(True, "X") is True


@pytest.mark.parametrize("value, whole, expected", [
    ("42", True, 42), (" 7 ", True, 7), (3, True, 3),
    ("2.5", False, 2.5), (0.25, False, 0.25), (5, False, 5),
])
def test_positive_numbers_from_config_text(value, whole, expected):
    got = positive_number(value, "X", whole=whole)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value", [0, -1, "0", "lots", True, None, 1.5, "1.5"])
def test_positive_whole_numbers_refused(value):
    with pytest.raises(ValueError, match="positive whole number"):
        positive_number(value, "X")


def test_refusal_reads_what_where_unit_and_hint():
    with pytest.raises(ValueError) as info:
        positive_number(-3, "app.config['RTCIO_Y']", whole=False,
                        unit="seconds", hint=" (or None)")
    assert str(info.value) == ("app.config['RTCIO_Y'] must be a positive "
                               "number of seconds (or None), not -3.")


@pytest.mark.parametrize("value", [None, False, 0, 0.0, "0", " 0.0 ", "off",
                                   "OFF", "false", "No", "none", ""])
def test_off_is_one_rule(value):
    assert is_off(value) is True


@pytest.mark.parametrize("value", [True, 1, 0.5, "1", "on", "30", "of"])
def test_anything_else_is_not_off(value):
    assert is_off(value) is False
