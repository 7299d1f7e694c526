"""No test hides by skipping itself: the hook tests/conftest.py installs.

A test that cannot run somewhere says so up front with a ``skip`` or
``skipif`` mark and its reason (pytest's ``-ra`` summary, on in setup.cfg,
prints each one at the end of every run). A test that skips itself while it
runs (``pytest.skip()`` in its body or in a fixture, ``pytest.importorskip``,
a skip inside a Hypothesis property, which ends the whole property) would
pass silently without testing what it names: its report becomes a failure
that says what to write instead.
"""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip is declared or it is a failure. A test that cannot run
    somewhere says so up front with a ``skip``/``skipif`` mark and its
    reason (pytest's ``-ra`` summary prints each one); a test that skips
    itself as it runs (``pytest.skip()`` in its body or a fixture,
    ``pytest.importorskip``, a skip inside a Hypothesis property) would
    hide what it claims to test, so its report becomes a failure that
    says how to write it instead."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    declared = report.when == "setup" and any(
        True for name in ("skip", "skipif") for _ in item.iter_markers(name))
    if declared:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) \
        else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"{item.nodeid} skipped itself while it ran ({reason}): declare a "
        f"skip with a skip/skipif mark and its reason, reject a Hypothesis "
        f"example with hypothesis.reject()/assume(), or parametrize the "
        f"test to the cases it can run (tests/conftest.py)")
