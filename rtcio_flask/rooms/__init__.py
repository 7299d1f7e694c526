"""The built-in rooms (``RTCIO(app, rooms=True)``).

- :mod:`.config`: :class:`RoomsConfig` and the checks on client input.
- :mod:`.store`: the :class:`RoomStore` interface and the memory store.
- :mod:`.redis_store`: the Redis store (several processes).
- :mod:`.handlers`: the events wired to python-socketio, and ``rtcio.rooms``.
"""
