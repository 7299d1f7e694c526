"""Commands packed by rtcio_flask (the recovery log's batches) against a
real redis-server: Redis reads them as redis-py's own would be read
(UTF-8 lengths, CRLF inside values), and an error reply mid-batch raises
(the recovery log's outage guard sees it) without spoiling the pool.

The version matrix (noxfile.py) runs this module too: redis-py's pool
API changed under it (``get_connection`` needs a command name before
5.3; the floor is 5.0)."""

import pytest
import redis as redis_py

from rtcio_flask.core import resp
from rtcio_flask.deploy.redis_client import connect, execute_packed
from tests.support.redis_server import RedisProcess

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def client():
    server = RedisProcess().start()
    try:
        yield connect(server.url, max_connections=1)
    finally:
        server.remove()


def test_packed_batch_is_read_as_sent(client):
    values = ["plain", "é and 日本", "a\r\nb", "", "x" * 70000]
    packed = b"".join(resp.command("RPUSH", "packed", value)
                      for value in values)
    assert execute_packed(client, packed, len(values)) == \
        list(range(1, len(values) + 1))
    assert client.lrange("packed", 0, -1) == values


def test_error_reply_mid_batch_raises_and_the_pool_goes_on(client):
    # The second command is wrong (XADD without fields): its error raises,
    # the third reply is never read; the pool's one connection serves the
    # next commands with their own replies.
    packed = (resp.command("SET", "k", "1") + resp.command("XADD", "s", "*")
              + resp.command("SET", "k", "2"))
    with pytest.raises(redis_py.ResponseError):
        execute_packed(client, packed, 3)
    assert client.get("k") in ("1", "2")
    assert client.ping() is True
    assert client.set("k", "3") is True
    assert client.get("k") == "3"
