"""The State's watchers.

* ``PathWatcher``: a notify watcher over store paths. It owns no greenlet: the
  store's change callback is its ``notify()``, the store's error callback its
  ``fail()``. The consumer re-reads.
* ``ServiceRelationsWatcher`` and ``RelationUnitsStateWatcher`` must read the
  state to say *what* changed, so each has one reader greenlet: a store
  callback pokes it, it re-reads, sends the difference from what it sent last,
  and watches the paths it has just read. It subscribes before it reads, and
  re-reads once more whenever it starts watching a new path, so a change is
  never lost between a read and a subscription: after any burst of writes its
  last event is followed by a read that saw the final state.

A store that fails or closes stops every watcher with that error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import Event
from zope.interface import implementer

from agent_runtime.interfaces import (
    INotifyWatcher,
    IRelationUnitsWatcher,
    IStore,
    IStringsWatcher,
)
from agent_runtime.state.model import Relation, unit_from_key
from agent_runtime.watcher import (
    NotifyWatcher,
    RelationUnitsChange,
    RelationUnitsWatcher,
    StringsWatcher,
)

if TYPE_CHECKING:
    from agent_runtime.state.state import State

__all__ = ["PathWatcher", "RelationUnitsStateWatcher", "ServiceRelationsWatcher"]

log = logging.getLogger("agent_runtime.state")


@implementer(INotifyWatcher)
class PathWatcher(NotifyWatcher):
    """Fires when the data or the children of any of ``paths`` may have changed."""

    def __init__(self, store: IStore, paths: list[str]) -> None:
        super().__init__(initial=True)
        self._subscription = store.watch(paths, self.notify, self.fail)

    def _finish(self, error: BaseException | None) -> None:
        subscription, self._subscription = getattr(self, "_subscription", None), None
        if subscription is not None:
            subscription.cancel()
        super()._finish(error)


class _ReadingWatcher:
    """A watcher whose events come from reading the state (see the module
    docstring). Subclasses define ``_read() -> (paths, event or None)`` and
    ``_make_out(first_event)``."""

    def __init__(self, state: State, base_paths: list[str]) -> None:
        self._state = state
        self._base_paths = base_paths
        self._poked = Event()
        self._stopping = False
        self._store_error: BaseException | None = None
        self._subscription = state.store.watch(base_paths, self._poked.set, self._on_store_error)
        try:
            paths, first = self._read()
        except BaseException:
            self._subscription.cancel()
            raise
        self._paths = frozenset(paths) | frozenset(base_paths)
        self._subscription.update(self._paths)
        self._out = self._make_out(first)
        self._poked.set()  # read once more, now that every path read is watched
        self._reader = gevent.spawn(self._read_forever)

    def _make_out(self, first: Any):
        raise NotImplementedError

    def _read(self) -> tuple[list[str], Any]:
        raise NotImplementedError

    def _on_store_error(self, error: BaseException) -> None:
        self._store_error = error
        self._poked.set()

    def _read_forever(self) -> None:
        out = self._out
        try:
            while True:
                self._poked.wait()
                if self._stopping:
                    return
                self._poked.clear()
                if self._store_error is not None:
                    out.fail(self._store_error)
                    return
                paths, event = self._read()
                paths = frozenset(paths) | frozenset(self._base_paths)
                if paths != self._paths:
                    if paths - self._paths:
                        self._poked.set()  # a newly watched path may have changed meanwhile
                    self._paths = paths
                    self._subscription.update(paths)
                if event:
                    out.send(event)
        except gevent.GreenletExit:
            raise
        except Exception as error:
            log.warning("%r stopped: %s", self, error)
            out.fail(error)
        finally:
            self._subscription.cancel()

    # -- the watcher's API -------------------------------------------------------

    def changes(self):
        return self._out.changes()

    def kill(self) -> None:
        self._stopping = True
        self._poked.set()
        self._out.kill()

    def wait(self) -> None:
        self._reader.join()
        self._out.wait()

    def stop(self) -> None:
        self.kill()
        self.wait()

    def err(self) -> BaseException | None:
        return self._out.err()


@implementer(IStringsWatcher)
class ServiceRelationsWatcher(_ReadingWatcher):
    """The keys of a service's relations: all at first, then those added,
    removed, or whose life changed."""

    def __init__(self, state: State, service: str) -> None:
        self._service = service
        self._sent: dict[str, str] = {}
        super().__init__(state, ["/relations"])

    def _make_out(self, first: list[str]) -> StringsWatcher:
        return StringsWatcher(initial=first)

    def _read(self) -> tuple[list[str], list[str]]:
        relations = self._state.relations()
        paths = [f"/relations/{r.id}" for r in relations]
        current = {r.key: r.life for r in relations if self._service in r.services}
        changed = [key for key, life in current.items() if self._sent.get(key) != life]
        changed += [key for key in self._sent if key not in current]
        self._sent = current
        return paths, changed

    def __repr__(self) -> str:
        return f"<ServiceRelationsWatcher {self._service!r}>"


@implementer(IRelationUnitsWatcher)
class RelationUnitsStateWatcher(_ReadingWatcher):
    """The units one unit sees in a relation's scope, with their settings
    versions. A relation that is removed departs every unit."""

    def __init__(self, state: State, relation: Relation, unit: str) -> None:
        self._unit = unit
        self._relation_id = relation.id
        self._counterpart = relation.counterpart_service(unit.partition("/")[0])
        self._scope = f"/relations/{relation.id}/scope"
        self._sent: dict[str, int] = {}
        super().__init__(state, [self._scope])

    def _make_out(self, first: RelationUnitsChange) -> RelationUnitsWatcher:
        return RelationUnitsWatcher(first)

    def _read(self) -> tuple[list[str], RelationUnitsChange]:
        store = self._state.store
        current: dict[str, int] = {}
        paths = []
        for key in store.children(self._scope):
            unit = unit_from_key(key)
            if unit == self._unit or unit.partition("/")[0] != self._counterpart:
                continue
            path = f"{self._scope}/{key}"
            node = store.get(path)
            paths.append(path)
            if node is not None:
                current[unit] = node.version
        changed = {u: v for u, v in current.items() if self._sent.get(u) != v}
        departed = sorted(u for u in self._sent if u not in current)
        self._sent = current
        return paths, RelationUnitsChange(changed, departed)

    def __repr__(self) -> str:
        return f"<RelationUnitsStateWatcher relation {self._relation_id} for {self._unit!r}>"
