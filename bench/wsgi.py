"""WSGI entry points for the gunicorn variants of the benchmark:
``gunicorn -k eventlet bench.wsgi:eventlet_app`` and ``-k gevent
bench.wsgi:gevent_app`` (the worker has monkey-patched before this import)."""

import os

from bench.serve import rtcio_app

_mode = os.environ.get("BENCH_MODE", "eventlet")
app = rtcio_app(_mode)
