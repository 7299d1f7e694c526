"""``python -m rtcio_flask``: the same standalone server as ``rtcio-flask``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
