"""The bot in docs/peer.rst (the "Python peers" page), run exactly as written
(only its server URL pointed at the live test server) next to a Chromium
page: it greets, answers on the control channel and logs on ``notes``."""

import os
import re
import subprocess
import sys

from tests.python_peer.conftest import inbox, joined, wait_connected
from tests.docs.test_docs import _code_after
from tests.support.servers import ROOT

README_URL = "http://127.0.0.1:3001"


def docs_block(heading):
    """The first Python block of docs/peer.rst under ``heading`` (its
    title and underline), as a script."""
    return _code_after((ROOT / "docs" / "peer.rst").read_text(), heading)


def readme_bot():
    code = docs_block("Python peers\n============\n")
    body = [line for line in code.splitlines() if line.strip()]
    return code, len(body)


def test_the_readme_bot_runs_as_written(signaling, tabs, tmp_path):
    code, length = readme_bot()
    assert length <= 15, code  # the 15-line bot the docs promise
    assert code.count(README_URL) == 1
    script = tmp_path / "bot.py"
    script.write_text(code.replace(README_URL, signaling.url))
    bot = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        page = tabs.open(signaling.url, name="alice", room="lobby",
                         channels="notes")
        joined(page)
        page.wait_for_function("rtc.connects.length === 1")
        bot_id = page.evaluate("rtc.connects[0]")
        wait_connected(page, bot_id)
        greeting, = inbox(page, bot_id, 1)
        assert greeting == {"from": bot_id, "channel": None, "event": "chat",
                            "args": ["hi alice, I am a bot"]}
        assert page.evaluate(
            "id => rtc.emitTo(id, null, 'chat', ['hello bot'])", bot_id)
        got = inbox(page, bot_id, 3)
        assert {"from": bot_id, "channel": None, "event": "chat",
                "args": ["you said: hello bot"]} in got
        assert {"from": bot_id, "channel": "notes", "event": "log",
                "args": ["alice", "hello bot"]} in got
    finally:
        bot.terminate()
        output = bot.communicate(timeout=10)[0]
    assert not re.search(r"Traceback|ERROR", output), output
