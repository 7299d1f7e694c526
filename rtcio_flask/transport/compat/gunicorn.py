"""gunicorn's private internals RTCIO uses, in one place.

Verified against gunicorn 23.0 to 27.0 (``VERIFIED`` in
:mod:`rtcio_flask.transport.compat`): ``gunicorn.workers.base.Worker.
init_signals``, where every worker class but the ASGI one sets its signal
handlers with ``signal.signal``.

gunicorn's documented server hooks (``post_worker_init``) belong to the
gunicorn configuration, which an app loaded with ``--preload`` cannot
reach: the app only runs in the arbiter, before any worker exists.
"""

from typing import Any, Callable, List

_worker_signal_hooks: List[Callable[[], Any]] = []


def after_gunicorn_worker_signals(hook: Callable[[], Any]) -> None:
    """Call ``hook()`` in every gunicorn worker right after gunicorn's
    ``Worker.init_signals``. Used when the app is loaded before the fork
    (``--preload``), so a SIGTERM handler reaches the workers."""
    from gunicorn.workers import base

    _worker_signal_hooks.append(hook)
    if getattr(base.Worker.init_signals, "_rtcio_wrapped", False):
        return
    original = base.Worker.init_signals

    def init_signals(self: Any) -> None:
        original(self)
        for each in list(_worker_signal_hooks):
            each()

    init_signals._rtcio_wrapped = True  # type: ignore[attr-defined]
    base.Worker.init_signals = init_signals  # type: ignore[method-assign]
