"""Relationer: one relation of a unit, as its unit agent follows it.

It holds the relation's state dir (what hooks were committed), whether the
relation is being left, and the hook queue the uniter currently takes its
hooks from. The queue itself runs under the uniter's Runner, so that a queue
whose watcher fails is restarted; the uniter builds each instance itself,
from the state dir as it is between two hooks (see ``Uniter``).
"""

from __future__ import annotations

from agent_runtime.interfaces import IClock
from agent_runtime.state import State
from agent_runtime.state.model import Relation
from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.relation import AliveHookQueue, DyingHookQueue, StateDir

__all__ = ["Relationer"]


class Relationer:
    """One relation of ``unit`` (owned by the uniter's greenlet)."""

    def __init__(self, relation: Relation, unit: str, statedir: StateDir) -> None:
        self.relation_id = relation.id
        self.key = relation.key
        self.unit = unit
        self.endpoint = relation.endpoint(unit.partition("/")[0]).endpoint.name
        self.statedir = statedir
        #: True once the relation is being left: its queue is (or will be) a dying one.
        self.dying = False
        #: The queue instance hooks are taken from; None until one is built.
        self.queue: AliveHookQueue | DyingHookQueue | None = None

    @property
    def worker_id(self) -> str:
        return f"relation-{self.relation_id}"

    @property
    def fake_id(self) -> str:
        return f"{self.endpoint}:{self.relation_id}"

    def build_queue(self, state: State, clock: IClock) -> AliveHookQueue | DyingHookQueue:
        """A new queue from the committed state: alive (over a fresh relation-units
        watcher) or dying, as the relation is; its timeouts run on ``clock``."""
        initial = self.statedir.state()
        if self.dying:
            queue = DyingHookQueue(initial, clock=clock)
        else:
            watcher = state.watch_relation_units(self.relation_id, self.unit)
            queue = AliveHookQueue(initial, watcher, clock=clock)
        self.queue = queue
        return queue

    def current_queue(self) -> AliveHookQueue | DyingHookQueue | None:
        """The queue to take hooks from: None while the one that runs is not of
        the kind the relation needs (an alive queue of a relation now dying)."""
        queue = self.queue
        if queue is None or isinstance(queue, DyingHookQueue) != self.dying:
            return None
        return queue

    def hook_name(self, info: Info) -> str:
        """The file a relation hook runs: ``<endpoint>-<kind>``, e.g. ``db-relation-joined``."""
        return f"{self.endpoint}-{info.kind}"

    def members_for(self, info: Info | None) -> list[str]:
        """The remote units the running hook sees: the committed members,
        with the remote unit of a joined/changed hook and without that of a
        departed hook; none in relation-broken."""
        members = set(self.statedir.state().members)
        if info is not None and info.relation_id == self.relation_id:
            if info.kind in (Kind.RELATION_JOINED, Kind.RELATION_CHANGED):
                members.add(info.remote_unit)
            elif info.kind == Kind.RELATION_DEPARTED:
                members.discard(info.remote_unit)
            elif info.kind == Kind.RELATION_BROKEN:
                members.clear()
        return sorted(members)

    def __repr__(self) -> str:
        return f"<Relationer {self.fake_id} {self.key!r}{' dying' if self.dying else ''}>"
