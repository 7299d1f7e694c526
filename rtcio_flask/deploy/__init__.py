"""How the process is deployed and operated.

- :mod:`.settings`: deployment options and what they imply.
- :mod:`.gunicorn`: gunicorn detection and the multi-worker trap.
- :mod:`.health`: the health route and the one drain path on SIGTERM.
- :mod:`.message_queue`: a queue URL to python-socketio's client manager.
- :mod:`.fleet`: heartbeats, so a dead process's room members are purged.
"""
