"""The hook-queue cases of the reference (uniter-reference §2.8.3, §2.10).

HookQueueSuite's 17 alive cases and 3 dying cases as data, so that the pure
algorithm and the queue workers run the very same cases. Relation 21345.

An alive case is an initial ``State`` and steps: ``Send(changed, departed)``
(the first is the watcher's first event), ``Expect(kind, unit, version)`` (the
next hook handed out), ``Advance(n)`` (take n hooks without looking). After
the steps no hook is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.relation import RelationUnitsChange, State

RELATION = 21345
J, C, D, B = (
    Kind.RELATION_JOINED,
    Kind.RELATION_CHANGED,
    Kind.RELATION_DEPARTED,
    Kind.RELATION_BROKEN,
)


@dataclass(frozen=True)
class Send:
    changed: dict[str, int] = field(default_factory=dict)
    departed: tuple[str, ...] = ()

    def change(self) -> RelationUnitsChange:
        return RelationUnitsChange(changed=dict(self.changed), departed=list(self.departed))


@dataclass(frozen=True)
class Expect:
    kind: Kind
    unit: str
    version: int

    def info(self) -> Info:
        return Info(self.kind, RELATION, self.unit, self.version)


@dataclass(frozen=True)
class Advance:
    count: int


@dataclass(frozen=True)
class Case:
    summary: str
    initial: State
    steps: tuple


def full(summary: str, *steps) -> Case:
    """A case on a fresh relation (the reference's State{21345, nil, ""})."""
    return Case(summary, State(RELATION, None, ""), steps)


def reconcile(summary: str, members: dict[str, int], pending: str, *steps) -> Case:
    """A case starting from a committed state."""
    return Case(summary, State(RELATION, members, pending), steps)


ALIVE_CASES = [
    full("Empty initial change causes no hooks.", Send()),
    full(
        "Joined and changed are both run when unit is first detected.",
        Send({"u/0": 0}),
        Expect(J, "u/0", 0),
        Expect(C, "u/0", 0),
    ),
    full(
        "Automatic changed is run with latest settings.",
        Send({"u/0": 0}),
        Expect(J, "u/0", 0),
        Send({"u/0": 7}),
        Expect(C, "u/0", 7),
    ),
    full(
        "Joined is also run with latest settings.",
        Send({"u/0": 0}),
        Send({"u/0": 7}),
        Expect(J, "u/0", 7),
        Expect(C, "u/0", 7),
    ),
    full(
        "Nothing happens if a unit departs before its joined is run.",
        Send({"u/0": 0}),
        Send({"u/0": 7}),
        Send({}, ("u/0",)),
    ),
    full(
        "A changed is run after a joined, even if a departed is known.",
        Send({"u/0": 0}),
        Expect(J, "u/0", 0),
        Send({}, ("u/0",)),
        Expect(C, "u/0", 0),
        Expect(D, "u/0", 0),
    ),
    full(
        "A departed replaces a changed.",
        Send({"u/0": 0}),
        Advance(2),
        Send({"u/0": 7}),
        Send({}, ("u/0",)),
        Expect(D, "u/0", 7),
    ),
    full(
        "Changed events are ignored if the version has not changed.",
        Send({"u/0": 0}),
        Advance(2),
        Send({"u/0": 0}),
    ),
    full(
        "Redundant changed events are elided.",
        Send({"u/0": 0}),
        Advance(2),
        Send({"u/0": 3}),
        Send({"u/0": 7}),
        Send({"u/0": 79}),
        Expect(C, "u/0", 79),
    ),
    full(
        "Latest hooks are run in the original unit order.",
        Send({"u/0": 0, "u/1": 1}),
        Advance(4),
        Send({"u/0": 3}),
        Send({"u/1": 7}),
        Send({}, ("u/0",)),
        Expect(D, "u/0", 3),
        Expect(C, "u/1", 7),
    ),
    full(
        "Test everything we can think of at the same time.",
        Send({"u/0": 0, "u/1": 0, "u/2": 0, "u/3": 0, "u/4": 0}),
        Advance(6),
        # u/0, u/1, u/2 are now up to date; u/3, u/4 are untouched.
        Send({"u/0": 1}),
        Send({"u/1": 1, "u/2": 1, "u/3": 1, "u/5": 0}, ("u/0", "u/4")),
        Send({"u/3": 2}),
        # The rest of the initial state, without u/4, with the latest versions.
        Expect(J, "u/3", 2),
        Expect(C, "u/3", 2),
        # u/0 was queued for changed, then departed: departed in its slot.
        Expect(D, "u/0", 1),
        Expect(C, "u/1", 1),
        Expect(C, "u/2", 1),
        Expect(J, "u/5", 0),
        Expect(C, "u/5", 0),
        # Nothing for the third event: u/3's hooks ran with version 2.
    ),
    reconcile(
        "Check that matching settings versions cause no changes.",
        {"u/0": 0},
        "",
        Send({"u/0": 0}),
    ),
    reconcile(
        "Check that new settings versions cause appropriate changes.",
        {"u/0": 0},
        "",
        Send({"u/0": 1}),
        Expect(C, "u/0", 1),
    ),
    reconcile(
        "Check that a just-joined unit gets its changed hook run first.",
        {"u/0": 0},
        "u/0",
        Send({"u/0": 0}),
        Expect(C, "u/0", 0),
    ),
    reconcile(
        "Check that missing units are queued for depart as early as possible.",
        {"u/0": 0},
        "",
        Send({"u/1": 0}),
        Expect(D, "u/0", 0),
        Expect(J, "u/1", 0),
        Expect(C, "u/1", 0),
    ),
    reconcile(
        "Double-check that a pending changed happens before an injected departed.",
        {"u/0": 0},
        "u/0",
        Send(),
        Expect(C, "u/0", 0),
        Expect(D, "u/0", 0),
    ),
    reconcile(
        "Check that missing units don't slip in front of required changed hooks.",
        {"u/0": 0},
        "u/0",
        Send({"u/1": 0}),
        Expect(C, "u/0", 0),
        Expect(D, "u/0", 0),
        Expect(J, "u/1", 0),
        Expect(C, "u/1", 0),
    ),
]

DYING_CASES = [
    ("Empty state just gets a broken hook.", State(RELATION, {}, ""), []),
    (
        "Each current member is departed before broken is sent.",
        State(RELATION, {"u/1": 7, "u/4": 33}, ""),
        [Expect(D, "u/1", 7), Expect(D, "u/4", 33)],
    ),
    (
        "If there's a pending changed, that must be sent first.",
        State(RELATION, {"u/0": 3}, "u/0"),
        [Expect(C, "u/0", 3), Expect(D, "u/0", 3)],
    ),
]

BROKEN = Info(B, RELATION)


def ids(cases) -> list[str]:
    return [f"{index + 1}" for index in range(len(cases))]
