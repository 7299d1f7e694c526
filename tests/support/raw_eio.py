"""The suite's one raw Engine.IO v4 / socket.io client, websocket
(:class:`RawSocket`, on websocket-client) and polling (:class:`RawPolling`,
on ``requests`` and raw sockets), with no socket.io client library in
between to tidy up what a test sends: malformed packets, a long-poll left
waiting and hung up, a close packet POSTed, odd methods, a connection cut
without a close frame.
"""

import json
import socket
import struct
import threading
import time

import requests
import websocket

SEP = "\x1e"


def eio_url(server, **query):
    """``server``'s Engine.IO URL with ``EIO=4`` and ``query``."""
    query = {"EIO": "4", **query}
    return server.url + "/socket.io/?" + "&".join(
        f"{k}={v}" for k, v in query.items())


def ws_url(server, **query):
    """The websocket URL of ``eio_url(server, transport="websocket")``."""
    return eio_url(server, transport="websocket", **query).replace(
        "http://", "ws://")


def recv_skipping_pings(ws):
    """The next websocket message that is not a ping (pings get pongs) or
    a noop (python-engineio sends the noop that ends the polling transport
    over the websocket when no poll was waiting); text or bytes."""
    while True:
        data = ws.recv()
        if data == "2":
            ws.send("3")
        elif data != "6":
            return data


def wait_closed(ws, pong=True):
    """Read until the server ends the websocket; the close frame's code
    (None when the connection ended without one). With ``pong`` pings are
    answered, so a close is never the ping timeout's."""
    while True:
        try:
            opcode, frame = ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, OSError):
            return None
        if pong and frame == b"2":
            ws.send("3")
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame[:2], "big") if frame else None


class RawSocket:
    """An Engine.IO v4 websocket session, opened and (unless
    ``connect_namespace`` is false) connected to ``/``."""

    def __init__(self, base_url, connect_namespace=True, timeout=5,
                 receive_buffer=None, source_address=None):
        """``receive_buffer``: the socket's SO_RCVBUF in bytes, small for a
        client whose unread data should back up on the server.
        ``source_address``: the local (host, port) to connect from, e.g.
        ``("127.0.0.2", 0)`` for a second client address on this host."""
        url = base_url.replace("http://", "ws://") + \
            "/socket.io/?EIO=4&transport=websocket"
        sock = None
        if source_address is not None:
            host, port = base_url.split("//", 1)[1].rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout,
                                            source_address=source_address)
        options = [] if receive_buffer is None else [
            (socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)]
        self.ws = websocket.create_connection(url, timeout=timeout,
                                              suppress_origin=True,
                                              sockopt=options, socket=sock)
        opening = self.ws.recv()
        assert opening.startswith("0{"), opening
        self.handshake = json.loads(opening[1:])
        self.eio_sid = self.handshake["sid"]
        self.sid = None
        if connect_namespace:
            self.ws.send("40")
            reply = self.recv_until(lambda m: m.startswith("40"))
            self.sid = json.loads(reply[2:])["sid"]

    def send(self, message, binary=False):
        if binary:
            self.ws.send_binary(message)
        else:
            self.ws.send(message)

    def join_room(self, room_id):
        """Join a built-in room and wait for ``join-ok``."""
        self.send("42" + json.dumps(["join-room", {"roomId": room_id}]))
        return self.recv_until(lambda m: m.startswith('42["join-ok"'))

    def recv_until(self, wanted, timeout=5.0, seen=None):
        """Messages until one matches; answers Engine.IO pings meanwhile.
        ``seen``: a list the messages that did not match are added to."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            message = self.ws.recv()
            if message == "2":
                self.ws.send("3")
                continue
            if wanted(message):
                return message
            if seen is not None:
                seen.append(message)
        raise AssertionError("no matching message in time")

    def closed_by_server(self, timeout=5.0):
        """True once the server has closed this websocket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.ws.settimeout(max(0.05, deadline - time.monotonic()))
                message = self.ws.recv()
            except (websocket.WebSocketConnectionClosedException,
                    ConnectionError, OSError):
                return True
            except websocket.WebSocketTimeoutException:
                return False
            if message == "" or message == "1":  # close frame / EIO close
                return True
            if message == "2":
                try:
                    self.ws.send("3")
                except Exception:
                    return True
        return False

    def cut(self):
        """End the TCP connection with a RST, no close frame: to the
        server, a client that vanished (it holds the socket for
        recovery)."""
        self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
        self.ws.sock.close()

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


class RawPolling:
    """One Engine.IO polling session against ``base_url`` (``http://h:p``)."""

    def __init__(self, base_url, path="/socket.io/"):
        self.base_url = base_url.rstrip("/")
        self.path = path
        self.http = requests.Session()
        self.sid = None
        self.open_packet = None

    def url(self, **extra):
        query = {"EIO": "4", "transport": "polling"}
        if self.sid:
            query["sid"] = self.sid
        query.update(extra)
        return self.base_url + self.path + "?" + "&".join(
            f"{k}={v}" for k, v in query.items())

    def handshake(self):
        reply = self.http.get(self.url(), timeout=10)
        reply.raise_for_status()
        assert reply.text.startswith("0"), reply.text
        self.open_packet = json.loads(reply.text[1:])
        self.sid = self.open_packet["sid"]
        return self.open_packet

    def post(self, *packets):
        return self.http.post(self.url(), data=SEP.join(packets).encode(),
                              timeout=10)

    def post_body(self, body, content_type="text/plain;charset=UTF-8"):
        """POST ``body`` exactly as given (bytes, or text with lone
        surrogates kept) with ``content_type``: what no client would send."""
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        return self.http.post(self.url(), data=body, timeout=10,
                              headers={"Content-Type": content_type})

    def close(self):
        """Send the close packet (if the session is still there) and drop
        the HTTP connection."""
        try:
            self.post("1")
        except Exception:
            pass
        self.http.close()

    def close_while_polling(self):
        """POST the close packet (on a connection of its own) while a GET
        waits; the GET's (status, body). The GET is given 0.3 s to reach
        the server first."""
        result = {}

        def poll():
            reply = self.get()
            result["poll"] = (reply.status_code, reply.text)

        waiting = threading.Thread(target=poll)
        waiting.start()
        time.sleep(0.3)
        closer = RawPolling(self.base_url, self.path)
        closer.sid = self.sid
        assert closer.post("1").status_code == 200
        waiting.join(10)
        return result.get("poll")

    def get(self, timeout=10):
        return self.http.get(self.url(), timeout=timeout)

    def packets(self, timeout=10):
        """The packets of one poll."""
        reply = self.get(timeout)
        reply.raise_for_status()
        return reply.text.split(SEP)

    def connect_socketio(self, namespace="/"):
        """Socket.IO CONNECT; returns the socket.io sid."""
        prefix = "" if namespace == "/" else namespace + ","
        assert self.post("40" + prefix).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for pkt in self.packets():
                if pkt.startswith("40" + prefix):
                    return json.loads(pkt[2 + len(prefix):])["sid"]
        raise AssertionError("no CONNECT reply")

    def emit(self, event, data):
        return self.post("42" + json.dumps([event, data]))

    def pending_get(self, host="127.0.0.1", port=None):
        """A long-poll GET sent on a raw TCP connection and left waiting;
        close the returned socket to hang up."""
        if port is None:
            port = int(self.base_url.rsplit(":", 1)[1])
        sock = socket.create_connection((host, port), timeout=10)
        target = self.url().split(self.base_url, 1)[1]
        sock.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Connection: keep-alive\r\n\r\n").encode())
        return sock
