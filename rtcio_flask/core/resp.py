"""Redis commands as the bytes the server reads (RESP arrays of bulk
strings), for the recovery log's batches: redis-py packs each argument of
each command in Python (its ``PythonRespSerializer``), which cost more
CPU per relayed envelope than the rest of the log (docs/performance.rst);
packing a batch here is one ``bytes`` per argument and one join. Pure:
the sending lives in :mod:`rtcio_flask.deploy.redis_client`."""

def bulk(value: str) -> bytes:
    """One argument: its length in UTF-8 bytes (what Redis counts), then
    the bytes."""
    raw = value.encode()
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def command(*args: str) -> bytes:
    """One command, e.g. ``command("XTRIM", "log", "MAXLEN", "~", "10")``."""
    return head(len(args), *args)


def head(count: int, *first: str) -> bytes:
    """The start of a command of ``count`` arguments: its array header and
    its ``first`` arguments; the others follow as :func:`bulk` values (a
    batch repeats the constant start of each command without re-packing
    it)."""
    return b"*%d\r\n" % count + b"".join(bulk(arg) for arg in first)
