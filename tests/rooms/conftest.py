"""Fixtures for the rooms tests: a private redis-server on a free port, and
the two room stores over it."""

import uuid

import pytest

from tests.support.redis_server import RedisProcess


@pytest.fixture(scope="session")
def redis_server():
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["memory", "redis"])
def store(request):
    """Each store implementation; the Redis one gets a fresh key prefix so
    tests never see each other's rooms."""
    if request.param == "memory":
        from rtcio_flask.rooms.store import MemoryRoomStore
        yield MemoryRoomStore()
        return
    from rtcio_flask.rooms.redis_store import RedisRoomStore
    server = request.getfixturevalue("redis_server")
    st = RedisRoomStore(server.url, prefix=f"t{uuid.uuid4().hex[:8]}:")
    try:
        yield st
    finally:
        st.close()
