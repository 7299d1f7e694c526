"""Noticing that a client hung up while its long-polling GET waits.

A polling client always keeps one GET open; python-engineio answers it when
there is something to send, and otherwise blocks on the session's queue
without looking at the connection. When a tab closes, its TCP connection
closes, but nothing reads from it, so python-engineio notices only at the
ping timeout (25 s + 20 s by default). Node's engine.io ends the session as
soon as that request's connection closes.

Here the client socket of a waiting GET is watched for readability with the
serving mode's own event loop (nothing reads from it while the GET waits:
browsers do not pipeline XHR polls). When it becomes readable, the first
byte is *peeked* (``MSG_PEEK``, so a request's bytes are never consumed):
end-of-file or a reset means the peer hung up; data means something else
(pipelining), and watching stops. The watch is cancelled when the GET
returns, before the response is written, so a normal poll never trips it.

One watcher per serving mode, picked by python-engineio's ``async_mode``:

- ``eventlet``: a READ listener on eventlet's hub (no greenthread per poll);
- ``gevent``: an ``io`` watcher on gevent's loop;
- ``threading`` (Werkzeug threads, ``gunicorn -k gthread``): one daemon
  thread with a selector for all waiting polls of the process.
"""

import logging
import selectors
import socket
import threading
from typing import Any, Callable, Dict, Optional

logger = logging.getLogger("rtcio_flask")

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Unix
    fcntl = None  # type: ignore[assignment]

import _socket

#: Called (from the event loop or the watcher thread) when the peer hung
#: up; it must not block: start a task for any real work.
OnHangup = Callable[[], None]
#: Stops a watch; safe to call more than once and after it fired.
Cancel = Callable[[], None]


def _noop() -> None:
    return None


def peer_hung_up(fd: int) -> bool:
    """True when the connection on ``fd`` was closed or reset by the peer;
    False when data is waiting or nothing is (the peek consumes nothing).

    The peek goes through a plain C-level socket object on the same
    descriptor (the green socket of eventlet or gevent would wait instead of
    failing with EAGAIN), detached afterwards so it never closes ``fd``; the
    descriptor's blocking flag is restored should that object change it.
    """
    flags = fcntl.fcntl(fd, fcntl.F_GETFL) if fcntl is not None else None
    try:
        probe = _socket.socket(fileno=fd)
    except OSError:
        return True  # no longer a socket: closed under us
    try:
        data = probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # ECONNRESET and friends
    finally:
        probe.detach()
        if flags is not None and fcntl.fcntl(fd, fcntl.F_GETFL) != flags:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    return data == b""


class HangupWatcher:
    """Watches client sockets for a hang-up; one per serving mode."""

    def watch(self, sock: Any, on_hangup: OnHangup) -> Cancel:
        """Call ``on_hangup()`` once if the peer of ``sock`` hangs up before
        the returned cancel function is called."""
        raise NotImplementedError


class EventletWatcher(HangupWatcher):
    """A READ listener on eventlet's hub, called in the hub's greenlet."""

    def watch(self, sock: Any, on_hangup: OnHangup) -> Cancel:
        from eventlet import hubs

        hub = hubs.get_hub()
        fd = sock.fileno()
        slot: Dict[str, Any] = {}

        def readable(fileno: int) -> None:
            listener = slot.pop("listener", None)
            if listener is None:
                return
            hub.remove(listener)
            if peer_hung_up(fd):
                on_hangup()

        def closed(*args: Any) -> None:
            slot.pop("listener", None)  # the hub dropped it already

        try:
            slot["listener"] = hub.add(hub.READ, fd, readable, closed, None)
        except RuntimeError:
            # Another greenthread reads this socket (eventlet refuses a
            # second reader): nothing to watch safely.
            return _noop

        def cancel() -> None:
            listener = slot.pop("listener", None)
            if listener is not None:
                hub.remove(listener)

        return cancel


class GeventWatcher(HangupWatcher):
    """An ``io`` watcher on gevent's loop, called in the hub's greenlet."""

    def watch(self, sock: Any, on_hangup: OnHangup) -> Cancel:
        import gevent

        fd = sock.fileno()
        watcher = gevent.get_hub().loop.io(fd, 1)
        slot = {"live": True}

        def stop() -> None:
            if slot.pop("live", False):
                watcher.stop()
                watcher.close()

        def readable() -> None:
            if not slot.get("live"):
                return
            stop()
            if peer_hung_up(fd):
                on_hangup()

        watcher.start(readable)
        return stop


class _Watch:
    __slots__ = ("fd", "on_hangup", "done")

    def __init__(self, fd: int, on_hangup: OnHangup) -> None:
        self.fd = fd
        self.on_hangup = on_hangup
        self.done = False


class ThreadWatcher(HangupWatcher):
    """One daemon thread and a selector for every waiting poll of the
    process (threaded servers: a thread per request is already blocked in
    the GET, so a second one per poll would double them).

    The lock keeps a watch from firing after its cancel returned: the
    descriptor may be reused for the connection's next request then.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._selector: Optional[selectors.BaseSelector] = None
        self._wake_r: Optional[socket.socket] = None
        self._wake_w: Optional[socket.socket] = None

    def _start(self) -> selectors.BaseSelector:
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._selector.register(self._wake_r, selectors.EVENT_READ,
                                    None)
            thread = threading.Thread(target=self._run,
                                      name="rtcio-poll-hangup", daemon=True)
            thread.start()
        return self._selector

    def _wake(self) -> None:
        try:
            assert self._wake_w is not None
            self._wake_w.send(b"\0")
        except OSError:  # the buffer is full: the thread is awake anyway
            pass

    def watch(self, sock: Any, on_hangup: OnHangup) -> Cancel:
        fd = sock.fileno()
        entry = _Watch(fd, on_hangup)
        with self._lock:
            selector = self._start()
            try:
                selector.register(fd, selectors.EVENT_READ, entry)
            except (KeyError, ValueError, OSError):
                return _noop  # registered twice, or closed already
        self._wake()  # select()-based selectors only see fds on re-entry

        def cancel() -> None:
            with self._lock:
                if entry.done:
                    return
                entry.done = True
                self._forget(entry)

        return cancel

    def _forget(self, entry: _Watch) -> None:
        assert self._selector is not None
        try:
            key = self._selector.get_key(entry.fd)
            if key.data is entry:
                self._selector.unregister(entry.fd)
        except (KeyError, ValueError, OSError):
            pass

    def _run(self) -> None:
        assert self._selector is not None and self._wake_r is not None
        while True:
            try:
                events = self._selector.select()
            except OSError:  # a descriptor closed under select()
                logger.debug("rtcio: hang-up watcher select failed",
                             exc_info=True)
                continue
            fired = []
            with self._lock:
                for key, _mask in events:
                    entry = key.data
                    if entry is None:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except OSError:
                            pass
                        continue
                    if entry.done:
                        continue
                    entry.done = True
                    self._forget(entry)
                    if peer_hung_up(entry.fd):
                        fired.append(entry.on_hangup)
            for on_hangup in fired:
                try:
                    on_hangup()
                except Exception:  # pragma: no cover - keep watching
                    logger.exception("rtcio: hang-up callback failed")


_THREAD_WATCHER: Optional[ThreadWatcher] = None


def watcher_for(async_mode: str) -> Optional[HangupWatcher]:
    """The watcher for python-engineio's ``async_mode``, or None where the
    serving mode has none (the ping timeout then ends the session)."""
    global _THREAD_WATCHER
    if async_mode == "eventlet":
        return EventletWatcher()
    if async_mode == "gevent":
        return GeventWatcher()
    if async_mode == "threading":
        if _THREAD_WATCHER is None:
            _THREAD_WATCHER = ThreadWatcher()
        return _THREAD_WATCHER
    return None
