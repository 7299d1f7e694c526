"""Client websocket frames as bytes, and the RFC 6455 case table.

:func:`client_frame` builds any frame a client could put on the wire,
including the ones RFC 6455 forbids (reserved bits and opcodes, unmasked,
a length in more bytes than needed, fragmented control frames). ``CASES``
is the table docs/protocol-fidelity.rst prints: each case is what a client
sends (a list of byte chunks, one TCP write each) and what the server's
frame reader answers, as events:

- ``("message", str | bytes)``: a complete message handed to Engine.IO;
- ``("pong", bytes)``: the pong written for a ping;
- ``("close", code)``: the close frame the server wrote (then it stops
  reading);
- ``("eof",)``: the client's stream ended with no close frame.

tests/unit/transport/test_websocket_rfc6455.py checks every case against
RTCIO's reader and wsproto; tests/live/test_websocket_rfc6455.py sends
the ``live`` ones to a running server.
"""

import base64
import os
import socket
import struct
from typing import NamedTuple

MASK = b"\x37\xfa\x21\x3d"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def xor(data, mask):
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def client_frame(opcode, payload=b"", fin=True, rsv=0, mask=MASK,
                 length_form=None, announce=None):
    """One client frame. ``mask=None`` sends it unmasked; ``length_form``
    126 or 127 forces the 16- or 64-bit length field whatever the length;
    ``announce`` puts another length in the header than the payload's."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    length = len(payload) if announce is None else announce
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)
    bit = 0x80 if mask is not None else 0
    form = length_form or (7 if length < 126 else 126 if length < 65536
                           else 127)
    if form == 7:
        head = bytes((first, bit | length))
    elif form == 126:
        head = bytes((first, bit | 126)) + struct.pack("!H", length)
    else:
        head = bytes((first, bit | 127)) + struct.pack("!Q", length)
    if mask is None:
        return head + payload
    return head + mask + xor(payload, mask)


def close_body(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


def close_frame(code=None, reason=b""):
    return client_frame(CLOSE, close_body(code, reason))


def call(n, pad="", size=None):
    """A socket.io event with acknowledgement id ``n``: tests.apps.basic's
    ``whoami``, which a live server answers with ``43<n>[...]``; padded
    to ``size`` bytes when given."""
    head = f'42{n}["whoami","'
    if size is not None:
        pad = "x" * (size - len(head) - 2)
    return head + pad + '"]'


def text(payload, **kw):
    return client_frame(TEXT, payload, **kw)


def chopped(data, size=1):
    """``data`` as TCP writes of ``size`` bytes."""
    return [data[i:i + size] for i in range(0, len(data), size)]


class Case(NamedTuple):
    name: str
    #: RFC 6455 section, or the Autobahn test case it stands for.
    ref: str
    chunks: list
    expect: list
    #: The reader's message size cap (python-engineio's
    #: max_http_buffer_size); None for none.
    cap: object = None
    #: Sent to a live server too (tests/live/test_websocket_rfc6455.py):
    #: its text messages are then :func:`call` events.
    live: bool = False


def _cases():
    out = []

    def case(name, ref, chunks, expect, cap=None, live=False):
        if isinstance(chunks, bytes):
            chunks = [chunks]
        out.append(Case(name, ref, chunks, expect, cap, live))

    ok = ("close", 1000)
    bye = [close_frame(1000)]
    # -- 1: framing -----------------------------------------------------
    case("text-0", "Autobahn 1.1.1", [text("")] + bye,
         [("message", ""), ok])
    for size in (0, 125, 126, 127, 128, 65535, 65536):
        if size:
            case(f"text-{size}", "Autobahn 1.1",
                 [text(call(1, size=size))] + bye,
                 [("message", call(1, size=size)), ok], live=True)
        case(f"binary-{size}", "Autobahn 1.2",
             [client_frame(BINARY, b"\xfe" * size)] + bye,
             [("message", b"\xfe" * size), ok])
    case("text-65536-chopped", "Autobahn 1.1.8",
         chopped(text(call(1, size=65536)), 997) + bye,
         [("message", call(1, size=65536)), ok], live=True)
    # -- 2: pings and pongs ---------------------------------------------
    case("ping-empty", "Autobahn 2.1", [client_frame(PING)] + bye,
         [("pong", b""), ok], live=True)
    case("ping-text", "Autobahn 2.2", [client_frame(PING, "Hello")] + bye,
         [("pong", b"Hello"), ok], live=True)
    case("ping-binary", "Autobahn 2.3",
         [client_frame(PING, b"\x00\xff\xfe\xfd")] + bye,
         [("pong", b"\x00\xff\xfe\xfd"), ok], live=True)
    case("ping-125", "Autobahn 2.4", [client_frame(PING, b"\xfe" * 125)] +
         bye, [("pong", b"\xfe" * 125), ok], live=True)
    case("ping-126", "Autobahn 2.5, RFC 5.5",
         [client_frame(PING, b"\xfe" * 126)] + bye, [("close", 1002)],
         live=True)
    case("ping-125-chopped", "Autobahn 2.6",
         chopped(client_frame(PING, b"\xfe" * 125)) + bye,
         [("pong", b"\xfe" * 125), ok], live=True)
    case("pong-unsolicited", "Autobahn 2.7, 2.8",
         [client_frame(PONG), client_frame(PONG, "x")] + bye, [ok],
         live=True)
    case("pong-then-ping", "Autobahn 2.9",
         [client_frame(PONG, "x"), client_frame(PING, "y")] + bye,
         [("pong", b"y"), ok], live=True)
    case("ten-pings", "Autobahn 2.10, 2.11",
         chopped(b"".join(client_frame(PING, str(i)) for i in range(10)),
                 3) + bye,
         [("pong", str(i).encode()) for i in range(10)] + [ok], live=True)
    # -- 3: reserved bits -----------------------------------------------
    for rsv in range(1, 8):
        case(f"rsv-{rsv}", "Autobahn 3.1-3.7, RFC 5.2",
             [text(call(1)), text(call(2), rsv=rsv), client_frame(PING)] +
             bye, [("message", call(1)), ("close", 1002)], live=rsv in (1, 4))
    case("rsv-on-close", "Autobahn 3.7",
         [client_frame(CLOSE, close_body(1000), rsv=7)], [("close", 1002)])
    # -- 4: opcodes -----------------------------------------------------
    for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        case(f"opcode-{op:x}", "Autobahn 4.1, 4.2, RFC 5.2",
             [text(call(1)), client_frame(op, b"x"), text(call(2))] + bye,
             [("message", call(1)), ("close", 1002)], live=op in (3, 0xB))
    case("reserved-opcode-announcing-200MB", "RFC 5.2",
         [client_frame(5, b"", announce=200_000_000)],
         [("close", 1002)], cap=1_000_000, live=True)
    # -- 5: fragmentation -----------------------------------------------
    case("ping-fragmented", "Autobahn 5.1, RFC 5.4",
         [client_frame(PING, "a", fin=False),
          client_frame(CONT, "b")] + bye, [("close", 1002)], live=True)
    case("pong-fragmented", "Autobahn 5.2",
         [client_frame(PONG, "a", fin=False),
          client_frame(CONT, "b")] + bye, [("close", 1002)])
    whole = call(1, "fragment")
    two = [text(whole[:9], fin=False), client_frame(CONT, whole[9:])]
    case("text-two-fragments", "Autobahn 5.3", two + bye,
         [("message", whole), ok], live=True)
    case("text-two-fragments-chopped", "Autobahn 5.4, 5.5",
         chopped(b"".join(two), 1) + bye,
         [("message", whole), ok])
    case("ping-inside-fragments", "Autobahn 5.6-5.8, RFC 5.4",
         [two[0], client_frame(PING, "p"), two[1]] + bye,
         [("pong", b"p"), ("message", whole), ok], live=True)
    case("continuation-alone", "Autobahn 5.9-5.14, RFC 5.4",
         [client_frame(CONT, "x"), text(call(1))] + bye, [("close", 1002)],
         live=True)
    case("continuation-after-message", "Autobahn 5.15-5.17",
         two + [client_frame(CONT, "x", fin=False), text(call(2))] + bye,
         [("message", whole), ("close", 1002)], live=True)
    case("new-message-inside-fragments", "Autobahn 5.18, RFC 5.4",
         [text(call(1), fin=False), text("b")] + bye, [("close", 1002)],
         live=True)
    long = call(1, "f1f2f3f4f5")
    five = [text(long[:-8], fin=False), client_frame(PING, "1"),
            client_frame(CONT, long[-8:-6], fin=False), client_frame(PONG),
            client_frame(CONT, long[-6:-4], fin=False),
            client_frame(PING, "2"),
            client_frame(CONT, long[-4:-2], fin=False),
            client_frame(CONT, long[-2:])]
    case("five-fragments-with-pings", "Autobahn 5.19, 5.20", five + bye,
         [("pong", b"1"), ("pong", b"2"), ("message", long), ok],
         live=True)
    # -- 6: UTF-8 -------------------------------------------------------
    case("text-empty-fragments", "Autobahn 6.1",
         [text("", fin=False), client_frame(CONT, "", fin=False),
          client_frame(CONT, "")] + bye, [("message", ""), ok])
    hello = call(1, "Hello-µ@ßöäüàá-UTF-8!!").encode()
    case("utf8-split-at-every-byte", "Autobahn 6.2",
         [text(hello[:1], fin=False)] +
         [client_frame(CONT, hello[i:i + 1], fin=i == len(hello) - 1)
          for i in range(1, len(hello))] + bye,
         [("message", hello.decode()), ok], live=True)
    bad = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")
    case("utf8-invalid", "Autobahn 6.3, RFC 8.1", [text(b"4" + bad)] + bye,
         [("close", 1007)], live=True)
    case("utf8-invalid-fails-at-its-fragment", "Autobahn 6.4.1, 6.4.2",
         [text(b"4" + bad[:12], fin=False),
          client_frame(CONT, bad[12:], fin=False)],
         [("close", 1007)], live=True)
    for name, ref, data, valid in (
            ("max-code-point", "Autobahn 6.6-6.8", "f48fbfbf", True),
            ("above-max-code-point", "Autobahn 6.8", "f4908080", False),
            ("overlong-slash", "Autobahn 6.12", "c0af", False),
            ("surrogate", "Autobahn 6.19-6.21", "eda080", False),
            ("noncharacter", "Autobahn 6.22", "efbfbe", True),
            ("lone-continuation-byte", "Autobahn 6.13", "80", False),
            ("truncated-sequence", "Autobahn 6.14", "e282", False)):
        raw = b"4" + bytes.fromhex(data)
        case(f"utf8-{name}", ref, [text(raw)] + bye,
             [("message", raw.decode()), ok] if valid
             else [("close", 1007)])
    # -- 7: close handling ----------------------------------------------
    case("message-then-close", "Autobahn 7.1.1",
         [text(call(1))] + bye, [("message", call(1)), ok], live=True)
    case("nothing-after-close", "Autobahn 7.1.2-7.1.4",
         bye + [close_frame(1000), client_frame(PING), text(call(1))], [ok],
         live=True)
    case("close-inside-fragments", "Autobahn 7.1.5",
         [text(call(1), fin=False)] + bye + [client_frame(CONT, "b")], [ok],
         live=True)
    case("close-empty", "Autobahn 7.3.1, RFC 5.5.1", [close_frame()], [ok],
         live=True)
    case("close-1-byte", "Autobahn 7.3.2, RFC 5.5.1",
         [client_frame(CLOSE, b"\x03")], [("close", 1002)], live=True)
    case("close-with-reason", "Autobahn 7.3.3-7.3.5",
         [close_frame(1000, "x" * 123)], [ok], live=True)
    case("close-126-bytes", "Autobahn 7.3.6, RFC 5.5",
         [client_frame(CLOSE, close_body(1000, "x" * 124))],
         [("close", 1002)], live=True)
    case("close-reason-invalid-utf8", "Autobahn 7.5.1, RFC 8.1",
         [close_frame(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xed\xa0\x80")],
         [("close", 1007)], live=True)
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                 1012, 1013, 1014, 3000, 3999, 4000, 4999):
        case(f"close-code-{code}", "Autobahn 7.7, RFC 7.4",
             [close_frame(code)], [("close", code)],
             live=code in (1001, 3000, 4999))
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                 5000, 65535):
        case(f"close-code-{code}", "Autobahn 7.9, 7.13, RFC 7.4",
             [close_frame(code)], [("close", 1002)],
             live=code in (999, 1005, 1006, 1015, 5000))
    # -- other RFC 6455 MUSTs -------------------------------------------
    case("unmasked", "RFC 5.1", [text(call(1), mask=None)] + bye,
         [("close", 1002)], live=True)
    case("length-in-16-bits-not-needed", "RFC 5.2",
         [text(call(1), length_form=126)] + bye, [("close", 1002)])
    case("length-in-64-bits-not-needed", "RFC 5.2",
         [text(call(1, size=200), length_form=127)] + bye, [("close", 1002)])
    case("length-64-bits-msb-set", "RFC 5.2",
         [text(b"", announce=1 << 63)], [("close", 1002)], cap=None)
    case("end-of-stream", "RFC 7.1.5", [text(call(1))],
         [("message", call(1)), ("eof",)])
    # -- 9: limits (python-engineio's max_http_buffer_size) -------------
    case("text-at-the-cap", "Autobahn 9.1 (cap 1 MB)",
         [text(call(1, size=100_000))] + bye,
         [("message", call(1, size=100_000)), ok], cap=100_000)
    case("text-over-the-cap", "Autobahn 9.1, RFC 7.4.1",
         [text(call(1, size=100_001))] + bye, [("close", 1009)], cap=100_000)
    case("announced-200MB", "Autobahn 9.1.6",
         [text(b"", announce=200_000_000)], [("close", 1009)],
         cap=1_000_000, live=True)
    case("fragments-over-the-cap", "Autobahn 9.3, 9.4",
         [text(call(1, size=60_000), fin=False),
          client_frame(CONT, "x" * 50_000)], [("close", 1009)],
         cap=100_000)
    return out


CASES = _cases()


# -- a raw client, for the attacks (tests/live/test_websocket_attacks.py) -----

class Upgrade:
    """A websocket upgrade sent by hand (any method, key, version or extra
    header) on a plain socket: ``status`` is the answer's status code,
    ``headers`` its header fields (lower-case names); after a 101,
    :meth:`read` returns the server's frames."""

    def __init__(self, url, method="GET", key=None, version="13",
                 headers=(), timeout=10.0):
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)),
                                             timeout=timeout)
        if key is None:
            key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"{method} /socket.io/?EIO=4&transport=websocket HTTP/1.1",
                 f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 f"Sec-WebSocket-Version: {version}", *headers, "", ""]
        self.sock.sendall("\r\n".join(lines).encode("latin-1"))
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(4096)
            if not data:
                break
            head += data
        head, _, self.buf = head.partition(b"\r\n\r\n")
        first, *fields = head.decode("latin-1").split("\r\n")
        self.status = int(first.split()[1]) if first else None
        self.headers = {}
        for field in fields:
            name, _, value = field.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.key = key
        #: Whether :meth:`until` answers Engine.IO's pings.
        self.answer_pings = True

    def send(self, data):
        self.sock.sendall(data)

    def read(self, timeout=10.0):
        """The server's next frame as ``(opcode, payload)``; ``(None,
        b"")`` at the end of the stream (or a reset)."""
        self.sock.settimeout(timeout)
        buf = self.buf
        while True:
            if len(buf) >= 2:
                length = buf[1] & 0x7F
                at = {126: 4, 127: 10}.get(length, 2)
                if len(buf) >= at:
                    if at > 2:
                        length = int.from_bytes(buf[2:at], "big")
                    if len(buf) >= at + length:
                        self.buf = buf[at + length:]
                        return buf[0] & 0x0F, bytes(buf[at:at + length])
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.buf = buf
                return None, b""
            buf += data

    def connect(self):
        """Engine.IO's open packet, then socket.io's CONNECT and its
        reply; returns the reply (``40{"sid": ...}``)."""
        assert self.read()[1].startswith(b"0{")
        self.send(text("40"))
        return self.until(lambda op, data: data.startswith(b"40"))[1]

    def until(self, wanted, timeout=10.0):
        """Frames until ``wanted(opcode, payload)``; Engine.IO pings are
        answered meanwhile (see :attr:`answer_pings`). The frame wanted,
        or ``(None, b"")``."""
        while True:
            op, data = self.read(timeout)
            if op is None or wanted(op, data):
                return op, data
            if op == TEXT and data == b"2" and self.answer_pings:
                self.send(text("3"))

    def close_code(self, timeout=10.0):
        """The code of the server's close frame (None for none), once the
        server ended the stream after it."""
        op, data = self.until(lambda op, data: op == CLOSE, timeout)
        code = struct.unpack("!H", data[:2])[0] if op == CLOSE else None
        if op == CLOSE:
            assert self.until(lambda op, data: False, timeout)[0] is None
        return code

    def close(self):
        self.sock.close()
