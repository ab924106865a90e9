"""Relation-units watchers for the hook-queue tests.

``CountingWatcher`` is the in-memory ``RelationUnitsWatcher`` of
agent_runtime.watcher, counting the events its consumer took (through the
public ``changes()`` only), so a test can deliver events one at a time as the
reference's unbuffered channel did. ``ScriptedWatcher`` hands out exactly the
events pushed into it, unmerged and unchecked, to feed a queue what a
consistent watcher never sends.
"""

from __future__ import annotations

from collections import deque

from gevent.event import Event
from zope.interface import implementer

from agent_runtime.interfaces import IRelationUnitsWatcher
from agent_runtime.testing import wait_for
from agent_runtime.watcher import RelationUnitsChange, RelationUnitsWatcher


class _Counting:
    def __init__(self, changes, watcher: CountingWatcher) -> None:
        self._changes = changes
        self._watcher = watcher

    def __iter__(self):
        return self

    def __next__(self):
        event = next(self._changes)
        self._watcher.taken += 1
        return event


@implementer(IRelationUnitsWatcher)
class CountingWatcher(RelationUnitsWatcher):
    """The in-memory watcher; ``taken`` counts the events its consumer read."""

    def __init__(self, initial=None) -> None:
        super().__init__(initial)
        self.taken = 0
        self._counting = _Counting(super().changes(), self)

    def changes(self):
        return self._counting

    def deliver(self, change: RelationUnitsChange) -> None:
        """Send ``change`` and wait until the consumer has read it (a change
        that merges into nothing is not waited for)."""
        before = self.taken
        self.send(change)
        if change:
            wait_for(lambda: self.taken > before, what=f"the queue to read {change!r}")


class _Scripted:
    def __init__(self, watcher: ScriptedWatcher) -> None:
        self._watcher = watcher

    def __iter__(self):
        return self

    def __next__(self):
        watcher = self._watcher
        while True:
            if watcher.stopped:
                raise StopIteration
            if watcher.events:
                return watcher.events.popleft()
            watcher._wakeup.clear()
            watcher._wakeup.wait()


@implementer(IRelationUnitsWatcher)
class ScriptedWatcher:
    """Hands out the events given and ``push()``ed, in order, as they are.
    ``kill()``/``stop()`` stop it with ``stop_error``; ``fail(error)`` with
    ``error``."""

    def __init__(self, events=(), stop_error: BaseException | None = None) -> None:
        self.events = deque(events)
        self.stop_error = stop_error
        self._wakeup = Event()
        self._done = Event()
        self._error: BaseException | None = None
        self._changes = _Scripted(self)

    def push(self, event) -> None:
        self.events.append(event)
        self._wakeup.set()

    def changes(self):
        return self._changes

    def fail(self, error: BaseException) -> None:
        self._finish(error)

    def kill(self) -> None:
        self._finish(self.stop_error)

    def wait(self) -> None:
        self._done.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self.kill()
        self.wait()

    def err(self) -> BaseException | None:
        return self._error

    @property
    def stopped(self) -> bool:
        return self._done.is_set()

    def _finish(self, error: BaseException | None) -> None:
        if self._done.is_set():
            return
        self._error = error
        self._done.set()
        self._wakeup.set()
