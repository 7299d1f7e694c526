#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests start
# for real (Debian packages, npm packages, the project with its test extras),
# then runs pytest. README.rst and .ci/run both call exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests start for real. Installed when missing, and
# always on CI (a fresh clone on a machine that may lack them).
DEB_PACKAGES="chromium redis-server redis-sentinel coturn nginx"
need_apt=""
for bin in /usr/bin/chromium /usr/bin/redis-server /usr/bin/redis-sentinel \
        /usr/bin/turnserver /usr/sbin/nginx; do
    [ -x "$bin" ] || need_apt=1
done
if [ -n "${CI:-}" ] || [ -n "$need_apt" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $DEB_PACKAGES
fi
# The Debian packages start their own daemons on default ports; the tests
# start private instances on free ports and need none of them.
systemctl disable --now redis-server redis-sentinel coturn nginx \
    >/dev/null 2>&1 || true
# Without systemd (a container), Debian's nginx may still run on port 80.
[ -f /run/nginx.pid ] && nginx -s quit >/dev/null 2>&1 || true

python -m pip install -q --disable-pip-version-check -e '.[test]'

# npm packages used by the browser tests and the benchmark (no downloads of
# browsers: Playwright drives Debian's /usr/bin/chromium).
if [ -f package.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
    # The Admin UI the extension serves, from @socket.io/admin-ui (the copy
    # in rtcio_flask/admin_ui is committed; this refreshes it).
    python scripts/vendor_admin_ui.py
fi

# -- the suite: random order, branch coverage of every process ---------------
# pytest-randomly shuffles modules and the tests in them; a failure names
# the seed, and RTCIO_TEST_SEED=<seed> bash scripts/test.sh reruns that order.
seed="${RTCIO_TEST_SEED:-$(python -c 'import random; print(random.randrange(2**32))')}"
echo "test order: pytest-randomly seed $seed" \
     "(RTCIO_TEST_SEED=$seed bash scripts/test.sh reruns it)"
# The nox sessions below run their tests in the same seed's order.
export RTCIO_TEST_SEED="$seed"
# Coverage: every Python process the tests start (pytest, the servers,
# gunicorn's workers, rtcio-flask) measures itself through coverage's .pth
# hook, which reads COVERAGE_PROCESS_START ([coverage:*] in setup.cfg), and
# writes a data file of its own under .coverage-data/. Any later step that
# keeps these two variables (the nox sessions below) adds to the same data.
# RTCIO_COVERAGE=0 runs without it.
cov_dir="$PWD/.coverage-data"
if [ "${RTCIO_COVERAGE:-1}" != 0 ]; then
    rm -rf "$cov_dir"
    mkdir -p "$cov_dir"
    # The startup hook, where this coverage version does not install one.
    python - <<'PTH'
import glob, os, sysconfig
lib = sysconfig.get_path("purelib")
if not glob.glob(os.path.join(lib, "*coverage*.pth")):
    with open(os.path.join(lib, "rtcio_coverage.pth"), "w") as pth:
        pth.write("import coverage; coverage.process_startup()\n")
PTH
    # pytest measures itself with tests/coverage_pytest.ini (plain threads);
    # tests/conftest.py gives the processes it starts setup.cfg's settings.
    export COVERAGE_PROCESS_START="$PWD/tests/coverage_pytest.ini"
    export RTCIO_COVERAGE_CHILDREN="$PWD/setup.cfg"
    export COVERAGE_FILE="$cov_dir/coverage"
fi
started=$(date +%s)
set +e
# --durations: the slowest tests, where to look when CI nears its 20 minutes.
python -m pytest -p randomly --randomly-seed="$seed" --durations=20 "$@"
rc=$?
set -e
echo "pytest took $(( $(date +%s) - started )) s (seed $seed)"
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi

# --- compatibility matrix (issue 18; noxfile.py, docs/compatibility.rst) ---
# The package as uv resolves it from setup.cfg's own bounds (lowest-direct
# and highest, each with eventlet and with gevent; gevent on the newest
# gunicorn), through real servers: about two and a half minutes. Runs after the whole suite (no pytest
# arguments); RTCIO_COMPAT_MATRIX=1 forces it, =0 skips it.
if [ "${RTCIO_COMPAT_MATRIX:-$([ "$#" -eq 0 ] && echo 1 || echo 0)}" = 1 ]
then
    python -m pip install -q --disable-pip-version-check nox uv
    set +e
    python -m nox -s compat
    compat_rc=$?
    set -e
    [ "$rc" -ne 0 ] || rc=$compat_rc
fi
# --- end of the compatibility matrix -------------------------------------

# -- coverage report (keep last: it combines every step above) -------------
# The 15 least-covered modules and the total; the whole table in
# .coverage-data/report.txt. The floor (fail_under in setup.cfg) holds for
# a whole run only: a run of some tests (arguments given) just reports.
if [ -n "${COVERAGE_PROCESS_START:-}" ]; then
    unset COVERAGE_PROCESS_START
    python -m coverage combine --quiet --rcfile=setup.cfg "$cov_dir"
    floor=()
    [ "$#" -eq 0 ] || floor=(--fail-under=0)
    set +e
    python -m coverage report --rcfile=setup.cfg "${floor[@]}" \
        > "$cov_dir/report.txt"
    cov_rc=$?
    set -e
    echo "branch coverage, least-covered modules first" \
         "(docs/development.rst, Coverage):"
    head -n 17 "$cov_dir/report.txt"
    echo "..."
    tail -n 1 "$cov_dir/report.txt"
    if [ "$cov_rc" -ne 0 ]; then
        echo "coverage is under its floor (fail_under in setup.cfg):" \
             "add tests for what this change left unreached" >&2
        [ "$rc" -ne 0 ] || rc=$cov_rc
    fi
fi
exit "$rc"
