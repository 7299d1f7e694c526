"""The documentation as a reader meets it: the Sphinx docs build without a
single warning, pages other branches add are picked up by the index, and
the snippets that claim to run (README's own app, the bots example) run as
written against live servers."""

import html
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import docutils.core
import pytest
import requests
import socketio

from tests.first_run.test_startup_errors import wait_for_log
from tests.support.servers import ROOT, LiveServer, free_port

DOCS = ROOT / "docs"


def _sphinx(src, out):
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
         "html", str(src), str(out)], capture_output=True, text=True,
        timeout=300, cwd=ROOT)


def test_docs_build_without_warnings(tmp_path):
    built = _sphinx(DOCS, tmp_path / "html")
    assert built.returncode == 0, built.stderr
    for page in ("index", "cors", "rooms", "deployment", "metrics", "admin",
                 "performance", "migration", "bots", "compatibility",
                 "changelog"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page


def test_pages_added_later_join_the_index(tmp_path):
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build"))
    shutil.copy(ROOT / "CHANGELOG.rst", tmp_path / "CHANGELOG.rst")
    (src / "networks.rst").write_text("Networks\n========\n\nA new page.\n")
    built = _sphinx(src, tmp_path / "html")
    assert built.returncode == 0, built.stderr
    index = (tmp_path / "html" / "index.html").read_text()
    assert 'href="networks.html"' in index


def test_readme_is_valid_restructuredtext():
    warnings = io.StringIO()
    docutils.core.publish_string(
        (ROOT / "README.rst").read_text(), writer="null",
        settings_overrides={"warning_stream": warnings, "report_level": 2,
                            "halt_level": 5})
    assert warnings.getvalue() == ""


def _code_after(text, heading):
    """The first ``.. code-block:: python`` after ``heading``."""
    section = text[text.index(heading):]
    block = section.split(".. code-block:: python\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip() + "\n"


def _login_and_join(url, login):
    """``login(requests.Session())`` (True when it worked), then a
    socket.io client with that session's cookie joins a room."""
    http = requests.Session()
    assert login(http)
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    client = socketio.Client(reconnection=False)
    client.connect(url, headers={"Cookie": cookie}, transports=["polling"],
                   wait_timeout=10)
    try:
        assert client.call("join-room", {"roomId": "r", "name": "a"},
                           timeout=10) is None
    finally:
        client.disconnect()


def test_readme_own_app_runs_as_written(tmp_path):
    code = _code_after((ROOT / "README.rst").read_text(),
                       "Your own app in 20 lines")
    assert len(code.splitlines()) <= 22
    (tmp_path / "app.py").write_text(code)
    port = free_port()
    with LiveServer([sys.executable, "app.py"], cwd=tmp_path,
                    env={"PORT": str(port)}, port=port) as server:
        # No login: the connect hook refuses with the README's message.
        anonymous = socketio.Client(reconnection=False)
        errors = []
        anonymous.on("connect_error", errors.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            anonymous.connect(server.url, transports=["polling"],
                              wait_timeout=10)
        assert errors == [{"message": "login required"}]
        # Logged in: the session cookie rides on the handshake.
        _login_and_join(server.url, lambda http: http.post(
            server.url + "/login/alice", timeout=5).json() == {"user":
                                                                "alice"})
        wait_for_log(server, "(threading)")
        log = server.log()
    assert "Traceback" not in log, log


def test_bots_example_runs_as_written():
    code = _code_after((DOCS / "bots.rst").read_text(),
                       "Join a room and relay")
    with LiveServer([sys.executable, "-m", "rtcio_flask", "--port",
                     "{port}"]) as server:
        env = dict(os.environ, SIGNALING_URL=server.url,
                   PYTHONPATH=str(ROOT))
        ran = subprocess.run([sys.executable, "-c", code], env=env,
                             capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert re.match(r"alice got \{'hello': 'from bob'\} from \S+$",
                    ran.stdout.strip()), ran.stdout


def test_bots_docs_give_the_install_line_and_the_right_id():
    text = (DOCS / "bots.rst").read_text()
    assert 'pip install "python-socketio[client]"' in text
    assert "get_sid()" in text and "Engine.IO" in text
    assert "``None``" in text
    readme = (ROOT / "README.rst").read_text()
    assert 'pip install "python-socketio[client]"' in readme


def test_links_point_to_the_rtcio_project_and_install_is_in_the_docs(
        tmp_path):
    """rtc.io is github.com/solidet-com/rtc.io (npm rtc.io, docs.rtcio.dev);
    the built docs hold an install page, linked from the index, whose pip
    lines are the README's."""
    texts = {path: path.read_text() for path in
             [ROOT / "README.rst", *DOCS.glob("*.rst"),
              *(ROOT / "examples").rglob("*.*")]
             if path.suffix in (".rst", ".py", ".html", ".js")}
    wrong = [str(path) for path, text in texts.items()
             if re.search(r"github\.com/rtcio\b", text)]
    assert wrong == []
    for page in (ROOT / "README.rst", DOCS / "index.rst",
                 DOCS / "install.rst"):
        text = texts[page]
        assert "https://github.com/solidet-com/rtc.io" in text, page
        assert "https://docs.rtcio.dev" in text, page
        assert "https://www.npmjs.com/package/rtc.io" in text or \
            "npm install rtc.io" in text or "npm ``rtc.io``" in text, page

    def pip_lines(text):
        return [line.strip() for line in text.splitlines()
                if line.strip().startswith("pip install")
                and "rtcio-flask" in line and "&&" not in line]

    assert pip_lines(texts[DOCS / "install.rst"]) == \
        pip_lines(texts[ROOT / "README.rst"])[:5]

    built = _sphinx(DOCS, tmp_path / "html")
    assert built.returncode == 0, built.stderr
    index = (tmp_path / "html" / "index.html").read_text()
    assert 'href="install.html"' in index
    assert "https://github.com/solidet-com/rtc.io" in index
    install = html.unescape(re.sub(r"<[^>]+>", "", (
        tmp_path / "html" / "install.html").read_text()))
    assert "pip install rtcio-flask" in install
    assert "rtcio-flask --port 3001" in install


def test_the_websocket_case_table_names_every_case():
    """docs/protocol-fidelity.rst lists every case the RFC 6455 tests run
    (tests/support/ws_frames.py), by name."""
    from tests.support.ws_frames import CASES

    page = (DOCS / "protocol-fidelity.rst").read_text()
    named = set(re.findall(r"``([A-Za-z0-9-]+)``", page))
    assert [c.name for c in CASES if c.name not in named] == []


def test_bots_login_example_runs_as_written_against_the_example_app():
    code = _code_after((DOCS / "bots.rst").read_text(), "Logging in")
    server = LiveServer([sys.executable, str(ROOT / "examples" / "flask_app"
                                             / "app.py")],
                        env={"PAGE_PORT": "0"})
    server.env["PORT"] = str(server.port)
    with server:
        env = dict(os.environ, SIGNALING_URL=server.url,
                   PYTHONPATH=str(ROOT))
        ran = subprocess.run([sys.executable, "-c", code], env=env,
                             capture_output=True, text=True, timeout=60)
        assert (ran.returncode, ran.stdout, ran.stderr) == (
            0, "connected as bot\n", "")
        # Without the cookie: the app's refusal in one line, exit status 1.
        refused = code.replace('headers={"Cookie": cookie}', "headers={}")
        assert refused != code
        ran = subprocess.run([sys.executable, "-c", refused], env=env,
                             capture_output=True, text=True, timeout=60)
        assert (ran.returncode, ran.stderr) == (
            1, "bot: login required: POST /login first\n")


def test_readme_gunicorn_line_runs_with_gevent_without_deprecation_notices():
    """The README's gunicorn line, with ``-k gevent`` as it suggests: the
    example app logs in, connects and joins, and the log holds neither
    eventlet's nor gunicorn's deprecation notice (nor a traceback)."""
    import shlex

    from tests.support.gunicorn import _has_control_socket

    readme = (ROOT / "README.rst").read_text()
    [line] = [ln.strip() for ln in readme.splitlines()
              if ln.strip().startswith("gunicorn -k eventlet -w 1 --chdir")]
    assert "``gunicorn -k gevent`` in" in readme
    argv = shlex.split(line.replace("-k eventlet", "-k gevent").replace(
        "127.0.0.1:3001", "127.0.0.1:{port}"))
    argv[:1] = [sys.executable, "-m", "gunicorn"]
    if _has_control_socket():
        argv.insert(3, "--no-control-socket")
    with LiveServer(argv) as server:
        _login_and_join(server.url, lambda http: http.post(
            server.url + "/login", json={"name": "gil"}, timeout=5).ok)
        log = server.log()
    assert "Using worker: gevent" in log, log
    assert "deprecat" not in log.lower(), log
    assert "Traceback" not in log, log
