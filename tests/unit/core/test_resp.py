"""RESP packing (rtcio_flask.core.resp): lengths are UTF-8 bytes."""

from rtcio_flask.core import resp


def test_bulk_counts_utf8_bytes():
    assert resp.bulk("é") == b"$2\r\n\xc3\xa9\r\n"
    assert resp.bulk("") == b"$0\r\n\r\n"


def test_command_and_head():
    assert resp.command("GET", "k") == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    assert resp.head(3, "SET") + resp.bulk("k") + resp.bulk("v") == \
        resp.command("SET", "k", "v")
