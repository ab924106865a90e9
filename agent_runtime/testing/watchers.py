"""Fake watchers for tests: in-memory watchers with a configurable stop error."""

from __future__ import annotations

from collections.abc import Iterable

from zope.interface import implementer

from agent_runtime.interfaces import INotifyWatcher, IStringsWatcher
from agent_runtime.watcher import NotifyWatcher, StringsWatcher

__all__ = ["FakeNotifyWatcher", "FakeStringsWatcher"]


@implementer(INotifyWatcher)
class FakeNotifyWatcher(NotifyWatcher):
    """A NotifyWatcher that sends nothing until ``trigger()`` (unless
    ``initial=True``) and whose ``stop()``/``kill()`` stop it with
    ``stop_error`` (then raised by ``stop()``/``wait()`` and returned by ``err()``)."""

    def __init__(self, stop_error: BaseException | None = None, initial: bool = False) -> None:
        super().__init__(initial=initial)
        self.stop_error = stop_error

    def kill(self) -> None:
        self._finish(self.stop_error)

    def trigger(self) -> bool:
        """Send a change event; False if the watcher has stopped."""
        return self.notify()


@implementer(IStringsWatcher)
class FakeStringsWatcher(StringsWatcher):
    """A StringsWatcher that sends nothing until ``trigger(ids)`` (unless given
    ``initial`` ids) and whose ``stop()``/``kill()`` stop it with ``stop_error``."""

    def __init__(
        self, stop_error: BaseException | None = None, initial: Iterable[str] | None = None
    ) -> None:
        super().__init__(initial=initial)
        self.stop_error = stop_error

    def kill(self) -> None:
        self._finish(self.stop_error)

    def trigger(self, ids: Iterable[str]) -> bool:
        """Send changed ids; False if the watcher has stopped."""
        return self.send(ids)
