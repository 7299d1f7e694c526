"""Bots that log in: ``rtcio-flask peer --header 'Cookie: ...'`` and
``--auth``, and the docs' login bot (``Peer(headers=...)`` with
``run_bot``), against the example app, which lets only logged-in users
connect; a refused bot ends with one line and exit status 1, a mistake on
the command line with one line and exit status 2."""

import os
import subprocess
import sys

import pytest
import requests

from tests.python_peer.conftest import room
from tests.python_peer.test_command import error_line
from tests.python_peer.test_readme_bot import docs_block
from tests.support.servers import ROOT, LiveServer, serve_app

EXAMPLE = ROOT / "examples" / "flask_app" / "app.py"
DOCS_URL = "http://127.0.0.1:3001"


@pytest.fixture(scope="module")
def example():
    """``python examples/flask_app/app.py``, signaling only (no page)."""
    server = LiveServer([sys.executable, str(EXAMPLE)],
                        env={"PAGE_PORT": "0"}, watch=True)
    server.env["PORT"] = str(server.port)
    with server:
        yield server


def login_cookie(server, name):
    """The session cookie of the example's own login route."""
    answer = requests.post(server.url + "/login", json={"name": name},
                           timeout=10)
    assert answer.status_code == 200 and answer.json() == {"user": name}
    return "; ".join(f"{k}={v}" for k, v in answer.cookies.items())


def test_command_joins_with_a_login_cookie(example, commands):
    cookie = login_cookie(example, "robot")
    room_id = room()
    # Two --header Cookie lines: both cookies reach the app.
    command = commands(example.url, "--room", room_id, "--name", "ignored",
                       "--header", "Cookie: theme=dark",
                       "--header", f"Cookie: {cookie}")
    joined = command.next("joined")
    assert joined["room"] == room_id
    line = f"connect hook: {joined['id']} is logged in as 'robot'"
    assert line in example.log_with(line)
    code, stderr = command.terminate()
    assert code == 0, stderr
    assert command.next("left") == {"type": "left", "room": room_id,
                                    "_seen": True}


def test_command_without_the_login_is_refused_in_one_line(example,
                                                          commands):
    message = error_line(commands(example.url, "--room", room()))
    assert message == ("the server refused the connection: login required: "
                       "POST /login first")
    # A cookie that is not a login is refused the same way.
    message = error_line(commands(example.url, "--room", room(), "--header",
                                  "Cookie: session=forged"))
    assert message.startswith("the server refused the connection: login "
                              "required")


@pytest.mark.parametrize("argv, line", [
    (["--header", "Cookie session=1"],
     "rtcio-flask peer: error: argument --header: 'Cookie session=1' is not "
     "a header; write 'Name: value', such as --header 'Cookie: session=...' "
     "(rtcio-flask peer --help lists every flag)"),
    (["--auth", "token"],
     "rtcio-flask peer: error: argument --auth: 'token' is not a JSON "
     "object; write --auth '{\"token\": \"...\"}' (rtcio-flask peer --help "
     "lists every flag)"),
])
def test_command_line_mistake_is_one_line_and_exit_2(example, commands,
                                                      argv, line):
    code, stderr = commands(example.url, "--room", "x", *argv).finish()
    assert code == 2
    assert stderr.splitlines() == [line]


def test_auth_reaches_the_apps_connect_hook(commands):
    # The rooms test app refuses {"token": "bad"} with a message and lets
    # a socket without a token in.
    with serve_app("tests.apps.rooms_app:create_app", "eventlet") as app:
        message = error_line(commands(app.url, "--room", room(), "--auth",
                                      '{"token": "bad"}'))
        assert message == ("the server refused the connection: bad token, "
                           "log in again")
        command = commands(app.url, "--room", room(), "--auth",
                           '{"token": "fine"}')
        command.next("joined")
        assert command.terminate()[0] == 0


def docs_login_bot():
    code = docs_block("Logging in\n----------\n")
    assert code.count(DOCS_URL) == 1, code
    return code


def run_script(code, tmp_path):
    script = tmp_path / "bot.py"
    script.write_text(code)
    return subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_the_docs_login_bot_runs_as_written(example, tmp_path):
    bot = run_script(docs_login_bot().replace(DOCS_URL, example.url),
                     tmp_path)
    try:
        assert "is logged in as 'bot'" in example.log_with(
            "is logged in as 'bot'", timeout=30)
    finally:
        bot.terminate()
        out, err = bot.communicate(timeout=15)
    assert "Traceback" not in err, err


def test_a_refused_bot_script_ends_in_one_line_with_exit_1(example,
                                                            tmp_path):
    """The docs' login bot with the login left out: ``run_bot`` turns the
    ConnectError into one line, not a traceback."""
    code = docs_login_bot().replace(DOCS_URL, example.url).replace(
        'headers={"Cookie": cookie}', "headers={}")
    assert "headers={}" in code
    bot = run_script(code, tmp_path)
    out, err = bot.communicate(timeout=60)
    assert bot.returncode == 1
    assert err.splitlines() == [
        "bot.py: error: the server refused the connection: login required: "
        "POST /login first"]
