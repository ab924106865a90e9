"""NotifyWorker and StringsWorker: a watcher's events turned into handler calls.

Both run one loop: ``set_up()`` returns a watcher; every event of its
``changes()`` becomes one ``handle()`` call, in order; when the worker stops,
for any reason, the watcher is stopped and then ``tear_down()`` runs.

The worker's error is the first of, in this order (juju's precedence): the
error stopping the watcher raised, the error ``tear_down()`` raised, the
error that ended the loop (``handle()``'s, or the watcher's when its events
ended although nobody asked the worker to stop). A clean kill gives None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gevent.event import Event
from zope.interface import implementer
from zope.interface.interface import InterfaceClass

from agent_runtime.errors import WatcherStopped
from agent_runtime.interfaces import (
    IAbortableWorker,
    INotifyWatcher,
    INotifyWatchHandler,
    IStringsWatcher,
    IStringsWatchHandler,
)
from agent_runtime.worker.base import GreenletWorker, Interrupted, Interruptible

__all__ = ["NotifyWorker", "StringsWorker", "follow"]


def _call(function: Callable[[], Any]) -> BaseException | None:
    try:
        function()
    except Exception as error:
        return error
    return None


def follow(
    watcher: Any,
    dying: Event,
    next_change: Interruptible,
    handle: Callable[[Any], None],
) -> BaseException | None:
    """Call ``handle(event)`` for each event of ``watcher.changes()``, until
    ``dying`` is set; return the error that ended it, or None.

    The wait for each event runs in ``next_change``, so that ``kill()`` (which
    interrupts it) cuts short that wait and nothing else. The error is
    ``handle``'s, or the watcher's when its events end while nobody asked to
    stop (its ``err()``, or ``WatcherStopped`` if it has none).
    """
    try:
        changes = iter(watcher.changes())
    except Exception as error:
        return error
    while not dying.is_set():
        try:
            change = next_change.run(next, changes)
        except StopIteration:
            if dying.is_set():
                return None
            return watcher.err() or WatcherStopped(
                f"{watcher!r} stopped sending changes without an error"
            )
        except Interrupted:
            return None
        except Exception as error:
            return error
        try:
            handle(change)
        except Exception as error:
            return error
    return None


class _WatchWorker(GreenletWorker):
    _handler_interface: InterfaceClass
    _watcher_interface: InterfaceClass

    def __init__(self, handler: Any) -> None:
        if not self._handler_interface.providedBy(handler):
            raise TypeError(
                f"{type(self).__name__} needs a handler that provides "
                f"{self._handler_interface.__name__}, not {handler!r}"
            )
        super().__init__()
        self._handler = handler
        # kill() cuts short a wait for the next change, and nothing else: if the
        # change arrived first, the worker is in handle() and is left alone.
        self._next_change = Interruptible()
        self._start()

    def kill(self) -> None:
        if self.dying.is_set():
            return
        self.dying.set()
        self._next_change.interrupt()

    def _run(self) -> None:
        handler = self._handler
        watcher = handler.set_up()
        if not self._watcher_interface.providedBy(watcher):
            stop = getattr(watcher, "stop", None)
            if callable(stop):
                _call(stop)
            raise TypeError(
                f"{handler!r}.set_up() returned {watcher!r}, "
                f"which does not provide {self._watcher_interface.__name__}"
            )
        loop_error: BaseException | None = None
        try:
            loop_error = self._follow(watcher)
        finally:
            stop_error = _call(watcher.stop)
            tear_down_error = _call(handler.tear_down)
        for error in (stop_error, tear_down_error, loop_error):
            if error is not None:
                raise error

    def _follow(self, watcher: Any) -> BaseException | None:
        return follow(watcher, self.dying, self._next_change, self._handle)

    def _handle(self, change: Any) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} handler={self._handler!r}>"


@implementer(IAbortableWorker)
class NotifyWorker(_WatchWorker):
    """Run an ``INotifyWatchHandler``: ``handle()`` once per watcher event."""

    _handler_interface = INotifyWatchHandler
    _watcher_interface = INotifyWatcher

    def _handle(self, change: None) -> None:
        self._handler.handle()


@implementer(IAbortableWorker)
class StringsWorker(_WatchWorker):
    """Run an ``IStringsWatchHandler``: ``handle(ids)`` once per watcher event."""

    _handler_interface = IStringsWatchHandler
    _watcher_interface = IStringsWatcher

    def _handle(self, change: list[str]) -> None:
        self._handler.handle(change)
