"""Raw Engine.IO / socket.io speakers for malformed-packet tests: a
websocket (websocket-client) and polling requests (requests), with no
socket.io client library in between to tidy up what we send."""

import json
import socket
import time

import requests
import websocket


class RawSocket:
    """An Engine.IO v4 websocket session, opened and joined to ``/``."""

    def __init__(self, base_url, connect_namespace=True, timeout=5,
                 receive_buffer=None):
        """``receive_buffer``: the socket's SO_RCVBUF in bytes, small for a
        client whose unread data should back up on the server."""
        url = base_url.replace("http://", "ws://") + \
            "/socket.io/?EIO=4&transport=websocket"
        options = [] if receive_buffer is None else [
            (socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)]
        self.ws = websocket.create_connection(url, timeout=timeout,
                                              suppress_origin=True,
                                              sockopt=options)
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

    def recv_until(self, wanted, timeout=5.0):
        """Messages until one matches; answers Engine.IO pings meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            message = self.ws.recv()
            if message == "2":
                self.ws.send("3")
                continue
            if wanted(message):
                return message
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

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


class RawPolling:
    """An Engine.IO v4 polling session driven by plain HTTP requests."""

    def __init__(self, base_url, timeout=5):
        self.base = base_url + "/socket.io/?EIO=4&transport=polling"
        self.http = requests.Session()
        self.timeout = timeout
        reply = self.http.get(self.base, timeout=timeout)
        assert reply.text.startswith("0{"), reply.text
        self.sid = json.loads(reply.text[1:])["sid"]
        self.url = self.base + "&sid=" + self.sid

    def post(self, body, content_type="text/plain;charset=UTF-8"):
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        return self.http.post(self.url, data=body, timeout=self.timeout,
                              headers={"Content-Type": content_type})

    def get(self):
        return self.http.get(self.url, timeout=self.timeout)

    def close(self):
        try:
            self.post("1")
        except Exception:
            pass
        self.http.close()
