"""Room state in Redis, for several server processes or hosts.

Pair it with python-socketio's Redis message queue (which carries the
events between processes) so presence, passwords, caps and the media-state
cache are the same whichever process a socket landed on::

    from rtcio_flask import RTCIO, RoomsConfig, RedisRoomStore
    RTCIO(app, rooms=RoomsConfig(store=RedisRoomStore("redis://127.0.0.1:6379/0")))
    # or: RTCIO(app, rooms={"store_url": "redis://127.0.0.1:6379/0"})

Keys, all under ``prefix`` (default ``rtcio:rooms:``)::

    members:<room>   hash  sid -> {"n": name, "s": server id, "q": join seq}
    media:<room>     hash  sid -> {"mic": bool|null, "cam": bool|null}
    pw:<room>        str   salted PBKDF2 hash of the room password
    rooms            set   room ids that have members
    sid:<sid>        set   room ids of one socket
    server:<id>      set   JSON [room, sid] of members connected through a
                           process, so a crashed process's ghosts can be
                           purged (RoomStore.purge_server)
    seq              int   join order counter

A room's keys are deleted when its last member leaves. ``join`` and
``leave`` are WATCH/MULTI transactions (retried on conflict, a bounded
number of times): the cap, the password and the rooms-per-socket limit are
checked, the snapshot taken and the member added atomically. The password
comparison runs here in Python with :func:`hmac.compare_digest`, not in Lua,
so it stays constant-time.
"""

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import redis

from ..deploy.redis_client import connect, outage_log
from .store import (ALREADY_MEMBER, JOINED, PASSWORD_REQUIRED,
                         ROOM_FULL, TOO_MANY_ROOMS, WRONG_PASSWORD,
                         CheckResult, JoinResult, Member, RestoredMember,
                         RoomStore,
                         hash_password, password_matches)

# Conflicting transactions on one room are retried; each retry means another
# join or leave on that room committed, so this bounds the wait, not
# correctness.
MAX_ATTEMPTS = 200

_SET_MEDIA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class RedisRoomStore(RoomStore):
    """A :class:`~rtcio_flask.rooms.store.RoomStore` in Redis (redis-py).

    ``url`` is any Redis URL the message queue takes (``redis://host:port/db``,
    ``rediss://``, ``unix://``, ``valkey://``, ``redis+sentinel://...``; see
    :mod:`rtcio_flask.deploy.redis_client` for the pool it gets); or pass a
    ready ``client`` (it must use ``decode_responses=True``).
    """

    def __init__(self, url: Optional[str] = None, *, client: Any = None,
                 prefix: str = "rtcio:rooms:") -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisRoomStore needs either a url "
                             "('redis://host:6379/0') or client=, not both.")
        if client is None:
            assert url is not None  # exactly one of the two, checked above
            client = connect(url, where="the room store URL")
        #: This Redis's outages, logged once for every feature on it.
        self.outages = outage_log(url, "the room store's Redis")
        #: The URL the store was opened with (None with ``client=``): the
        #: fleet heartbeat opens its own client on it.
        self.url = url
        self.redis: Any = client
        self.prefix = prefix
        self._set_media = client.register_script(_SET_MEDIA)

    def __repr__(self) -> str:
        return f"<RedisRoomStore prefix={self.prefix!r}>"

    # -- keys ---------------------------------------------------------------

    def _k(self, kind: str, ident: Optional[str] = None) -> str:
        return f"{self.prefix}{kind}" if ident is None else \
            f"{self.prefix}{kind}:{ident}"

    @staticmethod
    def _member(sid: str, raw: str,
                media_raw: Optional[str] = None) -> Member:
        data = json.loads(raw)
        media = json.loads(media_raw) if media_raw else {}
        return Member(sid, data.get("n", ""), data.get("s", ""),
                      media.get("mic"), media.get("cam"), data.get("q", 0))

    def _room_members(self, members_raw: Dict[str, str],
                      media_raw: Dict[str, str],
                      skip: Optional[str] = None) -> Tuple[Member, ...]:
        found = [self._member(sid, raw, media_raw.get(sid))
                 for sid, raw in members_raw.items() if sid != skip]
        found.sort(key=lambda m: m.seq)
        return tuple(found)

    def _transaction(self, keys: Sequence[str],
                     body: Callable[[Any], Any]) -> Any:
        """Run ``body(pipe)`` under WATCH on ``keys`` until it commits.

        ``body`` reads with the pipe in immediate mode, then either returns
        a result without writing, or calls ``pipe.multi()``, queues writes
        and returns a result used once EXEC succeeds.
        """
        for _ in range(MAX_ATTEMPTS):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*keys)
                    result = body(pipe)
                    if pipe.explicit_transaction:
                        pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise RuntimeError(f"RedisRoomStore: gave up after {MAX_ATTEMPTS} "
                           f"conflicting transactions on {keys[0]!r}")

    # -- RoomStore ----------------------------------------------------------

    def join(self, room_id: str, sid: str, name: str = "", *,
             password: Optional[str] = None,
             max_members: Optional[int] = None,
             max_rooms: Optional[int] = None,
             server_id: str = "") -> JoinResult:
        mkey = self._k("members", room_id)
        media_key = self._k("media", room_id)
        pkey = self._k("pw", room_id)
        skey = self._k("sid", sid)
        seq = self.redis.incr(self._k("seq"))

        def body(pipe: Any) -> JoinResult:
            members_raw = pipe.hgetall(mkey)
            media_raw = pipe.hgetall(media_key) if members_raw else {}
            if sid in members_raw:
                return JoinResult(ALREADY_MEMBER, self._room_members(
                    members_raw, media_raw, skip=sid))
            stored = pipe.get(pkey) if members_raw else None
            if stored is not None:
                if not password:
                    return JoinResult(PASSWORD_REQUIRED)
                if not password_matches(stored, password):
                    return JoinResult(WRONG_PASSWORD)
            if max_members is not None and len(members_raw) >= max_members:
                return JoinResult(ROOM_FULL)
            if max_rooms is not None and pipe.scard(skey) >= max_rooms:
                return JoinResult(TOO_MANY_ROOMS)
            others = self._room_members(members_raw, media_raw)
            pipe.multi()
            if not members_raw:
                # First joiner: whatever an earlier room of that id left is
                # gone, and its password (if any) becomes the room's.
                pipe.delete(pkey, media_key)
                if password:
                    pipe.set(pkey, hash_password(password))
            pipe.hset(mkey, sid, _dumps({"n": name, "s": server_id,
                                         "q": seq}))
            pipe.sadd(self._k("rooms"), room_id)
            pipe.sadd(skey, room_id)
            pipe.sadd(self._k("server", server_id), _dumps([room_id, sid]))
            return JoinResult(JOINED, others)

        result: JoinResult = self._transaction(
            [mkey, pkey, skey, media_key], body)
        return result

    def check(self, room_id: str,
              password: Optional[str] = None) -> CheckResult:
        with self.redis.pipeline() as pipe:
            pipe.exists(self._k("members", room_id))
            pipe.get(self._k("pw", room_id))
            has_members, stored = pipe.execute()
        if not has_members or stored is None:
            return CheckResult(False)
        if not password:
            return CheckResult(True)
        return CheckResult(True, password_matches(stored, password))

    def leave(self, room_id: str, sid: str) -> Optional[Member]:
        mkey = self._k("members", room_id)
        media_key = self._k("media", room_id)

        def body(pipe: Any) -> Optional[Member]:
            raw = pipe.hget(mkey, sid)
            if raw is None:
                return None
            media_raw = pipe.hget(media_key, sid)
            count = pipe.hlen(mkey)
            member = self._member(sid, raw, media_raw)
            pipe.multi()
            pipe.hdel(mkey, sid)
            pipe.hdel(media_key, sid)
            pipe.srem(self._k("sid", sid), room_id)
            pipe.srem(self._k("server", member.server_id),
                      _dumps([room_id, sid]))
            if count <= 1:
                pipe.delete(mkey, media_key, self._k("pw", room_id))
                pipe.srem(self._k("rooms"), room_id)
            return member

        member: Optional[Member] = self._transaction([mkey], body)
        return member

    def set_media(self, room_id: str, sid: str, mic: Optional[bool],
                  cam: Optional[bool]) -> bool:
        return bool(self._set_media(
            keys=[self._k("members", room_id), self._k("media", room_id)],
            args=[sid, _dumps({"mic": mic, "cam": cam})]))

    def members(self, room_id: str) -> List[Member]:
        with self.redis.pipeline() as pipe:
            pipe.hgetall(self._k("members", room_id))
            pipe.hgetall(self._k("media", room_id))
            members_raw, media_raw = pipe.execute()
        return list(self._room_members(members_raw, media_raw))

    def member(self, room_id: str, sid: str) -> Optional[Member]:
        with self.redis.pipeline() as pipe:
            pipe.hget(self._k("members", room_id), sid)
            pipe.hget(self._k("media", room_id), sid)
            raw, media_raw = pipe.execute()
        return None if raw is None else self._member(sid, raw, media_raw)

    def rooms(self) -> List[str]:
        return sorted(self.redis.smembers(self._k("rooms")))

    def rooms_of(self, sid: str) -> List[str]:
        return sorted(self.redis.smembers(self._k("sid", sid)))

    def shares_room(self, sid_a: str, sid_b: str) -> bool:
        return bool(self.redis.sinter(self._k("sid", sid_a),
                                      self._k("sid", sid_b)))

    def members_of_server(self, server_id: str
                          ) -> List[Tuple[str, Member]]:
        found = []
        for ref in self.redis.smembers(self._k("server", server_id)):
            try:
                room_id, sid = json.loads(ref)
            except (ValueError, TypeError):
                continue
            member = self.member(room_id, sid)
            if member is not None and member.server_id == server_id:
                found.append((room_id, member))
        return found

    def move(self, room_id: str, sid: str, server_id: str) -> bool:
        mkey = self._k("members", room_id)

        def body(pipe: Any) -> bool:
            raw = pipe.hget(mkey, sid)
            if raw is None:
                return False
            entry = json.loads(raw)
            old = entry.get("s", "")
            if old == server_id:
                return True
            entry["s"] = server_id
            pipe.multi()
            pipe.hset(mkey, sid, _dumps(entry))
            pipe.srem(self._k("server", old), _dumps([room_id, sid]))
            pipe.sadd(self._k("server", server_id), _dumps([room_id, sid]))
            return True

        moved: bool = self._transaction([mkey], body)
        return moved

    def purge_server(self, server_id: str,
                     keep: Callable[[str], bool] = lambda sid: False
                     ) -> List[Tuple[str, Member]]:
        removed = super().purge_server(server_id, keep)
        self.redis.delete(self._k("server", server_id))
        return removed

    def is_outage(self, exc: BaseException) -> bool:
        return isinstance(exc, (redis.ConnectionError, redis.TimeoutError))

    def password_hash(self, room_id: str) -> "str | None":
        value = self.redis.get(self._k("pw", room_id))
        return None if value is None else str(value)

    def restore(self, entries: "list[RestoredMember]") -> int:
        """Re-add members after Redis lost its data (restarted without
        persistence, flushed): each process puts back its own live sockets
        (:meth:`rtcio_flask.rooms.handlers.Rooms.restore_local`). A member
        already there is left as it is; a password only fills an empty
        slot (the first process to restore a room sets it)."""
        added = 0
        for entry in entries:
            seq = self.redis.incr(self._k("seq"))
            with self.redis.pipeline() as pipe:
                pipe.hsetnx(self._k("members", entry.room_id), entry.sid,
                            _dumps({"n": entry.name, "s": entry.server_id,
                                    "q": seq}))
                pipe.sadd(self._k("rooms"), entry.room_id)
                pipe.sadd(self._k("sid", entry.sid), entry.room_id)
                pipe.sadd(self._k("server", entry.server_id),
                          _dumps([entry.room_id, entry.sid]))
                if entry.mic is not None or entry.cam is not None:
                    pipe.hsetnx(self._k("media", entry.room_id), entry.sid,
                                _dumps({"mic": entry.mic, "cam": entry.cam}))
                if entry.password_hash:
                    pipe.set(self._k("pw", entry.room_id),
                             entry.password_hash, nx=True)
                added += bool(pipe.execute()[0])
        return added

    def close(self) -> None:
        self.redis.close()
