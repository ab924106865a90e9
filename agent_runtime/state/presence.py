"""Agent presence: whether the agent of a unit is running.

``State.agent_presence(unit)`` is a worker the unit agent runs: while it runs,
``State.agent_alive(unit)`` says True. On ZooKeeper it holds an ephemeral
node, which goes with the agent's session however the agent dies. The other
backends keep a node naming the agent's host and process id: a reader on the
same host checks that the process is alive; elsewhere it cannot tell (None).
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from zope.interface import implementer

from agent_runtime.interfaces import IAbortableWorker, IPresenceStore, IWorker
from agent_runtime.state.errors import Conflict, StorageError
from agent_runtime.state.model import unit_key
from agent_runtime.state.store import Create, Delete, Set
from agent_runtime.worker.base import GreenletWorker

if TYPE_CHECKING:
    from agent_runtime.state.state import State

__all__ = ["LocalPresence", "PresenceMixin"]

PRESENCE = "/presence"


def _presence_path(unit: str) -> str:
    return f"{PRESENCE}/{unit_key(unit)}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


@implementer(IAbortableWorker)
class LocalPresence(GreenletWorker):
    """Keeps a presence node naming this host and process until killed."""

    def __init__(self, state: State, unit: str) -> None:
        super().__init__()
        self._state = state
        self._path = _presence_path(unit)
        self._data = {"unit": unit, "host": socket.gethostname(), "pid": os.getpid()}
        node = state.store.get(self._path)
        if node is None:
            state.store.commit([Create(self._path, self._data)])
        else:
            state.store.commit([Set(self._path, self._data, node.version)])
        self._start()

    def _run(self) -> None:
        self.dying.wait()
        node = self._state.store.get(self._path)
        if node is not None and node.data == self._data:
            try:
                self._state.store.commit([Delete(self._path, node.version)])
            except Conflict:
                pass  # another agent of the unit took over meanwhile


class PresenceMixin:
    """The presence half of ``State``."""

    def agent_presence(self: State, unit: str) -> IWorker:
        """A worker that, while it runs, makes ``agent_alive(unit)`` true."""
        self._unit_node(unit)
        if IPresenceStore.providedBy(self.store):
            data = {"unit": unit, "host": socket.gethostname(), "pid": os.getpid()}
            return self.store.hold(_presence_path(unit), data)
        return LocalPresence(self, unit)

    def agent_alive(self: State, unit: str) -> bool | None:
        """True while the agent of ``unit`` runs, False once it has stopped (or
        never ran), None when this process cannot tell (an agent on another
        host, without ZooKeeper)."""
        try:
            node = self._get(_presence_path(unit))
        except StorageError:
            return None
        if IPresenceStore.providedBy(self.store) or node is None:
            return node is not None
        if node.data.get("host") != socket.gethostname():
            return None
        return _process_alive(node.data["pid"])
