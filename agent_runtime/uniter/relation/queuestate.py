"""The hook-queue algorithms, pure: no greenlet, no watcher, no timing.

``AliveQueueState`` turns a relation's committed ``State`` and the events of a
relation-units watcher into the hooks to run, in order; ``DyingQueueState``
gives the hooks that leave a relation. Both answer ``empty()``, ``next()``
(the hook due now) and ``pop()`` (that hook was handed out). The queue workers
of ``hookqueue`` drive them; tests drive them directly.

The alive algorithm is the reference's (juju's ``AliveHookQueue``, 2014):

* Nothing is due before the first watcher event. That event is reconciled with
  the committed state: a committed ``changed_pending`` comes first; committed
  members absent from the event depart (in sorted order) before anything else;
  members whose version differs get ``relation-changed``.
* Units are queued in the order in which they first had something to do and
  keep that slot; a later event changes only what the slot holds. Within one
  event, changed units are taken in sorted order (plain string order, as Go
  sorts: ``a/10`` before ``a/9``), departures in the order given.
* A new unit gets ``relation-joined``, and its ``relation-changed`` comes right
  after it. Both carry the latest version known when they are handed out.
* A change to a unit's version queues ``relation-changed`` (coalescing with a
  queued one); a change that repeats the unit's current version drops what is
  queued for it (DESIGN decision 13).
* A departure replaces a queued ``relation-changed`` (in its slot); a unit that
  departs before its ``relation-joined`` was handed out produces no hook and is
  forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from agent_runtime.uniter.hook import Info, Kind, quote
from agent_runtime.uniter.relation.errors import HookQueueError
from agent_runtime.uniter.relation.state import State

__all__ = ["AliveQueueState", "DyingQueueState"]

_JOINED = Kind.RELATION_JOINED
_CHANGED = Kind.RELATION_CHANGED
_DEPARTED = Kind.RELATION_DEPARTED


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parts(change: Any) -> tuple[dict[str, int], list[str]]:
    """The ``changed`` mapping and ``departed`` list of a watcher event."""
    try:
        changed, departed = change.changed, change.departed
    except AttributeError:
        raise HookQueueError(f"expected a RelationUnitsChange, got {change!r}") from None
    if not isinstance(changed, dict) or not isinstance(departed, list):
        raise HookQueueError(f"expected a RelationUnitsChange, got {change!r}")
    for unit, version in changed.items():
        if not isinstance(unit, str) or not _is_int(version):
            raise HookQueueError(f"bad unit version in {change!r}: {unit!r}: {version!r}")
    return changed, departed


class AliveQueueState:
    """The hooks due for a live relation (see the module docstring).

    ``update(change)`` applies a watcher event; ``next()`` is the hook due now
    (it carries the latest version known); ``pop()`` records that the hook
    ``next()`` gave was handed out. ``empty()`` is True until the first event
    and whenever nothing is due. Not thread-safe; one owner drives it.
    """

    __slots__ = ("_initial", "_pending", "_queue", "_relation_id", "_started", "_versions")

    def __init__(self, initial: State) -> None:
        if not isinstance(initial, State):
            raise TypeError(f"initial must be a relation State, not {initial!r}")
        self._initial: State | None = initial.copy()
        self._relation_id = initial.relation_id
        self._started = False
        #: Every unit known to be, or to become, a member: its latest version.
        self._versions: dict[str, int] = {}
        #: Units with a hook to run, in queue order, and which hook.
        self._queue: OrderedDict[str, Kind] = OrderedDict()
        #: The unit whose relation-changed must be the very next hook.
        self._pending = ""

    @property
    def relation_id(self) -> int:
        return self._relation_id

    @property
    def started(self) -> bool:
        """True once the first watcher event has been applied."""
        return self._started

    def update(self, change: Any) -> None:
        """Apply a watcher event (a ``RelationUnitsChange``).

        The first event is reconciled with the initial state; it may not have
        departures. Raises ``HookQueueError`` for a first event with
        departures, a departure of a unit never reported, or an event that is
        not a RelationUnitsChange; the queue is then unchanged.
        """
        changed, departed = _parts(change)
        if len(departed) > 1:
            departed = list(dict.fromkeys(departed))
        if not self._started:
            if departed:
                raise HookQueueError(
                    "the first event of a hook queue's watcher must not have departures; "
                    f"got departed {departed!r}"
                )
            initial = self._initial
            assert initial is not None
            members = initial.members or {}
            self._versions.update(members)
            self._pending = initial.changed_pending
            self._initial = None
            self._started = True
            # Members that left while we were not watching depart first.
            self._apply({}, sorted(unit for unit in members if unit not in changed))
        else:
            for unit in departed:
                if unit not in self._versions:
                    raise HookQueueError(
                        f"unit {quote(unit)} departed, but the watcher never reported it"
                    )
        self._apply(changed, departed)

    def _apply(self, changed: dict[str, int], departed: list[str]) -> None:
        versions, queue = self._versions, self._queue
        for unit in sorted(changed) if len(changed) > 1 else changed:
            version = changed[unit]
            known = versions.get(unit)
            if known is None:
                queue[unit] = _JOINED
            elif queue.get(unit) is not _JOINED:
                if version != known:
                    queue[unit] = _CHANGED  # a queued unit keeps its slot
                else:
                    queue.pop(unit, None)
            versions[unit] = version
        for unit in departed:
            if queue.get(unit) is _JOINED:
                # It never joined: joined and departed cancel out, and the unit
                # is forgotten (the reference kept it, so that a unit of the
                # same name would get relation-changed without a join).
                del queue[unit]
                del versions[unit]
            else:
                queue[unit] = _DEPARTED

    def empty(self) -> bool:
        """True when no hook is due (always before the first event)."""
        return not (self._pending or self._queue)

    def next(self) -> Info:
        """The hook due now. Raises ``HookQueueError`` when ``empty()``."""
        unit = self._pending
        if unit:
            return Info(_CHANGED, self._relation_id, unit, self._versions[unit])
        if not self._queue:
            raise HookQueueError("the hook queue is empty")
        unit, kind = next(iter(self._queue.items()))
        return Info(kind, self._relation_id, unit, self._versions[unit])

    def pop(self) -> None:
        """Record that the hook ``next()`` gives was handed out. Raises
        ``HookQueueError`` when ``empty()``."""
        unit = self._pending
        if unit:
            # That changed hook ran with the latest version: a queued one is moot.
            if self._queue.get(unit) is _CHANGED:
                del self._queue[unit]
            self._pending = ""
            return
        if not self._queue:
            raise HookQueueError("the hook queue is empty")
        unit, kind = self._queue.popitem(last=False)
        if kind is _JOINED:
            self._pending = unit
        elif kind is _DEPARTED:
            del self._versions[unit]

    def __repr__(self) -> str:
        if not self._started:
            return f"<AliveQueueState relation {self._relation_id}: waiting for the first event>"
        queued = ", ".join(f"{kind.value} {unit}" for unit, kind in self._queue.items())
        pending = f"changed {self._pending} first; " if self._pending else ""
        return f"<AliveQueueState relation {self._relation_id}: {pending}[{queued}]>"


class DyingQueueState:
    """The hooks that leave a relation: the pending ``relation-changed`` if
    there is one, ``relation-departed`` for every member in sorted order, then
    ``relation-broken``. ``finished`` is True once broken was popped."""

    __slots__ = ("_hooks", "_index")

    def __init__(self, initial: State) -> None:
        if not isinstance(initial, State):
            raise TypeError(f"initial must be a relation State, not {initial!r}")
        relation_id = initial.relation_id
        members = initial.members or {}
        hooks: list[Info] = []
        if initial.changed_pending:
            unit = initial.changed_pending
            hooks.append(Info(_CHANGED, relation_id, unit, members[unit]))
        for unit in sorted(members):
            hooks.append(Info(_DEPARTED, relation_id, unit, members[unit]))
        hooks.append(Info(Kind.RELATION_BROKEN, relation_id))
        self._hooks = hooks
        self._index = 0

    @property
    def finished(self) -> bool:
        """True once ``relation-broken`` was handed out."""
        return self._index == len(self._hooks)

    def empty(self) -> bool:
        """True once every hook, broken included, was handed out."""
        return self._index == len(self._hooks)

    def next(self) -> Info:
        """The hook due now. Raises ``HookQueueError`` when ``empty()``."""
        if self._index == len(self._hooks):
            raise HookQueueError("the hook queue is empty")
        return self._hooks[self._index]

    def pop(self) -> None:
        """Record that the hook ``next()`` gives was handed out."""
        if self._index == len(self._hooks):
            raise HookQueueError("the hook queue is empty")
        self._index += 1

    def __repr__(self) -> str:
        left = [f"{h.kind.value} {h.remote_unit}".strip() for h in self._hooks[self._index :]]
        return f"<DyingQueueState [{', '.join(left)}]>"
