"""The half of the Uniter that follows its unit's relations.

A mixin of ``Uniter`` (it uses the uniter's state, paths, Runner and inbox),
in a module of its own because relations are a concept of their own: joining
a relation (its state dir first, then its scope), building each hook queue
instance between two hooks, leaving a relation through a dying queue.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gevent.event import AsyncResult

from agent_runtime.state import InvalidValue, NotFound
from agent_runtime.state.model import ALIVE
from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.relation import StateDir, read_all_state_dirs, read_state_dir
from agent_runtime.uniter.relationer import Relationer
from agent_runtime.worker import SimpleWorker

if TYPE_CHECKING:
    from agent_runtime.uniter.uniter import Uniter

__all__ = ["RelationsMixin"]

log = logging.getLogger("agent_runtime.uniter")


class RelationsMixin:
    def _request_queue(self: Uniter, relationer: Relationer):
        """The start function of a relation's queue worker (runs on a Runner's
        greenlet): ask the uniter to build the queue, and wait for it."""
        result = AsyncResult()
        self._post("build-queue", relationer, result)
        queue = result.get()
        return queue if queue is not None else SimpleWorker(lambda stop: None)

    def _build_queue(self: Uniter, relationer: Relationer, result: AsyncResult) -> None:
        if self._relations.get(relationer.relation_id) is not relationer:
            result.set(None)  # left meanwhile: the worker has nothing to do
            return
        try:
            result.set(relationer.build_queue(self.state, self._clock))
        except Exception as error:
            result.set_exception(error)

    # -- the unit and its relations ----------------------------------------------------------

    def _load_relations(self: Uniter) -> None:
        """The relations this unit had joined before it (re)started."""
        for relation_id, statedir in sorted(read_all_state_dirs(self.paths.relations).items()):
            try:
                relation = self.state.relation(relation_id)
            except NotFound:
                relation = None
            if relation is None:
                log.info("%s: relation %d is gone: leaving it", self.unit, relation_id)
                self._forget_statedir(statedir)
                continue
            relationer = Relationer(relation, self.unit, statedir)
            relationer.dying = relation.life != ALIVE
            self._add_relationer(relationer)

    def _forget_statedir(self: Uniter, statedir: StateDir) -> None:
        """A relation that is gone from the state although this unit was in its
        scope (it cannot be removed before its last unit leaves, so only a
        crash between joining a relation's dir and entering its scope leaves
        one). No hook can run for it; its state dir is cleared."""
        for unit in sorted(statedir.state().members):
            statedir.write(Info(Kind.RELATION_DEPARTED, statedir.relation_id, unit))
        statedir.write(Info(Kind.RELATION_BROKEN, statedir.relation_id))

    def _add_relationer(self: Uniter, relationer: Relationer) -> None:
        self._relations[relationer.relation_id] = relationer
        self._workers.start_worker(relationer.worker_id, lambda: self._request_queue(relationer))

    def _update_relation(self: Uniter, key: str) -> None:
        known = next((r for r in self._relations.values() if r.key == key), None)
        try:
            relation = self.state.relation_by_key(key)
        except NotFound:
            relation = None
        if relation is None or relation.life != ALIVE or self._unit_dying:
            if known is not None and not known.dying:
                self._set_dying(known)
            return
        if known is not None:
            return
        statedir = read_state_dir(self.paths.relations, relation.id)
        statedir.ensure()
        try:
            self.state.enter_scope(
                relation.id, self.unit, {"private-address": self.paths.private_address}
            )
        except (InvalidValue, NotFound) as error:
            log.info("%s: not joining %s: %s", self.unit, key, error)
            statedir.remove()
            return
        log.info("%s: joined relation %s (%d)", self.unit, key, relation.id)
        self._add_relationer(Relationer(relation, self.unit, statedir))

    def _set_dying(self: Uniter, relationer: Relationer) -> None:
        """Leave the relation: replace its queue by a dying one."""
        relationer.dying = True
        self._workers.stop_worker(relationer.worker_id)
        self._workers.start_worker(relationer.worker_id, lambda: self._request_queue(relationer))

    def _leave_relations(self: Uniter) -> None:
        for relationer in self._relations.values():
            if not relationer.dying:
                self._set_dying(relationer)

    def _run_relation_hook(self: Uniter) -> bool:
        """Run the next relation hook that is due, if any; True if one ran."""
        for relation_id in sorted(self._relations):
            relationer = self._relations.get(relation_id)
            queue = relationer.current_queue() if relationer else None
            if queue is None:
                continue
            info = queue.get(timeout=0)
            if info is not None:
                relationer.statedir.state().validate(info)
                self._run_hook(info)
                return True
        return False
