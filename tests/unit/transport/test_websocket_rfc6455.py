"""RTCIO's websocket frame reader (rtcio_flask.transport.websocket) against
wsproto, a maintained RFC 6455 parser, on the same client bytes.

Both read the same stream of TCP reads: RTCIO's :class:`WebSocket` from a
stand-in socket that hands out exactly those reads (a real socket pair
cannot pin where one ``recv`` ends, and where reads split frames is what
is tested), wsproto's server-side ``Connection`` through
``receive_data``. What each makes of the stream is a list of events
(tests/support/ws_frames.py): complete messages, pongs, and how it ended,
the close code or the end of the stream; the lists must be equal, which
covers the messages, the pings, the close code and where the stream
failed.

Deliberate differences, each normalised below and nowhere else:

- Size cap: RTCIO closes with 1009 when a message would grow past
  python-engineio's ``max_http_buffer_size``, as soon as the frame header
  that crosses it arrives; wsproto has no cap. The differential run has
  no cap; :func:`test_the_cap_only_cuts_the_stream_short` checks what the
  cap changes.
- An empty close frame: wsproto reports 1005 ("no status", and answers
  with an empty close frame), RTCIO answers 1000; both are allowed (RFC
  6455 5.5.1, 7.4.1).
- Close code 1014 (IANA's "Bad Gateway", registered after RFC 6455):
  RTCIO accepts it as IANA's registry says, wsproto's list predates it;
  the differential run reads with wsproto taught that one code
  (:func:`iana_1014`), so a 1014 close with a bad reason is still
  compared (1007 from both).
- A stream that ends inside a frame (the client hung up mid-frame): the
  two may notice a bad frame at different points of its header or
  payload (wsproto checks UTF-8 per TCP read, RTCIO per frame), so one can
  end with a close code where the other sees only the end of the stream.
  Nobody is left to read that close frame; everything before the cut
  frame must still agree.
- Pongs for a client that does not read: while RTCIO's writes wait for
  one, only its latest ping is answered (RFC 6455 5.5.3 allows it). The
  stand-in socket here writes at once, so every ping is answered and
  compared; ``test_a_ping_flood_from_a_client_that_does_not_read_costs_one_
  pong`` checks the other case.
"""

import contextlib
import struct
import tracemalloc

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.frame_protocol import FrameProtocol
from wsproto.events import (BytesMessage, CloseConnection, Ping, Pong,
                            TextMessage)

from rtcio_flask.core import rfc6455
from rtcio_flask.transport.websocket import FRAMES_PER_TURN, WebSocket
from tests.support import ws_frames as wf
from tests.support.ws_frames import CASES


class Reads:
    """A socket stand-in: ``recv`` returns the given chunks in turn (never
    more than asked for), then end of file; ``sendall`` hands the server's
    bytes to wsproto as a client (the write side checked by a maintained
    parser too) and records what it reads as events in ``log``."""

    def __init__(self, chunks, log):
        self.chunks = [bytes(c) for c in chunks if c]
        self.log = log
        self.client = ServerFrames(log)

    def recv(self, size):
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if len(chunk) > size:
            self.chunks.insert(0, chunk[size:])
            chunk = chunk[:size]
        return chunk

    def sendall(self, data):
        self.client.feed(data)

    def shutdown(self, how):
        pass


class ServerFrames:
    """What a client reads from the server's bytes, parsed by wsproto's
    client ``Connection`` (which refuses masked, reserved or malformed
    server frames): ``("pong", payload)``, ``("close", code)`` (with the
    reason in :attr:`reasons`) and ``("sent", message)`` events in
    ``log``."""

    def __init__(self, log):
        self.log = log
        self.conn = Connection(ConnectionType.CLIENT)
        self.parts = []
        self.reasons = []

    def feed(self, data):
        self.conn.receive_data(bytes(data))
        for event in self.conn.events():
            if isinstance(event, Pong):
                self.log.append(("pong", bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                self.log.append(("close", int(event.code)))
                self.reasons.append(event.reason)
            elif isinstance(event, (TextMessage, BytesMessage)):
                self.parts.append(event.data)
                if event.message_finished:
                    empty = "" if isinstance(event, TextMessage) else b""
                    self.log.append(("sent", empty.join(self.parts)))
                    self.parts = []
            else:
                raise AssertionError(f"a client read {event!r}")


def rtcio_events(chunks, cap=None):
    log = []
    with iana_1014():
        ws = WebSocket(Reads(chunks, log), cap)
        while True:
            message = ws.wait()
            if message is None:
                break
            log.append(("message", message))
    if not log or log[-1][0] != "close":
        log.append(("eof",))
    return log


_IANA_1014 = struct.pack("!H", 1014)


@contextlib.contextmanager
def iana_1014():
    """wsproto's close-frame check, with IANA's 1014 read as a valid code
    (it checks the code before the reason, as RTCIO does), for as long as
    the block runs."""
    process_close = FrameProtocol._process_close

    def check(self, frame):
        data = frame.payload
        if bytes(data[:2]) != _IANA_1014:
            return process_close(self, frame)
        checked = process_close(
            self, frame._replace(payload=struct.pack("!H", 1000) + data[2:]))
        return checked._replace(payload=(1014, checked.payload[1]))

    FrameProtocol._process_close = check
    try:
        yield
    finally:
        FrameProtocol._process_close = process_close


def wsproto_events(chunks):
    """wsproto's events for ``chunks`` (with IANA's 1014, see
    :func:`iana_1014`)."""
    with iana_1014():
        return _wsproto_events(chunks)


def _wsproto_events(chunks):
    log = []
    conn = Connection(ConnectionType.SERVER)
    parts = []
    for chunk in list(chunks) + [None]:
        if chunk is None:
            log.append(("eof",))
            return log
        conn.receive_data(bytes(chunk))
        for event in conn.events():
            if isinstance(event, Ping):
                log.append(("pong", bytes(event.payload)))
            elif isinstance(event, (TextMessage, BytesMessage)):
                parts.append(event.data)
                if event.message_finished:
                    joined = "" if isinstance(event, TextMessage) else b""
                    log.append(("message", joined.join(parts)))
                    parts = []
            elif isinstance(event, CloseConnection):
                code = int(event.code)
                log.append(("close", 1000 if code == 1005 else code))
                return log
    raise AssertionError("unreachable")


def agree(chunks, truncated=False):
    """RTCIO's events for ``chunks``, asserted equal to wsproto's (with
    the differences the module docstring lists)."""
    ours = rtcio_events(chunks)
    theirs = wsproto_events(chunks)
    if truncated and ours[:-1] == theirs[:-1] and \
            "eof" in (ours[-1][0], theirs[-1][0]):
        return ours  # cut inside a frame, see the module docstring
    assert ours == theirs
    return ours


# -- the case table (docs/protocol-fidelity.rst) ----------------------------

@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_table(case):
    """Each case answers as the table says, and wsproto agrees (a case
    whose answer comes from the size cap has nothing to agree with)."""
    assert rtcio_events(case.chunks, case.cap) == case.expect
    if case.cap is None or ("close", 1009) not in case.expect:
        assert agree(case.chunks) == case.expect


def test_the_four_close_frame_cases_of_the_probe():
    """The four answers the malformed-frame probe found wrong (issue 24)."""
    assert rtcio_events([wf.client_frame(wf.CLOSE, b"\x03")]) == \
        [("close", 1002)]
    assert rtcio_events([wf.close_frame(1005)]) == [("close", 1002)]
    assert rtcio_events([wf.close_frame(999)]) == [("close", 1002)]
    assert rtcio_events([wf.close_frame(1000, b"\xff")]) == \
        [("close", 1007)]


def test_every_close_code_as_wsproto_reads_it():
    differ = [code for code in range(65536)
              if [("close", rfc6455.close_reply(struct.pack("!H", code)))]
              != wsproto_events([wf.close_frame(code)])]
    assert differ == []  # 1014 too (wsproto taught IANA's code)


# -- the write side: what RTCIO sends, read by wsproto as a client ----------

@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_what_rtcio_writes_wsproto_reads_as_a_client(size):
    """Text (non-ASCII too) and binary messages whose lengths take the
    7-, 16- and 64-bit forms, a pong with a 125-byte payload and the close
    frames RTCIO writes (its own, an echoed code, and :func:`frame` with a
    reason, which RTCIO itself never sends), each parsed by
    wsproto's client, which refuses a masked server frame, a length in a
    longer form than needed, reserved bits or an invalid close code."""
    log = []
    sock = Reads([wf.client_frame(wf.PING, b"\xfe" * 125),
                  wf.close_frame(4000, "bye")], log)
    ws = WebSocket(sock, None)
    text = ("é" * size)[:size // 2] + "x" * (size - 2 * (size // 2))
    assert len(text.encode("utf-8")) == size
    ws.send(text)
    ws.send(b"\x00\xff" * (size // 2))
    assert ws.wait() is None  # the ping, then the client's close
    assert log == [("sent", text), ("sent", b"\x00\xff" * (size // 2)),
                   ("pong", b"\xfe" * 125), ("close", 4000)]
    own = ServerFrames([])
    own.feed(rfc6455.frame(struct.pack("!H", 1001) + "bientôt".encode(),
                           wf.CLOSE))
    assert (own.log, own.reasons) == ([("close", 1001)], ["bientôt"])
    closing = []
    ws = WebSocket(Reads([], closing), None)
    ws.close()
    assert closing == [("close", 1000)]


# -- floods -------------------------------------------------------------------

def test_a_ping_flood_from_a_client_that_does_not_read_costs_one_pong():
    """While writes wait for a client (here: all of them, a stand-in
    socket has no non-blocking send), only its latest ping is answered,
    once they are written (RFC 6455 5.5.3): a pong per ping grew the
    server's memory without end."""
    log, spawned = [], []
    pings = b"".join(wf.client_frame(wf.PING, b"%d" % i) for i in range(5000))
    ws = WebSocket(Reads([pings, wf.text("x"), wf.close_frame(1000)], log),
                   None, spawn=spawned.append)
    assert ws.wait() == "x"
    assert len(spawned) == 1 and ws.pending_bytes == len(b"\x8a\x010")
    spawned[0]()  # the flusher: the waiting pong, then the latest one
    assert log == [("pong", b"0"), ("pong", b"4999")]
    ws.send("queued")  # waits again (no flusher runs until spawned)
    assert ws.wait() is None and ws.close_code == 1000
    spawned[1]()
    assert log[2:] == [("sent", "queued"), ("close", 1000)]


def test_a_late_pong_goes_before_the_close_frame():
    log, spawned = [], []
    ws = WebSocket(Reads([wf.client_frame(wf.PING, b"a"),
                          wf.client_frame(wf.PING, b"b"),
                          wf.close_frame(4000)], log), None,
                   spawn=spawned.append)
    assert ws.wait() is None
    spawned[0]()
    assert log == [("pong", b"a"), ("pong", b"b"), ("close", 4000)]


def test_no_pong_follows_the_servers_close_frame():
    """The server closed while its writes waited; the reader, which reads
    on until the client's close, met a ping: its pong went out after the
    close frame, which nothing may follow (RFC 6455 5.5.1)."""
    log, spawned, written = [], [], bytearray()
    sock = Reads([wf.client_frame(wf.PING, b"p"), wf.close_frame(1000)],
                 log)
    sock.sendall = lambda data: (written.extend(data),
                                 sock.client.feed(data))
    ws = WebSocket(sock, None, spawn=spawned.append)
    ws.send("x")  # waits for the flusher
    ws.close()
    assert ws.wait() is None
    spawned[0]()
    assert log == [("sent", "x"), ("close", 1000)]
    # wsproto stops reading at the close frame: the bytes after it count.
    assert written.endswith(rfc6455.frame(struct.pack("!H", 1000), wf.CLOSE))


def test_the_reader_lets_others_run_every_so_many_frames():
    """A green socket's recv returns at once while data waits: without a
    pause, a client flooding pings, fragments or messages kept the reader
    running and froze the worker (a bystander's round trip: 4 s under a
    4 s flood, 15-60 ms with the pause)."""
    pauses = []
    frames = [wf.client_frame(wf.PING)] * 600 + \
        [wf.text("a", fin=False)] + [wf.client_frame(wf.CONT, "")] + \
        [wf.text("b")] * 100
    ws = WebSocket(Reads([b"".join(frames)], []), None,
                   pause=lambda: pauses.append(len(ws._buf)))
    assert ws.wait() == "a"
    assert len(pauses) == 602 // FRAMES_PER_TURN
    assert [ws.wait() for _ in range(100)] == ["b"] * 100
    assert len(pauses) == 702 // FRAMES_PER_TURN


@pytest.mark.parametrize("size", [0, 1])
def test_endless_fragments_cost_the_message_not_the_fragments(size):
    """30 000 fragments of ``size`` bytes: the reader holds the message's
    bytes, not an object per fragment (0.3-4.4 MB here before, 0.1 MB now)."""
    count = 30_000
    for opcode, piece in ((wf.TEXT, b"e"[:size]),
                          (wf.BINARY, b"\xfe"[:size])):
        fragments = [wf.client_frame(opcode, piece, fin=False)] + \
            [wf.client_frame(wf.CONT, piece, fin=False)] * (count - 2) + \
            [wf.client_frame(wf.CONT, piece)]
        # In reads of the reader's own size (Reads copies nothing then).
        ws = WebSocket(Reads(wf.chopped(b"".join(fragments), 65536), []),
                       None)
        tracemalloc.start()
        try:
            message = ws.wait()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        whole = piece * count
        assert message == (whole.decode() if opcode == wf.TEXT else whole)
        assert peak < 3 * len(whole) + 150_000, peak


# -- the differential property ------------------------------------------------

CLOSE_CODES = st.sampled_from(
    [0, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012,
     1014, 1015, 1016, 2999, 3000, 4999, 5000, 65535]) | \
    st.integers(0, 65535)
TEXT = st.text(max_size=40).map(lambda t: t.encode("utf-8"))
BAD_UTF8 = st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80",
                            b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"])
PAYLOADS = TEXT | st.binary(max_size=40) | st.builds(
    lambda a, bad, b: a + bad + b, TEXT, BAD_UTF8, TEXT)
MASKS = st.just(wf.MASK) | st.binary(min_size=4, max_size=4)


@st.composite
def messages(draw):
    """A valid message in fragments, control frames maybe between them."""
    opcode = draw(st.sampled_from([wf.TEXT, wf.BINARY]))
    payload = draw(PAYLOADS if opcode == wf.TEXT else st.binary(max_size=300))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=4)))
    pieces = [payload[a:b] for a, b in zip([0] + cuts, cuts + [len(payload)])]
    out = []
    for i, piece in enumerate(pieces):
        out.append(wf.client_frame(opcode if i == 0 else wf.CONT, piece,
                                   fin=i == len(pieces) - 1,
                                   mask=draw(MASKS)))
        if i < len(pieces) - 1:
            out.extend(draw(st.lists(controls(), max_size=2)))
    return b"".join(out)


@st.composite
def controls(draw):
    opcode = draw(st.sampled_from([wf.PING, wf.PONG]))
    return wf.client_frame(opcode, draw(st.binary(max_size=125)),
                           mask=draw(MASKS))


@st.composite
def closes(draw):
    body = draw(st.one_of(
        st.just(b""), st.binary(min_size=1, max_size=1),
        st.builds(rfc6455_body, CLOSE_CODES, PAYLOADS),
        st.builds(rfc6455_body, CLOSE_CODES,
                  st.binary(min_size=124, max_size=130))))
    return wf.client_frame(wf.CLOSE, body, mask=draw(MASKS))


def rfc6455_body(code, reason):
    return struct.pack("!H", code) + reason


@st.composite
def any_frames(draw):
    """A frame with any header: reserved bits and opcodes, no mask, a
    longer length field than needed, fragmented control frames."""
    return wf.client_frame(
        draw(st.integers(0, 15)), draw(PAYLOADS),
        fin=draw(st.booleans()),
        rsv=draw(st.sampled_from([0, 0, 0, 1, 2, 4, 7])),
        mask=draw(st.one_of(MASKS, MASKS, MASKS, st.none())),
        length_form=draw(st.sampled_from([None, None, None, 126, 127])))


@st.composite
def streams(draw):
    """(TCP reads, whether the stream was cut inside a frame)."""
    frames = draw(st.lists(
        st.one_of(messages(), messages(), controls(), any_frames(),
                  closes()), max_size=8))
    data = b"".join(frames)
    truncated = False
    if data and draw(st.integers(0, 9)) == 0:
        cut = draw(st.integers(0, len(data) - 1))
        truncated = cut not in _boundaries(frames)
        data = data[:cut]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)),
                                    max_size=12))))
    bounds = [0] + cuts + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])], truncated


def _boundaries(frames):
    at, out = 0, {0}
    for f in frames:
        at += len(f)
        out.add(at)
    return out


@settings(max_examples=400, deadline=None)
@example(([wf.text(b"a\xff", fin=False)], False))
@example(([wf.close_frame(1000, b"\xce")], False))
@example(([wf.close_frame(1014, b"\xff")], False))
@given(streams())
def test_rtcio_reads_client_bytes_as_wsproto_does(stream):
    chunks, truncated = stream
    agree(chunks, truncated)


@settings(max_examples=150, deadline=None)
@given(stream=streams(), cap=st.integers(0, 400))
def test_the_cap_only_cuts_the_stream_short(stream, cap):
    """With a cap, RTCIO reads what it reads without one, up to a message
    that would outgrow the cap, where it closes with 1009 instead."""
    chunks, _ = stream
    free = rtcio_events(chunks)
    capped = rtcio_events(chunks, cap)
    if capped == free:
        assert all(len(e[1].encode("utf-8") if isinstance(e[1], str)
                       else e[1]) <= cap
                   for e in free if e[0] == "message")
        return
    assert capped[-1] == ("close", 1009), capped
    assert capped[:-1] == free[:len(capped) - 1]
