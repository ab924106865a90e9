"""The errors of the relation package.

Their messages are the reference's (juju's ``uniter/relation``), because tests
and operators match them; each names the hook, unit, file or directory concerned.
"""

from __future__ import annotations

from agent_runtime.errors import AgentRuntimeError

__all__ = [
    "HookQueueError",
    "InappropriateHookError",
    "InvalidUnitName",
    "RelationStateError",
    "StateDirError",
]


class RelationStateError(AgentRuntimeError):
    """Base class of the errors of ``agent_runtime.uniter.relation``."""


class InappropriateHookError(RelationStateError, ValueError):
    """A hook that may not run against a relation's committed state
    (``State.validate``): ``inappropriate "<kind>" for "<unit>": <reason>``."""


class InvalidUnitName(RelationStateError, ValueError):
    """A unit name that is not ``<service>/<number>`` and so may not become a
    file name in a relation state directory."""


class StateDirError(RelationStateError):
    """A relation state directory could not be read, written or removed.

    ``path`` is the directory (or file) concerned. The underlying ``OSError``
    or YAML error, if any, is the ``__cause__``.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class HookQueueError(RelationStateError):
    """A hook queue was fed something it cannot turn into hooks: a first
    watcher event with departures, a departure of a unit it never heard of, an
    event that is not a RelationUnitsChange."""
