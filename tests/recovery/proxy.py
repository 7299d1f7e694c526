"""A TCP proxy on 127.0.0.1 that can cut every connection at once with no
close frame (an RST on both sides, as a Wi-Fi hand-over or a NAT losing
its mapping looks to each end), and refuse new ones for a while."""

import socket
import struct
import threading
import weakref
from typing import List, Optional, Tuple


def _abort(sock: socket.socket) -> None:
    """Close with an RST. ``SHUT_RD`` first wakes a thread blocked in
    ``recv`` on it (sending nothing); otherwise Linux would keep the
    connection alive until that ``recv`` returned."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class CuttingProxy:
    """``127.0.0.1:<port>`` -> ``upstream``, one thread pair per
    connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self._pairs: List[Tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._closed = False
        self.accepted = 0
        self._cut: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()
        #: Connections gone silent (:meth:`freeze`), kept open.
        self._frozen: List[Tuple[socket.socket, socket.socket]] = []
        self._silent: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                _abort(client)  # "no network": refused at once
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _abort(client)
                continue
            server.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if src in self._silent:
                    continue  # frozen: swallowed, nothing goes on
                dst.sendall(data)
        except OSError:
            pass
        if src in self._cut:
            return  # cut: no FIN to the other side
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self, refuse: bool = True) -> int:
        """Abort every connection (RST both ways); with ``refuse``, new
        connections are refused until :meth:`resume`. Returns how many
        connections were cut."""
        if refuse:
            self._open.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            self._cut.update((client, server))
        for client, server in pairs:
            _abort(client)
            _abort(server)
        return len(pairs)

    def freeze(self) -> int:
        """Make every open connection silent, with no close and no reset
        (a failover or a NAT that forgot the connection, as each end sees
        it): bytes either way are swallowed, the sockets stay open. New
        connections go through as before. Returns how many went silent."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self._frozen.extend(pairs)
        for client, server in pairs:
            self._silent.update((client, server))
        return len(pairs)

    def resume(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        with self._lock:
            frozen, self._frozen = self._frozen, []
        for client, server in frozen:
            _abort(client)
            _abort(server)
        try:
            self.listener.close()
        except OSError:
            pass
