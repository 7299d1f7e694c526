"""A raw Engine.IO / socket.io websocket (websocket-client) for
malformed-packet tests, with no socket.io client library in between to tidy
up what we send (raw polling: tests/support/raw_eio.py)."""

import json
import socket
import time

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
