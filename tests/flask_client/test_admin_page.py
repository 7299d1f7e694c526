"""The Admin UI's page as the extension serves it, through Flask's test
client: where it is (``ui_path``, ``RTCIO_ADMIN_UI_PATH``, none), what the
login form is told, and the start-up refusals."""

import json

import flask
import pytest

from rtcio_flask import RTCIO
from tests.flask_client.polling import handshake, open_session

LOGIN = {"username": "ops", "password": "s3cret"}


@pytest.fixture(autouse=True)
def engineio_left_as_found():
    """The admin instrumentation patches python-engineio's Socket class
    for every server in the process; the other tests of this process must
    not inherit that from these in-process apps. RTCIO's own wrappers of
    that class (``patch_engineio_sockets``, installed once per process)
    go with it when a test here installed them, so their once-only flag is
    put back too: else a later test's app found the flag set and the
    wrappers gone (before python-engineio 4.11 its disconnect handlers got
    ``server disconnect`` for a client's own close)."""
    from engineio.socket import Socket

    from rtcio_flask.transport.compat import engineio as compat_engineio

    saved = dict(vars(Socket))
    patched = compat_engineio._sockets_patched
    yield
    for name in [n for n in vars(Socket) if n not in saved]:
        delattr(Socket, name)
    for name, value in saved.items():
        if vars(Socket).get(name) is not value:
            setattr(Socket, name, value)
    compat_engineio._sockets_patched = patched


def make_app(admin, **options):
    app = flask.Flask("admin_page")
    RTCIO(app, admin=admin, **options)
    return app.test_client()


def test_the_page_is_at_admin_by_default():
    client = make_app(dict(LOGIN))
    assert client.get("/admin").status_code == 308
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b"rtcio-admin-config.js" in page.data
    config = client.get("/admin/rtcio-admin-config.js")
    assert config.mimetype == "text/javascript"
    assert config.headers["Cache-Control"] == "no-store"
    assert b'{"path": "/socket.io", "namespace": "/admin"}' in config.data


def test_ui_path_namespace_and_a_mounted_app_reach_the_login_form(
        monkeypatch):
    monkeypatch.setenv("RTCIO_ADMIN_UI_PATH", "/ops/rtc/")
    client = make_app(dict(LOGIN, namespace="/watch"), path="signal")
    assert client.get("/admin/").status_code == 404
    config = client.get("/ops/rtc/rtcio-admin-config.js",
                        environ_overrides={"SCRIPT_NAME": "/app"})
    assert b'{"path": "/app/signal", "namespace": "/watch"}' in config.data
    # The option wins over the environment.
    client = make_app(dict(LOGIN, ui_path="/console"))
    assert client.get("/console/").status_code == 200


def test_ui_path_none_serves_no_page():
    client = make_app(dict(LOGIN, ui_path=None))
    assert client.get("/admin/").status_code == 404


def test_a_path_the_app_already_serves_is_refused():
    app = flask.Flask("taken")
    app.add_url_rule("/admin/", "flask_admin_index", lambda: "theirs")
    with pytest.raises(ValueError, match=r"already has the route /admin/ "
                       r"\(flask_admin_index\).*'ui_path': '/rtcio-admin'"):
        RTCIO(app, admin=dict(LOGIN))
    assert app.test_client().get("/admin/").data == b"theirs"


@pytest.mark.parametrize("extra, message", [
    ({"ui_path": "admin"}, "'ui_path' takes a URL path"),
    ({"ui_path": "/"}, "'ui_path' takes a URL path"),
    ({"login_attempts": 0}, "'login_attempts' takes a positive number"),
    ({"login_attempts": 2.5}, "'login_attempts' takes a positive number"),
    ({"login_window": "60"}, "'login_window' takes a positive number"),
])
def test_bad_page_and_throttle_settings_are_refused(extra, message):
    with pytest.raises(ValueError, match=message):
        make_app(dict(LOGIN, **extra))


OWN = "http://localhost"          # the test client's Host
FRONT = "https://front.example"


def _post(client, eio_sid, packet, origin):
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    headers = {"Origin": origin} if origin else {}
    assert client.post(url, data=packet, headers=headers).status_code == 200
    return client.get(url, headers=headers).data.decode()


@pytest.mark.parametrize("cors", [[FRONT], lambda origin: origin == FRONT])
@pytest.mark.parametrize("handshake_origin", [OWN, None])
def test_own_origin_opens_the_admin_namespace_only(cors, handshake_origin,
                                                   caplog):
    """With a list (or a callable) that leaves the server's own origin
    out, the page the extension serves still logs in: that origin may
    open the admin namespace and nothing else. A same-origin page's
    polling handshake (a GET) carries no Origin; its CONNECT (a POST)
    does, and is what is checked."""
    client = make_app(dict(LOGIN), cors=cors)
    resp = handshake(client, handshake_origin)
    assert resp.status_code == 200, resp.data
    eio_sid = json.loads(resp.get_data(as_text=True)[1:])["sid"]
    with caplog.at_level("WARNING", logger="rtcio_flask"):
        refused = _post(client, eio_sid, "40", OWN)
        again = _post(client, eio_sid, "40/chat,", OWN)
    assert refused.startswith('44{"message":"Origin \'http://localhost\' '
                              'may not connect to the signaling server: ')
    assert "(The server's own origin may open only the Admin UI's " \
           "namespace /admin.)" in refused
    assert '"data":{"error":"origin-not-allowed"}' in refused
    assert again.startswith('44/chat,{"message":"Origin ')
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "may open only the Admin UI's" in lines[0]
    # The same session logs in to the admin namespace.
    admitted = _post(client, eio_sid, "40/admin," + json.dumps(LOGIN), OWN)
    assert admitted.startswith('40/admin,{"sid":'), admitted
    # Any other origin is refused at the handshake as before, and a page
    # of the front end's origin may open any namespace.
    assert handshake(client, "https://evil.example").status_code == 400
    _, reply = open_session(client, FRONT)
    assert reply.startswith('40{"sid":'), reply


def test_own_origin_cannot_drive_a_session_on_another_namespace():
    """A session a client without Origin (a bot) connected to "/" is not
    the own origin's to use: a request of that origin naming it would
    carry events to "/", which only CONNECT packets are checked for. It
    is refused as any other origin is; the bot itself goes on."""
    client = make_app(dict(LOGIN), cors=[FRONT])
    eio_sid, reply = open_session(client)  # no Origin: a bot
    assert reply.startswith('40{"sid":'), reply
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    refused = client.post(url, data='42["hello"]', headers={"Origin": OWN})
    assert refused.status_code == 400
    assert refused.json["error"] == "origin-not-allowed"
    assert client.post(url, data='42["hello"]').status_code == 200
    # A session on the admin namespace only stays the page's.
    _, admitted = open_session(client, OWN, "/admin", LOGIN)
    assert admitted.startswith('40/admin,{"sid":'), admitted


def test_a_host_named_to_match_the_origin_opens_the_admin_namespace_only():
    """The server's own origin is the Host the request names: a client
    that names its own origin's host (a non-browser client, or a page
    whose host name was pointed at this server: DNS rebinding) passes as
    the own origin, and reaches the admin namespace (its login) and
    nothing else, whatever it batches in one POST."""
    evil = "http://evil.example"
    client = make_app(dict(LOGIN), cors=[FRONT])
    spoofed = dict(headers={"Origin": evil}, base_url=evil)
    resp = client.get("/socket.io/?EIO=4&transport=polling", **spoofed)
    assert resp.status_code == 200, resp.data
    eio_sid = json.loads(resp.get_data(as_text=True)[1:])["sid"]
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    batch = "\x1e".join(["40/admin," + json.dumps(LOGIN), "40",
                         "40/chat,", "40/admin?x=1,"])
    assert client.post(url, data=batch, **spoofed).status_code == 200
    seen = client.get(url, **spoofed).get_data(as_text=True)
    assert '40/admin,{"sid":' in seen
    assert '44{"message":"Origin \'http://evil.example\'' in seen
    assert "44/chat," in seen and '40{"sid"' not in seen
    # A page of that origin cannot name this server's host in a header of
    # its own either: the preflight asking for one is refused.
    preflight = client.options("/socket.io/?EIO=4&transport=polling",
                               headers={
                                   "Origin": evil,
                                   "Access-Control-Request-Method": "POST",
                                   "Access-Control-Request-Headers":
                                       "x-forwarded-host"})
    assert preflight.status_code == 400


def test_own_origin_stays_refused_without_the_served_page():
    client = make_app(dict(LOGIN, ui_path=None), cors=[FRONT])
    refused = handshake(client, OWN)
    assert refused.status_code == 400
    assert refused.json["error"] == "origin-not-allowed"
    # And without the Admin UI at all.
    app = flask.Flask("no_admin")
    RTCIO(app, cors=[FRONT])
    assert handshake(app.test_client(), OWN).status_code == 400


def test_own_origin_cannot_connect_by_a_binary_message(caplog):
    """python-socketio's own dispatch would read a binary ``0`` as a
    CONNECT to "/" (the check above reads text packets): RTCIO's checked
    dispatch, which the exception requires, closes such a connection."""
    app = flask.Flask("binary_connect")
    rtcio = RTCIO(app, admin=dict(LOGIN), cors=[FRONT])
    client = app.test_client()
    resp = handshake(client, OWN)
    eio_sid = json.loads(resp.get_data(as_text=True)[1:])["sid"]
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    with caplog.at_level("WARNING", logger="rtcio_flask"):
        client.post(url, data="bMA==", headers={"Origin": OWN})  # b"0"
        client.get(url, headers={"Origin": OWN})
    assert "malformed socket.io packet" in caplog.text
    assert not rtcio.state_for(app).server.manager.rooms.get("/")


def test_a_route_the_app_adds_later_at_the_page_is_named(caplog):
    """Flask-Admin set up after RTCIO(app): its /admin/ cannot be refused
    at start-up, and the UI's page hides it; the first visit says so,
    once, with what to write."""
    app = flask.Flask("later")
    RTCIO(app, admin=dict(LOGIN))
    app.add_url_rule("/admin/users", "flask_admin_users", lambda: "users")
    app.add_url_rule("/admin/", "flask_admin_index", lambda: "theirs")
    client = app.test_client()
    with caplog.at_level("ERROR", logger="rtcio_flask"):
        assert b"rtcio-admin-config.js" in client.get("/admin/").data
        client.get("/admin/")
    assert [r.getMessage() for r in caplog.records] == [
        "rtcio: RTCIO admin: the app added the route /admin/ "
        "(flask_admin_index) after RTCIO(app), and the Admin UI's page at "
        "/admin/ hides it; choose another path: admin={..., 'ui_path': "
        "'/rtcio-admin'} (or RTCIO_ADMIN_UI_PATH), or 'ui_path': None for "
        "no page."]
    assert client.get("/admin/users").data == b"users"  # not hidden


@pytest.mark.compat  # noxfile.py runs it on the floor and the newest too
def test_two_apps_with_the_admin_ui_in_one_process_both_serve_polling():
    """python-socketio's instrumentation wraps python-engineio's Socket
    class-wide: the second app's made every polling POST of both apps call
    itself (RecursionError, HTTP 500). Each app's Admin UI also counts only
    its own app's packets."""
    from tests.flask_client.polling import open_session

    apps = []
    for name in ("first", "second"):
        app = flask.Flask(name)
        RTCIO(app, admin=dict(LOGIN), async_mode="threading")
        apps.append(app)
    counted = {}
    for app in apps:
        admin = app.extensions["rtcio"].admin
        counted[app.name] = []
        admin.event_buffer.push = (
            lambda kind, count=1, name=app.name:
            counted[name].append(kind))
    for app in reversed(apps):
        _, reply = open_session(app.test_client())
        assert '40{"sid":' in reply
        assert "packetsIn" in counted[app.name]
    # A POST of the second app counted once, for the second app only.
    assert counted["first"].count("packetsIn") == 1


def test_the_admin_ui_keeps_the_connection_cap_and_the_ping_interval():
    """The instrumentation sets its own Engine.IO connect and disconnect
    handlers: installed after RTCIO's it replaced them, and with admin= on
    an address opened any number of sessions (the per-address cap off)
    and the handshake said pingInterval 0 for 0.3 s."""
    from tests.flask_client.polling import handshake

    app = flask.Flask("admin_and_cap")
    RTCIO(app, admin=dict(LOGIN), max_connections_per_address=2,
          ping_interval=0.3, async_mode="threading")
    client = app.test_client()
    opened = [handshake(client) for _ in range(3)]
    assert [r.status_code for r in opened] == [200, 200, 429]
    assert json.loads(opened[0].data[1:])["pingInterval"] == 300
