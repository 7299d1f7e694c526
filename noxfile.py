"""The compatibility matrix (issue 18): the package as uv resolves it from
setup.cfg's own bounds, oldest and newest, through real servers.

    nox -s compat            # all four sessions
    nox -s "compat(lowest-direct, eventlet)"

Each session installs the package with ``uv pip install --resolution
<resolution> -e .[<extra>,redis]``, pins what that resolved, adds the test
tools without moving those pins, and runs ``tests/compat`` (relay over
websocket and polling, rooms, recovery through a cut connection, a
gunicorn worker, two processes on a Redis queue, RTCIO attached to a
Flask-SocketIO app, versions outside the verified range, two apps with
the Admin UI in one process, the recovery log's packed Redis batches
on that redis-py, and the Flask session the app's handlers see, read
at connect or at the first handler; redis-server must be installed, as
scripts/test.sh does). The resolved versions are printed first; CI's log
keeps them, and docs/compatibility.rst lists what they were.

Run from scripts/test.sh, each session adds to the suite's branch coverage
(coverage is one of the test tools, and its startup hook reads the
``COVERAGE_PROCESS_START`` the script exported), so code only an old or a
new release reaches counts too; and it runs its tests in the suite's
random order (``RTCIO_TEST_SEED``). pytest's "no tests ran" (exit code 5)
fails the session like any other non-zero exit.
"""

import os

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["compat"]

#: What the compatibility tests need besides the package (never moving
#: what the package resolved). Flask-SocketIO 5.5.0 uses python-socketio
#: 5.12's ``Server.reason`` but declares python-socketio>=5.0.2 (5.5.1
#: fixed the bound): next to 5.11 it would fail at start-up.
TEST_TOOLS = ["pytest>=8", "pytest-timeout>=2.2", "requests>=2.31",
              "websocket-client>=1.8", "flask-socketio>=5.3,!=5.5.0",
              "python-socketio[client]", "hypothesis>=6.80",
              # scripts/test.sh: coverage of every process (its .pth
              # startup hook; patch = fork/execv/_exit came in 7.10.4) and
              # the suite's random order
              "coverage>=7.10.4", "pytest-randomly>=3.15"]

#: The distributions whose resolved versions the matrix reports.
REPORTED = ("python-socketio", "python-engineio", "flask", "werkzeug",
            "redis", "eventlet", "gevent", "gunicorn", "simple-websocket",
            "flask-socketio")

MATRIX = [
    ("lowest-direct", "eventlet"),
    # the floor under gevent too (gevent 23.9, gunicorn 23 -k gevent)
    ("lowest-direct", "gevent"),
    ("highest", "eventlet"),
    # gevent on the newest gunicorn (27 as of writing: the gevent extra
    # has no <26 cap, only the eventlet worker needs one).
    ("highest", "gevent"),
]


@nox.session(reuse_venv=False)
@nox.parametrize("resolution,extra", MATRIX,
                 ids=[f"{r}, {e}" for r, e in MATRIX])
def compat(session: nox.Session, resolution: str, extra: str) -> None:
    session.install("--resolution", resolution, "-e", f".[{extra},redis]")
    frozen = session.run("uv", "pip", "freeze", silent=True, external=True)
    pins = [line for line in str(frozen).splitlines()
            if "==" in line and not line.startswith(("-e", "#"))]
    constraints = session.create_tmp() + "/constraints.txt"
    with open(constraints, "w") as out:
        out.write("\n".join(pins) + "\n")
    session.install("-c", constraints, *TEST_TOOLS)
    frozen = session.run("uv", "pip", "freeze", silent=True, external=True)
    report = [line for line in str(frozen).splitlines()
              if line.split("==")[0].lower() in REPORTED]
    session.log("resolved (%s, %s): %s", resolution, extra,
                ", ".join(report))
    seed = os.environ.get("RTCIO_TEST_SEED")
    order = ["-p", "randomly", f"--randomly-seed={seed}"] if seed else \
        ["-p", "no:randomly"]
    session.run("python", "-m", "pytest", "tests/compat",
                "tests/deploy/test_redis_packed.py",
                "tests/flask_client/test_admin_page.py",
                "tests/flask_client/test_extension.py", "-m", "compat",
                "-q", *order, "-p", "no:cacheprovider", *session.posargs,
                env={"RTCIO_COMPAT_MODE": extra})
