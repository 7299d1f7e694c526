"""The extension's Flask side: factory apps, config, handed-in servers, and
handlers running with the handshake's request and session."""

import json
import re
import weakref

import flask
import pytest
import socketio
from flask import Flask

from rtcio_flask import RTCIO, RtcioEvents
from tests.flask_client.polling import acao, handshake, open_session

A = "https://a.example.com"


def poll_until(client, eio_sid, predicate, tries=20):
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    seen = ""
    for _ in range(tries):
        seen += client.get(url).data.decode()
        if predicate(seen):
            return seen
    raise AssertionError(f"never saw it: {seen!r}")


def emit(client, eio_sid, event, data, ack_id=1):
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    packet = f"42{ack_id}" + json.dumps([event, data])
    assert client.post(url, data=packet).status_code == 200


def test_factory_style_serves_two_apps_with_separate_servers():
    rtcio = RTCIO(cors=A)
    apps = []
    for name in ("one", "two"):
        app = Flask(name)
        rtcio.init_app(app)
        apps.append(app)
    one, two = (app.extensions["rtcio"] for app in apps)
    assert one.server is not two.server
    with apps[1].app_context():
        assert rtcio.server is two.server
    with pytest.raises(RuntimeError, match="app context"):
        rtcio.server
    for app in apps:
        assert acao(handshake(app.test_client(), A)) == [A]


def test_handlers_added_after_init_reach_every_app():
    rtcio = RTCIO(cors="*")
    app = Flask(__name__)
    rtcio.init_app(app)

    @rtcio.on("late")
    def late(sid, data):
        return {"echo": data}

    client = app.test_client()
    eio_sid, _ = open_session(client)
    emit(client, eio_sid, "late", "hi")
    assert '{"echo":"hi"}' in poll_until(client, eio_sid,
                                          lambda s: "echo" in s)


def _login_app():
    """An app whose ``/login`` puts ``user=alice`` in the session cookie."""
    app = Flask(__name__)
    app.secret_key = "s"
    rtcio = RTCIO(app, cors="*")

    @app.get("/login")
    def login():
        flask.session["user"] = "alice"
        return "ok"

    return app, rtcio


@pytest.mark.compat  # noxfile.py: the floor and the newest too
def test_handlers_see_the_handshake_request_and_session():
    app, rtcio = _login_app()

    @rtcio.on("whoami")
    def whoami(sid, data):
        return {"user": flask.session.get("user"), "sid": flask.request.sid,
                "ua": flask.request.headers.get("User-Agent"),
                "sid_matches": flask.request.sid == sid}

    client = app.test_client()
    client.get("/login")  # the test client keeps the session cookie
    eio_sid, reply = open_session(client)
    emit(client, eio_sid, "whoami", None)
    seen = poll_until(client, eio_sid, lambda s: "alice" in s or "null" in s)
    assert '"user":"alice"' in seen
    assert '"sid_matches":true' in seen


@pytest.mark.compat  # noxfile.py: the floor and the newest too
@pytest.mark.parametrize("connect_handler", [False, True])
def test_one_session_per_socket_across_its_handlers(connect_handler):
    """The handshake's session is read once per socket (at connect when
    the app has a connect handler, else by the first handler that runs in
    a request context) and the same object is seen by every later handler
    of that socket, changes included; another socket has its own."""
    app, rtcio = _login_app()

    if connect_handler:
        @rtcio.on("connect")
        def on_connect(sid, environ):
            flask.session["seen_at_connect"] = flask.session.get("user")

    @rtcio.on("count")
    def count(sid, data):
        flask.session["count"] = flask.session.get("count", 0) + 1
        return {"count": flask.session["count"],
                "user": flask.session.get("user"),
                "at_connect": flask.session.get("seen_at_connect")}

    client = app.test_client()
    client.get("/login")
    eio_sid, _ = open_session(client)
    emit(client, eio_sid, "count", None, ack_id=1)
    first = poll_until(client, eio_sid, lambda s: '"count":1' in s)
    assert '"user":"alice"' in first
    assert ('"at_connect":"alice"' if connect_handler
            else '"at_connect":null') in first
    emit(client, eio_sid, "count", None, ack_id=2)
    poll_until(client, eio_sid, lambda s: '"count":2' in s)
    other, _ = open_session(client)
    emit(client, other, "count", None, ack_id=3)
    poll_until(client, other, lambda s: '"count":1' in s)


def test_a_namespace_without_disconnect_handlers_forgets_its_sessions():
    """The session a socket's first handler reads is kept per socket and
    forgotten at its disconnect, also on a namespace whose app registered
    only event handlers (it had no disconnect entry to forget it: every
    socket's session stayed for as long as the process ran)."""
    app, rtcio = _login_app()

    @rtcio.on("whoami", namespace="/chat")
    def whoami(sid, data):
        return {"user": flask.session.get("user")}

    client = app.test_client()
    client.get("/login")
    sessions = rtcio.state_for(app).dispatcher._sessions
    for ack_id in (1, 2):
        eio_sid, reply = open_session(client, namespace="/chat")
        assert reply.startswith("40/chat,{"), reply
        url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
        client.post(url, data=f'42/chat,{ack_id}["whoami",null]')
        poll_until(client, eio_sid, lambda s: '"user":"alice"' in s)
        assert len(sessions) == 1
        client.post(url, data="41/chat,")  # leaves the namespace
        assert client.post(url, data="1").status_code == 200  # and closes
        assert sessions == {}


@pytest.mark.compat  # noxfile.py: the floor and the newest too
def test_a_disconnect_handler_alone_reads_the_handshake_session():
    """No handler read the session before the disconnect (no connect
    handler: it is read at first use): the disconnect handler reads it,
    as the login left it, and nothing of it stays behind."""
    app, rtcio = _login_app()
    seen = []

    @rtcio.on("disconnect")
    def bye(sid, reason):
        seen.append((flask.session.get("user"), reason))

    client = app.test_client()
    client.get("/login")
    eio_sid, _ = open_session(client)
    client.post(f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}",
                data="1")
    assert seen == [("alice", "client disconnect")]
    assert rtcio.state_for(app).dispatcher._sessions == {}


def test_concurrent_first_events_share_one_session():
    """A socket's first two events run in threads (greenlets) of their
    own; with a session interface that waits on I/O (server-side
    sessions) both read the session, and each handler changed its own
    copy. The first reads it once, the other waits and gets the same."""
    import threading

    from flask.sessions import SecureCookieSessionInterface

    class SlowSessions(SecureCookieSessionInterface):
        """Reads the session as a server-side store would, waiting on
        I/O: here for the other first event (if it reads too)."""
        opened = 0
        both = threading.Barrier(2, timeout=1)

        def open_session(self, app, request):
            SlowSessions.opened += 1
            try:
                self.both.wait()
            except threading.BrokenBarrierError:
                pass  # the other event did not read it: as it should be
            return super().open_session(app, request)

    app, rtcio = _login_app()

    @rtcio.on("which")
    def which(sid, data):
        flask.session.setdefault("seen", []).append(data)
        return {"session": id(flask.session._get_current_object())}

    client = app.test_client()
    client.get("/login")
    app.session_interface = SlowSessions()  # the same cookie, read slowly
    eio_sid, _ = open_session(client)
    url = f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    client.post(url, data='421["which","a"]\x1e422["which","b"]')
    seen = poll_until(client, eio_sid,
                      lambda s: "431" in s and "432" in s)
    ids = set(re.findall(r'43[12]\[\{"session":(\d+)\}\]', seen))
    assert SlowSessions.opened == 1
    assert len(ids) == 1, seen


def test_connect_handler_can_refuse_with_a_message():
    app = Flask(__name__)
    rtcio = RTCIO(app, cors="*")

    @rtcio.on("connect")
    def connect(sid, environ, auth):
        if not auth or auth.get("token") != "good":
            raise socketio.exceptions.ConnectionRefusedError("bad token")

    _, reply = open_session(app.test_client(), auth={"token": "nope"})
    assert reply.startswith("44") and "bad token" in reply
    _, reply = open_session(app.test_client(), auth={"token": "good"})
    assert reply.startswith("40{")


def test_connect_handler_refusing_with_access_denied_or_failing(caplog):
    """AccessDenied in an @rtcio.on("connect") handler (not only in
    @rtcio.authorize) refuses with its message, and a handler that fails
    refuses with 'server error' and one logged traceback: both used to
    leave the client without any answer to its CONNECT."""
    from rtcio_flask import AccessDenied

    app = Flask(__name__)
    rtcio = RTCIO(app, cors="*")

    @rtcio.on("connect")
    def connect(sid, environ, auth):
        if auth == {"mode": "denied"}:
            raise AccessDenied("members only")
        if auth == {"mode": "bug"}:
            raise KeyError("user_id")

    with caplog.at_level("INFO", logger="rtcio_flask"):
        _, denied = open_session(app.test_client(), auth={"mode": "denied"})
        _, failed = open_session(app.test_client(), auth={"mode": "bug"})
    assert denied == '44{"message":"members only"}'
    assert failed == '44{"message":"server error"}'
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "connect handler connect failed" in error.getMessage()
    assert "KeyError: 'user_id'" in caplog.text
    _, fine = open_session(app.test_client(), auth={"mode": "ok"})
    assert fine.startswith("40{")


def test_server_options_pass_through_to_python_socketio():
    app = Flask(__name__)
    RTCIO(app, cors="*", ping_timeout=7, ping_interval=11)
    resp = handshake(app.test_client(), A)
    hello = json.loads(resp.data[1:])
    assert hello["pingTimeout"] == 7000 and hello["pingInterval"] == 11000


@pytest.mark.parametrize("option", ["cors_allowed_origins", "socketio_path"])
def test_options_owned_by_rtcio_are_refused(option):
    with pytest.raises(ValueError, match="RTCIO"):
        RTCIO(Flask(__name__), **{option: "*"})


def test_cors_credentials_argument():
    app = Flask(__name__)
    RTCIO(app, cors=[A], cors_credentials=True)
    resp = handshake(app.test_client(), A)
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    with pytest.raises(ValueError, match="True or False"):
        RTCIO(Flask(__name__), cors=[A], cors_credentials="*")


def test_double_init_is_refused():
    app = Flask(__name__)
    rtcio = RTCIO(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        rtcio.init_app(app)


def test_handed_in_server_keeps_its_handlers_and_cors():
    app = Flask(__name__)
    sio = socketio.Server(async_mode="threading", cors_allowed_origins=[A])
    app.wsgi_app = socketio.WSGIApp(sio, app.wsgi_app)
    seen = []

    @sio.on("connect")
    def own_connect(sid, environ):
        seen.append("own")

    rtcio = RTCIO(app, server=sio)
    assert rtcio.server is sio

    @rtcio.on("connect")
    def rtcio_connect(sid, environ, auth):
        seen.append("rtcio")

    client = app.test_client()
    resp = handshake(client, A)
    assert acao(resp) == [A]  # engineio's own CORS, one header
    assert handshake(client, "https://other.test").status_code == 400
    open_session(client, A)
    assert sorted(seen) == ["own", "rtcio"]


def test_handed_in_server_with_cors_given_is_taken_over():
    app = Flask(__name__)
    sio = socketio.Server(async_mode="threading",
                          cors_allowed_origins="https://old.test")
    RTCIO(app, server=sio, cors=A)
    client = app.test_client()
    assert acao(handshake(client, A)) == [A]
    assert handshake(client, "https://old.test").status_code == 400


def test_flask_socketio_object_can_be_handed_in():
    import flask_socketio  # a test requirement (setup.cfg): never skipped
    app = Flask(__name__)
    fsio = flask_socketio.SocketIO(app, async_mode="threading")
    rtcio = RTCIO(app, server=fsio, cors=A)
    assert rtcio.server is fsio.server
    assert RtcioEvents.MESSAGE in fsio.server.handlers["/"]
    assert acao(handshake(app.test_client(), A)) == [A]


def test_second_server_on_the_same_path_is_refused():
    app = Flask(__name__)
    sio = socketio.Server(async_mode="threading")
    app.wsgi_app = socketio.WSGIApp(sio, app.wsgi_app)
    with pytest.raises(ValueError, match="server="):
        RTCIO(app)


def test_protocol_on_another_namespace():
    app = Flask(__name__)
    RTCIO(app, cors="*", protocol_namespaces=["/", "/calls"])
    state = app.extensions["rtcio"]
    assert set(state.protocols) == {"/", "/calls"}
    _, reply = open_session(app.test_client(), namespace="/calls")
    assert reply.startswith("40/calls,{")


def test_app_routes_are_untouched():
    app = Flask(__name__)

    @app.get("/hello")
    def hello():
        return "world"

    RTCIO(app, cors="*")
    assert app.test_client().get("/hello").data == b"world"


def test_a_draining_process_refuses_new_sessions_and_serves_its_own():
    """Once SIGTERM set the health check draining, a new Engine.IO
    handshake gets 503 (the client tries again and reaches a process that
    stays up, instead of recovering here and being cut again when this one
    exits); a session that exists is served until the drain closes it."""
    app = Flask("draining")
    RTCIO(app, health_path="/healthz")
    client = app.test_client()
    eio_sid, reply = open_session(client)
    assert reply.startswith("40")
    app.extensions["rtcio"].health.draining = True  # SIGTERM's first step
    assert client.get("/healthz").status_code == 503
    refused = handshake(client)
    assert refused.status_code == 503
    assert json.loads(refused.data) == {"code": 503,
                                        "message": "server shutting down"}
    post = client.post(f"/socket.io/?EIO=4&transport=polling&sid={eio_sid}",
                       data='42["hello"]')
    assert post.status_code == 200


@pytest.fixture
def unfrozen_heap(monkeypatch):
    """The process as if nothing had frozen its heap yet, and unfrozen
    again afterwards (``gc.freeze`` is per process; the flag that makes it
    once-only lives in the gate module)."""
    import gc

    from rtcio_flask.transport import gate as gate_mod
    gc.unfreeze()
    monkeypatch.setattr(gate_mod, "_heap_frozen", False)
    yield gc
    gc.unfreeze()


def test_first_socketio_request_freezes_the_heap_once(unfrozen_heap):
    gc = unfrozen_heap
    app = Flask(__name__)
    app.add_url_rule("/", "index", lambda: "page")
    RTCIO(app, cors=A)
    client = app.test_client()
    assert client.get("/").data == b"page"
    assert gc.get_freeze_count() == 0, "the app's own routes freeze nothing"

    class Cycle:
        pass

    # Garbage left before the first request is collected, not frozen
    # (frozen, nothing would ever collect it).
    gc.disable()
    try:
        garbage = Cycle()
        garbage.self = garbage
        probe = weakref.ref(garbage)
        del garbage
        eio_sid, reply = open_session(client, A)
    finally:
        gc.enable()
    assert reply.startswith("40{") and eio_sid
    assert probe() is None
    frozen = gc.get_freeze_count()
    assert frozen > 1000
    # Only the first request: later ones, and a second app in the same
    # process, freeze nothing more. The count is not steady (a frozen
    # object freed by its reference count leaves it), so the probe is
    # objects made after the freeze: a second freeze would take them all.
    made_after = [[] for _ in range(5000)]
    other = Flask("other")
    RTCIO(other, cors=A)
    open_session(other.test_client(), A)
    open_session(client, A)
    assert gc.get_freeze_count() < frozen + len(made_after)


@pytest.mark.parametrize("how", [{"gc_freeze": False},
                                 {"config": {"RTCIO_GC_FREEZE": "off"}}])
def test_gc_freeze_off_leaves_the_collector_alone(unfrozen_heap, how):
    gc = unfrozen_heap
    app = Flask(__name__)
    app.config.update(how.get("config", {}))
    RTCIO(app, cors=A, **{k: v for k, v in how.items() if k != "config"})
    eio_sid, reply = open_session(app.test_client(), A)
    assert reply.startswith("40{")
    assert gc.get_freeze_count() == 0


def test_gc_freeze_typo_fails_at_start():
    app = Flask(__name__)
    app.config["RTCIO_GC_FREEZE"] = "nope"
    with pytest.raises(ValueError, match=r"app.config\['RTCIO_GC_FREEZE'\] "
                                         r"must be True or False"):
        RTCIO(app)
