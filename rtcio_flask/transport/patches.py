"""Every place RTCIO reaches into a private part of eventlet or
python-socketio, in one file, with the versions it was written against.

setup.cfg pins ``python-socketio>=5.11,<6`` and ``python-engineio>=4.9,<5``
because of this module; eventlet has no pin (its websocket module has not
changed in years), and :func:`speed_up_eventlet` leaves eventlet untouched
when the attribute it replaces is missing. tests/abuse covers each patch, so
an upgrade that changes these internals fails there first.

- :func:`dispatch_packet`: python-socketio's ``Server._handle_eio_message``
  (the Engine.IO message -> socket.io packet dispatch), done here so bad
  packets raise :class:`MalformedPacket` instead of failing deep inside
  python-socketio with a traceback per packet. It calls the server's private
  ``_handle_connect/_handle_disconnect/_handle_event/_handle_ack`` and its
  ``_binary_packet`` table, exactly as the original does.
- :func:`speed_up_eventlet`: eventlet's per-byte websocket unmasking.
- :func:`connect_socket`: python-socketio's ``Server._handle_connect`` (the
  ``always_connect=False`` branch) with two hooks connection state
  recovery needs: the socket may get a given (old) sid, and the CONNECT
  reply carries the private session id ``pid``. It uses the manager's
  ``basic_enter_room``/``pending_connect`` as ``pre_connect`` does, and the
  server's ``_trigger_event``/``_send_packet``/``environ``.
- :func:`record_emits`: the client manager's ``emit`` (and, with a message
  queue, ``PubSubManager._handle_emit``, the delivery of queued emits), so
  packets sent through rooms are logged with an offset
  (:mod:`rtcio_flask.transport.recovery`).
"""

from typing import Any, Callable, List, Optional

from socketio import exceptions as sio_exceptions
from socketio import packet as sio_packet

#: Packet types a client may send (CONNECT_ERROR only flows server->client).
_CLIENT_TYPES = frozenset([sio_packet.CONNECT, sio_packet.DISCONNECT,
                           sio_packet.EVENT, sio_packet.ACK,
                           sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK])


class MalformedPacket(ValueError):
    """A socket.io packet that does not decode, or breaks the protocol's
    shape; the connection that sent it is closed."""


def decode_packet(server: Any, data: str) -> Any:
    """``data`` as the server's packet class decodes it, or
    MalformedPacket."""
    try:
        pkt = server.packet_class(encoded_packet=data)
    except Exception as exc:  # the parser's errors are not one type
        raise MalformedPacket(f"undecodable packet ({type(exc).__name__}: "
                              f"{exc})") from None
    if pkt.packet_type not in _CLIENT_TYPES:
        raise MalformedPacket(f"packet type {pkt.packet_type!r} is not one a "
                              f"client may send")
    return pkt


def _check_event(data: Any) -> None:
    # socket.io's own parser: an event is a non-empty list starting with
    # its name (a string).
    if data.__class__ is not list or not data or \
            data[0].__class__ is not str:
        raise MalformedPacket("an event must be a list starting with its "
                              "name")


def _check_ack(data: Any) -> None:
    if not isinstance(data, list):
        raise MalformedPacket("an acknowledgement must be a list")


#: ``connect(eio_sid, namespace, auth)``: who serves CONNECT packets
#: instead of python-socketio (connection state recovery).
ConnectHandler = Callable[[str, str, Any], None]


def dispatch_packet(server: Any, eio_sid: str, data: Any,
                    connect: Optional[ConnectHandler] = None) -> None:
    """python-socketio's Engine.IO message dispatch, with every packet
    checked the way socket.io's own parser checks it before anything acts
    on it. Raises MalformedPacket; an application handler's own exception
    still propagates with its traceback."""
    pending: Optional[Any] = server._binary_packet.get(eio_sid)
    if pending is not None:
        try:
            complete = pending.add_attachment(data)
        except Exception as exc:  # placeholders that name no attachment
            del server._binary_packet[eio_sid]
            raise MalformedPacket(f"bad binary attachment "
                                  f"({type(exc).__name__})") from None
        if complete:
            del server._binary_packet[eio_sid]
            if pending.packet_type == sio_packet.BINARY_EVENT:
                _check_event(pending.data)
                server._handle_event(eio_sid, pending.namespace, pending.id,
                                     pending.data)
            else:
                _check_ack(pending.data)
                server._handle_ack(eio_sid, pending.namespace, pending.id,
                                   pending.data)
        return
    if data.__class__ is not str:
        raise MalformedPacket("binary data that no packet announced")
    pkt = decode_packet(server, data)
    kind = pkt.packet_type
    if kind == sio_packet.EVENT:
        _check_event(pkt.data)
        server._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
    elif kind == sio_packet.ACK:
        _check_ack(pkt.data)
        server._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
    elif kind == sio_packet.CONNECT:
        if pkt.data is not None and not isinstance(pkt.data, dict):
            raise MalformedPacket("a connect payload must be an object")
        if connect is not None:
            connect(eio_sid, pkt.namespace or "/", pkt.data)
        else:
            server._handle_connect(eio_sid, pkt.namespace, pkt.data)
    elif kind == sio_packet.DISCONNECT:
        server._handle_disconnect(eio_sid, pkt.namespace,
                                  server.reason.CLIENT_DISCONNECT)
    else:  # BINARY_EVENT / BINARY_ACK: wait for the attachments
        if not server.manager.sid_from_eio_sid(eio_sid,
                                               pkt.namespace or "/"):
            raise MalformedPacket("binary packet on a namespace the "
                                  "connection has not joined")
        server._binary_packet[eio_sid] = pkt


# -- connection state recovery ------------------------------------------------

#: The last argument of a queued emit that carries its recovery offset
#: from the emitting process to every other one: ``{OFFSET_MARK: offset}``.
OFFSET_MARK = "__rtcio_offset__"

#: A namespace no client can join: queued emits to it are requests
#: between processes (``recorder.control(event, data)``), not packets.
CONTROL_NAMESPACE = "/__rtcio_recovery__"


def encode_event(server: Any, namespace: str, args: List[Any]) -> str:
    """The socket.io text of an EVENT packet (no ack id, no binary)."""
    pkt = server.packet_class(sio_packet.EVENT, namespace=namespace,
                              data=args)
    return str(pkt.encode())


def data_as_args(data: Any) -> List[Any]:
    """python-socketio's rule: a tuple is several arguments, None none."""
    if isinstance(data, tuple):
        return list(data)
    if data is None:
        return []
    return [data]


def is_binary(args: List[Any]) -> bool:
    return bool(sio_packet.Packet.data_is_binary(args))


def record_emits(manager: Any, recorder: Any) -> None:
    """Route the manager's emits through ``recorder`` (once).

    ``recorder.emit_here(manager, event, args, namespace, room, skip_sid)``
    logs and delivers an emit of this process and returns True, or False to
    leave it to python-socketio; with a message queue,
    ``recorder.log_queued(...)`` returns the offset that rides through the
    queue, and ``recorder.deliver_queued(manager, event, args, namespace,
    room, skip_sid, offset)`` delivers it in each process.
    """
    base = manager.__class__
    if getattr(base, "_rtcio_recording", False):
        return
    import socketio

    if isinstance(manager, socketio.PubSubManager):
        class QueueRecording(base):  # type: ignore[misc,valid-type]
            _rtcio_recording = True

            def emit(self, event: str, data: Any, namespace: Any = None,
                     room: Any = None, skip_sid: Any = None,
                     callback: Any = None, to: Any = None,
                     **kwargs: Any) -> Any:
                room = to or room
                namespace = namespace or "/"
                if callback is None and not kwargs.get("ignore_queue") \
                        and namespace != CONTROL_NAMESPACE:
                    args = data_as_args(data)
                    offset = recorder.log_queued(self, event, args,
                                                 namespace, room, skip_sid)
                    if offset is not None:
                        data = tuple(args + [{OFFSET_MARK: offset}])
                return base.emit(self, event, data, namespace=namespace,
                                 room=room, skip_sid=skip_sid,
                                 callback=callback, **kwargs)

            def _handle_emit(self, message: Any) -> Any:
                data = message.get("data")
                if message.get("namespace") == CONTROL_NAMESPACE:
                    return recorder.control(message.get("event"), data)
                if (not message.get("binary") and isinstance(data, list)
                        and data and isinstance(data[-1], dict)
                        and list(data[-1]) == [OFFSET_MARK]):
                    return recorder.deliver_queued(
                        self, message["event"], data[:-1],
                        message.get("namespace") or "/",
                        message.get("room"), message.get("skip_sid"),
                        data[-1][OFFSET_MARK])
                return base._handle_emit(self, message)

        manager.__class__ = QueueRecording
    else:
        class Recording(base):  # type: ignore[misc,valid-type]
            _rtcio_recording = True

            def emit(self, event: str, data: Any, namespace: Any,
                     room: Any = None, skip_sid: Any = None,
                     callback: Any = None, to: Any = None,
                     **kwargs: Any) -> Any:
                room = to or room
                if callback is None and recorder.emit_here(
                        self, event, data_as_args(data), namespace or "/",
                        room, skip_sid):
                    return None
                return base.emit(self, event, data, namespace,
                                 room=room, skip_sid=skip_sid,
                                 callback=callback, **kwargs)

        manager.__class__ = Recording


def connect_socket(server: Any, eio_sid: str, namespace: str, auth: Any,
                   sid: Optional[str], pid: Optional[str],
                   before_reply: Optional[Callable[[str], None]] = None
                   ) -> Optional[str]:
    """python-socketio's ``_handle_connect`` for ``always_connect=False``,
    giving the socket ``sid`` when not None (a recovered socket keeps its
    id), calling ``before_reply(sid)`` once the app accepted it and before
    the CONNECT reply, which carries ``pid`` when not None. Returns the
    sid of the connected socket, or None (refused, or the namespace
    unknown)."""
    namespace = namespace or "/"
    manager = server.manager
    known = (namespace in server.handlers or
             namespace in server.namespace_handlers or
             server.namespaces == "*" or namespace in server.namespaces)
    new_sid: Optional[str] = None
    if known:
        if sid is None:
            new_sid = manager.pre_connect(eio_sid, namespace)
        elif manager.sid_from_eio_sid(eio_sid, namespace) is None and \
                manager.eio_sid_from_sid(sid, namespace) is None:
            # pre_connect, with the old sid instead of a fresh one
            manager.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
            manager.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
            manager.pending_connect.setdefault(namespace, []).append(sid)
            new_sid = sid
    if new_sid is None:
        server._send_packet(eio_sid, server.packet_class(
            sio_packet.CONNECT_ERROR, data="Unable to connect",
            namespace=namespace))
        return None
    sid = new_sid
    fail_reason = sio_exceptions.ConnectionRefusedError().error_args
    environ = server.environ.get(eio_sid, {})
    try:
        if auth:
            success = server._trigger_event("connect", namespace, sid,
                                            environ, auth)
        else:
            try:
                success = server._trigger_event("connect", namespace, sid,
                                                environ, None)
            except TypeError as exc:
                try:
                    success = server._trigger_event("connect", namespace,
                                                    sid, environ)
                except TypeError:
                    raise exc
    except sio_exceptions.ConnectionRefusedError as exc:
        fail_reason = exc.error_args
        success = False
    except ConnectionRefusedError:
        fail_reason = {"message": "Connection refused by server"}
        success = False
    if success is False:
        server._send_packet(eio_sid, server.packet_class(
            sio_packet.CONNECT_ERROR, data=fail_reason, namespace=namespace))
        manager.disconnect(sid, namespace, ignore_queue=True)
        return None
    if before_reply is not None:
        before_reply(sid)
    reply = {"sid": sid} if pid is None else {"sid": sid, "pid": pid}
    server._send_packet(eio_sid, server.packet_class(
        sio_packet.CONNECT, reply, namespace=namespace))
    manager.connect(sid, namespace)
    return sid


def drop_socket(server: Any, sid: str, namespace: str) -> None:
    """Forget a socket in the manager without running disconnect handlers
    (its state is held for recovery)."""
    eio_sid = server.manager.eio_sid_from_sid(sid, namespace)
    server.manager.disconnect(sid, namespace, ignore_queue=True)
    if eio_sid is not None:
        server._binary_packet.pop(eio_sid, None)


def run_disconnect_handlers(server: Any, sid: str, namespace: str,
                            reason: str) -> None:
    """The ``disconnect`` handlers of a socket python-socketio no longer
    knows (its recovery window ended)."""
    server._trigger_event("disconnect", namespace, sid, reason)


# -- eventlet ----------------------------------------------------------------

_eventlet_patched = False


def apply_mask(data: bytes, mask: bytes, length: Optional[int] = None,
               offset: int = 0) -> bytes:
    """``data`` XOR the 4-byte ``mask`` repeated, starting at mask byte
    ``offset``; the signature and result of eventlet's own version.

    Browsers mask every frame they send (RFC 6455, 5.3). eventlet's
    ``RFC6455WebSocket._apply_mask`` unmasks one byte at a time in a Python
    generator: measured at about 0.7 ms for one 2.6 KB SDP envelope, the
    largest cost of relaying under eventlet once compression is off. This
    XORs the whole frame as one big integer: same bytes, about 100 times
    faster.
    """
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    start = offset % 4
    key = bytes(mask[start:]) + bytes(mask[:start])
    stream = (key * (length // 4 + 1))[:length]
    value = int.from_bytes(data[:length], "little") ^ \
        int.from_bytes(stream, "little")
    return value.to_bytes(length, "little")


def speed_up_eventlet() -> None:
    """Swap eventlet's per-byte unmasking for :func:`apply_mask` (once)."""
    global _eventlet_patched
    if _eventlet_patched:
        return
    from eventlet import websocket
    if hasattr(websocket.RFC6455WebSocket, "_apply_mask"):
        websocket.RFC6455WebSocket._apply_mask = staticmethod(apply_mask)
    _eventlet_patched = True
