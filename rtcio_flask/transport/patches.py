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
- :func:`decode_packet` decodes with a subclass of the server's packet
  class whose ``json`` is :func:`rtcio_flask.core.decoding.strict_loads`
  (python-socketio reads ``packet_class.json``), when the class uses
  python-engineio's default JSON module; a custom ``json=`` is left alone.
- :func:`check_websocket_frames`: python-engineio's websocket loop decodes
  each frame outside its ``try`` (``engineio/socket.py``
  ``_websocket_handler``), so an empty text frame or one that is no
  Engine.IO packet raised ValueError out of the WSGI app: a traceback per
  frame, the session never closed, and under gunicorn a 500 response
  written into the open websocket. The server's ``_async["websocket"]``
  (a per-server copy of the driver's table) is wrapped so such a frame
  ends the connection as a client close, with one WARNING.
- :func:`speed_up_eventlet`: eventlet's per-byte websocket unmasking.
"""

import base64
import binascii
import logging
from typing import Any, Callable, Dict, Iterable, Optional

from engineio import json as engineio_json
from socketio import packet as sio_packet

from ..core.decoding import strict_loads

logger = logging.getLogger("rtcio_flask")

#: Packet types a client may send (CONNECT_ERROR only flows server->client).
_CLIENT_TYPES = frozenset([sio_packet.CONNECT, sio_packet.DISCONNECT,
                           sio_packet.EVENT, sio_packet.ACK,
                           sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK])


class MalformedPacket(ValueError):
    """A socket.io packet that does not decode, or breaks the protocol's
    shape; the connection that sent it is closed."""


class _StrictJSON:
    """The ``json`` module python-socketio decodes client packets with:
    strict loads, the default dumps."""

    loads = staticmethod(strict_loads)
    dumps = staticmethod(engineio_json.dumps)


# packet class -> its strict subclass (or itself, with a custom json=).
_strict_classes: Dict[type, type] = {}


def _strict_class(packet_class: type) -> type:
    strict = _strict_classes.get(packet_class)
    if strict is None:
        strict = packet_class
        if getattr(packet_class, "json", None) is engineio_json:
            strict = type("Strict" + packet_class.__name__, (packet_class,),
                          {"json": _StrictJSON})
        _strict_classes[packet_class] = strict
    return strict


def decode_packet(server: Any, data: str) -> Any:
    """``data`` as the server's packet class decodes it (with strict JSON,
    see :class:`_StrictJSON`), or MalformedPacket."""
    try:
        pkt = _strict_class(server.packet_class)(encoded_packet=data)
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


def dispatch_packet(server: Any, eio_sid: str, data: Any) -> None:
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
    if data[0] not in _EIO_TYPES:
        return "text frame that is not an Engine.IO packet"
    if data[0] == "b":
        try:
            base64.b64decode(data[1:], validate=True)
        except (binascii.Error, ValueError):
            return "invalid base64 binary packet"
    return None


class _CheckedFrames:
    """A websocket whose ``wait()`` ends the connection (returns None, as
    for a client close) at the first frame python-engineio cannot decode.
    Everything else is the wrapped websocket's."""

    def __init__(self, ws: Any, peer: str) -> None:
        self._ws = ws
        self._peer = peer

    def wait(self) -> Any:
        data = self._ws.wait()
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
    through :class:`_CheckedFrames` (once per server)."""
    table = getattr(eio, "_async", None)
    if not table or table.get("websocket") is None or \
            getattr(table["websocket"], "_rtcio_checked", False):
        return
    original = table["websocket"]

    def websocket(handler: Callable[[Any], Any], server: Any) -> Any:
        def app(environ: Dict[str, Any],
                start_response: Callable[..., Any]) -> Iterable[bytes]:
            peer = str(environ.get("REMOTE_ADDR") or "?")
            ws_app = original(lambda ws: handler(_CheckedFrames(ws, peer)),
                              server)
            return ws_app(environ, start_response)
        return app

    websocket._rtcio_checked = True  # type: ignore[attr-defined]
    eio._async = dict(table, websocket=websocket)


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
