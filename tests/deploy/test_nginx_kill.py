"""kill -9 of one process behind nginx: its clients come back on the other.

Its own module, so its own stack (tests/deploy/test_nginx.py): after the
kill, nginx keeps the restarted process marked failed for a while and
routes its clients to the other one, which a test sharing the stack and
run later in random order would see."""

import signal

from tests.deploy.test_nginx import (  # noqa: F401 (fixtures)
    address_for, clients, join, stack)


def test_process_killed_its_clients_come_back_on_the_other(stack, clients):
    dead = stack.processes[0]
    dave = clients.connect("dave", address_for(0), ["websocket"])
    erin = clients.connect("erin", address_for(1), ["polling"])
    join(clients, "dave", "kill")
    join(clients, "erin", "kill")
    clients.wait("erin", "user-connected", lambda d: d["id"] == dave)
    mark = clients.mark()
    dead.proc.send_signal(signal.SIGKILL)
    dead.proc.wait(10)
    try:
        # dave's client reconnects by itself; nginx sends it to the
        # process still up, where it joins its room again.
        back = clients.wait("dave", "connect", after=mark)["data"]["sid"]
        clients.wait("dave", "join-ok", after=mark)
        clients.wait("erin", "user-connected", lambda d: d["id"] == back,
                     after=mark)
        clients.emit("erin", "#rtcio:message",
                     {"target": back, "data": {"restart": "ice"}})
        got = clients.wait("dave", "#rtcio:message", after=mark)["data"]
        assert got["source"] == erin
        # The dead process's member leaves the room (fleet heartbeat).
        clients.wait("erin", "user-disconnected", lambda d: d["id"] == dave,
                     after=mark)
    finally:
        dead.start()
