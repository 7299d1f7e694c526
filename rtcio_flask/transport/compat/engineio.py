"""python-engineio's private internals RTCIO uses, in one place.

Verified against python-engineio 4.9.0 to 4.15.1 (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`; CI runs the floor and the newest).
What moved in that range, and how this module copes (decided once, from
the installed version):

- disconnect reasons (4.11): ``Server.reason``, ``Socket.close(reason=)``
  and the reason passed to the ``disconnect`` handler. RTCIO's own calls
  go through :func:`close_socket` with the reason strings below (the same
  strings 4.11+ uses). Before 4.11, the patched ``Socket.close`` keeps the
  reason on the socket, naming python-engineio's own closes by the method
  that closes (as 4.11 does), and :func:`close_reason` reads it back for
  the ``disconnect`` handler, which gets none from python-engineio.
- ``last_ping`` (4.15 sets it at the handshake, 4.9-4.12 leave it None
  until the first ping): direct sessions schedule their pings by a
  flag of their own, not by ``last_ping``.

What is used, by what:

- Engine.IO sessions (``engineio.Server.sockets`` and its ``Socket``'s
  ``closed``/``closing``/``upgrading``/``upgraded``/``last_ping``/``queue``
  and ``close()``): :func:`close_session` (every close RTCIO makes),
  :func:`session_gone`, :func:`upgrade_taken` for :mod:`..guard` and
  :mod:`..hangup`, and
  :func:`advertise_exact_ping_interval` for the handshake.
- :func:`check_websocket_frames`: python-engineio's websocket loop decodes
  each frame outside its ``try`` (``engineio/socket.py``
  ``_websocket_handler``), so an empty text frame or one that is no
  Engine.IO packet raised ValueError out of the WSGI app: a traceback per
  frame, the session never closed, and under gunicorn a 500 response
  written into the open websocket. The server's ``_async["websocket"]``
  (a per-server copy of the driver's table) is wrapped so such a frame
  ends the connection as a client close, with one WARNING.
- :func:`install_websocket`: RTCIO's websocket class in that same table.
- :func:`patch_engineio_sockets`: ``Socket.send/poll/close/schedule_ping/
  _websocket_handler``, wrapped to count what waits in each socket's
  outgoing queue (the caps) and to run websockets on RTCIO's transport as
  direct sessions, with no writer or ping greenlet.
"""

import logging
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

from ...core.eio_requests import advertised_ping_interval_ms, packet_problem
from ...core.protection import request_address
from . import engineio_at_least

logger = logging.getLogger("rtcio_flask")

# The disconnect reasons (python-engineio 4.11's ``Server.reason``; python-
# socketio 5.12+ uses the same class).
SERVER_DISCONNECT = "server disconnect"
CLIENT_DISCONNECT = "client disconnect"
PING_TIMEOUT = "ping timeout"
TRANSPORT_CLOSE = "transport close"
TRANSPORT_ERROR = "transport error"

#: 4.11 takes ``Socket.close(reason=)`` and passes it to handlers.
_REASONS = engineio_at_least(4, 11)

#: 4.12 gives a MESSAGE whose text starts with a digit as it is (4.9-4.11
#: try JSON on it, so ``41.5`` arrives as the float 1.5): the direct
#: session's reader may then hand such text to the handler itself.
_DIGITS_AS_TEXT = engineio_at_least(4, 12)

#: Before 4.11: the method of python-engineio that closed a socket ->
#: the reason 4.11 gives for it.
_CLOSED_BY = {
    "receive": CLIENT_DISCONNECT,
    "check_ping_timeout": PING_TIMEOUT,
    "handle_get_request": TRANSPORT_ERROR,
    "handle_post_request": TRANSPORT_ERROR,
    "_websocket_handler": TRANSPORT_CLOSE,
}


def close_socket(sock: Any, reason: str, wait: bool = False,
                 abort: bool = True) -> None:
    """``sock.close(wait, abort, reason=reason)`` on any release: before
    4.11 the reason is kept on the socket for :func:`close_reason`."""
    if _REASONS:
        sock.close(wait=wait, abort=abort, reason=reason)
        return
    sock._rtcio_reason = reason
    sock.close(wait=wait, abort=abort)


def close_reason(eio: Any, sid: str) -> Optional[str]:
    """Why session ``sid`` closed, for a ``disconnect`` handler that got no
    reason (python-engineio before 4.11): what :func:`close_socket` or the
    patched ``close`` kept on it, else ``server disconnect`` (4.11's
    default)."""
    sock = eio.sockets.get(sid)
    reason = getattr(sock, "_rtcio_reason", None) if sock is not None \
        else None
    return str(reason) if reason else SERVER_DISCONNECT


def _reason_from_caller() -> Optional[str]:
    """Before 4.11: the reason of a ``close()`` python-engineio itself made,
    from the name of the method that called it (two frames up: the
    patched ``close`` is one)."""
    try:
        caller = sys._getframe(2).f_code.co_name
    except ValueError:
        return None
    return _CLOSED_BY.get(caller)


# -- Engine.IO sessions -------------------------------------------------------

def close_session(eio: Any, session: Any, reason: str,
                  tell_client: bool = False) -> bool:
    """The one way RTCIO closes an Engine.IO session, with its caller's
    reason: a bad packet or a takeover (``server disconnect``), a client
    that hung up or whose websocket ended (``transport close``), a missed
    pong (``ping timeout``), a queue over its cap, a shutdown.

    ``session`` is a sid of ``eio`` or its Socket. The socket closes
    through python-engineio's ``close`` with ``reason``
    (:func:`close_socket`; the ``disconnect`` handlers run once, with
    it), then leaves ``eio.sockets``, so a later request for it gets 400
    as from socket.io (one closed already leaves it too). ``tell_client``:
    a close packet is queued and the call waits until the transport took
    it, as python-engineio's own ``Server.disconnect`` does (the client is
    there and reading); else nothing more is sent. False when it was
    closed, closing or gone already."""
    sock = eio.sockets.get(session) if isinstance(session, str) \
        else session
    if sock is None:
        return False
    already = sock.closed or sock.closing
    if not already:
        close_socket(sock, reason, wait=tell_client, abort=not tell_client)
    # Closed already (a client's close packet) or now: gone from the
    # sessions either way; one still closing is its closer's to drop.
    if sock.closed and eio.sockets.get(sock.sid) is sock:
        eio.sockets.pop(sock.sid, None)
    return not already


def session_gone(eio: Any, sid: str) -> bool:
    """True when the Engine.IO session ``sid`` exists but is over: closed
    (a close packet, a hang-up) or past its ping timeout, which is then
    applied now, disconnect handlers included. The session is dropped, so
    the request gets 400 as from socket.io, instead of python-engineio
    answering one more poll (its timeout check runs every ``ping_timeout``
    seconds at best)."""
    sock = eio.sockets.get(sid)
    if sock is None:
        return False
    if not sock.closed:
        last_ping = sock.last_ping
        if sock.closing or not last_ping or \
                time.time() - last_ping <= eio.ping_timeout:
            return False
        close_session(eio, sock, PING_TIMEOUT)
    if eio.sockets.get(sid) is sock:
        eio.sockets.pop(sid, None)
    return True


def ping_overdue(eio: Any, sid: str, grace: float) -> bool:
    """Whether Engine.IO session ``sid`` has a ping out that went
    unanswered for more than ``grace`` seconds (python-engineio clears
    ``last_ping`` on the pong), or is closing: its client looks gone."""
    sock = eio.sockets.get(sid)
    if sock is None or sock.closed or sock.closing:
        return True
    last_ping = sock.last_ping
    return bool(last_ping) and time.time() - last_ping > grace


def upgrade_taken(eio: Any, sid: str) -> bool:
    """True when session ``sid`` has upgraded to websocket, or an upgrade
    is under way: another websocket for it must be refused (python-engineio
    would start a second upgrade, or raise "Socket has been upgraded
    already" with a traceback)."""
    sock = eio.sockets.get(sid)
    return sock is not None and bool(sock.upgraded or sock.upgrading)


def ignore_websocket(eio: Any, environ: Dict[str, Any],
                     start_response: Callable[..., Any]) -> Any:
    """Accept a websocket handshake and close the websocket at once, with
    the session untouched: Node's engine.io answer to a second websocket
    for a session that has upgraded (or is upgrading), which socket.io's
    protocol test suite expects ("should ignore WebSocket connection with
    same sid after upgrade"). Uses the async driver's websocket class,
    as python-engineio's own handler does."""
    def handler(ws: Any) -> List[Any]:
        try:
            ws.close()
        except Exception:  # the client went first
            pass
        return []

    return eio._async["websocket"](handler, eio)(environ, start_response)


def advertise_exact_ping_interval(server: Any) -> None:
    """Make the handshake's ``pingInterval`` the configured interval in
    milliseconds, rounded, when it is not a whole number of seconds.

    python-engineio writes ``int(interval + grace) * 1000`` into the OPEN
    packet (0 for 0.3 s). The packet is queued on the new session before
    the Engine.IO ``connect`` event and encoded only when sent, so the
    ``connect`` handler corrects its data in place. Nothing is installed
    for whole seconds (python-engineio is right then)."""
    eio = server.eio
    exact = advertised_ping_interval_ms(eio.ping_interval,
                                        eio.ping_interval_grace_period)
    if exact == int(eio.ping_interval +
                    eio.ping_interval_grace_period) * 1000:
        return
    original: Callable[..., Any] = eio.handlers.get(
        "connect", server._handle_eio_connect)

    def on_connect(eio_sid: str, environ: Any, *args: Any) -> Any:
        sock = eio.sockets.get(eio_sid)
        for pkt in list(getattr(getattr(sock, "queue", None), "queue", ())):
            data = getattr(pkt, "data", None)
            if isinstance(data, dict) and "pingInterval" in data:
                data["pingInterval"] = exact
        return original(eio_sid, environ, *args)

    eio.on("connect", on_connect)
# -- python-engineio's websocket loop ------------------------------------------

#: First characters of the Engine.IO packets python-engineio can decode
#: (types 0-6, and "b" for base64 binary).
_EIO_TYPES = frozenset("0123456b")


def frame_problem(data: Any) -> Optional[str]:
    """Why python-engineio cannot decode this websocket frame, or None."""
    if data is None or data.__class__ is not str:
        return None  # closed, or a binary frame (always a message)
    if not data:
        return "empty text frame"
    return packet_problem(data, _EIO_TYPES,
                          "text frame that is not an Engine.IO packet")


class _CheckedFrames:
    """A websocket whose ``wait()`` ends the connection (returns None, as
    for a client close) at the first frame python-engineio cannot decode.
    Everything else is the wrapped websocket's."""

    def __init__(self, ws: Any, peer: str) -> None:
        self._ws = ws
        self._peer = peer

    def wait(self) -> Any:
        return self.check(self._ws.wait())

    def check(self, data: Any) -> Any:
        """``data``, or None (with the WARNING) for a frame that ends the
        connection."""
        problem = frame_problem(data)
        if problem is None:
            return data
        logger.warning("rtcio: closing a websocket from %s: %s", self._peer,
                       problem)
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


def check_websocket_frames(eio: Any) -> None:
    """Wrap ``eio``'s websocket class so every websocket it serves goes
    through :class:`_CheckedFrames` (once per server). A server whose
    driver table has no websocket class (no websocket support in its async
    mode, or a python-engineio that moved the table) is left as it is,
    and one WARNING says so."""
    table = getattr(eio, "_async", None)
    if not isinstance(table, dict) or table.get("websocket") is None:
        if not getattr(eio, "_rtcio_frames_unchecked", False):
            eio._rtcio_frames_unchecked = True
            logger.warning("rtcio: websocket frames are not checked on "
                           "this server (python-engineio has no websocket "
                           "class for async mode %r here); a bad frame may "
                           "log a traceback", eio.async_mode)
        return
    if getattr(table["websocket"], "_rtcio_checked", False):
        return
    original = table["websocket"]

    def websocket(handler: Callable[[Any], Any], server: Any) -> Any:
        def app(environ: Dict[str, Any],
                start_response: Callable[..., Any]) -> Iterable[bytes]:
            peer = request_address(environ)
            ws_app = original(lambda ws: handler(_CheckedFrames(ws, peer)),
                              server)
            return ws_app(environ, start_response)
        return app

    websocket._rtcio_checked = True  # type: ignore[attr-defined]
    eio._async = dict(table, websocket=websocket)


# -- python-engineio: outgoing queue caps ------------------------------------

#: Packet sizes we cannot measure cheaply (the handshake's dict) count as
#: this many bytes.
_OTHER_PACKET_BYTES = 64


def packet_bytes(pkt: Any) -> int:
    """About how many bytes an Engine.IO packet takes on the wire."""
    data = pkt.data
    if data is None:
        return 1
    if isinstance(data, (str, bytes, bytearray)):
        return len(data) + 1
    return _OTHER_PACKET_BYTES


def _raw_socket(ws: Any) -> Any:
    """The TCP socket under the websocket object python-engineio's
    ``_websocket_handler`` got: eventlet's ``.socket``, simple-websocket's
    ``.ws.sock`` (threading, gevent without gevent-websocket)."""
    for path in (("socket",), ("_sock",), ("sock",), ("ws", "sock")):
        node = ws
        for attr in path:
            node = getattr(node, attr, None)
        if node is not None and hasattr(node, "shutdown"):
            return node
    return None


def _drop_queued(queue: Any) -> int:
    """Empty an Engine.IO socket's queue (its packets are what holds the
    memory), then wake whoever waits on it with the end marker."""
    dropped = 0
    while True:
        try:
            item = queue.get(block=False)
        except Exception:  # the queue module's Empty, by async mode
            break
        queue.task_done()
        if item is not None:
            dropped += 1
    queue.put(None)
    return dropped


_sockets_patched = False


def cap_outgoing_queues(on_overflow: Callable[[Any, int, int], None]) -> None:
    """Count what waits for every Engine.IO socket of a server that opts in
    with ``eio._rtcio_queue_caps = (max_bytes, max_packets)`` (either may
    be None); ``on_overflow(socket, queued_bytes, queued_packets)`` is
    called once for a socket over a cap (one callback per process; see
    :func:`patch_engineio_sockets`)."""
    patch_engineio_sockets()
    global _default_on_overflow
    _default_on_overflow = on_overflow


_default_on_overflow: Optional[Callable[[Any, int, int], None]] = None


def _over_caps(eio_socket: Any, queued_bytes: int,
               queued_packets: int) -> bool:
    caps = getattr(eio_socket.server, "_rtcio_queue_caps", None)
    if caps is None:
        return False
    max_bytes, max_packets = caps
    if (max_bytes is None or queued_bytes <= max_bytes) and \
            (max_packets is None or queued_packets <= max_packets):
        return False
    eio_socket._rtcio_overflowed = True
    if _default_on_overflow is not None:
        _default_on_overflow(eio_socket, queued_bytes, queued_packets)
    return True


def patch_engineio_sockets() -> None:
    """python-engineio's (4.9-4.15) ``Socket.send``, ``poll``, ``close``,
    ``schedule_ping`` and ``_websocket_handler``, wrapped once per process.
    Each wrapper does the original's work unless its server or socket
    opted in to one of these:

    - **Outgoing caps** (``eio._rtcio_queue_caps``): ``Socket.send`` puts
      each packet in ``socket.queue``, and the socket's writer (websocket)
      or the next long-poll GET takes them out through ``Socket.poll``;
      nothing bounds the queue, so a client that never reads grows the
      server's memory without end (measured: 81 to 848 MiB in 120 s). The
      wrappers add each packet's size on ``send`` and take it off when
      ``poll`` hands it to the transport; over a cap, further sends to it
      are dropped and the overflow callback runs once (it schedules
      :func:`close_overflowed`).
    - **Direct websocket sessions** (``eio._rtcio_direct``, set where
      RTCIO's websocket transport serves, :mod:`.websocket`): a socket on
      that transport has no writer greenlet and no use for its queue.
      ``send`` hands the encoded packet to the websocket, which writes it
      at once or keeps it for its on-demand flusher (what waits there is
      what the caps count); ``close`` does not wait on a queue nobody
      reads. The loop is python-engineio's ``_websocket_handler`` with the
      writer taken out (:func:`_direct_websocket_handler`). Pings are
      timers, not a sleeping greenlet per socket (``schedule_ping``), and
      a pong deadline timer replaces the socket's read timeout. Measured:
      two greenlets fewer per socket, about 20 KiB of an idle socket's
      memory, half the relay's median latency under load, CPU per
      envelope unchanged within the noise (docs/performance.rst).
    """
    global _sockets_patched
    if _sockets_patched:
        return
    from engineio import socket as eio_socket

    cls = eio_socket.Socket
    original_send = cls.send
    original_poll = cls.poll
    original_close = cls.close
    original_schedule_ping = cls.schedule_ping
    original_ws_handler = cls._websocket_handler

    def send(self: Any, pkt: Any) -> None:
        ws = self.__dict__.get("_rtcio_direct")
        if ws is not None:
            return _direct_send(self, ws, pkt)
        if getattr(self.server, "_rtcio_queue_caps", None) is None:
            return original_send(self, pkt)
        if getattr(self, "_rtcio_overflowed", False):
            return None  # being closed for not reading: drop
        original_send(self, pkt)
        queued_bytes = getattr(self, "_rtcio_queued_bytes", 0) + \
            packet_bytes(pkt)
        queued_packets = getattr(self, "_rtcio_queued_packets", 0) + 1
        self._rtcio_queued_bytes = queued_bytes
        self._rtcio_queued_packets = queued_packets
        _over_caps(self, queued_bytes, queued_packets)
        return None

    def poll(self: Any) -> Any:
        packets = original_poll(self)
        if packets and hasattr(self, "_rtcio_queued_packets"):
            self._rtcio_queued_bytes = max(0, self._rtcio_queued_bytes - sum(
                packet_bytes(p) for p in packets))
            self._rtcio_queued_packets = max(
                0, self._rtcio_queued_packets - len(packets))
        return packets

    def close(self: Any, wait: bool = True, abort: bool = False,
              reason: Any = None) -> None:
        if not _REASONS:
            if not self.closed and "_rtcio_reason" not in self.__dict__:
                self._rtcio_reason = reason or _reason_from_caller()
            reason = None
        ws = self.__dict__.get("_rtcio_direct")
        if ws is None:
            return _close(self, wait, abort, reason)
        # Nobody reads the queue: waiting on it would never end. The
        # websocket sends what it holds, then its close frame.
        was_open = not self.closed
        _close(self, False, abort, reason)
        if was_open:
            ws.close()
        return None

    def _close(self: Any, wait: bool, abort: bool, reason: Any) -> None:
        if _REASONS:
            original_close(self, wait, abort, reason)
        else:
            original_close(self, wait, abort)

    def schedule_ping(self: Any) -> None:
        if not getattr(self.server, "_rtcio_direct", False):
            return original_schedule_ping(self)
        # One ping timer at a time (the first at the handshake, the next
        # when the pong comes), whatever last_ping says at the handshake.
        if not self.__dict__.get("_rtcio_ping_timer"):
            self._rtcio_ping_timer = True
            self.last_ping = None
            _call_later(self.server, self.server.ping_interval,
                        _ping_due, self)
        return None

    def websocket_handler(self: Any, ws: Any) -> Any:
        # Remembered so an overflowing socket's writer, blocked on a client
        # that does not read, can be woken by shutting the TCP socket down.
        self._rtcio_ws = ws
        detached = False
        try:
            if getattr(ws, "pending_bytes", None) is not None and \
                    getattr(self.server, "_rtcio_direct", False):
                result = _direct_websocket_handler(self, ws)
                # Read from readiness events now: the websocket lives on.
                detached = bool(getattr(ws, "watching", False))
                return result
            return original_ws_handler(self, ws)
        finally:
            if not detached:
                self._rtcio_ws = None

    cls.send = send
    cls.poll = poll
    cls.close = close
    cls.schedule_ping = schedule_ping
    cls._websocket_handler = websocket_handler
    _sockets_patched = True


def _direct_send(eio_socket: Any, ws: Any, pkt: Any) -> None:
    """``Socket.send`` on a direct session: python-engineio's checks and
    log line, with the websocket instead of the queue."""
    if not _write_direct(eio_socket, ws, pkt.encode()):
        return
    logger_ = eio_socket.server.logger
    if logger_.isEnabledFor(logging.INFO):
        logger_.info("%s: Sending packet %s data %s", eio_socket.sid,
                     eio_packet.packet_names[pkt.packet_type],
                     pkt.data if not isinstance(pkt.data, bytes)
                     else "<binary>")


def _write_direct(eio_socket: Any, ws: Any, message: Any) -> bool:
    """One encoded Engine.IO packet to a direct session's websocket, after
    python-engineio's ping-timeout check; what has to wait for the flusher
    is held to the outgoing caps. False if nothing was sent."""
    if not eio_socket.check_ping_timeout() or \
            getattr(eio_socket, "_rtcio_overflowed", False):
        return False  # timed out, or being closed for not reading: drop
    try:
        ws.send(message)
    except OSError:
        return False  # the websocket closed: nothing more goes out
    if ws.pending is not None:
        _over_caps(eio_socket, ws.pending_bytes, ws.pending_frames)
    return True


class HeldMessages:
    """Message packets for one Engine.IO session, held back from the
    moment this is made until :meth:`stop`, and sent by :meth:`flush`.

    socket.io's server runs an app's ``connection`` handler after the
    CONNECT reply, so what the handler emits reaches the client after
    it; python-socketio runs its ``connect`` handler first (it may
    refuse), and the handler's emits went out before the reply. The
    protocol suite checks the order; socket.io-client keeps such events
    until it is connected, other clients may not. Only message packets
    wait: pings, noops and closes go out as they come. The session's
    ``send`` is shadowed on the instance for the time being (the class's
    ``send`` stays as it is)."""

    def __init__(self, eio: Any, sid: str) -> None:
        sock = eio.sockets.get(sid)
        self.packets: List[Any] = []
        self.socket: Any = sock if sock is not None and \
            "send" not in sock.__dict__ else None
        if self.socket is not None:
            self.socket.send = self._hold

    def _hold(self, pkt: Any) -> None:
        if pkt.packet_type == eio_packet.MESSAGE:
            self.packets.append(pkt)
        else:
            type(self.socket).send(self.socket, pkt)

    def stop(self) -> None:
        """Send from now on as usual (what was held stays held)."""
        if self.socket is not None and \
                self.socket.__dict__.get("send") == self._hold:
            del self.socket.send

    def flush(self) -> None:
        """Stop holding and send what was held, in order."""
        self.stop()
        packets, self.packets = self.packets, []
        for pkt in packets:
            try:
                self.socket.send(pkt)
            except eio_exceptions.EngineIOError:
                return  # the session closed meanwhile


def send_text(eio: Any, eio_sid: str, text: str) -> None:
    """``eio.send(eio_sid, text)``, shorter for a direct session: the same
    checks as :func:`_direct_send` without building and encoding an
    Engine.IO packet object (the relay calls this once per envelope)."""
    eio_socket = eio.sockets.get(eio_sid)
    ws = eio_socket.__dict__.get("_rtcio_direct") \
        if eio_socket is not None else None
    if ws is None or eio_socket.closed or "send" in eio_socket.__dict__ \
            or eio.logger.isEnabledFor(logging.INFO):
        eio.send(eio_sid, text)  # (a shadowed send: HeldMessages)
        return
    _write_direct(eio_socket, ws, "4" + text)


def _ping_due(eio_socket: Any) -> None:
    """A ping timer fired (in the event loop: hand the work to a short
    greenlet, since sending may close the socket and run handlers)."""
    eio_socket._rtcio_ping_timer = False
    if not eio_socket.closing and not eio_socket.closed:
        eio_socket.server.start_background_task(_send_ping, eio_socket)


def _send_ping(eio_socket: Any) -> None:
    if not eio_socket.closing and not eio_socket.closed:
        sent_at = eio_socket.last_ping = time.time()
        eio_socket.send(eio_packet.Packet(eio_packet.PING))
        if eio_socket.__dict__.get("_rtcio_direct") is not None:
            _call_later(eio_socket.server, eio_socket.server.ping_timeout,
                        _pong_due, eio_socket, sent_at)


def _pong_due(eio_socket: Any, sent_at: float) -> None:
    """A direct session's pong deadline (its socket has no read timeout:
    a timer per blocking read cost more than this timer per ping)."""
    if eio_socket.last_ping == sent_at and not eio_socket.closed:
        eio_socket.server.start_background_task(_ping_timed_out, eio_socket)


def _ping_timed_out(eio_socket: Any) -> None:
    """No pong within the ping timeout: end the session as python-engineio
    does, and cut the connection so a write blocked on a client that
    stopped reading ends too."""
    if eio_socket.closed:
        return
    eio_socket.server.logger.info("%s: Client is gone, closing socket",
                                  eio_socket.sid)
    ws = eio_socket.__dict__.get("_rtcio_direct")
    close_session(eio_socket.server, eio_socket, PING_TIMEOUT)
    if ws is not None:
        ws.abort()


def _call_later(eio: Any, seconds: float, fn: Callable[..., Any],
                *args: Any) -> None:
    """Run ``fn(*args)`` in ``seconds`` from the event loop of ``eio``'s
    async mode (eventlet or gevent), without a greenlet waiting for it."""
    if eio.async_mode == "eventlet":
        from eventlet import hubs
        hubs.get_hub().schedule_call_global(seconds, fn, *args)
    else:
        import gevent
        timer = gevent.get_hub().loop.timer(seconds)
        timer.start(fn, *args)


def _direct_websocket_handler(eio_socket: Any, ws: Any) -> List[Any]:
    """python-engineio's ``Socket._websocket_handler`` (4.15) for a direct
    session: the same upgrade handshake, timeout and read loop, with
    everything queued so far written out and then every send going to the
    websocket itself instead of a writer greenlet."""
    self = eio_socket
    server = self.server
    max_size = server.max_http_buffer_size

    def websocket_wait() -> Any:
        data = ws.wait()
        if data and len(data) > max_size:
            raise ValueError("packet is too large")
        return data

    sock = getattr(ws, "_sock", None)
    if sock is not None and hasattr(sock, "settimeout"):
        # Until the session goes direct; then the pong deadline
        # (_pong_due) finds a silent client instead.
        sock.settimeout(server.ping_interval + server.ping_timeout)

    if self.connected:
        # An upgrade from polling: sends wait in the queue meanwhile.
        self.upgrading = True
        pkt = eio_packet.Packet(encoded_packet=websocket_wait())
        if pkt.packet_type != eio_packet.PING or pkt.data != "probe":
            server.logger.info("%s: Failed websocket upgrade, no PING packet",
                               self.sid)
            self.upgrading = False
            return []
        ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
        self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end the poll
        raw = websocket_wait()
        pkt = eio_packet.Packet(encoded_packet=raw)
        if pkt.packet_type != eio_packet.UPGRADE:
            self.upgraded = False
            server.logger.info("%s: Failed websocket upgrade, expected "
                               "UPGRADE packet, received %s instead.",
                               self.sid, raw)
            self.upgrading = False
            return []
        self.upgraded = True
        self.upgrading = False
    else:
        self.connected = True
        self.upgraded = True

    # What the writer would have sent first, then the switch: no greenlet
    # switch between the two, so nothing is sent out of order.
    while True:
        try:
            queued = self.queue.get(block=False)
        except Exception:  # the queue module's Empty, by async mode
            break
        self.queue.task_done()
        if queued is None:  # closed meanwhile
            ws.close()
            return []
        try:
            ws.send(queued.encode())
        except OSError:
            break
    self._rtcio_queued_bytes = self._rtcio_queued_packets = 0
    inner = getattr(ws, "_ws", ws)  # the transport under _CheckedFrames
    self._rtcio_direct = inner
    if sock is not None and hasattr(sock, "settimeout"):
        sock.settimeout(None)
    if self.last_ping:  # a ping is out: its pong gets a deadline too
        _call_later(server, server.ping_timeout, _pong_due, self,
                    self.last_ping)
    server.logger.info("%s: Upgrade to websocket successful", self.sid)

    def end() -> None:
        # close_session drops the session from server.sockets too:
        # python-engineio drops a closed session when its request returns,
        # and a detached websocket's request returned long ago, so the
        # session stayed there (counted by the metrics, the shutdown drain
        # and per-address caps) until the service task swept it, 20-30 s
        # later.
        close_session(server, self, TRANSPORT_CLOSE)
        inner.close()
        self._rtcio_ws = None

    if getattr(inner, "detachable", False):
        # No greenlet waits for the next frame: the websocket reads when
        # its socket is readable, and the request ends now.
        check = ws.check if ws is not inner else None

        def on_message(data: Any) -> bool:
            if data is not None and len(data) > max_size:
                return _read_failed(self, "packet is too large")
            if check is not None:
                data = check(data)
            return data is not None and _receive(self, data)

        inner.watch(on_message, end)
        return []

    while True:
        try:
            data = websocket_wait()
        except Exception as exc:
            _read_failed(self, str(exc))
            break
        if data is None or not _receive(self, data):  # None: client closed
            break
    end()
    return []


def _read_failed(eio_socket: Any, error: str) -> bool:
    """python-engineio's log line for a websocket read that failed; False
    (end the connection)."""
    if not eio_socket.closed:
        eio_socket.server.logger.info("%s: Unexpected error \"%s\", closing "
                                      "connection", eio_socket.sid, error)
    return False


def _receive(eio_socket: Any, data: Any) -> bool:
    """One message of a direct session to python-engineio, as its
    websocket loop hands it over; False: end the connection."""
    server = eio_socket.server
    if _DIGITS_AS_TEXT and data.__class__ is str and data[:1] == "4" and \
            data[1:2].isnumeric() and not server.async_handlers and \
            not server.logger.isEnabledFor(logging.INFO):
        _message(server, eio_socket.sid, data[1:])
        return True
    try:
        eio_socket.receive(eio_packet.Packet(encoded_packet=data))
    except eio_exceptions.UnknownPacketError:
        pass
    except eio_exceptions.SocketIsClosedError:
        eio_socket.server.logger.info("Receive error -- socket is closed")
        return False
    except Exception:
        eio_socket.server.logger.exception("Unknown receive error")
        return False
    return True


def _message(server: Any, sid: str, text: str) -> None:
    """A MESSAGE packet whose text starts with a digit (every socket.io
    packet does), handed to the ``message`` handler as ``Socket.receive``
    and ``Server._trigger_event`` do when handlers are not run async and
    INFO logging is off (the caller checks both): python-engineio's
    ``Packet.decode`` gives such text as it is, without trying JSON, and a
    handler's exception is logged the same way. Three Python calls and a
    packet object less per relayed envelope."""
    handler = server.handlers.get("message")
    if handler is None:
        return
    try:
        handler(sid, text)
    except BaseException:  # as python-engineio's bare except
        server.logger.exception("message handler error")


def close_overflowed(eio_socket: Any) -> int:
    """Close a socket that went over its queue cap, at the transport level,
    and free what it queued. Returns the packets dropped.

    Run outside ``send`` (a background task): ``send`` runs inside other
    clients' emits, and a disconnect there would change the rooms being
    iterated. The queued packets are dropped first (the memory); the TCP
    socket is shut down so a writer blocked on the full socket wakes up;
    then the socket closes as a server disconnect (disconnect handlers,
    peer-left, user-disconnected at once: connection state recovery does
    not hold a socket the server closed for not reading), and a
    reconnecting client starts afresh."""
    dropped = _drop_queued(eio_socket.queue)
    eio_socket._rtcio_queued_bytes = eio_socket._rtcio_queued_packets = 0
    ws = getattr(eio_socket, "_rtcio_ws", None)
    if ws is not None and hasattr(ws, "discard_pending"):
        dropped += ws.discard_pending()  # a direct session's backlog
    raw = _raw_socket(ws) if ws is not None else None
    if raw is not None:
        try:
            import socket as stdlib_socket
            raw.shutdown(stdlib_socket.SHUT_RDWR)
        except OSError:
            pass  # already gone
    server = eio_socket.server
    close_session(server, eio_socket, SERVER_DISCONNECT)
    server.sleep(0.05)  # let the writer and reader finish with their frames
    give_back_memory()
    return dropped


def give_back_memory() -> None:
    """Hand freed heap pages back to the OS (glibc's ``malloc_trim``).

    The dropped packets are freed at once, but glibc keeps the freed
    middle of its heap for reuse, so the process's RSS would stay at its
    peak (measured: +5 MiB after one 4 MiB queue); trimming returns it.
    A no-op where there is no glibc."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass



def track_close_reasons() -> None:
    """Before python-engineio 4.11, have every socket's ``close`` keep its
    reason (:func:`close_reason`); nothing to do from 4.11 on."""
    if not _REASONS:
        patch_engineio_sockets()


def install_websocket(eio: Any, websocket_class: Any) -> None:
    """Serve ``eio``'s websockets with ``websocket_class`` (the
    ``websocket`` entry of the server's own copy of its async driver's
    table, which python-engineio looks the class up in per request)."""
    eio._async = dict(eio._async, websocket=websocket_class)
