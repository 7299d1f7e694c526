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

set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi

# --- compatibility matrix (issue 18; noxfile.py, docs/compatibility.rst) ---
# The package as uv resolves it from setup.cfg's own bounds (lowest-direct
# and highest, eventlet and gevent on the newest gunicorn), through real
# servers: about two minutes. Runs after the whole suite (no pytest
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

exit "$rc"
