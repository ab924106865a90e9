"""Manifold: how the engine runs one worker; and the graph checks.

``validate(manifolds)`` is juju's ``dependency.Validate``; ``install(engine,
manifolds)`` is ``dependency.Install``: check the whole set, then install
each.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zope.interface import implementer

from agent_runtime.interfaces import IContext, IEngine, IManifold, IWorker
from agent_runtime.worker.dependency.errors import DependencyCycle

__all__ = ["Manifold", "check_acyclic", "check_name", "find_cycle", "install", "validate"]

Start = Callable[[IContext], IWorker]
Output = Callable[[IWorker, Any], Any]
Filter = Callable[[BaseException], "BaseException | None"]


def check_name(name: object, what: str = "a manifold name") -> str:
    """Return ``name`` if it is a non-empty str; raise TypeError/ValueError."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}: {name!r}")
    if not name:
        raise ValueError(f"{what} must not be empty")
    return name


@implementer(IManifold)
@dataclass(frozen=True)
class Manifold:
    """What the engine needs to run one worker (see ``IManifold``).

    ``inputs`` are the names of the manifolds whose resources ``start`` may
    read through its context; ``start(context)`` returns the worker;
    ``output(worker, kind)`` offers dependents a resource of ``kind``;
    ``filter(error)`` translates the worker's error before the engine reacts.
    The arguments are checked here: a wrong one raises ``TypeError`` or
    ``ValueError`` naming it.
    """

    inputs: Sequence[str]
    start: Start
    output: Output | None = None
    filter: Filter | None = None

    def __post_init__(self) -> None:
        if isinstance(self.inputs, (str, bytes)) or not isinstance(self.inputs, Sequence):
            raise TypeError(f"a manifold's inputs must be a sequence of names, not {self.inputs!r}")
        inputs = tuple(check_name(name, "an input name") for name in self.inputs)
        duplicates = sorted({name for name in inputs if inputs.count(name) > 1})
        if duplicates:
            raise ValueError(f"a manifold's inputs name {duplicates!r} more than once")
        object.__setattr__(self, "inputs", inputs)
        if not callable(self.start):
            raise TypeError(f"a manifold's start must be callable, not {self.start!r}")
        for field in ("output", "filter"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"a manifold's {field} must be callable or None, not {value!r}")


def find_cycle(inputs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return a cycle of the graph ``{name: its inputs}`` as a list of names,
    each needing the next and the first repeated at the end; None when the
    graph is acyclic. Inputs that are not keys are leaves."""
    try:
        graphlib.TopologicalSorter(inputs).prepare()
    except graphlib.CycleError as error:
        # graphlib lists each node before the one that needs it: reverse.
        return list(reversed(error.args[1]))
    return None


def _rotated(cycle: list[str], first: str) -> list[str]:
    """The same cycle, starting (and ending) at ``first`` if it is on it."""
    ring = cycle[:-1]
    if first not in ring:
        return cycle
    at = ring.index(first)
    ring = ring[at:] + ring[:at]
    return [*ring, ring[0]]


def check_acyclic(inputs: Mapping[str, Sequence[str]], installing: str | None = None) -> None:
    """Raise ``DependencyCycle`` if the graph ``{name: its inputs}`` has a
    cycle; it is told from ``installing`` when that is on it."""
    cycle = find_cycle(inputs)
    if cycle is not None:
        if installing is not None:
            cycle = _rotated(cycle, installing)
        raise DependencyCycle(cycle, installing)


def validate(manifolds: Mapping[str, Manifold]) -> None:
    """Check a set of manifolds before installing it: names are non-empty
    strs, values are manifolds, and the inputs form no cycle (else
    ``DependencyCycle`` naming it). Inputs outside the set are allowed."""
    for name, manifold in manifolds.items():
        check_name(name)
        if not IManifold.providedBy(manifold):
            raise TypeError(f"manifold {name!r} must provide IManifold, not {manifold!r}")
    check_acyclic({name: manifold.inputs for name, manifold in manifolds.items()})


def install(engine: IEngine, manifolds: Mapping[str, Manifold]) -> None:
    """Validate ``manifolds`` as a set, then install each into ``engine`` in
    the mapping's order. Raises what ``validate`` or ``engine.install`` raise;
    the manifolds installed before an error stay installed."""
    validate(manifolds)
    for name, manifold in manifolds.items():
        engine.install(name, manifold)
