"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; never
``playwright install``) against the example app, with the demo page on one
origin and the signaling server on another.

The browser and its tabs are the suite's (``browser``/``tabs`` in
tests/conftest.py): every page's console is recorded, and after every test
no message may report a doubled ``Access-Control-Allow-Origin`` header.
"""

import base64
import sys

import pytest

from tests.support.servers import ROOT, LiveServer, free_port, wait_for_port

EXAMPLE = ROOT / "examples" / "flask_app"
OUTPUT = ROOT / "test-output"


class Example:
    """The example app and its demo page, as two origins on 127.0.0.1."""

    def __init__(self, signaling, page_port, extra=()):
        self.signaling = signaling
        self.page_port = page_port
        self._extra = list(extra)

    @property
    def server_url(self):
        return self.signaling.url

    @property
    def page_origin(self):
        return f"http://127.0.0.1:{self.page_port}"

    def page_url(self, host="127.0.0.1", **query):
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"http://{host}:{self.page_port}/?{qs}"

    def log(self):
        return self.signaling.log()

    def stop(self):
        for server in [self.signaling] + self._extra:
            server.stop()


def start_dev_example():
    """``python examples/flask_app/app.py``: signaling and page in one
    process, as the README's quickstart runs it."""
    port, page_port = free_port(), free_port()
    server = LiveServer(
        [sys.executable, str(EXAMPLE / "app.py")], port=port,
        env={"PORT": str(port), "PAGE_PORT": str(page_port),
             "ALLOWED_ORIGINS": f"http://127.0.0.1:{page_port}"},
        watch=True)
    server.start()
    try:
        wait_for_port(page_port, 20, server.proc, server.log_file.name)
    except Exception:
        server.stop()
        raise
    return Example(server, page_port)


def start_gunicorn_example():
    """``gunicorn -k eventlet`` for the signaling app, and ``page.py`` as
    the front end's own site."""
    port, page_port = free_port(), free_port()
    server = LiveServer(
        [sys.executable, "-m", "gunicorn", "-k", "eventlet", "-w", "1",
         "--chdir", str(EXAMPLE), "-b", "127.0.0.1:{port}", "app:app"],
        port=port, env={"ALLOWED_ORIGINS": f"http://127.0.0.1:{page_port}"},
        watch=True)
    page = LiveServer(
        [sys.executable, str(EXAMPLE / "page.py")], port=page_port,
        env={"PAGE_PORT": str(page_port), "SIGNALING_URL": server.url},
        watch=True)
    server.start()
    try:
        page.start()
    except Exception:
        server.stop()
        raise
    return Example(server, page_port, extra=[page])


@pytest.fixture(scope="module")
def dev_example():
    example = start_dev_example()
    try:
        yield example
    finally:
        example.stop()


@pytest.fixture(scope="module")
def gunicorn_example():
    example = start_gunicorn_example()
    try:
        yield example
    finally:
        example.stop()


def side_by_side(browser, images, path):
    """Save PNG screenshots next to each other as one PNG (no imaging
    library needed: the browser lays them out)."""
    tags = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for png in images)
    page = browser.new_page(viewport={"width": 900 * len(images) + 10 *
                                      (len(images) - 1), "height": 620})
    try:
        page.set_content(
            '<body style="margin:0;display:flex;gap:10px;background:#888">'
            + tags + "</body>")
        page.wait_for_function(
            "[...document.images].every(i => i.complete)")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
    finally:
        page.close()
