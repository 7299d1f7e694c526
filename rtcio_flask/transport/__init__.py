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
- :mod:`.compat`: every reach-in to a private part of python-socketio,
  python-engineio, eventlet, gevent or gunicorn, one module per library,
  with the versions each was verified against; checked once at start-up.
"""
