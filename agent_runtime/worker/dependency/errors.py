"""What manifolds raise to steer the engine, and what the engine raises.

A worker (or its start function, or its manifold's ``filter``) ends with one
of the first three to tell the engine what to do next (juju's ``ErrMissing``,
``ErrBounce``, ``ErrUninstall``); the engine tests them with ``isinstance``,
so subclasses and ``raise Bounce() from error`` work.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent_runtime.errors import AgentRuntimeError

__all__ = [
    "Bounce",
    "DependencyCycle",
    "ErrBounce",
    "ErrMissing",
    "ErrUninstall",
    "ExpiredContext",
    "Missing",
    "ShuttingDown",
    "Uninstall",
]


class Missing(AgentRuntimeError):
    """An input the worker needs is not there (not declared, not running, or
    it offers nothing of the kind asked for).

    ``IContext.get`` raises it; a start function lets it through. The engine
    then leaves the manifold stopped until one of its inputs starts or stops.
    """

    def __init__(self, message: str = "dependency not available") -> None:
        super().__init__(message)


class Bounce(AgentRuntimeError):
    """The worker wants to be started again, after the engine's bounce delay,
    without counting as a failure."""

    def __init__(self, message: str = "restart immediately") -> None:
        super().__init__(message)


class Uninstall(AgentRuntimeError):
    """The worker's job is done for good: the engine removes its manifold
    (its dependents then see it as missing; the name may be installed again)."""

    def __init__(self, message: str = "resource permanently unavailable") -> None:
        super().__init__(message)


class ShuttingDown(AgentRuntimeError):
    """``install`` on an engine that is stopping or has stopped."""

    def __init__(self, message: str = "engine is shutting down") -> None:
        super().__init__(message)


class ExpiredContext(AgentRuntimeError, RuntimeError):
    """An ``IContext`` used after its start function returned. Read every
    input in the start function and hand the worker what it needs."""


class DependencyCycle(AgentRuntimeError, ValueError):
    """Manifolds whose inputs form a cycle. ``cycle`` lists the names along
    it, each needing the next, the first repeated at the end."""

    def __init__(self, cycle: Sequence[str], installing: str | None = None) -> None:
        self.cycle = list(cycle)
        self.installing = installing
        path = " -> ".join(repr(name) for name in self.cycle)
        head = f"cannot install {installing!r}: " if installing is not None else ""
        super().__init__(
            f"{head}the inputs would form a dependency cycle ({path}; "
            "each needs the next); remove one of these inputs"
        )

    def __reduce__(self):  # keep it picklable despite the custom __init__
        return (type(self), (self.cycle, self.installing))


#: juju's names.
ErrMissing = Missing
ErrBounce = Bounce
ErrUninstall = Uninstall
