"""A unit's relations: persistent state and the hooks to run (juju's
``uniter/relation``).

* ``State``: what was committed for one relation (members and their settings
  versions, a pending ``relation-changed``), with ``validate(info)``.
* ``StateDir``, ``read_state_dir``, ``read_all_state_dirs``: that state on
  disk, one directory per relation and one small YAML file per member, written
  atomically and durably.
* ``AliveHookQueue``, ``DyingHookQueue``: workers that turn the committed state
  and a relation-units watcher into the hooks to run, handed out by ``get()``.
  ``AliveQueueState``/``DyingQueueState`` are their pure algorithms.

See docs/relation-state.md.
"""

from agent_runtime.uniter.relation.errors import (
    HookQueueError,
    InappropriateHookError,
    InvalidUnitName,
    RelationStateError,
    StateDirError,
)
from agent_runtime.uniter.relation.hookqueue import AliveHookQueue, DyingHookQueue
from agent_runtime.uniter.relation.names import check_unit_name, is_unit_name
from agent_runtime.uniter.relation.queuestate import AliveQueueState, DyingQueueState
from agent_runtime.uniter.relation.state import State
from agent_runtime.uniter.relation.statedir import StateDir, read_all_state_dirs, read_state_dir
from agent_runtime.watcher import RelationUnitsChange

__all__ = [
    "AliveHookQueue",
    "AliveQueueState",
    "DyingHookQueue",
    "DyingQueueState",
    "HookQueueError",
    "InappropriateHookError",
    "InvalidUnitName",
    "RelationStateError",
    "RelationUnitsChange",
    "State",
    "StateDir",
    "StateDirError",
    "check_unit_name",
    "is_unit_name",
    "read_all_state_dirs",
    "read_state_dir",
]
