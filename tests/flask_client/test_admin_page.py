"""The Admin UI's page as the extension serves it, through Flask's test
client: where it is (``ui_path``, ``RTCIO_ADMIN_UI_PATH``, none), what the
login form is told, and the start-up refusals."""

import flask
import pytest

from rtcio_flask import RTCIO

LOGIN = {"username": "ops", "password": "s3cret"}


@pytest.fixture(autouse=True)
def engineio_left_as_found():
    """The admin instrumentation patches python-engineio's Socket class
    for every server in the process; the other tests of this process must
    not inherit that from these in-process apps."""
    from engineio.socket import Socket

    saved = dict(vars(Socket))
    yield
    for name in [n for n in vars(Socket) if n not in saved]:
        delattr(Socket, name)
    for name, value in saved.items():
        if vars(Socket).get(name) is not value:
            setattr(Socket, name, value)


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
