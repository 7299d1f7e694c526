"""WSGI and Engine.IO glue: what stands between a client's bytes and
python-socketio.

- :mod:`.gate`: the one CORS layer for the socket.io path.
- :mod:`.guard`: HTTP checks (polling bodies, websocket compression) and
  socket.io's answers where python-engineio's differ.
- :mod:`.hangup`: a waiting long-poll whose client hangs up ends its
  session at once (eventlet hub, gevent loop, or one selector thread).
- :mod:`.packet_hook`: the one hook on raw Engine.IO messages (limits, fast
  paths, checked dispatch).
- :mod:`.sockets`: each WSGI server's client socket, TCP_NODELAY.
- :mod:`.patches`: every private patch of eventlet and python-socketio, with
  the versions they were written against.
"""
