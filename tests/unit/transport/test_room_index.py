"""``compat.socketio.index_rooms``: a python-socketio manager with each
socket's rooms indexed behaves as a plain one under any sequence of
connects, joins, leaves, room closes and disconnects (the same
``manager.rooms``, the same rooms per socket, the same participants), so
RTCIO can answer disconnects and room lookups without scanning every room
of the namespace."""

import socketio
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcio_flask.transport.compat.socketio import index_rooms

SIDS = [f"eio{i}" for i in range(5)]
ROOMS = ["a", "b", "c"]
NAMESPACES = ["/", "/chat"]

operations = st.lists(st.tuples(
    st.sampled_from(["connect", "enter", "leave", "close", "disconnect"]),
    st.integers(0, len(SIDS) - 1), st.sampled_from(ROOMS),
    st.sampled_from(NAMESPACES)), max_size=40)


def _manager(indexed):
    server = socketio.Server()
    manager = server.manager
    manager.set_server(server)
    if indexed:
        index_rooms(manager)
    return manager


def _apply(manager, sids, op, who, room, namespace):
    """One operation, as python-socketio's server would make it."""
    if op == "connect":
        if (namespace, who) not in sids:
            sids[(namespace, who)] = manager.connect(SIDS[who], namespace)
        return
    sid = sids.get((namespace, who))
    if sid is None:
        return
    if op == "enter":
        manager.enter_room(sid, namespace, room)
    elif op == "leave":
        manager.leave_room(sid, namespace, room)
    elif op == "close":
        manager.close_room(room, namespace)
    else:
        manager.disconnect(sid, namespace)
        del sids[(namespace, who)]


@settings(max_examples=200, deadline=None)
@given(ops=operations)
def test_an_indexed_manager_behaves_as_python_socketio_s(ops):
    plain, indexed = _manager(False), _manager(True)
    plain_sids, indexed_sids = {}, {}
    for op in ops:
        _apply(plain, plain_sids, *op)
        _apply(indexed, indexed_sids, *op)
    # sids are random: compare through the Engine.IO ids they stand for.
    names = {sid: eio for (ns, who), sid in plain_sids.items()
             for eio in [SIDS[who]]}
    names.update({sid: SIDS[who] for (ns, who), sid in indexed_sids.items()})

    def shape(manager):
        return {ns: {room if room not in names else "<own>":
                     sorted(names.get(s, s) for s in members)
                     for room, members in rooms.items()}
                for ns, rooms in manager.rooms.items()}

    assert shape(indexed) == shape(plain)
    for (namespace, who), sid in plain_sids.items():
        other = indexed_sids[(namespace, who)]
        assert sorted(r if r != sid else "<own>"
                      for r in plain.get_rooms(sid, namespace)) == \
            sorted(r if r != other else "<own>"
                   for r in indexed.get_rooms(other, namespace))
    assert indexed._rtcio_room_index == {
        key: value for key, value in indexed._rtcio_room_index.items()
        if value}, "an emptied socket stays in the index"
    assert {sid for (_ns, sid) in indexed._rtcio_room_index} <= \
        set(indexed_sids.values())
