"""The rtcio-flask example: a small Flask app of the kind teams already run
(JSON routes under flask-cors, a login that sets Flask's session cookie), with
rtc.io signaling and the built-in rooms added by one ``RTCIO(...)`` call.

Development (signaling on http://127.0.0.1:3001, demo page on
http://127.0.0.1:8000, a different origin)::

    python examples/flask_app/app.py

Production-style (the page is then served by ``python page.py`` or your own
front end)::

    gunicorn -k eventlet -w 1 --chdir examples/flask_app -b 127.0.0.1:3001 app:app

Environment: ``PORT`` (3001), ``HOST`` (127.0.0.1), ``PAGE_PORT`` (8000; 0
to not serve the page), ``ALLOWED_ORIGINS`` (comma-separated, default the
demo page's origins), ``SECRET_KEY`` (a fixed demo value otherwise).
"""

if __name__ == "__main__":
    # eventlet must patch the standard library before anything imports it,
    # exactly as gunicorn's eventlet worker does. Its 9-line deprecation
    # notice is silenced first (docs/deployment.rst covers eventlet's
    # status).
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

import logging
import os

import flask
from flask_cors import CORS

from rtcio_flask import RTCIO, AccessDenied

DEMO_SECRET = "rtcio-flask-demo-secret-change-me"
DEFAULT_PAGE_PORT = 8000
MAX_NAME_LENGTH = 40

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("example")


def fail(message):
    """A start-up mistake: one line and exit status 2, no traceback."""
    import sys

    print(f"app.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def allowed_origins():
    """Browser origins that may log in and connect, from ``ALLOWED_ORIGINS``.

    The default is where ``python app.py`` serves the demo page. An exact
    list, not ``*``: the login cookie needs credentials, and browsers refuse
    ``*`` with credentials.
    """
    raw = os.environ.get("ALLOWED_ORIGINS")
    if not raw:
        # PAGE_PORT=0 (no page served here): the page's usual port.
        page_port = os.environ.get("PAGE_PORT", "").strip()
        page_port = int(page_port) if page_port.isdigit() and \
            int(page_port) else DEFAULT_PAGE_PORT
        raw = f"http://127.0.0.1:{page_port},http://localhost:{page_port}"
    return [origin.strip() for origin in raw.split(",") if origin.strip()]


app = flask.Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("SECRET_KEY", DEMO_SECRET),
    # Lax is sent on same-site requests: a page on 127.0.0.1:8000 calling
    # 127.0.0.1:3001 is same-site (ports do not count), so the cookie flows.
    SESSION_COOKIE_SAMESITE="Lax",
)
ORIGINS = allowed_origins()

# The app's own routes: flask-cors, as the app had it before RTCIO came.
# RTCIO answers /socket.io/ itself, so the two never both add headers.
CORS(app, resources={r"/api/*": {}, r"/login": {}, r"/logout": {}},
     origins=ORIGINS, supports_credentials=True)

# Signaling, rooms (join-room, presence, init-offer...) and the rtc.io relay.
try:
    rtcio = RTCIO(app, cors={"origin": ORIGINS, "credentials": True},
                  rooms=True)
except ValueError as exc:  # a bad ALLOWED_ORIGINS, or an RTCIO_* setting
    if __name__ != "__main__":
        raise  # gunicorn reports an app that fails to load itself
    fail(str(exc))

# sid -> logged-in user, filled by the connect hook. In-process only: this
# example runs one worker (``-w 1``), as python-socketio requires without a
# message queue.
online = {}


@app.get("/api/health")
def health():
    return {"ok": True, "connected": len(online)}


@app.get("/api/me")
def me():
    return {"user": flask.session.get("user")}


@app.get("/api/online")
def who_is_online():
    return {"users": sorted(online.values())}


@app.post("/login")
def login():
    """Log in with just a name (a demo: no password), as JSON or a form."""
    data = flask.request.get_json(silent=True) or flask.request.form
    name = data.get("name") if hasattr(data, "get") else None
    if not isinstance(name, str) or not name.strip():
        return {"error": "name-required",
                "message": "send {\"name\": \"alice\"}"}, 400
    name = name.strip()[:MAX_NAME_LENGTH]
    flask.session["user"] = name
    return {"user": name}


@app.post("/logout")
def logout():
    flask.session.pop("user", None)
    return {"user": None}


@rtcio.authorize
def logged_in_only(auth):
    """The connect hook: only logged-in users may signal. The session comes
    from the cookie the browser sent with the handshake (the page connects
    with ``withCredentials: true``); a refusal reaches the page as
    ``connect_error`` with this message."""
    sid = flask.request.sid
    user = flask.session.get("user")
    if not user:
        log.info("refused %s: no login (origin %s)", sid,
                 flask.request.headers.get("Origin"))
        raise AccessDenied("login required: POST /login first")
    online[sid] = user
    log.info("connect hook: %s is logged in as %r", sid, user)


@rtcio.authorize_join
def name_from_login(room_id, name):
    """Others see the logged-in name, whatever name the client sent."""
    return flask.session.get("user")


@rtcio.on("disconnect")
def disconnect(sid, reason):
    user = online.pop(sid, None)
    log.info("disconnect: %s (%r): %s", sid, user, reason)


@rtcio.on("whoami")
def whoami(sid, data=None):
    """What the server knows about this socket (the page shows it)."""
    return {"sid": sid, "user": flask.session.get("user")}


def port_setting(name, default):
    raw = os.environ.get(name) or str(default)
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        fail(f"{name} must be a TCP port from 1 to 65535, not {raw!r}")
    return port


def check_free(host, port, name):
    """Refuse a port another process listens on (a second ``python app.py``
    would otherwise share it and half the requests would fail)."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"port {port} on {host} is already in use ({exc.strerror}; "
                 f"is another app.py running?); stop it or set {name} to "
                 f"another port")


def main():
    import eventlet
    import eventlet.wsgi

    host = os.environ.get("HOST", "127.0.0.1")
    port = port_setting("PORT", 3001)
    page_port = port_setting("PAGE_PORT", DEFAULT_PAGE_PORT)
    public_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    check_free(host, port, "PORT")

    if page_port:
        from page import create_page_app  # the demo page's own small site

        check_free(host, page_port, "PAGE_PORT")
        page_app = create_page_app(signaling_port=port)
        page_listener = eventlet.listen((host, page_port), reuse_port=False)
        eventlet.spawn(eventlet.wsgi.server, page_listener, page_app,
                       log_output=False)
        log.info("demo page on http://%s:%d (open it in two tabs)",
                 public_host, page_port)
    log.info("signaling server on http://%s:%d, allowed origins %s",
             public_host, port, ORIGINS)
    # Picks eventlet (patched above), refuses a port in use, drains on
    # Ctrl-C/SIGTERM, closes websockets cleanly.
    rtcio.run(app, host=host, port=port)


if __name__ == "__main__":
    main()
