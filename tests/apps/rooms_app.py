"""A Flask app with the built-in rooms, for live tests.

Settings come from the environment so each test module starts the variant
it needs: ``TEST_ROOMS_MAX_MEMBERS``, ``TEST_ROOMS_MAX_ROOMS``,
``TEST_ROOMS_RELAY_SCOPE``, ``TEST_ROOMS_STORE_URL``,
``TEST_ROOMS_NAMESPACE``.

Hooks: ``authorize`` refuses ``auth={"token": "bad"}`` with a message,
``{"token": "no"}`` by returning False, and ``{"token": "needs-login"}``
without a Flask session; ``authorize_join`` keeps rooms named
``staff-*`` for sessions logged in with ``/login?staff=1`` and names members
after their login. ``api-*`` events expose ``rtcio.rooms`` so tests can
drive the server-side API through a real server.
"""

import os

import flask

from rtcio_flask import RTCIO, AccessDenied, RoomsConfig

rtcio = RTCIO()


@rtcio.authorize
def check_token(auth):
    token = (auth or {}).get("token") if isinstance(auth, dict) else None
    if token == "bad":
        raise AccessDenied("bad token, log in again")
    if token == "no":
        return False
    if token == "needs-login" and "user" not in flask.session:
        raise AccessDenied(f"log in first ({flask.request.sid} has no "
                           f"session)")
    return None


@rtcio.authorize_join
def staff_rooms(room_id, name):
    if room_id.startswith("staff-") and not flask.session.get("staff"):
        raise AccessDenied("staff only")
    if room_id == "hook-false":
        return False
    if room_id == "hook-crash":
        raise RuntimeError("join hook failure on purpose")
    return flask.session.get("user")


@rtcio.on("api-list")
def api_list(sid, data=None):
    return rtcio.rooms.list()


@rtcio.on("api-members")
def api_members(sid, room_id):
    return rtcio.rooms.members(room_id)


@rtcio.on("api-member")
def api_member(sid, data):
    return rtcio.rooms.member(data["roomId"], data["id"])


@rtcio.on("api-kick")
def api_kick(sid, data):
    return rtcio.rooms.kick(data["roomId"], data["id"], "bye")


@rtcio.on("api-emit")
def api_emit(sid, data):
    rtcio.rooms.emit(data["roomId"], "announcement", {"text": data["text"]})
    return True


@rtcio.on("api-purge")
def api_purge(sid, server_id):
    return rtcio.rooms.purge_server(server_id)


@rtcio.on("api-server-id")
def api_server_id(sid, data=None):
    return rtcio.rooms.config.server_id


@rtcio.on("join-room")
def after_join(sid, data=None):
    # The app's own handler still runs after a successful built-in join.
    flask.g.rooms_seen = True
    return None


def create_app():
    app = flask.Flask("rooms_app")
    app.secret_key = "rooms-test-secret"

    @app.get("/login")
    def login():
        flask.session["user"] = flask.request.args.get("user", "alice")
        flask.session["staff"] = flask.request.args.get("staff") == "1"
        return {"ok": True}

    env = os.environ
    config = RoomsConfig(
        max_members=int(env.get("TEST_ROOMS_MAX_MEMBERS", 50)),
        max_rooms_per_socket=int(env.get("TEST_ROOMS_MAX_ROOMS", 10)),
        relay_scope=env.get("TEST_ROOMS_RELAY_SCOPE", "room"),
        store_url=env.get("TEST_ROOMS_STORE_URL") or None,
        namespace=env.get("TEST_ROOMS_NAMESPACE", "/"),
    )
    rtcio.init_app(app, rooms=config,
                   protocol_namespaces=sorted({"/", config.namespace}))
    return app
