"""Presence on ZooKeeper: an ephemeral node held for as long as a session lives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gevent

from agent_runtime.state.backends.zookeeper._kazoo import (
    KazooException,
    NodeExistsError,
    NoNodeError,
    storage_error,
)
from agent_runtime.state.errors import StorageError
from agent_runtime.state.store import encode
from agent_runtime.worker.base import GreenletWorker

if TYPE_CHECKING:
    from agent_runtime.state.backends.zookeeper.store import ZooKeeperStore

__all__ = ["Presence"]


class Presence(GreenletWorker):
    """An ephemeral node held for as long as the session lives: a worker that
    creates ``path`` (deleting it on ``kill()``), and fails with a
    ``StorageError`` when the session is lost (the node went with it), so that
    its Runner starts it again on the new session."""

    def __init__(self, store: ZooKeeperStore, path: str, data: Any) -> None:
        super().__init__()
        self._store = store
        self._znode = store._z(path)
        self._data = encode(data).encode()
        client = store._client
        try:
            client.create(self._znode, self._data, ephemeral=True, makepath=True)
        except NodeExistsError:
            # Left by an earlier session of ours that has not expired yet.
            client.delete(self._znode)
            client.create(self._znode, self._data, ephemeral=True, makepath=True)
        except KazooException as error:
            raise storage_error(error, f"cannot create the presence node {path}") from None
        self._start()

    def _run(self) -> None:
        gevent.wait([self.dying, self._store._lost], count=1)
        if self.dying.is_set():
            if self._store._suspended:
                # No connection: kazoo would hold the delete until one is back
                # (and stopping would wait as long); the node goes with the session.
                return
            try:
                self._store._client.delete(self._znode)
            except (NoNodeError, KazooException):
                pass
            return
        raise StorageError(f"ZooKeeper session lost: presence {self._znode} is gone")
