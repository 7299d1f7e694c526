"""What the lower layers need from the objects the top wires in, written as
:class:`typing.Protocol` classes.

The protocol and rooms layers register steps with the app's dispatcher and
its raw-packet hook, both built higher up (:mod:`rtcio_flask.dispatch`,
:mod:`rtcio_flask.transport.packet_hook`). Annotating against these small
structural types instead of the concrete classes keeps the import rule of
docs/development.rst (no import runs back up a layer) and says exactly
which part of the bigger object a module relies on.
"""

from typing import Any, Callable, ContextManager, Protocol

Handler = Callable[..., Any]


class Builtins(Protocol):
    """The dispatcher as a built-in feature sees it
    (:class:`rtcio_flask.dispatch.Dispatcher` satisfies it)."""

    def add_builtin(self, event: str, func: Handler,
                    namespace: str = "/") -> None:
        """Run ``func`` for ``event`` on ``namespace`` before app handlers."""

    def has_user_handler(self, event: str, namespace: str = "/") -> bool:
        """Whether the app handles ``event`` itself."""

    def only_builtin(self, event: str, namespace: str = "/") -> bool:
        """Whether exactly one built-in step and no app handler serve it."""

    def request_context(self, sid: str,
                        namespace: str = "/") -> ContextManager[Any]:
        """The app's request context for ``sid`` as it was at connect."""


class FastPaths(Protocol):
    """The raw-packet hook as the relay sees it
    (:class:`rtcio_flask.transport.packet_hook.PacketHook` satisfies it)."""

    def add_fast_path(self, prefix: str,
                      handler: Callable[[str, str], bool]) -> None:
        """Let ``handler`` take raw text packets starting with ``prefix``."""
