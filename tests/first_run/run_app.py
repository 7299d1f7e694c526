"""A script as a user writes it with ``rtcio.run(app)``:
``python -m tests.first_run.run_app <eventlet|gevent|threading> <port>``.

The monkey patching comes first, as the docs say; ``RTCIO_METRICS`` and
``RTCIO_ADMIN_*`` come from the environment the test sets.
"""

import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "threading"
if MODE == "eventlet":
    import warnings
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    eventlet.monkey_patch()
elif MODE == "gevent":
    from gevent import monkey
    monkey.patch_all()

import logging  # noqa: E402

from flask import Flask  # noqa: E402

from rtcio_flask import RTCIO  # noqa: E402

logging.basicConfig(level=logging.INFO)
app = Flask(__name__)
rtcio = RTCIO(app, rooms=True)

if __name__ == "__main__":
    rtcio.run(app, port=int(sys.argv[2]))
