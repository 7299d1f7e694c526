"""The suite's skip rule (tests/support/skips.py), through pytest itself:
a skip declared with a mark stays a skip; a test that skips itself while
it runs, anywhere, fails with what to write instead."""

import subprocess
import sys
import textwrap

from tests.support.servers import ROOT

CASES = '''
import pytest
from hypothesis import given, strategies as st

@pytest.mark.skip(reason="declared")
def test_marked():
    pass

@pytest.mark.skipif(True, reason="declared too")
def test_marked_if():
    pass

@pytest.mark.skipif(False, reason="not taken")
def test_mark_not_taken_then_skips_itself():
    pytest.skip("inside")

def test_skips_in_its_body():
    pytest.skip("inside")

def test_imports_or_skips():
    pytest.importorskip("no_such_module_here")

@pytest.fixture
def skipping():
    pytest.skip("in a fixture")

def test_with_a_skipping_fixture(skipping):
    pass

@given(st.integers())
def test_property_that_skips(n):
    pytest.skip("one example")

@pytest.mark.xfail(reason="expected to fail")
def test_expected_failure():
    assert False

def test_passes():
    pass
'''


def test_only_declared_skips_stay_skips(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "from tests.support.skips import pytest_runtest_makereport  "
        "# noqa: F401\n")
    (tmp_path / "test_cases.py").write_text(textwrap.dedent(CASES))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:randomly",
         "-p", "no:cacheprovider", "-o", "addopts=", str(tmp_path)],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr  # failed, not 0
    assert "SKIPPED [1] test_cases.py:5: declared" in out, out
    assert "SKIPPED [1] test_cases.py:9: declared too" in out, out
    for name in ("test_mark_not_taken_then_skips_itself",
                 "test_skips_in_its_body", "test_imports_or_skips",
                 "test_property_that_skips"):
        assert f"FAILED test_cases.py::{name}" in out, out
    # A fixture that skips: an error in the test's setup.
    assert "ERROR test_cases.py::test_with_a_skipping_fixture" in out, out
    assert "skipped itself while it ran" in out
    assert "XFAIL test_cases.py::test_expected_failure" in out
    assert "PASSED test_cases.py::test_passes" in out
    assert "4 failed, 1 passed, 2 skipped, 1 xfailed, 1 error" in out, out
