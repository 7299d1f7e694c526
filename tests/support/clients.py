"""Real python-socketio clients that record what they receive, so a test
can wait for an event instead of sleeping."""

import threading
import time

import socketio


class Recorder:
    """A ``socketio.Client`` that keeps every event it receives.

    ``ordered=True`` for a test that checks the order events arrive in:
    python-engineio's client runs each message's handler in a thread of
    its own, so without it two events that arrived back to back may be
    recorded the other way round (seen: 1 envelope in 150 under load).
    Handlers then run in the client's reading thread, so one must not
    wait for another reply (``call``) there."""

    def __init__(self, events=(), namespace="/", ordered=False,
                 **client_options):
        client_options.setdefault("reconnection", False)
        self.client = socketio.Client(**client_options)
        if ordered:
            _in_arrival_order(self.client)
        self.namespace = namespace
        self.received = []
        self._cond = threading.Condition()
        self.connect_error = None

        @self.client.on("connect_error", namespace=namespace)
        def _on_error(data):
            with self._cond:
                self.connect_error = data
                self._cond.notify_all()

        self.client.on("*", self._record, namespace=namespace)

    def _record(self, event, *args):
        with self._cond:
            self.received.append((event, args[0] if len(args) == 1 else args))
            self._cond.notify_all()

    def connect(self, url, transports=("websocket",), **kwargs):
        self.client.connect(url, transports=list(transports),
                            namespaces=[self.namespace], wait_timeout=10,
                            **kwargs)
        return self

    @property
    def sid(self):
        return self.client.get_sid(self.namespace)

    def emit(self, event, data=None, callback=None):
        self.client.emit(event, data, namespace=self.namespace,
                         callback=callback)

    def call(self, event, data=None, timeout=5):
        return self.client.call(event, data, namespace=self.namespace,
                                timeout=timeout)

    def events(self, name):
        with self._cond:
            return [payload for event, payload in self.received
                    if event == name]

    def wait_for(self, name, count=1, timeout=5.0):
        """Wait until ``count`` events called ``name`` arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [p for e, p in self.received if e == name]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"waited {timeout}s for {count} x {name!r}; got "
                        f"{self.received!r}")
                self._cond.wait(left)

    def disconnect(self):
        if self.client.connected:
            drain(self.client)
            self.client.disconnect()


def _in_arrival_order(client):
    """Run ``client``'s message handlers in its reading thread, in the
    order the messages came (python-engineio's client starts a thread per
    message; ``_trigger_event`` is where it decides, on every release the
    tests use)."""
    eio = client.eio
    trigger = eio._trigger_event

    def inline(event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return trigger(event, *args, **kwargs)

    eio._trigger_event = inline


def drain(client, timeout=5.0):
    """Wait until ``client`` has sent everything it queued.

    python-engineio's client drops what is still queued when ``disconnect()``
    finds its polling write loop between two POSTs (the loop runs only while
    the state is "connected"): the server then never sees the DISCONNECT,
    and the socket looks dropped, not closed, for a whole ping interval. A
    POST whose packets the server already relayed may still be unanswered
    when a test disconnects, so wait for the queue first (bounded).
    """
    queue = getattr(client.eio, "queue", None)
    deadline = time.monotonic() + timeout
    while queue is not None and queue.unfinished_tasks and \
            time.monotonic() < deadline:
        time.sleep(0.01)
