"""The ceiling: the rtc.io relay with no Engine.IO or Socket.IO objects,
on the same server stack, to show what Python can do there.

    python -m bench.ceiling --mode eventlet|gevent --port N

A websocket-only server that speaks just enough Engine.IO v4 and
socket.io v5 for the benchmark's socket.io-client load generators: the
open packet, the namespace connect, a ping every 25 s, ``join-room`` with
``user-connected`` and ``#rtcio:init-offer``, the ``#rtcio:message`` relay
(decoded, ``source`` stamped, re-encoded compact, written to the target's
websocket straight from the sender's greenlet) and ``#rtcio:peer-left`` on
disconnect. No limits, no CORS, no scope check beyond "the target is
connected": it is a bound, not a server anyone should run.

The websocket is the stack's own, as RTCIO's is: eventlet's
``WebSocketWSGI`` under eventlet, simple-websocket under gevent (what
python-engineio uses there when gevent-websocket is not installed).
``--ws rtcio`` uses RTCIO's websocket transport instead (if it has one),
so the table can show the stack's and RTCIO's ceilings apart.
"""

import argparse
import json
import secrets
import sys
from typing import Any, Callable, Dict, List, Optional, Set

PING_INTERVAL = 25.0
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_loads = json.loads


class Hub:
    """Every connected socket and room of the ceiling server."""

    def __init__(self) -> None:
        self.sockets: Dict[str, Any] = {}     # socket.io sid -> ws
        self.names: Dict[str, Any] = {}
        self.rooms: Dict[str, Set[str]] = {}  # room -> sids
        self.joined: Dict[str, Set[str]] = {}  # sid -> rooms

    def emit(self, sid: str, event: str, data: Any) -> None:
        ws = self.sockets.get(sid)
        if ws is not None:
            ws.send("42" + _dumps([event, data]))

    def join(self, sid: str, data: Any) -> None:
        room, name = data["roomId"], data.get("name")
        self.names[sid] = name
        members = self.rooms.setdefault(room, set())
        existing = list(members)
        members.add(sid)
        self.joined.setdefault(sid, set()).add(room)
        for other in existing:
            self.emit(sid, "user-connected",
                      {"id": other, "name": self.names.get(other)})
        for other in existing:
            self.emit(other, "user-connected", {"id": sid, "name": name})
            self.emit(other, "#rtcio:init-offer", {"source": sid})

    def relay(self, sid: str, envelope: Any) -> None:
        if not isinstance(envelope, dict):
            return
        target = envelope.get("target")
        ws = self.sockets.get(target) if isinstance(target, str) else None
        if ws is None or target == sid:
            return
        envelope["source"] = sid
        ws.send('42["#rtcio:message",' + _dumps(envelope) + "]")

    def leave(self, sid: str) -> None:
        self.sockets.pop(sid, None)
        self.names.pop(sid, None)
        for room in self.joined.pop(sid, ()):
            members = self.rooms.get(room)
            if not members:
                continue
            members.discard(sid)
            if not members:
                del self.rooms[room]
            for other in members:
                self.emit(other, "#rtcio:peer-left", {"id": sid})
                self.emit(other, "user-disconnected", {"id": sid})

    def serve(self, ws: Any) -> None:
        """One websocket: Engine.IO open, then packets until it closes."""
        ws.send("0" + _dumps({"sid": secrets.token_urlsafe(15),
                              "upgrades": [],
                              "pingInterval": int(PING_INTERVAL * 1000),
                              "pingTimeout": 20000, "maxPayload": 1000000}))
        sid: Optional[str] = None
        try:
            while True:
                text = ws.wait()
                if text is None:
                    break
                if text.__class__ is not str or not text:
                    continue
                kind = text[0]
                if kind == "4":
                    body = text[1:]
                    if body.startswith("2["):
                        if sid is None:
                            continue
                        args = _loads(body[1:])
                        if args[0] == "#rtcio:message":
                            self.relay(sid, args[1] if len(args) > 1
                                       else None)
                        elif args[0] == "join-room":
                            self.join(sid, args[1])
                    elif body.startswith("0") and sid is None:
                        sid = secrets.token_urlsafe(15)
                        self.sockets[sid] = ws
                        ws.send("40" + _dumps({"sid": sid}))
                elif kind == "1":
                    break
                # "3" (pong): nothing to do; the ping loop keeps pinging.
        except Exception:  # a closed socket, a bad packet: drop the socket
            pass
        finally:
            if sid is not None:
                self.leave(sid)

    def ping_forever(self, sleep: Callable[[float], Any]) -> None:
        while True:
            sleep(PING_INTERVAL)
            for ws in list(self.sockets.values()):
                try:
                    ws.send("2")
                except Exception:
                    pass


def _eventlet_app(hub: Hub) -> Callable[..., Any]:
    from eventlet import websocket

    from rtcio_flask.transport.compat.eventlet import speed_up_eventlet
    speed_up_eventlet()  # the same unmasking RTCIO uses

    @websocket.WebSocketWSGI
    def handle(ws: Any) -> None:
        hub.serve(ws)

    return handle


class _SimpleWS:
    """simple-websocket as the ceiling's ``wait``/``send`` object."""

    def __init__(self, environ: Dict[str, Any]) -> None:
        import gevent.event
        import gevent.selectors
        import simple_websocket
        from engineio.async_drivers.gevent import Thread
        self.ws = simple_websocket.Server(
            environ, thread_class=Thread, event_class=gevent.event.Event,
            selector_class=gevent.selectors.DefaultSelector)

    def wait(self) -> Any:
        import simple_websocket
        try:
            return self.ws.receive()
        except simple_websocket.ConnectionClosed:
            return None

    def send(self, text: str) -> None:
        self.ws.send(text)


def _gevent_app(hub: Hub) -> Callable[..., Any]:
    def app(environ: Dict[str, Any],
            start_response: Callable[..., Any]) -> List[bytes]:
        hub.serve(_SimpleWS(environ))
        return []
    return app


def _rtcio_ws_app(hub: Hub) -> Callable[..., Any]:
    from rtcio_flask.transport import websocket as rtcio_ws

    def handler(ws: Any) -> List[Any]:
        hub.serve(ws)
        return []

    def app(environ: Dict[str, Any],
            start_response: Callable[..., Any]) -> Any:
        return rtcio_ws.WebSocketWSGI(handler, None)(environ, start_response)
    return app


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="eventlet",
                        choices=["eventlet", "gevent"])
    parser.add_argument("--ws", default="stack", choices=["stack", "rtcio"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    else:
        from gevent import monkey
        monkey.patch_all()
    import socket

    hub = Hub()
    host = "127.0.0.1"
    if args.ws == "rtcio":
        app = _rtcio_ws_app(hub)
    elif args.mode == "eventlet":
        app = _eventlet_app(hub)
    else:
        app = _gevent_app(hub)

    def nodelay(inner: Callable[..., Any]) -> Callable[..., Any]:
        # TCP_NODELAY and no permessage-deflate, as RTCIO and Node.
        from rtcio_flask.transport.sockets import client_socket

        def wrapped(environ: Dict[str, Any],
                    start_response: Callable[..., Any]) -> Any:
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            sock = client_socket(environ)
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return inner(environ, start_response)
        return wrapped

    app = nodelay(app)
    if args.mode == "eventlet":
        import eventlet
        import eventlet.wsgi
        eventlet.spawn(hub.ping_forever, eventlet.sleep)
        listener = eventlet.listen((host, args.port), backlog=2048)
        print(f"READY {args.port}", flush=True)
        eventlet.wsgi.server(listener, app, log_output=False,
                             max_size=100_000)
    else:
        import gevent
        from gevent import pywsgi
        gevent.spawn(hub.ping_forever, gevent.sleep)
        server = pywsgi.WSGIServer((host, args.port), app, log=None,
                                   backlog=2048)
        print(f"READY {args.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
