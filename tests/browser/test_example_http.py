"""The example app's HTTP side through Flask's test client: the login and
JSON routes under flask-cors, and exactly one CORS layer per path (flask-cors
on the app's routes, RTCIO on /socket.io/). Fast companions to the browser
tests, which need the same app to be right.
"""

import importlib.util
import os

import pytest

from tests.browser.conftest import EXAMPLE

FRONT = "https://front.example"
OTHER = "https://other.example"


@pytest.fixture(scope="module")
def example_app():
    """A fresh import of examples/flask_app/app.py with ALLOWED_ORIGINS set,
    under its own module name so it never collides with another import."""
    saved = os.environ.get("ALLOWED_ORIGINS")
    os.environ["ALLOWED_ORIGINS"] = f"{FRONT}, http://127.0.0.1:8000"
    try:
        spec = importlib.util.spec_from_file_location(
            "rtcio_example_app_under_test", EXAMPLE / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            os.environ.pop("ALLOWED_ORIGINS", None)
        else:
            os.environ["ALLOWED_ORIGINS"] = saved
    return module


@pytest.fixture
def client(example_app):
    return example_app.app.test_client()


def allow_origin(response):
    return response.headers.getlist("Access-Control-Allow-Origin")


def test_allowed_origins_come_from_the_environment(example_app):
    assert example_app.ORIGINS == [FRONT, "http://127.0.0.1:8000"]
    policy = example_app.app.extensions["rtcio"].settings.policy
    assert policy.check(FRONT).allowed and policy.credentials
    assert not policy.check(OTHER).allowed


def test_login_with_json_sets_the_session(client):
    response = client.post("/login", json={"name": "  alice  "})
    assert response.status_code == 200
    assert response.get_json() == {"user": "alice"}
    assert "session=" in response.headers["Set-Cookie"]
    assert "SameSite=Lax" in response.headers["Set-Cookie"]
    assert client.get("/api/me").get_json() == {"user": "alice"}
    client.post("/logout")
    assert client.get("/api/me").get_json() == {"user": None}


def test_login_with_a_form_and_long_names(client):
    response = client.post("/login", data={"name": "b" * 100})
    assert response.get_json() == {"user": "b" * 40}


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "},
                                  {"name": 7}, ["alice"]])
def test_login_without_a_usable_name_is_a_clear_400(client, body):
    response = client.post("/login", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "name-required"
    assert client.get("/api/me").get_json() == {"user": None}


def test_json_routes_answer_allowed_origins_with_credentials(client):
    response = client.get("/api/health", headers={"Origin": FRONT})
    assert response.get_json()["ok"] is True
    assert allow_origin(response) == [FRONT]
    assert response.headers["Access-Control-Allow-Credentials"] == "true"

    refused = client.get("/api/health", headers={"Origin": OTHER})
    assert allow_origin(refused) == []


def test_login_preflight_from_the_page(client):
    response = client.options("/login", headers={
        "Origin": FRONT, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 200
    assert allow_origin(response) == [FRONT]
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "content-type" in response.headers[
        "Access-Control-Allow-Headers"].lower()


def test_socketio_path_has_one_cors_layer(client):
    """flask-cors covers the app's routes, RTCIO the socket.io path; the
    handshake carries exactly one Access-Control-Allow-Origin."""
    response = client.get("/socket.io/?EIO=4&transport=polling",
                          headers={"Origin": FRONT})
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("0{")
    assert allow_origin(response) == [FRONT]
    assert response.headers.getlist(
        "Access-Control-Allow-Credentials") == ["true"]

    refused = client.get("/socket.io/?EIO=4&transport=polling",
                         headers={"Origin": OTHER})
    assert refused.status_code == 400
    assert allow_origin(refused) == []
    assert refused.get_json()["error"] == "origin-not-allowed"
