"""Engine.IO polling spoken through Flask's test client, so handshakes run
through the same WSGI stack a real server would call."""

import json

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def handshake(client, origin=None, path=HANDSHAKE, **headers):
    if origin is not None:
        headers["Origin"] = origin
    return client.get(path, headers=headers)


def open_session(client, origin=None, namespace="/", auth=None):
    """Handshake, then connect to a namespace; returns (eio_sid, reply)."""
    resp = handshake(client, origin)
    assert resp.status_code == 200, resp.data
    eio_sid = json.loads(resp.data[1:])["sid"]
    packet = "40" + ("" if namespace == "/" else namespace + ",")
    if auth is not None:
        packet += json.dumps(auth)
    headers = {"Origin": origin} if origin else {}
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    post = client.post(url, data=packet, headers=headers)
    assert post.status_code == 200, post.data
    reply = client.get(url, headers=headers)
    return eio_sid, reply.data.decode()


def acao(resp):
    return resp.headers.getlist("Access-Control-Allow-Origin")
