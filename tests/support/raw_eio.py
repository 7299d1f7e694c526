"""A bare Engine.IO v4 polling client over ``requests`` and raw sockets,
for tests that must do what a library client never does: leave a
long-poll waiting and hang up, POST a close packet, send odd methods.
"""

import json
import socket
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
