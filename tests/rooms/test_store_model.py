"""Random sequences of room operations give the same answers on the Redis
store as on the memory store (the reference), and both keep the invariants
the socket glue relies on."""

import uuid

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize,
                                 invariant, rule)

from rtcio_flask.rooms.store import MemoryRoomStore

ROOMS = st.sampled_from(["r1", "r2", "r3"])
SIDS = st.sampled_from(["s1", "s2", "s3", "s4"])
SERVERS = st.sampled_from(["p1", "p2"])
PASSWORDS = st.sampled_from([None, "", "a", "b"])
CAPS = st.sampled_from([None, 1, 2, 3])


def view(members):
    return [(m.sid, m.name, m.server_id, m.mic, m.cam) for m in members]


@pytest.fixture
def redis_url(redis_server):
    return redis_server.url


def test_redis_store_matches_memory_store(redis_url):
    from rtcio_flask.rooms.redis_store import RedisRoomStore

    class Model(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.ref = MemoryRoomStore()
            self.red = RedisRoomStore(redis_url,
                                      prefix=f"m{uuid.uuid4().hex[:10]}:")

        def teardown(self):
            if hasattr(self, "red"):
                self.red.close()

        @rule(room=ROOMS, sid=SIDS, password=PASSWORDS, cap=CAPS,
              max_rooms=CAPS, server=SERVERS)
        def join(self, room, sid, password, cap, max_rooms, server):
            args = dict(password=password, max_members=cap,
                        max_rooms=max_rooms, server_id=server)
            a = self.ref.join(room, sid, sid.upper(), **args)
            b = self.red.join(room, sid, sid.upper(), **args)
            assert a.status == b.status
            assert view(a.others) == view(b.others)
            assert sid not in [m.sid for m in a.others]

        @rule(room=ROOMS, sid=SIDS)
        def leave(self, room, sid):
            a = self.ref.leave(room, sid)
            b = self.red.leave(room, sid)
            assert view([a] if a else []) == view([b] if b else [])

        @rule(room=ROOMS, sid=SIDS, mic=st.booleans(), cam=st.booleans())
        def media(self, room, sid, mic, cam):
            assert self.ref.set_media(room, sid, mic, cam) == \
                self.red.set_media(room, sid, mic, cam)

        @rule(room=ROOMS, password=PASSWORDS)
        def check(self, room, password):
            assert self.ref.check(room, password) == \
                self.red.check(room, password)

        @rule(sid=SIDS)
        def leave_all(self, sid):
            a = self.ref.leave_all(sid)
            b = self.red.leave_all(sid)
            assert [(r, m.sid) for r, m in a] == [(r, m.sid) for r, m in b]

        @rule(server=SERVERS)
        def purge(self, server):
            a = self.ref.purge_server(server)
            b = self.red.purge_server(server)
            assert sorted((r, m.sid) for r, m in a) == \
                sorted((r, m.sid) for r, m in b)

        @rule(x=SIDS, y=SIDS)
        def shares(self, x, y):
            assert self.ref.shares_room(x, y) == self.red.shares_room(x, y)

        @invariant()
        def same_state(self):
            if not hasattr(self, "ref"):
                return
            assert self.ref.rooms() == self.red.rooms()
            for room in ("r1", "r2", "r3"):
                assert view(self.ref.members(room)) == \
                    view(self.red.members(room))
            for sid in ("s1", "s2", "s3", "s4"):
                assert self.ref.rooms_of(sid) == self.red.rooms_of(sid)
            # A room exists exactly while it has members.
            for room in self.ref.rooms():
                assert self.ref.members(room)

    Model.TestCase.settings = settings(
        max_examples=60, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow])
    Model.TestCase().runTest()
