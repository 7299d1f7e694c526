"""Run the hang-up watcher of one serving mode on socket pairs and print
what happened as JSON: ``python -m tests.network.watch_probe eventlet``.

A subprocess, so eventlet's and gevent's hubs never start inside pytest.
"""

import json
import socket
import sys
import time


def main(mode):
    if mode == "eventlet":
        import eventlet
        sleep = eventlet.sleep
    elif mode == "gevent":
        import gevent
        sleep = gevent.sleep
    else:
        sleep = time.sleep
    from rtcio_flask.transport import hangup

    watcher = hangup.watcher_for(mode)
    result = {}

    def settle():
        for _ in range(20):
            sleep(0.01)

    # 1. A quiet connection, then cancel (a poll that completed normally).
    server, client = socket.socketpair()
    fired = []
    cancel = watcher.watch(server, lambda: fired.append("quiet"))
    settle()
    cancel()
    cancel()  # twice is harmless
    client.close()  # after the cancel: must not fire any more
    settle()
    result["quiet_then_cancelled"] = fired
    server.close()

    # 2. The peer sends bytes: not a hang-up, and nothing is consumed.
    server, client = socket.socketpair()
    fired = []
    cancel = watcher.watch(server, lambda: fired.append("data"))
    client.sendall(b"GET / HTTP/1.1\r\n")
    settle()
    cancel()
    server.settimeout(2)
    result["data_fired"] = fired
    result["data_still_there"] = server.recv(100).decode()
    client.close()
    server.close()

    # 3. The peer hangs up: fires once.
    server, client = socket.socketpair()
    fired = []
    watcher.watch(server, lambda: fired.append("hangup"))
    client.close()
    deadline = time.monotonic() + 5
    while not fired and time.monotonic() < deadline:
        sleep(0.01)
    settle()
    result["hangup_fired"] = fired
    server.close()

    # 4. Many watches cancelled leave nothing registered.
    pairs = [socket.socketpair() for _ in range(50)]
    if mode == "gevent":
        loop = gevent.get_hub().loop
        before = loop.activecnt
    cancels = [watcher.watch(a, lambda: None) for a, _ in pairs]
    for cancel in cancels:
        cancel()
    if mode == "eventlet":
        from eventlet import hubs
        hub = hubs.get_hub()
        result["left_registered"] = sum(
            1 for a, _ in pairs if a.fileno() in hub.listeners[hub.READ])
    elif mode == "gevent":
        result["left_registered"] = loop.activecnt - before
    else:
        keys = watcher._selector.get_map()
        result["left_registered"] = sum(
            1 for a, _ in pairs if a.fileno() in keys)
    for a, b in pairs:
        a.close()
        b.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
