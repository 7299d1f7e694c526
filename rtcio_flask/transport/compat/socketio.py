"""python-socketio's private internals RTCIO uses, in one place.

Verified against python-socketio 5.11.0 to 5.18.1 (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`; CI runs the floor and the newest).
What moved in that range, and how each call here copes (decided once, from
the installed version):

- ``manager.pre_connect``/``pending_connect`` (5.18: a socket is
  "pre-connected" until its connect handler accepts it, then
  ``manager.connect(sid)``); before 5.18 ``manager.connect(eio_sid)``
  registers it at once. :func:`connect_socket` does whichever the
  installed release does.
- the disconnect reason (5.12): ``_handle_disconnect``,
  ``_handle_eio_disconnect`` and the ``disconnect`` handlers take it from
  5.12 on; :func:`handle_disconnect`, :func:`eio_disconnect` and
  :func:`run_disconnect_handlers` pass it only there. Before 5.12 they
  keep it for the running greenlet, where RTCIO's own ``disconnect``
  entry finds it (:func:`disconnect_reason_now`), so the app's handlers
  get the reason on every release.

What is used, by what:

- :func:`dispatch_packet`: ``Server._handle_eio_message`` (the Engine.IO
  message -> socket.io packet dispatch), done here so bad packets raise
  :class:`MalformedPacket` instead of failing deep inside python-socketio
  with a traceback per packet. It calls the server's private
  ``_handle_connect/_handle_disconnect/_handle_event/_handle_ack`` and its
  ``_binary_packet`` table, exactly as the original does.
- :func:`decode_packet` decodes with a subclass of the server's packet
  class whose ``json`` is :func:`rtcio_flask.core.decoding.strict_loads`
  (python-socketio reads ``packet_class.json``), when the class uses
  python-engineio's default JSON module; a custom ``json=`` is left alone.
  A server RTCIO builds has that class already (:class:`StrictPacket`,
  through the documented ``serializer=``).
- :func:`dispatch_packet` answers a CONNECT to a namespace nobody serves
  itself, with socket.io's ``{"message": "Invalid namespace"}``.
- :func:`connect_socket`: ``Server._handle_connect`` (the
  ``always_connect=False`` branch) with two hooks connection state
  recovery needs: the socket may get a given (old) sid, and the CONNECT
  reply carries the private session id ``pid``. It uses the manager's
  ``basic_enter_room`` (and ``pending_connect`` from 5.18) and the
  server's ``_trigger_event``/``_send_packet``/``environ``.
- :class:`RtcioManager`: mixed into the client manager RTCIO builds and
  hands to ``socketio.Server`` through its documented ``client_manager=``
  (:func:`new_manager`; the message queue's managers too). It overrides
  the public ``emit`` and, with a message queue, ``PubSubManager.
  _handle_emit`` (the private delivery of queued emits), so that
  :func:`record_emits` logs packets sent through rooms with an offset
  (:mod:`rtcio_flask.transport.recovery`) and :func:`listen_queue` hears
  RTCIO's own queue messages; and the manager's ``basic_enter_room``,
  ``basic_leave_room``, ``get_rooms`` and ``basic_disconnect``
  (unchanged from 5.11 to 5.18, bar ``pending_connect`` from 5.15) to
  index each socket's rooms (:func:`index_rooms`). A manager RTCIO did not build (a handed-in
  server's, an app's ``client_manager=``) gets the mixin by a class swap,
  the one left (:func:`adopt_manager`).
- :func:`listen_queue` and :func:`publish_queue`: ``PubSubManager.
  _handle_emit`` (what every process runs for a queued ``emit`` message)
  and ``_publish`` (the method each queue backend implements), unchanged
  from 5.11 to 5.18, so the relay's cross-process path
  (:mod:`rtcio_flask.transport.queue_relay`) sends its own messages on the
  manager's channel and connection. They are ``emit`` messages to a
  namespace no client can join, so a process without the hook ignores
  them (python-socketio's emit to an unknown namespace does nothing).
- :func:`redis_manager`: ``RedisManager._redis_connect``, ``_publish`` and
  ``_redis_listen_with_retries`` (unchanged from 5.11 to 5.18), replaced
  in a subclass so the queue uses rtcio-flask's Redis client factory and
  outage log; if any of the three is missing, the stock manager is used.
"""

import collections
import json
import logging
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from engineio import json as engineio_json
from socketio import exceptions as sio_exceptions
from socketio import packet as sio_packet

from ...core.decoding import strict_loads
from . import socketio_at_least
from .engineio import CLIENT_DISCONNECT, SERVER_DISCONNECT, HeldMessages

logger = logging.getLogger("rtcio_flask")

#: (namespace, sid) -> that socket's rooms, in the order it entered them.
RoomIndex = Dict[Tuple[str, Any], Dict[Any, None]]

#: 5.18 registers a connecting socket as pending (``pre_connect``).
_PRE_CONNECT = socketio_at_least(5, 18)
#: 5.12 passes a reason to disconnect handlers.
_REASONS = socketio_at_least(5, 12)

#: Before 5.12: the reason of the disconnect python-socketio runs now, per
#: thread (greenlet, once monkey-patched).
_now = threading.local()

#: Packet types a client may send (CONNECT_ERROR only flows server->client).
_CLIENT_TYPES = frozenset([sio_packet.CONNECT, sio_packet.DISCONNECT,
                           sio_packet.EVENT, sio_packet.ACK,
                           sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK])


class MalformedPacket(ValueError):
    """A socket.io packet that does not decode, or breaks the protocol's
    shape; the connection that sent it is closed."""


class _StrictJSON:
    """The ``json`` module python-socketio decodes client packets with:
    strict loads, the default dumps. What strict loads refuses raises
    :class:`MalformedPacket` (a ValueError, as python-socketio expects), so
    the packet hook can tell a client's bad JSON from any other error
    where python-socketio's own dispatch decodes the packet (the checked
    one off) and close that connection with one WARNING, as the checked
    dispatch does, instead of a traceback per packet."""

    @staticmethod
    def loads(text: str, **kwargs: Any) -> Any:
        try:
            return strict_loads(text)
        except ValueError as exc:
            raise MalformedPacket(f"undecodable packet ({type(exc).__name__}"
                                  f": {exc})") from None

    dumps = staticmethod(engineio_json.dumps)


class StrictPacket(sio_packet.Packet):
    """python-socketio's packet class, decoding what clients send with
    strict JSON (:class:`_StrictJSON`). RTCIO hands it to the servers it
    builds through ``socketio.Server(serializer=...)``, python-socketio's
    documented extension point (``json=`` would change the JSON module of
    every server in the process), so the checks hold even where the
    checked dispatch is off."""

    json = _StrictJSON


# packet class -> its strict subclass (or itself, with a custom json=).
_strict_classes: Dict[type, type] = {sio_packet.Packet: StrictPacket}


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
    except MalformedPacket:
        raise  # the JSON, said by _StrictJSON
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


class SerialEvents:
    """Each socket's handlers for some events run one at a time, in the
    order that socket sent them.

    python-socketio runs every event in a greenlet (or thread) of its own
    (``async_handlers``), so handlers that wait on I/O finish in any order:
    with a message queue (each relay logged and published through Redis)
    or an app handler on the relay event, envelopes a client sent back to
    back reached their target reordered (an ICE candidate before its
    offer breaks the negotiation). Here the events named in
    :attr:`events` go to a per-socket FIFO drained by one task at a time,
    started when the FIFO fills and gone when it is empty: order per
    socket, concurrency across sockets, no greenlet parked per idle
    socket, and the reading greenlet never waits on a handler."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.events: set = set()
        self._queues: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def handle(self, eio_sid: str, namespace: Optional[str], id: Any,
               data: List[Any]) -> None:
        server = self.server
        namespace = namespace or "/"
        sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
        if not server.async_handlers or \
                not server.manager.is_connected(sid, namespace):
            # Inline already, or python-socketio logs and drops it.
            server._handle_event(eio_sid, namespace, id, data)
            return
        item = (sid, data, namespace, id)
        with self._lock:
            waiting = self._queues.get(eio_sid)
            if waiting is not None:
                waiting.append(item)
                return
            self._queues[eio_sid] = collections.deque((item,))
        server.start_background_task(self._drain, eio_sid)

    def _drain(self, eio_sid: str) -> None:
        server = self.server
        while True:
            with self._lock:
                waiting = self._queues[eio_sid]
                if not waiting:
                    del self._queues[eio_sid]
                    return
                sid, data, namespace, id = waiting.popleft()
            try:
                server._handle_event_internal(server, sid, eio_sid, data,
                                              namespace, id)
            except Exception:
                # The next event still runs (python-socketio's own task
                # would die with this one only).
                logger.exception("rtcio: handler of %r failed for %s",
                                 data[0] if data else None, sid)


def order_events(server: Any, *events: str) -> None:
    """Run each socket's ``events`` one at a time in arrival order when
    they come through :func:`dispatch_packet` (:class:`SerialEvents`)."""
    serial = server.__dict__.get("_rtcio_serial")
    if serial is None:
        serial = server._rtcio_serial = SerialEvents(server)
    serial.events.update(events)


#: ``inline(namespace, event)``: whether an event's handler may run in the
#: greenlet that read it instead of one python-socketio spawns for it.
InlineEvents = Callable[[str, str], bool]


def dispatch_packet(server: Any, eio_sid: str, data: Any,
                    connect: Optional[ConnectHandler] = None,
                    inline: Optional[InlineEvents] = None) -> None:
    """python-socketio's Engine.IO message dispatch, with every packet
    checked the way socket.io's own parser checks it before anything acts
    on it; events given to :func:`order_events` keep each socket's order,
    events ``inline`` names run in the calling greenlet
    (:func:`handle_event_here`). Raises MalformedPacket; an application
    handler's own exception still propagates with its traceback."""
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
        serial = server.__dict__.get("_rtcio_serial")
        if inline is not None and inline(pkt.namespace or "/", pkt.data[0]):
            handle_event_here(server, eio_sid, pkt.namespace, pkt.id,
                              pkt.data)
        elif serial is not None and pkt.data[0] in serial.events:
            serial.handle(eio_sid, pkt.namespace, pkt.id, pkt.data)
        else:
            server._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
    elif kind == sio_packet.ACK:
        _check_ack(pkt.data)
        server._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
    elif kind == sio_packet.CONNECT:
        if pkt.data is not None and not isinstance(pkt.data, dict):
            raise MalformedPacket("a connect payload must be an object")
        if not namespace_served(server, pkt.namespace):
            refuse_unknown_namespace(server, eio_sid, pkt.namespace)
            return
        if connect is not None:
            connect(eio_sid, pkt.namespace or "/", pkt.data)
        elif not server.always_connect:
            # python-socketio's own, with the handler's emits after the
            # reply (HeldMessages)
            connect_socket(server, eio_sid, pkt.namespace, pkt.data, None,
                           None)
        else:  # the reply goes first anyway
            server._handle_connect(eio_sid, pkt.namespace, pkt.data)
    elif kind == sio_packet.DISCONNECT:
        handle_disconnect(server, eio_sid, pkt.namespace)
    else:  # BINARY_EVENT / BINARY_ACK: wait for the attachments
        if not server.manager.sid_from_eio_sid(eio_sid,
                                               pkt.namespace or "/"):
            raise MalformedPacket("binary packet on a namespace the "
                                  "connection has not joined")
        server._binary_packet[eio_sid] = pkt


def handle_event_here(server: Any, eio_sid: str, namespace: Optional[str],
                      id: Optional[int], data: List[Any]) -> None:
    """python-socketio's ``Server._handle_event`` (5.11 to 5.18) without
    the greenlet it spawns per event when ``async_handlers`` is on: the
    same log lines and connected check, then ``_handle_event_internal``
    (the Admin UI's instrumented one too), which sends the ack. For
    built-in events that never wait on their own socket: the spawn and
    the switch to it were 65 of the 370 us from a ``join-room`` read to
    its ``#rtcio:init-offer`` sent (docs/performance.rst)."""
    namespace = namespace or "/"
    sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
    server.logger.info('received event "%s" from %s [%s]', data[0], sid,
                       namespace)
    if not server.manager.is_connected(sid, namespace):
        server.logger.warning("%s is not connected to namespace %s", sid,
                              namespace)
        return
    server._handle_event_internal(server, sid, eio_sid, data, namespace, id)


def index_rooms(manager: Any) -> None:
    """Keep, beside python-socketio's ``manager.rooms`` (room -> members),
    each socket's own rooms, so that ``get_rooms`` and ``basic_disconnect``
    cost what the socket is in instead of a scan of every room of the
    namespace (python-socketio 5.11 to 5.18 loop over all of them, and
    ``basic_disconnect`` copies the dict first: with N sockets connected
    each disconnect cost O(N), a connect-and-leave storm O(N^2); 508,000
    membership tests for two 200-pair storms, docs/performance.rst).

    The index lives in :class:`RtcioManager` (the manager is adopted
    first, :func:`adopt_manager`), which keeps it from then on; this
    turns it on, with the rooms the manager already has (once)."""
    manager = adopt_manager(manager)
    if manager._rtcio_room_index is not None:
        return
    index: RoomIndex = {}
    for namespace, rooms in manager.rooms.items():
        for room, members in rooms.items():
            for sid in members:
                index.setdefault((namespace, sid), {})[room] = None
    manager._rtcio_room_index = index


def disconnect_reason_now() -> Optional[str]:
    """For a ``disconnect`` handler python-socketio called with no reason
    (before 5.12): the one RTCIO had it run with, else ``server
    disconnect`` (the app called ``disconnect(sid)``). None from 5.12 on."""
    if _REASONS:
        return None
    reason: Optional[str] = getattr(_now, "reason", None)
    return reason or SERVER_DISCONNECT


def _with_reason(reason: Optional[str], call: Callable[..., Any],
                 *args: Any) -> Any:
    previous = getattr(_now, "reason", None)
    _now.reason = reason
    try:
        return call(*args)
    finally:
        _now.reason = previous


def handle_disconnect(server: Any, eio_sid: str,
                      namespace: Optional[str],
                      reason: str = CLIENT_DISCONNECT) -> None:
    """A client's DISCONNECT packet, as python-socketio handles it, with
    the ``client disconnect`` reason (or ``reason``: a connection that
    closed while its CONNECT was served)."""
    if _REASONS:
        server._handle_disconnect(eio_sid, namespace, reason)
    else:
        _with_reason(reason, server._handle_disconnect, eio_sid, namespace)


def eio_disconnect_handler(server: Any) -> Callable[..., Any]:
    """python-socketio's Engine.IO ``disconnect`` handler of ``server``
    (a ``socketio.Server``, or the Admin UI's instrumented server)."""
    handler: Callable[..., Any] = server._handle_eio_disconnect
    return handler


def eio_disconnect(handler: Callable[..., Any], eio_sid: str,
                   reason: Optional[str]) -> Any:
    """Call python-socketio's Engine.IO ``disconnect`` handler (the
    server's ``_handle_eio_disconnect``, or the Admin UI's), which takes
    the reason from 5.12 on."""
    if _REASONS:
        return handler(eio_sid, reason)
    return _with_reason(reason, handler, eio_sid)


def namespace_served(server: Any, namespace: Optional[str]) -> bool:
    """Whether ``server`` accepts connections to ``namespace``, by the test
    python-socketio's ``_handle_connect`` makes."""
    namespace = namespace or "/"
    return (namespace in server.handlers
            or namespace in server.namespace_handlers
            or server.namespaces == "*" or namespace in server.namespaces)


def refuse_unknown_namespace(server: Any, eio_sid: str,
                             namespace: Optional[str]) -> None:
    """CONNECT_ERROR as socket.io sends it for a namespace nobody serves:
    ``44/random,{"message":"Invalid namespace"}`` (python-socketio sends
    the bare string ``"Unable to connect"``; socket.io-client shows users
    ``err.message``, which is then undefined)."""
    refuse_connect(server, eio_sid, namespace, {"message":
                                                "Invalid namespace"})


def refuse_connect(server: Any, eio_sid: str, namespace: Optional[str],
                   data: Dict[str, Any]) -> None:
    """Answer a CONNECT with CONNECT_ERROR carrying ``data`` (``message``,
    optionally ``data``: what socket.io-client shows as ``err.message``
    and ``err.data``), through the server's own packet writer."""
    server._send_packet(eio_sid, server.packet_class(
        sio_packet.CONNECT_ERROR, data=data, namespace=namespace or "/"))


def session_environ(server: Any, eio_sid: str) -> Dict[str, Any]:
    """The WSGI environ of an Engine.IO session's handshake (python-socketio
    keeps it per connection in ``server.environ``), or ``{}``."""
    environ: Dict[str, Any] = server.environ.get(eio_sid) or {}
    return environ

# -- connection state recovery ------------------------------------------------

#: The last argument of a queued emit that carries its recovery offset
#: from the emitting process to every other one: ``{OFFSET_MARK: offset}``.
OFFSET_MARK = "__rtcio_offset__"

#: A namespace no client can join: queued emits to it are requests
#: between processes (``recorder.control(event, data)``), not packets.
CONTROL_NAMESPACE = "/__rtcio_recovery__"


#: ``json.dumps(x, separators=(",", ":"))`` without building an encoder per
#: call (what ``Packet.encode`` does through python-engineio's json module).
_compact = json.JSONEncoder(separators=(",", ":")).encode


def encode_event(server: Any, namespace: str, args: List[Any]) -> str:
    """The socket.io text of an EVENT packet (no ack id, no binary).

    With python-socketio's own packet class and JSON module (every server
    unless ``json=`` or msgpack is chosen), the text ``Packet.encode``
    makes (``2``, the namespace unless ``/`` and a comma, the compact
    JSON), written directly: a ``Packet`` first scans the data for
    binary again and builds a JSON encoder, a quarter of each room
    emit's cost on the join path. Anything else, binary included, goes
    through the packet class."""
    packet_class = server.packet_class
    if (packet_class is StrictPacket and StrictPacket.json is _StrictJSON) \
            or (packet_class is sio_packet.Packet
                and packet_class.json is engineio_json):
        try:
            encoded = _compact(args)
        except TypeError:  # bytes: a binary packet, the class's to encode
            pass
        else:
            if namespace is None or namespace == "/":
                return "2" + encoded
            return "2" + namespace + "," + encoded
    pkt = packet_class(sio_packet.EVENT, namespace=namespace, data=args)
    return str(pkt.encode())


def data_as_args(data: Any) -> List[Any]:
    """python-socketio's rule: a tuple is several arguments, None none."""
    if isinstance(data, tuple):
        return list(data)
    if data is None:
        return []
    return [data]


#: Leaves that are never binary, skipped without a call (every room emit
#: is scanned: the join path's five emits are mostly such leaves).
_PLAIN = frozenset((str, int, float, bool, type(None)))


def is_binary(data: Any) -> bool:
    """Whether ``data`` holds bytes anywhere, which makes python-socketio
    send it as a binary packet (its own check is a private method before
    5.14 and a classmethod after)."""
    if isinstance(data, (bytes, bytearray)):
        return True
    if isinstance(data, list):
        items: Iterable[Any] = data
    elif isinstance(data, dict):
        items = data.values()
    else:
        return False
    plain = _PLAIN
    for item in items:
        if item.__class__ not in plain and is_binary(item):
            return True
    return False


class RtcioManager:
    """What RTCIO adds to python-socketio's client manager, mixed into the
    class of the manager RTCIO builds and hands to ``socketio.Server`` as
    its documented ``client_manager=`` (:func:`new_manager`): no class
    is swapped at run time. Each addition is off until a feature turns
    it on, so the class costs nothing without them:

    - ``_rtcio_recorder`` (:func:`record_emits`): ``emit`` logs each emit
      with an offset for connection state recovery; with a message queue
      the offset rides through the queue and ``_handle_emit`` (python-
      socketio's private delivery of queued emits, 5.11 to 5.18) delivers
      it in each process through the recorder.
    - ``_rtcio_queue_handlers`` (:func:`listen_queue`): queued ``emit``
      messages to a namespace no client can join go to RTCIO's handler
      for it instead of to sockets.
    - ``_rtcio_room_index`` (:func:`index_rooms`): each socket's rooms.
      ``basic_enter_room`` and ``basic_leave_room``, through which every
      change to ``manager.rooms`` goes (``basic_close_room`` and
      ``basic_disconnect`` leave through ``basic_leave_room``), keep it;
      ``get_rooms`` answers from it in the order the socket entered its
      rooms (python-socketio's order is the rooms' creation order; neither
      is documented); ``basic_disconnect`` is python-socketio's, with the
      scan of every room replaced by the index."""

    _rtcio_recorder: Any = None
    #: A PubSubManager (emits go through a message queue).
    _rtcio_queued = False
    _rtcio_queue_handlers: Optional[Dict[str, Callable[[Any], Any]]] = None
    _rtcio_room_index: Optional[RoomIndex] = None

    def set_server(self, server: Any) -> None:
        super().set_server(server)  # type: ignore[misc]
        # python-socketio 5.16+ gives the manager the packet class's JSON
        # module for the queue's messages: with StrictPacket, the strict
        # one, which takes no bytes (what Redis hands back) and refuses
        # what an app may emit (NaN, integers past 2**53). Those messages
        # come from the other processes, not from clients.
        if self.__dict__.get("json") is _StrictJSON:
            self.json = engineio_json

    def basic_enter_room(self, sid: Any, namespace: str, room: Any,
                         eio_sid: Any = None) -> None:
        super().basic_enter_room(  # type: ignore[misc]
            sid, namespace, room, eio_sid=eio_sid)
        index = self._rtcio_room_index
        if index is not None:
            index.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: Any, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        index = self._rtcio_room_index
        if index is not None:
            mine = index.get((namespace, sid))
            if mine is not None:
                mine.pop(room, None)
                if not mine:
                    del index[(namespace, sid)]

    def get_rooms(self, sid: Any, namespace: str) -> List[Any]:
        index = self._rtcio_room_index
        if index is None:
            return super().get_rooms(sid, namespace)  # type: ignore[misc]
        return [room for room in index.get((namespace, sid), ())
                if room is not None]

    def basic_disconnect(self, sid: Any, namespace: str,
                         **kwargs: Any) -> None:
        index = self._rtcio_room_index
        if index is None:
            return super().basic_disconnect(  # type: ignore[misc]
                sid, namespace, **kwargs)
        manager: Any = self
        if namespace not in manager.rooms:
            return None
        for room in list(index.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        if sid in manager.callbacks:
            del manager.callbacks[sid]
        # pending_connect from 5.15 on, pending_disconnect on every release.
        for pending in (manager.__dict__.get("pending_connect"),
                        manager.pending_disconnect):
            if pending and namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]
        return None

    def emit(self, event: str, data: Any, namespace: Any = None,
             room: Any = None, skip_sid: Any = None, callback: Any = None,
             to: Any = None, **kwargs: Any) -> Any:
        recorder = self._rtcio_recorder
        room = to or room
        if recorder is not None and callback is None:
            if self._rtcio_queued:
                namespace = namespace or "/"
                if not kwargs.get("ignore_queue") \
                        and namespace != CONTROL_NAMESPACE:
                    args = data_as_args(data)
                    offset = recorder.log_queued(self, event, args,
                                                 namespace, room, skip_sid)
                    if offset is not None:
                        data = tuple(args + [{OFFSET_MARK: offset}])
            elif recorder.emit_here(self, event, data_as_args(data),
                                    namespace or "/", room, skip_sid):
                return None
        return super().emit(  # type: ignore[misc]
            event, data, namespace=namespace, room=room, skip_sid=skip_sid,
            callback=callback, **kwargs)

    def _handle_emit(self, message: Any) -> Any:
        handlers = self._rtcio_queue_handlers
        if handlers:
            handler = handlers.get(message.get("namespace"))
            if handler is not None:
                return handler(message.get("data"))
        recorder = self._rtcio_recorder
        if recorder is not None:
            data = message.get("data")
            if message.get("namespace") == CONTROL_NAMESPACE:
                return recorder.control(message.get("event"), data)
            # A list through JSON (5.12+), the emitted tuple through
            # pickle (before 5.12).
            if (not message.get("binary")
                    and isinstance(data, (list, tuple))
                    and data and isinstance(data[-1], dict)
                    and list(data[-1]) == [OFFSET_MARK]):
                return recorder.deliver_queued(
                    self, message["event"], list(data[:-1]),
                    message.get("namespace") or "/",
                    message.get("room"), message.get("skip_sid"),
                    data[-1][OFFSET_MARK])
        return super()._handle_emit(message)  # type: ignore[misc]


# python-socketio manager class -> its RtcioManager subclass.
_manager_classes: Dict[type, type] = {}


def manager_class(base: type) -> type:
    """``base`` (a python-socketio client manager class) with
    :class:`RtcioManager` mixed in (one class per base)."""
    if issubclass(base, RtcioManager):
        return base
    made = _manager_classes.get(base)
    if made is None:
        import socketio

        made = _manager_classes[base] = type(
            "Rtcio" + base.__name__, (RtcioManager, base),
            {"_rtcio_queued": issubclass(base, socketio.PubSubManager)})
    return made


def new_manager(base: Optional[type] = None, *args: Any,
                **kwargs: Any) -> Any:
    """A new client manager of ``base`` (python-socketio's in-memory
    ``Manager`` by default) with :class:`RtcioManager` mixed in, for
    ``socketio.Server(client_manager=...)``."""
    if base is None:
        import socketio

        base = socketio.Manager
    return manager_class(base)(*args, **kwargs)


def adopt_manager(manager: Any) -> Any:
    """``manager`` as an :class:`RtcioManager`. One RTCIO built is one
    already; one it did not build (a handed-in server's, or a
    ``client_manager=`` the app made) has no extension point left: python-
    socketio reads ``server.manager`` everywhere and the object holds the
    connected sockets, so its class is swapped for the mixed-in subclass
    of its own class (the same methods, the two hooks added). RTCIO does
    that as it takes the server, before anything wraps the manager's
    methods on the object (the Admin UI's instrumentation keeps the bound
    ``emit`` it finds)."""
    if not isinstance(manager, RtcioManager):
        manager.__class__ = manager_class(manager.__class__)
    return manager


def record_emits(manager: Any, recorder: Any) -> None:
    """Route the manager's emits through ``recorder`` (once).

    ``recorder.emit_here(manager, event, args, namespace, room, skip_sid)``
    logs and delivers an emit of this process and returns True, or False to
    leave it to python-socketio; with a message queue,
    ``recorder.log_queued(...)`` returns the offset that rides through the
    queue, and ``recorder.deliver_queued(manager, event, args, namespace,
    room, skip_sid, offset)`` delivers it in each process.
    """
    manager = adopt_manager(manager)
    if manager._rtcio_recorder is None:
        manager._rtcio_recorder = recorder


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
    new_sid: Optional[str] = None
    if namespace_served(server, namespace):
        if sid is None:
            new_sid = (manager.pre_connect(eio_sid, namespace) if _PRE_CONNECT
                       else manager.connect(eio_sid, namespace))
        elif manager.sid_from_eio_sid(eio_sid, namespace) is None and \
                manager.eio_sid_from_sid(sid, namespace) is None:
            # what connecting does, with the old sid instead of a fresh one
            manager.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
            manager.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
            if _PRE_CONNECT:
                manager.pending_connect.setdefault(namespace, []).append(sid)
            new_sid = sid
    if new_sid is None:
        server._send_packet(eio_sid, server.packet_class(
            sio_packet.CONNECT_ERROR, data="Unable to connect",
            namespace=namespace))
        return None
    sid = new_sid
    held = HeldMessages(server.eio, eio_sid)
    try:
        success, fail_reason = _run_connect_handler(server, namespace, sid,
                                                    eio_sid, auth)
        held.stop()
        if success is False:
            server._send_packet(eio_sid, server.packet_class(
                sio_packet.CONNECT_ERROR, data=fail_reason,
                namespace=namespace))
            manager.disconnect(sid, namespace, ignore_queue=True)
            return None
        if before_reply is not None:
            before_reply(sid)
        reply = {"sid": sid} if pid is None else {"sid": sid, "pid": pid}
        server._send_packet(eio_sid, server.packet_class(
            sio_packet.CONNECT, reply, namespace=namespace))
        if _PRE_CONNECT:
            manager.connect(sid, namespace)
    finally:
        # What the app's connect handler emitted follows the reply, as it
        # follows socket.io's (its connection handler runs after it).
        held.flush()
    return sid


def _run_connect_handler(server: Any, namespace: str, sid: str,
                         eio_sid: str, auth: Any) -> Any:
    """The app's ``connect`` handlers, as python-socketio calls them:
    (whether it accepted, the reason it gives when it refuses)."""
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
    return success, fail_reason


def restore_rooms(manager: Any, sid: str, namespace: str,
                  rooms: Iterable[str]) -> None:
    """Put a recovered socket back in its rooms without telling anyone
    (the manager's ``basic_enter_room``: no queue message, the other
    processes never forgot it)."""
    for room in rooms:
        if room != sid:
            manager.basic_enter_room(sid, namespace, room)


def binary_pending(server: Any) -> Dict[str, Any]:
    """The server's table of binary packets waiting for their attachments
    (eio_sid -> packet), which the packet hook reads and clears."""
    table: Dict[str, Any] = server._binary_packet
    return table


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
    if _REASONS:
        server._trigger_event("disconnect", namespace, sid, reason)
    else:
        _with_reason(reason, server._trigger_event, "disconnect", namespace,
                     sid)




# -- the Redis message queue's connection -------------------------------------

#: Seconds the queue's subscription may stay silent before it is pinged,
#: and then wait for the answer before its connection is replaced.
SUBSCRIBER_IDLE = 5.0


def _listen_alive(pubsub: Any, idle: Optional[float] = None) -> Any:
    """``pubsub.listen()`` that notices a connection gone silent: the
    subscriber's connection has no read timeout (it waits for messages),
    so a Redis that stops answering without closing it (a failover, a NAT
    dropping its state) would leave this process deaf to every other for
    good. After ``idle`` quiet seconds it sends a PING; when nothing at
    all arrives within ``idle`` more, it raises ConnectionError (the caller
    reconnects and re-subscribes)."""
    idle = SUBSCRIBER_IDLE if idle is None else idle
    heard = time.monotonic()
    pinged = False
    while True:
        # What is already there first: no timer armed for it (a timed
        # wait per message cost up to 9% of a relay's CPU across processes).
        message = pubsub.get_message(timeout=0.0)
        if message is None:
            message = pubsub.get_message(timeout=min(1.0, idle))
        now = time.monotonic()
        if message is not None:
            heard, pinged = now, False
            yield message
        elif now - heard >= idle:
            if pinged:
                raise ConnectionError("the message queue's subscription "
                                      f"answered nothing for {2 * idle:.0f} "
                                      "s")
            pubsub.ping()
            heard, pinged = now, True


def redis_manager(url: str, channel: str, write_only: bool,
                  connect: Callable[[str, bool], Any], outages: Any) -> Any:
    """python-socketio's ``RedisManager`` on rtcio-flask's Redis client and
    outage log (python-socketio 5.x privates, replaced when all three are
    there; else the stock manager):

    - ``_redis_connect``: the clients come from ``connect(url,
      subscriber)`` (every URL form, Valkey without the valkey package, a
      pool that waits instead of raising MaxConnectionsError under load),
      made once: their pools reconnect by themselves, and through Sentinel
      find the new master. Publishes go through a client with a read
      timeout and the subscription through one of its own without: on one
      client with none, a publish on a connection gone silent (a failover
      or a NAT that drops the connection without a reset) waited for ever,
      and so did the relay's one flusher behind it, and every relay
      behind that (issue 20).
    - ``_publish``: a failed publish is retried once, then reported to
      ``outages`` (one ERROR per outage for every feature on that Redis)
      instead of python-socketio's ``Cannot publish to redis...`` line per
      emit; the emit is lost, as it is there.
    - ``_redis_listen_with_retries``: the subscriber re-subscribes within
      0.1-2 s of Redis coming back (python-socketio doubles its wait up to
      60 s, so a failover of a few seconds cost the relay up to half a
      minute), reporting to ``outages`` instead of a line per retry; a
      subscription silent for :data:`SUBSCRIBER_IDLE` seconds is pinged,
      and replaced when the ping gets no answer in as long
      (:func:`_listen_alive`)."""
    import socketio

    base = socketio.RedisManager
    missing = [name for name in ("_redis_connect", "_publish",
                                 "_redis_listen_with_retries")
               if not callable(getattr(base, name, None))]
    if missing:
        logger.warning("rtcio: this python-socketio's RedisManager has no "
                       "%s: the message queue keeps python-socketio's own "
                       "Redis client (its retries and log lines, no outage "
                       "log)", ", ".join(missing))
        return new_manager(base, url, channel=channel, write_only=write_only)

    class RtcioRedisManager(RtcioManager,
                            base):  # type: ignore[misc, valid-type]
        _rtcio_queued = True

        def _redis_connect(self) -> None:
            if getattr(self, "redis", None) is None:
                self.redis = connect(self.redis_url, False)
            if getattr(self, "_rtcio_subscriber", None) is None:
                self._rtcio_subscriber = connect(self.redis_url, True)
            self.pubsub = self._rtcio_subscriber.pubsub(
                ignore_subscribe_messages=True)
            self.connected = True

        def _publish(self, data: Any) -> Any:
            if getattr(self, "redis", None) is None:
                self._redis_connect()
            message = _queue_encode(self, data)
            failure: Optional[BaseException] = None
            for _ in range(2):
                try:
                    result = self.redis.publish(self.channel, message)
                except Exception as exc:
                    failure = exc
                    continue
                outages.ok()
                return result
            assert failure is not None
            outages.failed(failure)
            return None

        def _redis_listen_with_retries(self) -> Any:
            pause = 0.1
            # Before 5.15 ``_listen`` subscribed already.
            subscribed = bool(getattr(getattr(self, "pubsub", None),
                                      "channels", None))
            while True:
                try:
                    if not subscribed:
                        self._redis_connect()
                        self.pubsub.subscribe(self.channel)
                        subscribed = True
                        pause = 0.1
                        outages.ok()
                    yield from _listen_alive(self.pubsub)
                except Exception as exc:
                    outages.failed(exc)
                    if subscribed:
                        try:
                            self.pubsub.close()  # give its connection back
                        except Exception:
                            pass
                    subscribed = False
                    time.sleep(pause)  # green under eventlet/gevent
                    pause = min(2.0, pause * 2)

    return RtcioRedisManager(url, channel=channel, write_only=write_only)


def _queue_encode(manager: Any, data: Any) -> Any:
    """A queue message as the installed python-socketio's listeners decode
    it: the manager's ``json`` (5.16+), engineio's JSON module (5.14-5.15),
    pickle (before 5.14)."""
    codec = getattr(manager, "json", None)
    if codec is not None:
        return codec.dumps(data)
    if socketio_at_least(5, 14):
        return engineio_json.dumps(data)
    import pickle
    return pickle.dumps(data)


def listen_queue(manager: Any, namespace: str,
                 handler: Callable[[Any], None]) -> None:
    """Hand the queued ``emit`` messages to ``namespace`` (a namespace no
    client can join) to ``handler(data)`` in every process that runs this
    (:class:`RtcioManager`). Messages to other namespaces go on to
    python-socketio."""
    manager = adopt_manager(manager)
    if manager._rtcio_queue_handlers is None:
        manager._rtcio_queue_handlers = {}
    manager._rtcio_queue_handlers[namespace] = handler


def publish_queue(manager: Any, namespace: str, data: Any) -> None:
    """Publish ``data`` to every other process's :func:`listen_queue`
    handler for ``namespace`` (one message on the manager's channel)."""
    manager._publish({"method": "emit", "event": "rtcio", "data": data,
                      "binary": False, "namespace": namespace,
                      "room": None, "skip_sid": None, "callback": None,
                      "host_id": manager.host_id})
