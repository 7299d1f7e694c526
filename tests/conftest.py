import pytest

from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def live_server():
    """The basic test app under eventlet's WSGI server, shared by a module."""
    with serve_app("tests.apps.basic:create_app", "eventlet") as server:
        yield server
