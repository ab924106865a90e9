"""kazoo, imported once for the ZooKeeper backend (with a clear error when
the ``zookeeper`` extra is missing), and how its errors become ours."""

from __future__ import annotations

from agent_runtime.state.errors import StorageError

try:
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import (
        BadVersionError,
        KazooException,
        NodeExistsError,
        NoNodeError,
        NotEmptyError,
        RolledBackError,
        SessionExpiredError,
    )
    from kazoo.handlers.gevent import SequentialGeventHandler
    from kazoo.protocol.states import EventType
    from kazoo.retry import KazooRetry
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"the ZooKeeper backend needs kazoo: pip install 'agent_runtime[zookeeper]' ({error})"
    ) from error

__all__ = [
    "BadVersionError",
    "EventType",
    "KazooClient",
    "KazooException",
    "KazooRetry",
    "KazooState",
    "NoNodeError",
    "NodeExistsError",
    "NotEmptyError",
    "RolledBackError",
    "SequentialGeventHandler",
    "SessionExpiredError",
    "storage_error",
]


def storage_error(error: Exception, what: str) -> StorageError:
    """``error`` (kazoo's) as a ``StorageError`` saying what failed."""
    if isinstance(error, SessionExpiredError):
        # A call can meet the expiry before the LOST state reaches the store.
        return StorageError(f"ZooKeeper: {what}: the session was lost (it expired)")
    return StorageError(f"ZooKeeper: {what}: {type(error).__name__} {error}".rstrip())
