"""Every CORS form through Flask's test client: handshakes, preflights,
refusals, and the split with flask-cors."""

import logging
import re

import pytest
from flask import Flask
from flask_cors import CORS

from rtcio_flask import RTCIO
from tests.flask_client.polling import HANDSHAKE, acao, handshake, open_session

A = "https://a.example.com"
B = "https://b.example.com"
EVIL = "https://evil.example.net"

# (cors option, an allowed origin, a refused origin)
FORMS = {
    "star": ("*", A, None),
    "one": (A, A, B),
    "list": ([A, re.compile(r"^https://[a-z]+\.c\.test$")], "https://x.c.test",
             "https://x.c.test.evil"),
    "callable": (lambda origin: origin.endswith(".example.com"), B, EVIL),
    "regex": (re.compile(r"^https://.*\.example\.com$"), A, EVIL),
}


def make_app(cors, flask_cors=False, credentials=None, **kwargs):
    app = Flask(__name__)
    app.secret_key = "x"
    if flask_cors:
        # A pattern that would match everything, /socket.io/ included.
        CORS(app, resources={r"/*": {"origins": "https://flask-cors.test"}})
    calls = []

    @app.get("/api/ping")
    def ping():
        return {"pong": True}

    options = dict(kwargs)
    if credentials is not None:
        options["cors"] = {"origin": cors, "credentials": credentials}
    else:
        options["cors"] = cors
    rtcio = RTCIO(app, **options)

    @rtcio.on("connect")
    def connect(sid, environ, auth):
        calls.append(sid)

    app.connect_calls = calls
    return app


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("with_flask_cors", [False, True])
def test_allowed_origin_handshake_has_exactly_one_acao(form, with_flask_cors):
    cors, good, _ = FORMS[form]
    app = make_app(cors, flask_cors=with_flask_cors)
    client = app.test_client()
    resp = handshake(client, good)
    assert resp.status_code == 200
    assert resp.data.startswith(b"0{")
    assert acao(resp) == [good]
    assert resp.headers.getlist("Vary") == ["Origin"]
    assert "Access-Control-Allow-Credentials" not in resp.headers
    _, reply = open_session(client, good)
    assert reply.startswith("40{")
    assert len(app.connect_calls) == 1


@pytest.mark.parametrize("form", [f for f in FORMS if FORMS[f][2]])
def test_refused_origin_gets_400_and_reaches_no_handler(form, caplog):
    cors, _, bad = FORMS[form]
    app = make_app(cors)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="rtcio_flask"):
        resp = handshake(client, bad)
        ws = handshake(client, bad, path="/socket.io/?EIO=4&transport=websocket",
                       Upgrade="websocket", Connection="Upgrade")
    assert resp.status_code == 400
    assert ws.status_code == 400
    assert acao(resp) == [] and acao(ws) == []
    assert resp.json["error"] == "origin-not-allowed"
    assert app.connect_calls == []
    lines = [r.getMessage() for r in caplog.records if bad in r.getMessage()]
    assert len(lines) == 1, lines  # one line, even for two refusals
    assert "RTCIO(cors=...)" in lines[0]


def test_refused_origins_log_lines_are_bounded(caplog, monkeypatch):
    """An attacker chooses the Origin header: a 7 KB one made a 7 KB log
    line, and once the set of logged origins was full every refusal of a
    new origin was a WARNING (one per request). Now each line shows at most
    200 characters of the origin, and past the cap one line says the rest
    go to DEBUG."""
    from rtcio_flask.transport import gate
    monkeypatch.setattr(gate, "_MAX_LOGGED_ORIGINS", 3)
    client = make_app(A).test_client()
    huge = "https://" + "e" * 7000 + ".example"
    with caplog.at_level(logging.WARNING, logger="rtcio_flask"):
        refused = handshake(client, huge)
        for n in range(20):
            assert handshake(client, f"https://spray{n}.test").status_code \
                == 400
    assert refused.status_code == 400
    assert "(7016 characters)" in refused.json["message"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert all(len(line) < 600 for line in lines)
    assert "'https://spray1.test' may not connect" in lines[2]
    assert lines[3] == ("rtcio: 3 refused origins logged; further refused "
                        "origins are logged at DEBUG (logger rtcio_flask)")


def test_refusal_names_the_config_key_when_set_in_config(caplog):
    app = Flask(__name__)
    app.config["RTCIO_CORS"] = A
    RTCIO(app)
    with caplog.at_level(logging.WARNING, logger="rtcio_flask"):
        assert handshake(app.test_client(), B).status_code == 400
    assert "app.config['RTCIO_CORS']" in caplog.text


@pytest.mark.parametrize("form", FORMS)
def test_preflight_answered_for_allowed_origins(form):
    cors, good, bad = FORMS[form]
    client = make_app(cors).test_client()
    resp = client.options(HANDSHAKE, headers={
        "Origin": good, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert resp.status_code == 204
    assert acao(resp) == [good]
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert resp.headers["Access-Control-Allow-Headers"] == "content-type"
    if bad:
        denied = client.options(HANDSHAKE, headers={
            "Origin": bad, "Access-Control-Request-Method": "POST"})
        assert denied.status_code == 400 and acao(denied) == []


def test_credentials_header_only_when_on():
    on = make_app([A], credentials=True).test_client()
    resp = handshake(on, A)
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert acao(resp) == [A]
    off = make_app([A], credentials=False).test_client()
    assert "Access-Control-Allow-Credentials" not in handshake(off, A).headers


def test_star_with_credentials_fails_at_configuration():
    with pytest.raises(ValueError, match="cannot be combined with credentials"):
        make_app("*", credentials=True)


@pytest.mark.parametrize("bad", ["", "https://a.com/", 42, ["https://a.com", None]])
def test_malformed_origins_fail_at_configuration(bad):
    with pytest.raises(ValueError, match="RTCIO"):
        make_app(bad)


@pytest.mark.parametrize("written, allowed, refused", [
    ("https://*.example.com", A, "https://a.b.example.com"),
    ("http://localhost:*", "http://localhost:5173", "http://localhost.evil"),
])
def test_wildcard_inside_an_origin_fails_with_the_regex_to_write(
        written, allowed, refused):
    """``https://*.example.com`` used to start and refuse every page later
    (a browser sends one exact origin); the refusal now gives the regex,
    and that regex does what was meant."""
    with pytest.raises(ValueError) as info:
        make_app([written])
    message = str(info.value)
    assert "a '*' inside an origin is not a wildcard" in message
    pattern = re.search(r"re\.compile\(r'(.+?)'\)", message).group(1)
    app = make_app(re.compile(pattern))
    assert handshake(app.test_client(), allowed).status_code == 200
    assert handshake(app.test_client(), refused).status_code == 400


def test_app_routes_keep_flask_cors_headers_only():
    client = make_app([A], flask_cors=True).test_client()
    resp = client.get("/api/ping", headers={"Origin": "https://flask-cors.test"})
    assert acao(resp) == ["https://flask-cors.test"]
    # An origin RTCIO allows gets nothing from RTCIO on the app's routes.
    assert acao(client.get("/api/ping", headers={"Origin": A})) == []
    # And /socket.io/ gets nothing from flask-cors, only RTCIO's answer.
    sock = handshake(client, "https://flask-cors.test")
    assert sock.status_code == 400 and acao(sock) == []


def test_app_routes_get_no_cors_headers_without_flask_cors():
    client = make_app("*").test_client()
    resp = client.get("/api/ping", headers={"Origin": A})
    assert resp.status_code == 200
    assert not [h for h in resp.headers.keys() if h.startswith("Access-Control")]


def test_default_allows_only_same_origin():
    app = Flask(__name__)
    RTCIO(app)
    client = app.test_client()
    assert handshake(client, "http://localhost").status_code == 200
    assert handshake(client, A).status_code == 400


def test_off_leaves_cors_to_a_proxy():
    client = make_app(False).test_client()
    resp = handshake(client, EVIL)
    assert resp.status_code == 200
    assert not [h for h in resp.headers.keys() if h.startswith("Access-Control")]


def test_no_origin_header_is_let_through():
    resp = handshake(make_app([A]).test_client())
    assert resp.status_code == 200 and acao(resp) == []


# -- credentials: a browser sends cookies to another origin only when the
# page connects with withCredentials, and drops the answer unless it says
# Access-Control-Allow-Credentials; the refusal names that, not the origin.

def with_cookie(app):
    """A test client holding a session cookie, as a logged-in browser."""
    client = app.test_client()
    client.set_cookie("session", "abc")
    return client


def test_allowed_origin_sending_cookies_without_credentials_is_told_so(
        caplog):
    app = make_app(A)
    client = with_cookie(app)
    with caplog.at_level(logging.WARNING, logger="rtcio_flask"):
        resp = handshake(client, A)
        again = handshake(client, A)
    assert resp.status_code == again.status_code == 400
    assert resp.json["error"] == "credentials-not-allowed"
    message = resp.json["message"]
    assert message.startswith(f"Origin {A!r} is allowed, but it sends "
                              f"credentials (cookies: the page connects with "
                              f"withCredentials)")
    assert "rtcio-flask --credentials" in message
    assert "'credentials': True" in message
    assert "not in" not in message   # nothing about the origin list
    assert app.connect_calls == []
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [message]        # one line for two refusals
    # Without the cookie the same origin connects as before.
    assert handshake(app.test_client(), A).status_code == 200


def test_refused_origin_sending_cookies_is_told_both():
    app = make_app(A)
    resp = handshake(with_cookie(app), B)
    assert resp.status_code == 400
    assert resp.json["error"] == "origin-and-credentials-not-allowed"
    message = resp.json["message"]
    assert f"it is not in the allowed origins ['{A}']" in message
    assert "and it sends credentials" in message
    assert "add it to RTCIO(cors=...) and turn credentials on" in message


def test_star_with_cookies_says_star_cannot_carry_credentials():
    resp = handshake(with_cookie(make_app("*")), A)
    assert resp.json["error"] == "credentials-not-allowed"
    assert "'*' cannot carry credentials: list the origins" in \
        resp.json["message"]


def test_cookies_pass_when_credentials_are_on_or_not_cross_origin():
    app = make_app([A], credentials=True)
    resp = handshake(with_cookie(app), A)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    plain = make_app(A)
    # Non-browser clients (no Origin) and the server's own pages are not
    # subject to CORS, cookies or not.
    assert handshake(with_cookie(plain), None).status_code == 200
    own = make_app(None)   # the default: the server's own origin
    assert handshake(with_cookie(own), "http://localhost").status_code == 200


def test_websocket_with_cookies_is_not_refused_for_credentials():
    """Browsers send cookies with every websocket handshake, whatever the
    page asked, and check no CORS header on its answer: a websocket-only
    page from an allowed origin connects with credentials off (live)."""
    import socketio

    from tests.support.servers import serve_app

    with serve_app("tests.apps.basic:create_app", "eventlet",
                   env={"RTCIO_ALLOWED_ORIGINS": A}) as server:
        # websocket-client sends the Origin itself: hand it ours.
        client = socketio.Client(websocket_extra_options={"origin": A})
        client.connect(server.url, transports=["websocket"],
                       headers={"Cookie": "session=abc"}, wait_timeout=10)
        try:
            assert client.get_sid()
        finally:
            client.disconnect()
        # The same cookies over polling are refused, naming credentials.
        import requests
        polling = requests.get(server.url + HANDSHAKE, timeout=10, headers={
            "Origin": A, "Cookie": "session=abc"})
        assert polling.status_code == 400
        assert polling.json()["error"] == "credentials-not-allowed"

