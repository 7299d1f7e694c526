"""The demo page's own small site, on another origin than the signaling
server, as a real front end would be (another port, host or CDN).

It serves ``static/`` and socket.io-client's browser build from the
repository's ``node_modules`` (``npm ci`` at the repository root), and tells
the page where the signaling server is through ``/config.js``.

    python examples/flask_app/page.py     # http://127.0.0.1:8000

Environment: ``PAGE_PORT`` (8000), ``HOST`` (127.0.0.1), and where the
signaling server is: ``SIGNALING_URL`` (a full URL), or else
``SIGNALING_PORT`` (3001) on the same host name the page was opened with, so
a page opened as ``localhost`` talks to ``localhost`` and one opened as
``127.0.0.1`` to ``127.0.0.1``: the login cookie then stays same-site.
"""

import json
import os
from pathlib import Path

import flask

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CLIENT_DIST = Path(os.environ.get(
    "SOCKETIO_CLIENT_DIST",
    HERE.parents[1] / "node_modules" / "socket.io-client" / "dist"))


def create_page_app(signaling_url=None, signaling_port=None):
    signaling_url = signaling_url or os.environ.get("SIGNALING_URL")
    if signaling_url:
        page_config = {"signalingUrl": signaling_url.rstrip("/")}
    else:
        page_config = {"signalingPort": int(
            signaling_port or os.environ.get("SIGNALING_PORT") or 3001)}
    page = flask.Flask("demo_page", static_folder=str(STATIC),
                       static_url_path="/static")

    @page.get("/")
    def index():
        return flask.send_from_directory(STATIC, "index.html")

    @page.get("/config.js")
    def config():
        body = ("window.RTCIO_DEMO_CONFIG = "
                + json.dumps(page_config) + ";\n")
        return flask.Response(body, mimetype="text/javascript",
                              headers={"Cache-Control": "no-store"})

    @page.get("/vendor/<path:name>")
    def vendor(name):
        if not (CLIENT_DIST / "socket.io.min.js").is_file():
            return flask.Response(
                "// socket.io-client is not installed: run `npm ci` in the "
                "repository root.\nalert('socket.io-client missing: run npm "
                "ci in the repository root');\n",
                status=404, mimetype="text/javascript")
        return flask.send_from_directory(CLIENT_DIST, name)

    return page


if __name__ == "__main__":
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PAGE_PORT", 8000))
    create_page_app().run(host=host, port=port, threaded=True)
