"""In-memory watchers: the event side of every watcher in agent_runtime.

A producer (a state backend, a test, any greenlet or hub callback) calls
``notify()``/``send(ids)``; the one consumer iterates ``changes()``. The
watchers follow the contract of ``INotifyWatcher``/``IStringsWatcher``: one
event as soon as they start, then one per change, with unread events coalesced.
They own no greenlet, so they cost a few objects each.

``kill()`` stops a watcher cleanly; ``fail(error)`` stops it with an error
(what a backend does when it loses its source), which ``wait()``/``stop()``
then raise and ``err()`` returns. Either way the consumer's iteration ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from gevent.event import Event
from zope.interface import implementer

from agent_runtime.interfaces import INotifyWatcher, IRelationUnitsWatcher, IStringsWatcher
from agent_runtime.worker.base import Outcome

__all__ = ["NotifyWatcher", "RelationUnitsChange", "RelationUnitsWatcher", "StringsWatcher"]


class _Changes:
    """The iterator of a watcher's events.

    An object with ``__next__`` rather than a generator, so that an exception
    thrown into a blocked ``next()`` (a timeout, a kill) leaves it usable and
    loses no event: an event is taken only once ``next()`` is about to return it.
    """

    __slots__ = ("_watcher",)

    def __init__(self, watcher: _Watcher) -> None:
        self._watcher = watcher

    def __iter__(self) -> _Changes:
        return self

    def __next__(self):
        watcher = self._watcher
        wakeup = watcher._wakeup
        while True:
            if watcher._outcome is not None:
                raise StopIteration
            if watcher._has_event():
                return watcher._take_event()
            wakeup.clear()
            wakeup.wait()


class _Watcher:
    def __init__(self) -> None:
        self._wakeup = Event()
        self._stopped = Event()
        self._outcome: Outcome | None = None
        self._changes = _Changes(self)

    # -- the consumer's side ------------------------------------------------

    def changes(self) -> Iterator:
        return self._changes

    def kill(self) -> None:
        self._finish(None)

    def wait(self) -> None:
        self._stopped.wait()
        self._outcome.raise_if_failed()

    def stop(self) -> None:
        self.kill()
        self.wait()

    def err(self) -> BaseException | None:
        outcome = self._outcome
        return outcome.error if outcome is not None else None

    # -- the producer's side ------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """Stop the watcher with ``error``. Ignored if it has already stopped."""
        if not isinstance(error, BaseException):
            raise TypeError(
                f"fail() needs an exception instance, not {error!r}; use kill() to stop cleanly"
            )
        self._finish(error)

    @property
    def stopped(self) -> bool:
        """True once the watcher has stopped (by kill, stop or fail)."""
        return self._outcome is not None

    def _finish(self, error: BaseException | None) -> None:
        if self._outcome is not None:
            return
        self._outcome = Outcome(error)
        self._wakeup.set()
        self._stopped.set()

    def __repr__(self) -> str:
        if self._outcome is None:
            state = "alive"
        elif self._outcome.error is None:
            state = "stopped"
        else:
            state = f"failed: {self._outcome.error!r}"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"


@implementer(INotifyWatcher)
class NotifyWatcher(_Watcher):
    """A watcher whose events are ``None``: "something changed, read it again".

    It holds at most one unread event. With ``initial=False`` it does not send
    the initial event (for tests that need a watcher that stays quiet).
    """

    def __init__(self, initial: bool = True) -> None:
        super().__init__()
        self._pending = bool(initial)

    def notify(self) -> bool:
        """Send an event (coalesced with an unread one). Returns False, doing
        nothing, once the watcher has stopped."""
        if self._outcome is not None:
            return False
        self._pending = True
        self._wakeup.set()
        return True

    def _has_event(self) -> bool:
        return self._pending

    def _take_event(self) -> None:
        self._pending = False
        return None


@implementer(IStringsWatcher)
class StringsWatcher(_Watcher):
    """A watcher whose events are lists of changed ids.

    The first event is ``initial`` (a list, possibly empty); with
    ``initial=None`` no initial event is sent. Ids sent before the consumer reads
    them are merged into one event, in first-seen order, each once.
    """

    def __init__(self, initial: Iterable[str] | None = ()) -> None:
        super().__init__()
        self._pending: dict[str, None] = {}
        self._initial_due = initial is not None
        if initial is not None:
            self._add(initial)

    def send(self, ids: Iterable[str]) -> bool:
        """Send the ids as changed (merged with unread ones). Sending no ids does
        nothing. Returns False, doing nothing, once the watcher has stopped."""
        if self._outcome is not None:
            return False
        self._add(ids)
        if self._has_event():
            self._wakeup.set()
        return True

    def _add(self, ids: Iterable[str]) -> None:
        if isinstance(ids, str):
            raise TypeError(f"send() takes an iterable of ids, not the str {ids!r}")
        ids = list(ids)
        for change in ids:
            if not isinstance(change, str):
                raise TypeError(f"ids must be str, not {type(change).__name__}: {change!r}")
        self._pending.update(dict.fromkeys(ids))

    def _has_event(self) -> bool:
        return bool(self._pending) or self._initial_due

    def _take_event(self) -> list[str]:
        event = list(self._pending)
        self._pending.clear()
        self._initial_due = False
        return event


@dataclass
class RelationUnitsChange:
    """What changed among the units in scope of a relation.

    ``changed`` maps a unit name to its settings version (a unit that joined,
    or whose settings were written); ``departed`` lists units that left scope.
    """

    changed: dict[str, int] = field(default_factory=dict)
    departed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.changed, Mapping):
            raise TypeError(f"changed must map unit names to versions, not {self.changed!r}")
        if isinstance(self.departed, str):
            raise TypeError(f"departed must be a list of unit names, not the str {self.departed!r}")
        self.changed = dict(self.changed)
        self.departed = list(self.departed)
        for unit, version in self.changed.items():
            if not isinstance(unit, str) or type(version) is not int:
                raise TypeError(f"changed must map str to int, got {unit!r}: {version!r}")
        for unit in self.departed:
            if not isinstance(unit, str):
                raise TypeError(f"departed must hold unit names (str), got {unit!r}")
        both = set(self.changed).intersection(self.departed)
        if both:
            raise ValueError(f"units both changed and departed: {sorted(both)}")

    def __bool__(self) -> bool:
        return bool(self.changed or self.departed)


@implementer(IRelationUnitsWatcher)
class RelationUnitsWatcher(_Watcher):
    """A watcher whose events are ``RelationUnitsChange``.

    The first event is ``initial`` (every unit in scope; possibly empty). The
    watcher remembers which units its consumer has been told about, so that
    unread changes merge correctly: the latest version of a unit wins, a
    departure cancels an unread change, and a unit that came and went between
    two reads is never mentioned.
    """

    def __init__(self, initial: RelationUnitsChange | Mapping[str, int] | None = None) -> None:
        super().__init__()
        if initial is None:
            initial = RelationUnitsChange()
        elif not isinstance(initial, RelationUnitsChange):
            initial = RelationUnitsChange(changed=initial)
        if initial.departed:
            raise ValueError("the initial event of a relation units watcher has no departures")
        self._known: set[str] = set()  # units the consumer has been told are in scope
        self._changed: dict[str, int] = {}
        self._departed: dict[str, None] = {}
        self._initial_due = True
        self._merge(initial)

    def send(self, change: RelationUnitsChange) -> bool:
        """Send a change (merged with unread ones). Returns False, doing
        nothing, once the watcher has stopped."""
        if not isinstance(change, RelationUnitsChange):
            raise TypeError(f"send() takes a RelationUnitsChange, not {change!r}")
        if self._outcome is not None:
            return False
        self._merge(change)
        if self._has_event():
            self._wakeup.set()
        return True

    def _merge(self, change: RelationUnitsChange) -> None:
        for unit, version in change.changed.items():
            self._departed.pop(unit, None)
            self._changed[unit] = version
        for unit in change.departed:
            self._changed.pop(unit, None)
            if unit in self._known:
                self._departed[unit] = None

    def _has_event(self) -> bool:
        return self._initial_due or bool(self._changed or self._departed)

    def _take_event(self) -> RelationUnitsChange:
        event = RelationUnitsChange(changed=self._changed, departed=list(self._departed))
        self._known.update(self._changed)
        self._known.difference_update(self._departed)
        self._changed = {}
        self._departed = {}
        self._initial_due = False
        return event
