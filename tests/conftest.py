import pytest

from tests.support.servers import check_watched, serve_app


@pytest.fixture(scope="module")
def live_server():
    """The basic test app under eventlet's WSGI server, shared by a module."""
    with serve_app("tests.apps.basic:create_app", "eventlet",
                   watch=True) as server:
        yield server


@pytest.fixture(autouse=True)
def _watched_server_logs():
    """After every test: no watched server (``serve_app(..., watch=True)``)
    logged a traceback while it ran, and none died."""
    yield
    check_watched()
