"""A lean RFC 6455 websocket for python-engineio under gevent and eventlet.

python-engineio's gevent driver, without gevent-websocket installed, runs
every websocket through simple-websocket, which parses frames with wsproto:
each socket gets a reader greenlet of its own (besides the request greenlet
and python-engineio's writer), every received message crosses from that
reader to the request greenlet through an Event, and every frame in or out
goes through wsproto's pure-Python frame machinery and per-byte unmasking.
Profiled under the relay load (py-spy, docs/performance.rst), that frame
layer was about half of the server's CPU under gevent.

:class:`WebSocketWSGI` is a drop-in for that driver's class (the
``websocket`` entry of ``server.eio._async``): the same ``(handler,
server)`` constructor and WSGI call, and the ``wait``/``send``/``close``
object python-engineio's websocket handler uses. It reads in the request
greenlet itself, from a buffer filled 64 KiB at a time, so a burst of
frames costs one ``recv`` and no greenlet switch per frame (one in
:data:`FRAMES_PER_TURN`, so a flood cannot keep the worker to itself), and
unmasks a frame at once. What it speaks: RFC 6455 version 13, text and
binary messages, fragmentation, ping/pong, the close handshake (close frames
checked as :mod:`rtcio_flask.core.rfc6455` says), a size cap (close code
1009), UTF-8 checks on text (1007), masked client frames only, no
extensions (RTCIO refuses permessage-deflate anyway, see
:mod:`.guard`) and no subprotocols, as simple-websocket under
python-engineio.
"""

import base64
import codecs
import hashlib
import logging
import os
import socket
import struct
import time
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Union)

from ..core.rfc6455 import close_reply, frame, unmask_in_place, valid_key
from ..core.values import pick
from . import compat
from .compat import engineio as eio_compat
from .compat import eventlet as eventlet_compat
from .sockets import (Detach, client_socket, detach_for, raw_sender,
                      release_http_buffers)

logger = logging.getLogger("rtcio_flask")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RECV_BYTES = 65536
# How long, and how much, a closing server reads and drops what a client
# still sends (see WebSocket.linger).
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20

# The reader lets other greenlets run after this many frames. A green
# socket's recv returns at once while data waits, so a client flooding
# pings, empty fragments or messages kept its reader running and froze
# everybody else on the worker (measured: a ping flood held a bystander's
# round trip 4 s, for as long as the flood lasted). 256 frames are about a
# millisecond of reading; one pause in 256 frames costs nothing measurable.
FRAMES_PER_TURN = 256

# Opcodes (RFC 6455, 5.2).
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

_unpack_short = struct.Struct("!H").unpack_from
_unpack_long = struct.Struct("!Q").unpack_from

Message = Union[str, bytes]

# Fragmented text is checked as each fragment comes (see _next_message).
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class _Closed(Exception):
    """The connection ended (EOF, a close frame, or a protocol error after
    its close frame went out)."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(key.encode("latin-1") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


class WebSocket:
    """One server-side websocket: ``wait()`` returns the next message (str
    for text, bytes for binary) or None once closed; ``send()`` writes one
    message; ``close()`` starts the close handshake.

    Writing never makes the caller wait when ``spawn`` is given (eventlet,
    gevent): a frame goes straight into the kernel's socket buffer with
    one non-blocking ``send`` when that buffer has room, and otherwise
    joins :attr:`pending`, which a flusher greenlet, started on demand,
    writes out in order and then ends. So python-engineio needs no writer
    greenlet and no queue per socket (direct sessions, see
    :func:`rtcio_flask.transport.compat.engineio.patch_engineio_sockets`), and a
    client that stops reading slows nobody who sends to it; what waits for
    it is counted (:attr:`pending_bytes`) against the outgoing caps.
    Without ``spawn`` (a plain socket in a test) writes are blocking
    ``sendall`` calls.
    """

    def __init__(self, sock: Any, max_message: Optional[int],
                 spawn: Optional[Callable[..., Any]] = None,
                 detach: Optional[Detach] = None,
                 pause: Optional[Callable[[], Any]] = None) -> None:
        #: The socket; python-engineio sets its timeout through this name.
        self._sock = sock
        #: Lets the event loop run other greenlets (see FRAMES_PER_TURN).
        self._pause = pause
        self._frames = 0
        self._buf = bytearray()
        self._max = max_message
        self._spawn = spawn
        # The OS socket's own non-blocking send, where writing to it
        # directly is the same as writing through the green socket.
        self._raw_send = raw_sender(sock) if spawn is not None else None
        #: Bytes written but not yet in the kernel, in order; None when
        #: nothing waits and no flusher runs.
        self.pending: Optional[bytearray] = None
        self.pending_frames = 0
        #: The payload of the latest ping while writes wait (see _pong).
        self._late_pong: Optional[bytes] = None
        self._shut_when_flushed = False
        self.closed = False
        #: The status code of the peer's close frame (1005 when it had
        #: none), None while no close frame came (or the connection just
        #: broke): connection state recovery holds only the latter.
        self.close_code: Optional[int] = None
        #: The client's end of file was read (it closed the connection).
        self.peer_closed = False
        #: How to read from readiness events (:meth:`watch`), if possible.
        self._detach = detach
        #: The readiness watch, once :meth:`watch` took over the reading.
        self._watch: Any = None
        self._on_message: Optional[Callable[[Message], bool]] = None
        self._on_end: Optional[Callable[[], Any]] = None

    # -- reading --------------------------------------------------------------

    def _fill(self, need: int) -> None:
        buf = self._buf
        while len(buf) < need:
            data = self._sock.recv(_RECV_BYTES)
            if not data:
                self.peer_closed = True
                raise _Closed()
            buf += data

    def _fail(self, code: int) -> "_Closed":
        """Send a close frame with ``code``; the caller raises what this
        returns."""
        self._send_close(code)
        return _Closed()

    def wait(self) -> Optional[Message]:
        """The next complete message, or None when the connection is
        closed (by either side, or for a protocol error)."""
        try:
            return self._next_message()
        except (_Closed, OSError):
            self.closed = True
            return None

    def _next_message(self) -> Message:
        # Every check a frame's header allows is made before its payload is
        # read (a bad frame announcing 200 MB is refused at once), in the
        # order wsproto makes them; tests/unit/transport/
        # test_websocket_rfc6455.py feeds the same bytes to both.
        body: Optional[bytearray] = None
        size = 0
        kind = 0
        decoder: Optional[codecs.IncrementalDecoder] = None
        buf = self._buf
        while True:
            self._frames += 1
            if self._frames >= FRAMES_PER_TURN and self._pause is not None:
                self._frames = 0
                self._pause()
                buf = self._buf
            if len(buf) < 2:
                self._fill(2)
            first, second = buf[0], buf[1]
            fin = first & 0x80
            opcode = first & 0x0F
            length = second & 0x7F
            # RSV bits: no extension was negotiated; clients must mask.
            if first & 0x70 or not second & 0x80:
                raise self._fail(1002)
            at = 2
            if length == 126:
                self._fill(4)
                length = _unpack_short(buf, 2)[0]
                at = 4
                if length < 126:  # not the shortest length (5.2)
                    raise self._fail(1002)
            elif length == 127:
                self._fill(10)
                length = _unpack_long(buf, 2)[0]
                at = 10
                if length < 65536 or length >> 63:  # 5.2: MSB must be 0
                    raise self._fail(1002)
            if opcode >= _CLOSE:
                if opcode > _PONG or not fin or length > 125:
                    raise self._fail(1002)
            else:
                if opcode == _CONT:
                    if not kind:  # nothing to continue
                        raise self._fail(1002)
                elif opcode == _TEXT or opcode == _BINARY:
                    if kind:  # a new message inside a fragmented one
                        raise self._fail(1002)
                    kind = opcode
                else:  # reserved non-control opcodes 3-7
                    raise self._fail(1002)
                if self._max is not None and size + length > self._max:
                    raise self._fail(1009)
            end = at + 4 + length
            if len(buf) < end:
                self._fill(end)
            payload: Any = unmask_in_place(buf[at + 4:end], buf[at:at + 4]) \
                if length else b""
            del buf[:end]
            if not buf:
                # A drained bytearray keeps its capacity (kilobytes per
                # idle socket after a burst); start afresh instead.
                self._buf = buf = bytearray()
            if opcode >= _CLOSE:
                if opcode == _PING:
                    self._pong(payload)
                elif opcode == _CLOSE:
                    self.close_code = _unpack_short(payload, 0)[0] \
                        if len(payload) >= 2 else 1005
                    self._send_close(close_reply(payload))
                    raise _Closed()
                continue
            size += length
            if fin and body is None:  # a message in one frame: the usual
                if kind == _BINARY:
                    return bytes(payload)
                try:
                    return payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise self._fail(1007) from None
            # Fragments are gathered in one buffer: it holds the message's
            # bytes and no more, however many fragments carried them (a list
            # of parts grew by an object per fragment, empty ones too: a
            # client sending endless 1-byte or empty fragments made it cost
            # tens of bytes of memory per byte it sent).
            if body is None:
                body = bytearray()
                if kind == _TEXT:
                    decoder = _utf8_decoder()
            body += payload
            if decoder is not None:
                # Checked fragment by fragment: invalid UTF-8 closes the
                # socket at the fragment that has it (Autobahn 6.4), not at
                # the last.
                try:
                    decoder.decode(payload, bool(fin))
                except UnicodeDecodeError:
                    raise self._fail(1007) from None
            if fin:
                return bytes(body) if kind == _BINARY else \
                    body.decode("utf-8")

    # -- reading without a parked greenlet ------------------------------------

    @property
    def detachable(self) -> bool:
        """Whether :meth:`watch` can take the reading over."""
        return self._detach is not None

    @property
    def watching(self) -> bool:
        """Whether :meth:`watch` took the reading over."""
        return self._watch is not None

    def watch(self, on_message: Callable[[Message], bool],
              on_end: Callable[[], Any]) -> None:
        """Read from readiness events from now on, and return at once.

        An idle socket then costs a watch on its descriptor instead of a
        greenlet parked in ``recv`` (its saved C stack, its Python frames'
        page of memory and the WSGI request it keeps alive: most of an idle
        socket's memory, docs/performance.rst). When the socket is readable,
        a greenlet starts, hands each complete message to ``on_message``
        (which returns False to stop reading) until nothing more is there,
        re-arms the watch and ends; one at a time, so messages keep their
        order. A message split across reads is waited for in that greenlet.
        At the end of the connection (the client's close or end of file, a
        protocol error, or ``on_message`` returning False) ``on_end()``
        runs, then the closing handshake's linger, and the socket is
        closed: nobody else will close it."""
        assert self._detach is not None
        self._on_message = on_message
        self._on_end = on_end
        self._watch = self._detach.watch(self._sock, self._readable)
        if self._buf:  # frames that came with the last read
            self._detach.spawn(self._read_burst)
        else:
            self._watch.arm()

    def _readable(self) -> None:
        """The watch fired (in the event loop): read in a greenlet, started
        now rather than on the loop's next turn."""
        assert self._detach is not None
        self._detach.run_now(self._read_burst)

    def _read_burst(self) -> None:
        """Every message the socket has now, then back to the watch."""
        assert self._detach is not None and self._on_message is not None
        recv = self._detach.recv
        try:
            while True:
                if not self._on_message(self._next_message()):
                    break
                if self._buf:
                    continue
                try:
                    data = recv(_RECV_BYTES)
                except (BlockingIOError, InterruptedError):
                    self._watch.arm()  # nothing more yet: idle again
                    return
                if not data:
                    self.peer_closed = True
                    break
                self._buf += data
        except (_Closed, OSError):
            self.closed = True  # as wait() does: no close frame of ours
        except Exception:  # on_message's own errors end the connection
            logger.exception("rtcio: websocket reader failed")
        self._end()

    def _end(self) -> None:
        """The connection is over: the session's end, the close handshake,
        the socket closed."""
        on_end, self._on_end = self._on_end, None
        try:
            if on_end is not None:
                on_end()
        finally:
            self.close()
            self.linger()
            self._watch.close()
            try:
                self._sock.close()
            except OSError:
                pass

    def _close_deadline(self) -> None:
        """A client that never answers the server's close frame: end the
        connection (the reader wakes with end of file; on a socket already
        closed this does nothing)."""
        self._shutdown(socket.SHUT_RDWR)

    # -- writing --------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting for the flusher (the outgoing caps count these)."""
        return len(self.pending) if self.pending is not None else 0

    def _put(self, data: bytes) -> None:
        """Write ``data`` after everything written before it."""
        pending = self.pending
        if pending is not None:  # the flusher has it in hand: queue behind
            pending += data
            self.pending_frames += 1
            return
        if self._spawn is None:
            self._sock.sendall(data)
            return
        sent = 0
        if self._raw_send is not None:
            try:
                sent = self._raw_send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._broken()
                return
            if sent == len(data):
                return
        self.pending = bytearray(data[sent:])
        self.pending_frames = 1
        self._spawn(self._flush)

    def _pong(self, payload: Any) -> None:
        """Answer a ping. While writes wait for a client that does not
        read them (:attr:`pending`), only its latest ping is answered, once
        they are written (RFC 6455 5.5.3 allows it): a pong for every ping
        of a client that floods pings and never reads grew the server's
        memory without end (the outgoing caps count Engine.IO's packets,
        not the reader's pongs). None once this side sent its close frame:
        nothing may follow it (RFC 6455 5.5.1), and the reader still reads
        until the client's close."""
        if self.closed:
            return
        if self.pending is not None:
            self._late_pong = bytes(payload)
            return
        self._put(frame(payload, _PONG))

    def _flush(self) -> None:
        """The flusher: write :attr:`pending` until it stays empty."""
        try:
            while True:
                data: Any = self.pending
                if not data:
                    pong, self._late_pong = self._late_pong, None
                    if pong is None:
                        break
                    data = frame(pong, _PONG)
                self.pending = bytearray()
                self.pending_frames = 0
                self._sock.sendall(data)
        except OSError:  # gone, reset, or the socket's timeout
            self._broken()
            return
        self.pending = None
        if self._shut_when_flushed:
            self._shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """End the connection now: drop what waits to be written and wake
        the reader and a blocked flusher."""
        self._broken()

    def _broken(self) -> None:
        """The peer cannot be written to: drop what waits and wake the
        reader (it sees end of file and the session ends)."""
        self.closed = True
        self.pending = None
        self.pending_frames = 0
        self._late_pong = None
        self._shutdown(socket.SHUT_RDWR)

    def discard_pending(self) -> int:
        """Drop what waits to be written; returns the frames dropped."""
        dropped = self.pending_frames
        if self.pending is not None:
            self.pending = bytearray()
        self.pending_frames = 0
        self._late_pong = None
        return dropped

    def _shutdown(self, how: int) -> None:
        try:
            self._sock.shutdown(how)
        except OSError:
            pass  # already shut down or reset by the peer

    def send(self, message: Message) -> None:
        """Write one message: text for str, binary for bytes."""
        if self.closed:
            raise OSError("websocket is closed")
        if isinstance(message, str):
            self._put(frame(message.encode("utf-8"), _TEXT))
        else:
            self._put(frame(bytes(message), _BINARY))

    def _send_close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        data = frame(struct.pack("!H", code), _CLOSE)
        pong, self._late_pong = self._late_pong, None
        if pong is not None:  # nothing may follow the close frame
            data = frame(pong, _PONG) + data
        try:
            self._put(data)
        except OSError:
            pass  # the peer is gone already

    def linger(self, seconds: float = LINGER_SECONDS,
               limit: int = LINGER_BYTES) -> None:
        """After the server's close frame, until the client closes the
        connection: read and drop what it still sends, for at most
        ``seconds`` and ``limit`` bytes.

        A socket closed with unread data in its receive buffer sends a
        reset instead of a FIN, and a reset can destroy the close frame
        before the client has read it: a client that sent a bad frame
        followed by more data would see an abnormal closure (1006), not
        the 1002 or 1007 it was sent (and one that sent frames after its
        own close frame would lose the server's answer). A client closes
        the connection once it has the server's close frame and FIN (RFC
        6455 7.1.1), so this usually takes one round trip; a client that
        already closed it costs nothing."""
        if self.peer_closed:
            return
        sock = self._sock
        deadline = time.monotonic() + seconds
        dropped = 0
        try:
            while dropped < limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                data = sock.recv(_RECV_BYTES)
                if not data:
                    break
                dropped += len(data)
        except OSError:  # reset, timed out, or already shut down
            pass
        self.peer_closed = True

    def close(self) -> None:
        """Send a close frame (once, after everything written before it)
        and stop writing; the reader sees the peer's close or end of
        file."""
        was_closed = self.closed
        self._send_close(1000)
        if self.pending is not None:
            self._shut_when_flushed = True
        else:
            self._shutdown(socket.SHUT_WR)
        if not was_closed and self._watch is not None and \
                self._detach is not None:
            # The reader ends when the client answers; this if it does not.
            self._detach.later(LINGER_SECONDS, self._close_deadline)


class WebSocketWSGI:
    """python-engineio's ``websocket`` class for gevent: ``cls(handler,
    server)(environ, start_response)`` accepts the upgrade and runs
    ``handler(websocket)`` in the request greenlet."""

    def __init__(self, handler: Callable[[Any], Any], server: Any) -> None:
        self.handler = handler
        size = getattr(server, "max_http_buffer_size", None)
        self.max_message = int(size) if size else None
        self.spawn = getattr(server, "start_background_task", None)
        self.pause = getattr(server, "sleep", None)
        self.ws: Optional[WebSocket] = None

    def __call__(self, environ: Dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = client_socket(environ)
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        connection = {part.strip().lower() for part in
                      environ.get("HTTP_CONNECTION", "").split(",")}
        if sock is None or "upgrade" not in connection or \
                environ.get("HTTP_UPGRADE", "").lower() != "websocket" or \
                environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or \
                environ.get("REQUEST_METHOD") != "GET" or \
                not valid_key(key):
            start_response("400 Bad Request", [
                ("Content-Type", "text/plain"), ("Connection", "close"),
                ("Sec-WebSocket-Version", "13")])
            return [b"not a websocket version 13 upgrade"]
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() +
            b"\r\n\r\n")
        release_http_buffers(environ)
        # Under gunicorn's eventlet and gevent workers the websocket can
        # outlive the request: it reads from readiness events on its own
        # copy of the descriptor (gunicorn closes its own when the request
        # ends, and only closes it). eventlet.wsgi and pywsgi shut the
        # connection down after the request, so there the request's
        # greenlet keeps reading.
        detach = detach_for(sock) if self.spawn is not None and \
            "gunicorn.socket" in environ else None
        own = sock
        if detach is not None:
            own = sock.dup()
            detach = detach_for(own)
            # Handlers that look at the connection (python-socketio keeps
            # this environ) find the descriptor that stays open.
            environ["gunicorn.socket"] = own
        self.ws = WebSocket(own, self.max_message, self.spawn, detach,
                            self.pause)
        try:
            self.handler(self.ws)
        finally:
            if not self.ws.watching:
                self.ws.close()
                self.ws.linger()
                if own is not sock:
                    own.close()
        if "gunicorn.socket" in environ:
            # gunicorn's workers take StopIteration as "the app wrote the
            # response itself" (python-engineio does the same).
            raise StopIteration()
        if "eventlet.input" in environ:
            # eventlet.wsgi's flag for the same (eventlet's own websocket
            # sets it).
            eventlet_compat.response_written()
            return []
        # gevent's pywsgi: no response of its own, and no next request read
        # from this connection (it would parse whatever frames the client
        # still sends as a request line and answer 400 on a closed
        # socket): pywsgi stops at a closed reader.
        reader = environ.get("wsgi.input")
        reader = getattr(reader, "rfile", reader)
        try:
            reader.close()  # type: ignore[union-attr]
        except Exception:  # no reader, or one that cannot close: nothing
            pass
        return []


#: The async modes whose websockets :func:`install` takes over.
MODES = ("eventlet", "gevent")
#: The ``websocket`` setting's values: RTCIO's transport, or the one
#: python-engineio picks for the async mode (eventlet's websocket,
#: simple-websocket).
CHOICES = ("rtcio", "stack")


def resolve(given: Any, config: Mapping[str, Any],
            environ: Optional[Mapping[str, str]] = None) -> str:
    """The ``websocket`` setting: argument, ``app.config["RTCIO_WEBSOCKET"]``
    or environment variable ``RTCIO_WEBSOCKET``; "rtcio" by default."""
    found = pick("websocket", given, config,
                 os.environ if environ is None else environ, default="rtcio")
    value = found.value
    if isinstance(value, str) and value.strip().lower() in CHOICES:
        return value.strip().lower()
    raise ValueError(f"{found.where}: websocket must be 'rtcio' (RTCIO's "
                     f"websocket transport, the default) or 'stack' (the "
                     f"one python-engineio uses for the async mode), not "
                     f"{value!r}.")


def install(server: Any, choice: str = "rtcio") -> bool:
    """Serve ``server``'s websockets with :class:`WebSocketWSGI` when
    ``choice`` is "rtcio" and its async mode is eventlet or gevent; returns
    whether it did."""
    if choice != "rtcio" or server.async_mode not in MODES or \
            not compat.enabled("websocket"):
        return False
    eio_compat.install_websocket(server.eio, WebSocketWSGI)
    # Its sockets run as direct sessions: no writer or ping greenlet.
    eio_compat.patch_engineio_sockets()
    server.eio._rtcio_direct = True
    return True
