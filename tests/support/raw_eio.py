"""A bare Engine.IO v4 polling client over ``requests`` and raw sockets,
for tests that must do what a library client never does: leave a
long-poll waiting and hang up, POST a close packet, send odd methods.
"""

import json
import socket
import time

import requests

SEP = "\x1e"


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
