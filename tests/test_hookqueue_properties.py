"""Property tests of the hook queues (uniter-reference §2.8).

Random histories of a relation, as a consistent watcher reports them: units
join (names never reused), change their settings (versions only grow) and
depart, in events of several changes at once, while hooks are taken at random
moments. The invariants of §2.8, checked on what comes out:

* every hook is appropriate for the committed state (``State.validate``), so:
  joined before changed, joined immediately followed by that unit's changed,
  departed and changed only for members, nothing for a unit after its
  departed;
* every hook carries the latest version the queue was told of that unit;
* a unit that departed before its joined was handed out has no hook at all;
* once everything is taken, the members and their versions are exactly the
  units in scope and their latest versions.

The same histories run on the pure algorithm, and through the real queue
worker and in-memory watcher (where unread events merge in the watcher).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_runtime.testing import clean_kill
from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.relation import (
    AliveHookQueue,
    AliveQueueState,
    RelationUnitsChange,
    State,
)
from agent_runtime.watcher import RelationUnitsWatcher

RELATION = 7
NAMES = [f"{service}/{n}" for service in ("a", "b-c", "d9") for n in range(12)]


class Checker:
    """Follows what the watcher reported and checks each hook handed out."""

    def __init__(self, initial: State, merged: bool = False) -> None:
        #: True when unread events merge before the queue sees them: a change
        #: then a departure reach it as the departure alone, so the hooks of a
        #: unit that left may carry an older version than the last one sent.
        self.merged = merged
        self.committed = initial.copy()  # what a uniter would have written
        self.scope: dict[str, int] = {}  # units in scope now, latest versions
        self.latest: dict[str, int] = dict(initial.members or {})  # kept after departure
        self.silent: set[str] = set()  # departed before their joined was handed out
        self.joined: set[str] = set(initial.members or {})  # joined handed out, ever
        self.gone: set[str] = set()  # departed handed out

    def event(self, change: RelationUnitsChange) -> None:
        for unit, version in change.changed.items():
            self.scope[unit] = version
            self.latest[unit] = version
        for unit in change.departed:
            del self.scope[unit]
            if unit not in self.joined:
                self.silent.add(unit)

    def hook(self, info: Info) -> None:
        unit = info.remote_unit
        assert unit not in self.silent, f"{info}: the unit departed before it joined"
        assert unit not in self.gone, f"{info}: the unit had departed"
        self.committed.validate(info)  # raises if inappropriate
        if self.merged and unit not in self.scope:
            assert info.change_version <= self.latest[unit], f"{info}: newer than ever sent"
        else:
            assert info.change_version == self.latest[unit], (
                f"{info}: latest is {self.latest[unit]}"
            )
        members = self.committed.members
        if info.kind is Kind.RELATION_JOINED:
            self.joined.add(unit)
            members[unit] = info.change_version
            self.committed.changed_pending = unit
        elif info.kind is Kind.RELATION_CHANGED:
            members[unit] = info.change_version
            self.committed.changed_pending = ""
        else:
            assert info.kind is Kind.RELATION_DEPARTED
            del members[unit]
            self.gone.add(unit)

    def finish(self) -> None:
        assert self.committed.changed_pending == ""
        assert self.committed.members == self.scope


@st.composite
def histories(draw):
    """(initial state, first event, [("event", change) | ("take", n)])."""
    fresh = list(NAMES)
    persisted = draw(
        st.dictionaries(st.sampled_from(NAMES[:9]), st.integers(0, 4), max_size=5),
        label="persisted",
    )
    for unit in persisted:
        fresh.remove(unit)
    pending = draw(st.sampled_from(["", *sorted(persisted)]), label="pending")
    initial = State(RELATION, persisted, pending)
    scope: dict[str, int] = {}
    first: dict[str, int] = {}
    for unit, version in sorted(persisted.items()):
        if draw(st.booleans()):  # still in scope, at the same or a newer version
            first[unit] = version + draw(st.integers(0, 2))
    for _ in range(draw(st.integers(0, 3))):
        unit = draw(st.sampled_from(fresh))
        fresh.remove(unit)
        first[unit] = draw(st.integers(0, 3))
    scope.update(first)
    reported = set(first)
    steps = []
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 2)) == 0:
            steps.append(("take", draw(st.integers(1, 4))))
            continue
        changed: dict[str, int] = {}
        departed: list[str] = []
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["join", "change", "change", "depart"]))
            if op == "join" and fresh:
                unit = draw(st.sampled_from(fresh))
                fresh.remove(unit)
                changed[unit] = scope[unit] = draw(st.integers(0, 3))
            elif op == "change" and scope:
                unit = draw(st.sampled_from(sorted(scope)))
                if unit in departed:
                    continue
                changed[unit] = scope[unit] = scope[unit] + draw(st.integers(1, 3))
            elif op == "depart":
                candidates = sorted(u for u in scope if u in reported and u not in changed)
                if candidates:
                    unit = draw(st.sampled_from(candidates))
                    del scope[unit]
                    departed.append(unit)
        reported.update(changed)
        steps.append(("event", RelationUnitsChange(changed=changed, departed=departed)))
    return initial, RelationUnitsChange(changed=first), steps


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_pure_queue_invariants(history):
    initial, first, steps = history
    source = AliveQueueState(initial)
    checker = Checker(initial)
    source.update(first)
    checker.event(first)

    def take() -> bool:
        if source.empty():
            return False
        info = source.next()
        source.pop()
        checker.hook(info)
        return True

    for what, arg in steps:
        if what == "event":
            source.update(arg)
            checker.event(arg)
        else:
            for _ in range(arg):
                take()
    while take():
        pass
    checker.finish()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_queue_worker_invariants(history):
    """The same, through AliveHookQueue and the in-memory watcher; events are
    sent without waiting, so unread ones merge in the watcher, and get()
    must still reflect all of them."""
    initial, first, steps = history
    watcher = RelationUnitsWatcher(first)
    queue = AliveHookQueue(initial, watcher)
    checker = Checker(initial, merged=True)
    checker.event(first)

    def take() -> bool:
        info = queue.get(timeout=0)
        if info is None:
            return False
        checker.hook(info)
        return True

    try:
        for what, arg in steps:
            if what == "event":
                watcher.send(arg)
                checker.event(arg)
            else:
                for _ in range(arg):
                    take()
        while take():
            pass
        checker.finish()
    finally:
        clean_kill(queue)
    assert watcher.stopped
