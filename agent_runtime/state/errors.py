"""The errors of the state: one base class, and a kind for each way a call fails."""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BadURL",
    "Conflict",
    "InvalidValue",
    "NotFound",
    "StateClosed",
    "StateError",
    "StorageError",
]


class StateError(Exception):
    """Base class of every error the state raises."""


class BadURL(StateError, ValueError):
    """A state URL that cannot be parsed, or whose scheme no backend handles."""


class StorageError(StateError, OSError):
    """The storage cannot be opened or used: a missing directory, a file that is
    not a state, a backend that failed or lost its connection."""


class StateClosed(StorageError):
    """The state (or its store) was closed."""


class NotFound(StateError, LookupError):
    """A service, unit, relation or setting that does not exist."""


class AlreadyExists(StateError):
    """A service, unit or relation that exists already."""


class InvalidValue(StateError, ValueError):
    """A write refused because a value is not valid; nothing was written."""


class Conflict(StateError):
    """A commit whose op could not apply: it was not applied at all.

    ``index`` is the position of the first op that failed, ``op`` that op.
    The State retries its own commits when they conflict with a concurrent
    writer; a Conflict reaches its caller only when retrying cannot help.
    """

    def __init__(self, message: str, index: int = -1, op: object = None) -> None:
        super().__init__(message)
        self.index = index
        self.op = op
