"""Flask-SocketIO's private contract RTCIO keeps when it is handed a
Flask-SocketIO server (``RTCIO(app, server=socketio)``).

Verified against Flask-SocketIO 5.3 to 5.7: its handlers find their Flask
app in ``environ["flask.app"]``, which its own WSGI middleware
(``_SocketIOMiddleware``) sets on every socket.io request. RTCIO's gate
serves ``/socket.io/`` itself (to own CORS), so that middleware no longer
runs: :func:`with_flask_app` sets the key instead, or every Flask-SocketIO
event handler fails with ``KeyError: 'flask.app'``.
"""

from typing import Any, Callable, Dict, Iterable


def is_flask_socketio(server: Any) -> bool:
    """Whether ``server`` is a Flask-SocketIO ``SocketIO`` object."""
    return type(server).__module__.split(".")[0] == "flask_socketio"


def with_flask_app(socketio_app: Callable[..., Iterable[bytes]],
                   app: Any) -> Callable[..., Iterable[bytes]]:
    """``socketio_app`` with ``environ["flask.app"]`` set to ``app``."""

    def serve(environ: Dict[str, Any],
              start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["flask.app"] = app
        return socketio_app(environ, start_response)

    return serve
