import os

import pytest

from tests.support.chromium import CHROMIUM_ARGS, Tabs, launch_chromium
from tests.support.servers import check_watched, serve_app
# A skip is declared up front or it fails (tests/support/skips.py).
from tests.support.skips import pytest_runtest_makereport  # noqa: F401

# scripts/test.sh: pytest itself measures coverage with plain threads
# (tests/coverage_pytest.ini says why); every process the tests start gets
# setup.cfg's settings, greenlets included, through the variable coverage's
# startup hook reads.
if os.environ.get("RTCIO_COVERAGE_CHILDREN"):
    os.environ["COVERAGE_PROCESS_START"] = \
        os.environ["RTCIO_COVERAGE_CHILDREN"]


@pytest.fixture(scope="module")
def live_server():
    """The basic test app under eventlet's WSGI server, shared by a module."""
    with serve_app("tests.apps.basic:create_app", "eventlet",
                   watch=True) as server:
        yield server


@pytest.fixture(scope="module")
def chromium_args():
    """What ``browser`` launches Chromium with. A module or package that
    needs more (a fake camera: ``MEDIA_ARGS``) overrides this fixture."""
    return CHROMIUM_ARGS


# Module scope: Playwright's sync API runs its own event loop, which must be
# gone before other test packages (aiortc peers) run theirs.
@pytest.fixture(scope="module")
def browser(chromium_args):
    """Debian's Chromium through Playwright (tests/support/chromium.py)."""
    with launch_chromium(chromium_args) as chromium:
        yield chromium


@pytest.fixture
def tabs(browser):
    """The test's tabs (tests/support/chromium.py ``Tabs``), closed after
    it; no tab may have reported a doubled ``Access-Control-Allow-Origin``
    header."""
    tabs = Tabs(browser)
    try:
        yield tabs
        doubled = (tabs.messages("multiple values")
                   + tabs.messages("contains multiple"))
        assert not doubled, f"doubled CORS header reported: {doubled}"
    finally:
        tabs.close()


@pytest.fixture(autouse=True)
def _watched_server_logs():
    """After every test: no watched server (``serve_app(..., watch=True)``)
    logged a traceback while it ran, and none died."""
    yield
    check_watched()


@pytest.fixture(autouse=True)
def _admin_instrumentation_undone():
    """python-socketio's Admin UI instrumentation (``instrument()``)
    replaces methods of python-engineio's ``Socket`` class for the whole
    process, each time on top of the last one (then polling requests go to
    servers long gone, or recurse forever). After a test that set up the
    Admin UI in pytest's own process (tests/flask_client/test_admin_page.py)
    those methods are put back as they were, so no later in-process test
    depends on whether that one ran before it."""
    from engineio.socket import Socket

    names = ("handle_post_request", "_websocket_handler", "_send_ping")
    before = {name: vars(Socket).get(name) for name in names}
    yield
    changed = [name for name in names if vars(Socket).get(name) is not
               before[name] and _instrumented(vars(Socket).get(name))]
    for name in changed:
        setattr(Socket, name, before[name])
    for name in list(vars(Socket)):
        if changed and name.startswith("_InstrumentedServer__"):
            delattr(Socket, name)


def _instrumented(method):
    """Whether a ``Socket`` attribute is python-socketio's replacement (a
    ``functools.partialmethod`` of InstrumentedServer's)."""
    partial = getattr(method, "_partialmethod", method)
    return getattr(getattr(partial, "func", None), "__qualname__",
                   "").startswith("InstrumentedServer.")
