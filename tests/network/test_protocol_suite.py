"""The 32 cases of socket.io's protocol test suite
(socketio/socket.io-protocol, test-suite/test-suite.js), one test each,
written here in our own words, against a live RTCIO server: eventlet's WSGI server and gunicorn -k gevent.

Like the suite, the tests speak raw HTTP and raw websockets (requests and
websocket-client), to the app the suite expects (tests/apps/protocol_app.py:
``auth`` sent on connect, ``message`` echoed as ``message-back``,
``message-with-ack`` acknowledged, a ``/custom`` namespace).

Two servers per mode: ``suite_server`` has the suite's heartbeat (300 ms
interval, 200 ms timeout) for the cases about the handshake and the ping
timeout; ``steady_server`` pings every 300 ms too but waits 5 s for a pong,
so that a busy machine cannot end a session in the middle of a case that is
not about timeouts (the suite's client never answers a ping either).

docs/protocol-fidelity.rst maps each case to its test.
"""

import json
import time
from contextlib import contextmanager

import pytest
import requests
import websocket

from tests.support.gunicorn import gunicorn_argv
from tests.support.raw_eio import (RawPolling, eio_url, recv_skipping_pings,
                                   wait_closed, ws_url)
from tests.support.servers import LiveServer, serve_app

APP = "tests.apps.protocol_app:create_app"
SUITE = {"TEST_PING_INTERVAL": "0.3", "TEST_PING_TIMEOUT": "0.2"}
STEADY = {"TEST_PING_INTERVAL": "0.3", "TEST_PING_TIMEOUT": "5"}
HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout",
                  "maxPayload"}


def _serve(mode, env):
    if mode == "eventlet":
        return serve_app(APP, "eventlet", env=env, watch=True)
    return LiveServer(gunicorn_argv(APP + "()", "gevent"), env=env,
                      watch=True)


@pytest.fixture(scope="module", params=["eventlet", "gunicorn-gevent"])
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def suite_server(mode):
    with _serve(mode, SUITE) as live:
        yield live


@pytest.fixture(scope="module")
def steady_server(mode):
    with _serve(mode, STEADY) as live:
        yield live


@contextmanager
def open_ws(server, **query):
    """A raw websocket to ``server``'s Engine.IO, closed at the end."""
    ws = websocket.create_connection(ws_url(server, **query), timeout=10)
    try:
        yield ws
    finally:
        ws.close()


def engine_open(ws):
    """The Engine.IO open packet the server sends first, decoded."""
    packet = ws.recv()
    assert packet.startswith("0"), packet
    return json.loads(packet[1:])


@contextmanager
def socketio_connected(server):
    """A websocket connected to socket.io's main namespace (its CONNECT
    reply and the ``auth`` event read), as the suite's
    initSocketIOConnection."""
    with open_ws(server) as ws:
        engine_open(ws)
        ws.send("40")
        assert recv_skipping_pings(ws).startswith('40{"sid":')
        assert recv_skipping_pings(ws) == '42["auth",{}]'
        yield ws


def polling_handshake(server):
    poller = RawPolling(server.url)
    poller.handshake()
    return poller


def assert_refused(url):
    """A websocket handshake the server answers with 400, not 101."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=10)
    assert refused.value.status_code == 400


# -- Engine.IO: handshake -----------------------------------------------------

def test_polling_opens_a_session(suite_server):
    reply = requests.get(eio_url(suite_server, transport="polling"),
                         timeout=10)
    assert reply.status_code == 200
    assert reply.text.startswith("0"), reply.text
    opened = json.loads(reply.text[1:])
    assert set(opened) == HANDSHAKE_KEYS
    assert isinstance(opened["sid"], str)
    assert opened["upgrades"] == ["websocket"]
    assert (opened["pingInterval"], opened["pingTimeout"]) == (300, 200)
    assert opened["maxPayload"] == 1000000


def test_polling_refuses_a_bad_eio(suite_server):
    base = suite_server.url + "/socket.io/?"
    for query in ("transport=polling", "EIO=abc&transport=polling"):
        reply = requests.get(base + query, timeout=10)
        assert reply.status_code == 400, (query, reply.text)


def test_polling_refuses_a_bad_transport(suite_server):
    base = suite_server.url + "/socket.io/?"
    for query in ("EIO=4", "EIO=4&transport=abc"):
        reply = requests.get(base + query, timeout=10)
        assert reply.status_code == 400, (query, reply.text)


def test_polling_refuses_a_bad_method(suite_server):
    url = eio_url(suite_server, transport="polling")
    # A POST with no session, then a method Engine.IO never uses.
    for method in ("POST", "PUT"):
        reply = requests.request(method, url, timeout=10)
        assert reply.status_code == 400, (method, reply.text)


def test_websocket_opens_a_session(suite_server):
    with open_ws(suite_server) as ws:
        opened = engine_open(ws)
        assert set(opened) == HANDSHAKE_KEYS
        assert isinstance(opened["sid"], str)
        assert opened["upgrades"] == []
        assert (opened["pingInterval"], opened["pingTimeout"]) == (300, 200)
        assert opened["maxPayload"] == 1000000


def test_websocket_refuses_a_bad_eio(suite_server):
    ws_base = suite_server.url.replace("http://", "ws://") + "/socket.io/?"
    assert_refused(ws_base + "transport=websocket")
    assert_refused(ws_base + "EIO=abc&transport=websocket")


def test_websocket_refuses_a_bad_transport(suite_server):
    ws_base = suite_server.url.replace("http://", "ws://") + "/socket.io/?"
    assert_refused(ws_base + "EIO=4")
    assert_refused(ws_base + "EIO=4&transport=abc")


# -- Engine.IO: heartbeat -----------------------------------------------------

def test_polling_pings_and_takes_pongs(steady_server):
    poller = polling_handshake(steady_server)
    for _ in range(3):
        ping = poller.get()
        assert (ping.status_code, ping.text) == (200, "2")
        assert poller.post("3").status_code == 200


def test_polling_session_ends_at_the_ping_timeout(suite_server):
    poller = polling_handshake(suite_server)
    # No request until the first ping (300 ms) and its timeout (200 ms)
    # have passed: the server answers 400, the session is gone.
    time.sleep(0.3 + 0.2)
    reply = poller.get()
    if reply.status_code == 200:
        # The server's ping left late (a busy machine; Node's timers can be
        # late too), and its timeout counts from then: it is the answer.
        assert reply.text == "2"
        time.sleep(0.2 + 0.1)
        reply = poller.get()
    assert reply.status_code == 400, reply.text


def test_websocket_pings_and_takes_pongs(steady_server):
    with open_ws(steady_server) as ws:
        engine_open(ws)
        for _ in range(3):
            assert ws.recv() == "2"
            ws.send("3")


def test_websocket_session_ends_at_the_ping_timeout(suite_server):
    with open_ws(suite_server) as ws:
        engine_open(ws)
        # Pings are left unanswered: the server ends the websocket.
        wait_closed(ws, pong=False)


# -- Engine.IO: close ---------------------------------------------------------

def test_polling_close_packet_ends_the_session(steady_server):
    poller = polling_handshake(steady_server)
    # Take the first ping and leave it unanswered: the server sends no
    # other packet (the next ping waits for the pong), so the poll below
    # can only end with the close.
    assert poller.get().text == "2"
    assert poller.close_while_polling() == (200, "6")
    assert poller.get().status_code == 400


def test_websocket_close_packet_ends_the_session(steady_server):
    with open_ws(steady_server) as ws:
        engine_open(ws)
        ws.send("1")
        wait_closed(ws)


# -- Engine.IO: upgrade -------------------------------------------------------

@contextmanager
def upgraded(server):
    """A polling session upgraded to a websocket (probe, then upgrade):
    its RawPolling and the websocket."""
    poller = polling_handshake(server)
    with open_ws(server, sid=poller.sid) as ws:
        ws.send("2probe")
        assert recv_skipping_pings(ws) == "3probe"
        ws.send("5")
        yield poller, ws


def test_upgrade_from_polling_to_websocket(steady_server):
    with upgraded(steady_server) as (_, ws):
        # The websocket carries the session now.
        ws.send("40")
        assert recv_skipping_pings(ws).startswith('40{"sid":')


def test_polling_after_the_upgrade_is_refused(steady_server):
    with upgraded(steady_server) as (poller, _):
        assert poller.get().status_code == 400


def test_second_websocket_after_the_upgrade_is_closed(steady_server):
    with upgraded(steady_server) as (poller, ws):
        with open_ws(steady_server, sid=poller.sid) as second:
            assert wait_closed(second) == 1000
        ws.send("40")
        assert recv_skipping_pings(ws).startswith('40{"sid":')


# -- Socket.IO: connect -------------------------------------------------------

@pytest.mark.parametrize("namespace,auth", [
    ("", None), ("", {"token": "123"}),
    ("/custom,", None), ("/custom,", {"token": "abc"})],
    ids=["main", "main-with-payload", "custom", "custom-with-payload"])
def test_connect_to_a_namespace(steady_server, namespace, auth):
    with open_ws(steady_server) as ws:
        engine_open(ws)
        ws.send("40" + namespace + (json.dumps(auth) if auth else ""))
        reply = recv_skipping_pings(ws)
        assert reply.startswith("40" + namespace), reply
        handshake = json.loads(reply[2 + len(namespace):])
        assert set(handshake) == {"sid"} and isinstance(handshake["sid"], str)
        assert recv_skipping_pings(ws) == \
            "42" + namespace + json.dumps(["auth", auth or {}],
                                          separators=(",", ":"))


def test_connect_to_an_unknown_namespace_is_refused(steady_server):
    with open_ws(steady_server) as ws:
        engine_open(ws)
        ws.send("40/random")  # no comma, as the suite sends it
        assert recv_skipping_pings(ws) == \
            '44/random,{"message":"Invalid namespace"}'


def test_an_invalid_connect_closes_the_connection(steady_server):
    with open_ws(steady_server) as ws:
        engine_open(ws)
        ws.send("4abc")
        wait_closed(ws)


def test_no_connect_closes_the_connection(suite_server):
    with open_ws(suite_server) as ws:
        engine_open(ws)
        wait_closed(ws, pong=False)  # nothing sent, pings unanswered


# -- Socket.IO: disconnect ----------------------------------------------------

def test_disconnect_from_the_main_namespace(steady_server):
    with socketio_connected(steady_server) as ws:
        ws.send("41")
        # The Engine.IO connection stays: the next packet is a ping.
        assert ws.recv() == "2"


def test_connect_then_disconnect_from_a_custom_namespace(steady_server):
    with socketio_connected(steady_server) as ws:
        ws.send("40/custom")
        assert recv_skipping_pings(ws).startswith('40/custom,{"sid":')
        assert recv_skipping_pings(ws) == '42/custom,["auth",{}]'
        ws.send("41/custom")
        ws.send('42["message","message to main namespace"]')
        assert recv_skipping_pings(ws) == \
            '42["message-back","message to main namespace"]'


# -- Socket.IO: messages ------------------------------------------------------

def test_plain_text_event(steady_server):
    with socketio_connected(steady_server) as ws:
        ws.send('42["message",1,"2",{"3":[true]}]')
        assert recv_skipping_pings(ws) == \
            '42["message-back",1,"2",{"3":[true]}]'


PLACEHOLDERS = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}'


def send_two_attachments(ws, header):
    ws.send(header)
    ws.send_binary(bytes([1, 2, 3]))
    ws.send_binary(bytes([4, 5, 6]))


def test_binary_event(steady_server):
    with socketio_connected(steady_server) as ws:
        send_two_attachments(ws, f'452-["message",{PLACEHOLDERS}]')
        assert recv_skipping_pings(ws) == \
            f'452-["message-back",{PLACEHOLDERS}]'
        assert recv_skipping_pings(ws) == bytes([1, 2, 3])
        assert recv_skipping_pings(ws) == bytes([4, 5, 6])


def test_plain_text_event_with_an_ack(steady_server):
    with socketio_connected(steady_server) as ws:
        ws.send('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert recv_skipping_pings(ws) == '43456[1,"2",{"3":[false]}]'


def test_binary_event_with_an_ack(steady_server):
    with socketio_connected(steady_server) as ws:
        send_two_attachments(ws, f'452-789["message-with-ack",{PLACEHOLDERS}]')
        assert recv_skipping_pings(ws) == f'462-789[{PLACEHOLDERS}]'
        assert recv_skipping_pings(ws) == bytes([1, 2, 3])
        assert recv_skipping_pings(ws) == bytes([4, 5, 6])


@pytest.mark.parametrize("packet", [
    "4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]'],
    ids=["unknown-packet-type", "payload-not-an-array", "bad-ack-id"])
def test_a_malformed_packet_closes_the_connection(steady_server, packet):
    with socketio_connected(steady_server) as ws:
        ws.send(packet)
        wait_closed(ws)
