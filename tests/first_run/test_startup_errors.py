"""Every start-up mistake of ``rtcio-flask``, the example and
``rtcio.run(app)`` ends in one line that says what to do, with exit
status 2, and never in a traceback; a port in use is refused in every
serving mode the project starts itself."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.gunicorn import serve_gunicorn
from tests.support.servers import ROOT, LiveServer, free_port

CLI = [sys.executable, "-m", "rtcio_flask"]


def _run(argv, env=None, timeout=60, cwd=ROOT):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT))
    full_env.pop("ALLOWED_ORIGINS", None)
    full_env.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def wait_for_log(server, text, timeout=20):
    """The listening socket opens before the start-up line is logged."""
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


def _one_line(out):
    """The whole of stderr, which must be exactly one line."""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.mark.parametrize("argv, line", [
    (["--port", "99999"],
     "rtcio-flask: error: argument --port: 99999 is not a TCP port; write a "
     "number from 1 to 65535, such as --port 3001 (rtcio-flask --help lists "
     "every flag)"),
    # TEST-NET-1: never an address of this machine.
    (["--host", "192.0.2.1"],
     "rtcio-flask: error: cannot listen on 192.0.2.1: it is not an address "
     "of this machine; give one of its own, such as 127.0.0.1 (this machine "
     "only) or 0.0.0.0 (every interface)"),
    (["--allowed-origins", ""],
     "rtcio-flask: error: --allowed-origins '' lists no origin; write one or "
     "more, comma-separated (--allowed-origins https://app.example.com), * "
     "for any origin in development, or leave the flag out for this "
     "server's own origin and localhost pages"),
    (["--allowed-origins", "*", "--credentials"],
     "rtcio-flask: error: --allowed-origins '*' cannot be combined with "
     "--credentials (browsers refuse cookies with a wildcard answer); list "
     "the origins instead: --allowed-origins https://app.example.com "
     "--credentials"),
    (["--allowed-origins", "https://app.example.com/"],
     "rtcio-flask: error: --allowed-origins: 'https://app.example.com/' is "
     "not an origin (an origin has no path, query or trailing slash; write "
     "'https://app.example.com'); write scheme://host[:port], such as "
     "--allowed-origins https://app.example.com"),
])
def test_cli_mistake_is_one_line_and_exit_2(argv, line):
    # A free default port: the mistake must be the one line even while a
    # developer's own server holds 3001 (a busy port is refused first).
    out = _run(CLI + argv, env={"PORT": str(free_port())})
    assert out.returncode == 2
    assert _one_line(out) == line


def test_port_from_environment_out_of_range():
    out = _run(CLI, env={"PORT": "70000"})
    assert out.returncode == 2
    assert _one_line(out) == ("rtcio-flask: error: $PORT must be a TCP port "
                              "from 1 to 65535, not 70000")


@pytest.mark.parametrize("missing", ["gevent", "eventlet"])
def test_server_that_is_not_installed_says_how_to_install_it(tmp_path,
                                                              missing):
    # A package that fails to import stands for one that is not installed.
    fake = tmp_path / missing
    fake.mkdir()
    (fake / "__init__.py").write_text(
        f"raise ImportError(\"No module named {missing!r}\")\n")
    out = _run(CLI + ["--server", missing, "--port", str(free_port())],
               env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    assert out.returncode == 2
    assert _one_line(out) == (
        f"rtcio-flask: error: --server {missing} needs {missing}, which is "
        f"not installed: pip install 'rtcio-flask[{missing}]' (or choose "
        f"--server threading)")


def _in_use(port):
    return (f"port {port} on 127.0.0.1 is already in use (another server, "
            f"perhaps a second copy of this one, listens there); stop it or ")


@pytest.mark.parametrize("kind", ["eventlet", "gevent", "threading"])
def test_second_cli_server_on_a_used_port_is_refused(kind):
    with LiveServer(CLI + ["--port", "{port}", "--server", kind]) as first:
        out = _run(CLI + ["--port", str(first.port), "--server", kind])
        assert out.returncode == 2
        assert _one_line(out) == ("rtcio-flask: error: " + _in_use(first.port)
                                  + "choose another --port (or $PORT)")
        # The first server still answers every request alone.
        for _ in range(5):
            assert requests.get(first.url + "/healthz", timeout=5).ok


def test_cli_process_is_named_for_pgrep():
    with LiveServer(CLI + ["--port", "{port}"]) as server:
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert cmdline.replace(b"\0", b" ").startswith(b"rtcio-flask --port")
        found = subprocess.run(["pgrep", "-f", f"rtcio-flask --port "
                                f"{server.port}"], capture_output=True,
                               text=True)
        assert str(server.proc.pid) in found.stdout.split()


def test_default_policy_refusal_names_what_it_allows():
    with LiveServer(CLI + ["--port", "{port}"]) as server:
        got = requests.get(server.url + "/socket.io/",
                           params={"EIO": "4", "transport": "polling"},
                           headers={"Origin": "https://evil.example"},
                           timeout=5)
        assert got.status_code == 400
        assert got.json()["message"] == (
            "Origin 'https://evil.example' may not connect to the signaling "
            "server: it is not this server's own origin or a page on "
            "localhost, 127.0.0.1 or [::1] (the default without "
            "--allowed-origins). To allow it, add it to --allowed-origins "
            "(or $ALLOWED_ORIGINS).")
        assert "origin callable" not in server.log()


@pytest.mark.parametrize("kind", ["eventlet", "gevent", "threading"])
def test_rtcio_run_refuses_a_used_port(kind):
    argv = [sys.executable, "-m", "tests.first_run.run_app", kind]
    with LiveServer(argv + ["{port}"]) as first:
        wait_for_log(first, f"({kind})")
        out = _run(argv + [str(first.port)])
        assert out.returncode == 2
        lines = [line for line in out.stderr.splitlines()
                 if not line.startswith("INFO:")]
        assert lines == ["rtcio: error: " + _in_use(first.port) +
                         "pass another port: rtcio.run(app, port=...)"], \
            out.stderr
        assert "Traceback" not in out.stderr


def test_example_app_refuses_a_used_port_and_starts_quietly():
    port = free_port()
    example = [sys.executable, "examples/flask_app/app.py"]
    with LiveServer(example, env={"PORT": str(port), "PAGE_PORT": "0"},
                    port=port) as first:
        out = _run(example, env={"PORT": str(port), "PAGE_PORT": "0"})
        assert out.returncode == 2
        assert _one_line(out).startswith(
            f"app.py: error: port {port} on 127.0.0.1 is already in use")
        assert _one_line(out).endswith("stop it or set PORT to another port")
        assert requests.get(first.url + "/api/health", timeout=5).ok
        log = first.log()
    assert "Eventlet is deprecated" not in log
    assert "Traceback" not in log


def test_example_app_with_a_bad_allowed_origin_is_one_line():
    """ALLOWED_ORIGINS with a trailing slash ended the example in a
    traceback; now one line says what to write."""
    out = _run([sys.executable, "examples/flask_app/app.py"],
               env={"PORT": str(free_port()), "PAGE_PORT": "0",
                    "ALLOWED_ORIGINS": "http://127.0.0.1:8000/"})
    assert out.returncode == 2
    line = _one_line(out)
    assert line.startswith("app.py: error: RTCIO cors: "
                           "'http://127.0.0.1:8000/' is not a valid origin")
    assert "write 'http://127.0.0.1:8000'" in line


@pytest.mark.parametrize("worker, env, message", [
    ("gthread", {"WEB_CONCURRENCY": "3"}, "RTCIO refuses to start"),
    # Redis down: the refusal rtcio-flask gives, not a traceback (issue 22).
    ("gevent", {"RTCIO_MESSAGE_QUEUE": "redis://127.0.0.1:{dead}/0"},
     "cannot reach the message queue at redis://127.0.0.1:{dead}/0: "),
])
def test_gunicorn_start_up_refusal_appears_once_without_tracebacks(
        worker, env, message):
    dead = free_port()   # nothing listens there
    env = {k: v.format(dead=dead) for k, v in env.items()}
    server = serve_gunicorn("tests.apps.deploy_app:create_app()", worker,
                            workers=None if "WEB_CONCURRENCY" in env else 1,
                            env=env)
    server.start()
    try:
        code = server.proc.wait(60)
    finally:
        server.stop()
    log = server.log()
    assert code != 0
    assert log.count(message.format(dead=dead)) == 1, log
    assert "Traceback" not in log, log
    assert "App failed to load" in log
    assert len(log.splitlines()) < 30, log
